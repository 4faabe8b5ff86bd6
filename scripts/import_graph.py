#!/usr/bin/env python3
"""The import graph of ``src/hyperspark``: cycles, imports that go up a layer, oversized modules and functions.

    python scripts/import_graph.py            # a plain-text report
    python scripts/import_graph.py --json     # the same as one JSON object (tests/unit/test_layers.py reads it)
    python scripts/import_graph.py --check    # exit 1 on a cycle, an upward import, a module in no layer,
                                              # a module over MAX_MODULE_LINES, or an un-allowed long function

Edges (read with ``ast``, nothing is imported):

* every ``import`` and ``from ... import``, at module level and inside functions and classes; relative
  imports resolved against the importing module;
* ``from pkg import name``: an edge to ``pkg.name`` when that is a module of the tree, else to ``pkg``
  (its ``__init__``), so a package ``__init__`` re-exporting from a submodule is an edge package ->
  submodule, and a submodule importing a re-export from its package closes a cycle (reported);
* ``import a.b.c`` is an edge to ``a.b.c`` only (Python runs the parents' ``__init__`` first, but a parent
  that imports its submodules is not a cycle with them);
* a lazy re-export: a package ``__init__`` that binds ``name`` only under ``if TYPE_CHECKING:``
  (``from hyperspark.api import tune``) and serves it from ``__getattr__``; ``from hyperspark import tune``
  is then an edge to ``hyperspark`` and to ``hyperspark.api``;
* imports under ``if TYPE_CHECKING:`` are listed apart and are not edges for cycles or layers.

Only modules of the tree count; third-party imports are ignored. An import of a ``hyperspark.*`` module
that does not exist is listed as unresolved (not a failure: it may sit under ``try``).
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

# Layers, bottom to top: a module may import its own layer and those below, never one above. A module
# belongs to the layer of its longest matching entry ("hyperspark.job" covers hyperspark.job.*); the
# package itself ("hyperspark", its lazy __init__) is an exact entry and covers nothing else.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("package", ("hyperspark",)),
    ("core", ("hyperspark.errors", "hyperspark.space")),
    ("job.protocol", ("hyperspark.job.protocol",)),
    ("job", ("hyperspark.job",)),
    ("api", ("hyperspark.api",)),
    ("ops", ("hyperspark.ops",)),
]
PACKAGE = LAYERS[0][1][0]
EXACT = {PACKAGE}  # entries that do not cover submodules
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
ALLOW_LONG = "# long-function:"  # on the def line, followed by the reason

DEFAULT_SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    path: str
    line: int
    scope: str  # "module" or "function" (an import inside a def)
    via: str = "import"  # or "lazy-reexport"


@dataclass(frozen=True)
class LongFunction:
    name: str
    path: str
    line: int
    length: int
    allowed: bool
    reason: str | None


def module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(src: Path) -> dict[str, Path]:
    root = src / PACKAGE
    return {module_name(src, p): p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix not in EXACT and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    return None if best is None else best[1]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module):
    """(node, in_function, under_type_checking) for every Import/ImportFrom in the tree."""
    def walk(node: ast.AST, in_function: bool, type_checking: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function, type_checking
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), in_function, True)
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), in_function, type_checking)
            else:
                nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                yield from walk(child, nested, type_checking)

    yield from walk(tree, False, False)


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _lazy_reexports(trees: dict[str, ast.Module], modules: dict[str, Path]) -> dict[tuple[str, str], str]:
    """(package, name) -> defining module, for names a package __init__ binds only under TYPE_CHECKING."""
    out: dict[tuple[str, str], str] = {}
    for mod, tree in trees.items():
        if modules[mod].name != "__init__.py":
            continue
        runtime: set[str] = set()
        for node, _fn, tc in _imports(tree):
            names = [a.asname or a.name.split(".")[0] for a in node.names]
            if not tc:
                runtime.update(names)
            elif isinstance(node, ast.ImportFrom):
                base = _base(mod, True, node)
                for alias in node.names:
                    out[(mod, alias.asname or alias.name)] = base
        for key in [k for k in out if k[0] == mod and k[1] in runtime]:
            del out[key]
    return out


def collect(src: Path) -> tuple[dict[str, Path], dict[str, ast.Module], list[Edge], list[Edge], list[dict]]:
    """Modules, their trees, runtime edges, TYPE_CHECKING-only edges, unresolved internal imports."""
    modules = find_modules(src)
    trees = {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in modules.items()}
    lazy = _lazy_reexports(trees, modules)
    edges: set[Edge] = set()
    typing_only: set[Edge] = set()
    unresolved: list[dict] = []

    def internal(name: str) -> bool:
        return name == PACKAGE or name.startswith(PACKAGE + ".")

    for mod, tree in trees.items():
        rel = str(modules[mod].relative_to(src.parent))
        is_package = modules[mod].name == "__init__.py"
        for node, in_function, tc in _imports(tree):
            targets: list[tuple[str, str]] = []  # (module, via)
            if isinstance(node, ast.Import):
                targets = [(a.name, "import") for a in node.names]
            else:
                base = _base(mod, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in modules:
                        targets.append((sub, "import"))
                        continue
                    targets.append((base, "import"))
                    if (base, alias.name) in lazy:
                        targets.append((lazy[(base, alias.name)], "lazy-reexport"))
            for dst, via in targets:
                if not internal(dst):
                    continue
                if dst not in modules:
                    miss = {"src": mod, "name": dst, "path": rel, "line": node.lineno}
                    if miss not in unresolved:
                        unresolved.append(miss)
                    continue
                if dst == mod:
                    continue
                edge = Edge(mod, dst, rel, node.lineno, "function" if in_function else "module", via)
                (typing_only if tc else edges).add(edge)
    order = lambda e: (e.src, e.dst, e.line, e.via)  # noqa: E731
    return modules, trees, sorted(edges, key=order), sorted(typing_only, key=order), unresolved


def strongly_connected(nodes: list[str], edges: list[Edge]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components of more than one module, each sorted."""
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        graph[e.src].append(e.dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def long_functions(modules: dict[str, Path], trees: dict[str, ast.Module], src: Path) -> list[LongFunction]:
    out = []
    for mod, tree in trees.items():
        path = modules[mod]
        lines = path.read_text(encoding="utf-8").splitlines()
        rel = str(path.relative_to(src.parent))

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    name = f"{prefix}{child.name}"
                    length = child.end_lineno - child.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        _, marker, reason = lines[child.lineno - 1].partition(ALLOW_LONG)
                        reason = reason.strip() or None
                        out.append(LongFunction(f"{mod}.{name}", rel, child.lineno, length,
                                                bool(marker) and reason is not None, reason))
                    visit(child, f"{name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
                else:
                    visit(child, prefix)

        visit(tree, "")
    return sorted(out, key=lambda f: (f.path, f.line))


def analyse(src: Path = DEFAULT_SRC) -> dict:
    """The whole report as plain data (what ``--json`` prints)."""
    src = src.resolve()
    modules, trees, edges, typing_only, unresolved = collect(src)
    layers = {m: layer_of(m) for m in modules}
    cycles = []
    for component in strongly_connected(sorted(modules), edges):
        members = set(component)
        cycles.append({"modules": component,
                       "edges": [asdict(e) for e in edges if e.src in members and e.dst in members]})
    upward = [{**asdict(e), "src_layer": LAYERS[layers[e.src]][0], "dst_layer": LAYERS[layers[e.dst]][0]}
              for e in edges
              if layers[e.src] is not None and layers[e.dst] is not None and layers[e.src] < layers[e.dst]]
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in modules.items()}
    large = [{"module": m, "path": str(modules[m].relative_to(src.parent)), "lines": n}
             for m, n in sorted(sizes.items()) if n > MAX_MODULE_LINES]
    functions = [asdict(f) for f in long_functions(modules, trees, src)]
    unlayered = sorted(m for m, layer in layers.items() if layer is None)
    ok = not (cycles or upward or large or unlayered or any(not f["allowed"] for f in functions))
    return {
        "src": str(src),
        "layers": [{"name": name, "modules": list(prefixes)} for name, prefixes in LAYERS],
        "limits": {"module_lines": MAX_MODULE_LINES, "function_lines": MAX_FUNCTION_LINES},
        "modules": {m: {"path": str(p.relative_to(src.parent)), "lines": sizes[m],
                        "layer": None if layers[m] is None else LAYERS[layers[m]][0]}
                    for m, p in modules.items()},
        "edges": [asdict(e) for e in edges],
        "type_checking_edges": [asdict(e) for e in typing_only],
        "unresolved": unresolved,
        "cycles": cycles,
        "upward": upward,
        "unlayered": unlayered,
        "large_modules": large,
        "long_functions": functions,
        "ok": ok,
    }


def render_text(report: dict) -> str:
    def where(e: dict) -> str:
        return f"{e['path']}:{e['line']}" + (" (in a function)" if e["scope"] == "function" else "") + (
            " (lazy re-export)" if e["via"] == "lazy-reexport" else "")

    out = [f"{len(report['modules'])} modules, {len(report['edges'])} import edges "
           f"(+{len(report['type_checking_edges'])} under TYPE_CHECKING, not counted)"]
    out.append(f"\ncycles: {len(report['cycles'])}")
    for c in report["cycles"]:
        out.append("  " + " <-> ".join(c["modules"]))
        out += [f"    {e['src']} -> {e['dst']}  {where(e)}" for e in c["edges"]]
    out.append(f"\nupward imports: {len(report['upward'])}")
    out += [f"  {e['src']} [{e['src_layer']}] -> {e['dst']} [{e['dst_layer']}]  {where(e)}" for e in report["upward"]]
    out.append(f"\nmodules in no layer: {len(report['unlayered'])}")
    out += [f"  {m}" for m in report["unlayered"]]
    out.append(f"\nmodules over {report['limits']['module_lines']} lines: {len(report['large_modules'])}")
    out += [f"  {m['path']}  {m['lines']} lines" for m in report["large_modules"]]
    functions = report["long_functions"]
    out.append(f"\nfunctions over {report['limits']['function_lines']} lines: {len(functions)} "
               f"({sum(not f['allowed'] for f in functions)} not allow-listed)")
    out += [f"  {f['name']}  {f['path']}:{f['line']}  {f['length']} lines"
            + (f"  [allowed: {f['reason']}]" if f["allowed"] else "") for f in functions]
    if report["unresolved"]:
        out.append(f"\nunresolved {PACKAGE} imports: {len(report['unresolved'])}")
        out += [f"  {u['src']} imports {u['name']}  {u['path']}:{u['line']}" for u in report["unresolved"]]
    out.append("\nok" if report["ok"] else "\nNOT ok")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help=f"the directory holding {PACKAGE}/")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the report is ok")
    args = parser.parse_args(argv)
    if not (args.src / PACKAGE / "__init__.py").is_file():
        parser.error(f"no {PACKAGE}/__init__.py under {args.src}")
    report = analyse(args.src)
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    return 1 if args.check and not report["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
