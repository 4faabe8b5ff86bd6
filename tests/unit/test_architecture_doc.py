"""Every name docs/architecture.md cites exists: the page cannot drift from the code unnoticed.

Parsing rules (deliberately simple):

* **Citations** are the spans between backticks on one line, anywhere in the page, fenced blocks included
  (the layout tree cites names in backticks too); the lines that open and close a fence are ignored.
  A span is split on whitespace into tokens, and trailing punctuation (``,.;:)``) is stripped.
* **Repo paths**: a token whose first segment is one of :data:`ROOTS` (``src/...``, ``jobs/...``,
  ``k8s/...``) must exist in the checkout. ``<placeholder>`` and ``*`` match any name (``k8s/overlays/<env>/``).
* **Python names**: a token starting ``hyperspark.`` (``hyperspark.job.protocol``, ``hyperspark.tune(...)``:
  the dotted part before any bracket) must resolve: the longest importable module prefix, then attributes.
  An entry-point group that pyproject.toml declares (``hyperspark.targets``) counts as resolved.
* **Module files**: a bare ``name.py`` or ``dir/name.py`` (not a repo path) cited in backticks, or written
  anywhere in the layout tree (the first fenced block that mentions ``src/hyperspark``), must be the end of
  a file path under ``src/hyperspark`` or ``jobs/``; a repo path written in the tree (``src/.../x.py``)
  must exist as such.
"""
from __future__ import annotations

import fnmatch
import importlib
import re

from tests.paths import REPO

DOC = REPO / "docs" / "architecture.md"
ROOTS = ("src", "jobs", "k8s", "scripts", "docs", "tests", "examples", "benchmarks", "docker")
CODE_DIRS = (REPO / "src" / "hyperspark", REPO / "jobs")
PYTHON_NAME = re.compile(r"hyperspark(?:\.[A-Za-z_]\w*)+")
MODULE_FILE = re.compile(r"(?<![\w./<>-])((?:[A-Za-z_]\w*/)*[A-Za-z_]\w*\.py)\b")


def doc_lines() -> list[str]:
    return DOC.read_text(encoding="utf-8").splitlines()


def citations() -> list[str]:
    """Tokens of every backticked span (fence lines excluded)."""
    tokens = []
    for line in doc_lines():
        if line.lstrip().startswith("```"):
            continue
        for span in re.findall(r"`([^`]+)`", line):
            tokens += [t.rstrip(",.;:)") for t in span.split()]
    return [t for t in tokens if t]


def layout_tree() -> str:
    """The first fenced block that mentions src/hyperspark."""
    blocks, current = [], None
    for line in doc_lines():
        if line.lstrip().startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return next((b for b in blocks if "src/hyperspark" in b), "")


def is_repo_path(token: str) -> bool:
    return "/" in token and token.split("/", 1)[0] in ROOTS


def repo_path_exists(token: str) -> bool:
    pattern = re.sub(r"<[^>]*>", "*", token.rstrip("/"))
    if "*" not in pattern:
        return (REPO / pattern).exists()
    parts = pattern.split("/")
    candidates = [REPO]
    for part in parts:
        candidates = [c / n.name for c in candidates if c.is_dir() for n in c.iterdir()
                      if fnmatch.fnmatchcase(n.name, part)]
    return bool(candidates)


def entry_point_groups() -> set[str]:
    """``[project.entry-points."GROUP"]`` tables in pyproject.toml."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    return set(re.findall(r'^\[project\.entry-points\."([^"]+)"\]', text, re.M))


def resolve(name: str) -> str | None:
    """None when ``name`` is a module or an attribute of one, else why not."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):
                continue  # not a module: try a shorter prefix
            return f"importing {module_name} failed: {e}"
        except Exception as e:  # noqa: BLE001 - a module that exists but does not import is a finding
            return f"importing {module_name} failed: {type(e).__name__}: {e}"
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return f"{'.'.join(parts[:cut])} has no attribute {attr!r}"
            obj = getattr(obj, attr)
        return None
    return "no such module"


def code_files() -> list[str]:
    return [p.as_posix() for d in CODE_DIRS for p in d.rglob("*.py") if "__pycache__" not in p.parts]


def test_cited_repo_paths_exist() -> None:
    paths = sorted({t for t in citations() if is_repo_path(t)})
    assert paths, "the page cites no repository path in backticks: did the parsing rules break?"
    assert [p for p in paths if not repo_path_exists(p)] == []


def test_cited_python_names_resolve() -> None:
    names = sorted({m.group(0) for t in citations() if (m := PYTHON_NAME.match(t))})
    assert names, "the page cites no hyperspark.* name in backticks: did the parsing rules break?"
    groups = entry_point_groups()
    problems = {n: why for n in names if n not in groups and (why := resolve(n)) is not None}
    assert problems == {}


def test_cited_module_files_exist() -> None:
    tree = layout_tree()
    assert tree, "no layout tree (a fenced block mentioning src/hyperspark) in the page"
    in_tree = set(MODULE_FILE.findall(tree))
    in_backticks = {m for t in citations() if not is_repo_path(t) for m in MODULE_FILE.findall(t)}
    cited = {m for m in in_tree | in_backticks if not is_repo_path(m)}
    assert in_tree - {m for m in in_tree if is_repo_path(m)}, "the layout tree names no module file"
    files = code_files()
    missing = [m for m in cited if not any(f.endswith("/" + m) for f in files)]
    missing += [m for m in in_tree if is_repo_path(m) and not repo_path_exists(m)]
    assert sorted(missing) == []


def test_the_rules_catch_a_missing_name() -> None:
    """The resolvers say no to names that do not exist (so the tests above can fail)."""
    assert repo_path_exists("src/hyperspark/job/protocol.py") and repo_path_exists("k8s/<anything>")
    assert not repo_path_exists("src/hyperspark/job/no_such_module.py")
    assert resolve("hyperspark.errors.SpecError") is None
    assert resolve("hyperspark.errors.NoSuchError") == "hyperspark.errors has no attribute 'NoSuchError'"
    assert resolve("hyperspark.no_such_module") == "hyperspark has no attribute 'no_such_module'"
    assert entry_point_groups() == {"hyperspark.targets"}
    assert MODULE_FILE.findall("  targets/base.py   THE interface (src/x.py), cli.py; upload.sh/upload.py") == [
        "targets/base.py", "src/x.py", "cli.py"]
