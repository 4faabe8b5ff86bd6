"""The package's shape, read by ``scripts/import_graph.py``: no import cycles, no import from a lower layer
to a higher one (errors/space -> job -> api -> ops), no module over the size limit; and the tool itself,
on a small package tree made here with one known cycle and one known upward import.

The script is run as a command with ``--json`` (as CI and people run it), not imported: ``scripts/`` stays
a folder of standalone tools, no ``sys.path`` is touched, and ``--check``'s exit code is tested as used.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import SCRIPTS, SRC

SCRIPT = SCRIPTS / "import_graph.py"


def import_graph(src: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--src", str(src), *flags], capture_output=True,
                          text=True, timeout=120)


def graph_of(src: Path) -> dict:
    done = import_graph(src, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def pairs(edges: list[dict]) -> set[tuple[str, str]]:
    return {(e["src"], e["dst"]) for e in edges}


# --------------------------------------------------------------------------- the real tree
@pytest.fixture(scope="module")
def tree() -> dict:
    report = graph_of(SRC)
    job = [m for m in report["modules"] if m.startswith("hyperspark.job.")]
    assert len(job) >= 10 and "hyperspark.api" in report["modules"], sorted(report["modules"])
    assert any(e["src"] in job for e in report["edges"])  # it read the job's imports
    return report


def where(e: dict) -> str:
    return f"{e['src']} -> {e['dst']} ({e['path']}:{e['line']})"


def test_no_import_cycles(tree: dict) -> None:
    assert tree["cycles"] == [], "\n".join(where(e) for c in tree["cycles"] for e in c["edges"])


def test_no_import_goes_up_a_layer(tree: dict) -> None:
    assert tree["upward"] == [], "\n".join(f"{where(e)}: {e['src_layer']} -> {e['dst_layer']}"
                                           for e in tree["upward"])


def test_every_module_is_in_a_layer(tree: dict) -> None:
    """A module in no layer escapes the rule above: place it in LAYERS (or delete it)."""
    assert tree["unlayered"] == []


def test_no_module_is_over_the_size_limit(tree: dict) -> None:
    assert tree["limits"]["module_lines"] == 600
    assert tree["large_modules"] == [], [f"{m['path']}: {m['lines']} lines" for m in tree["large_modules"]]


def test_the_job_never_imports_api_or_ops(tree: dict) -> None:
    """The job runs on executors from a core install: no hyperspark.api, no hyperspark.ops, not even
    inside a function."""
    bad = [where(e) for e in tree["edges"]
           if e["src"].startswith("hyperspark.job")
           and e["dst"].split(".")[:2] in (["hyperspark", "api"], ["hyperspark", "ops"])]
    assert bad == []


# --------------------------------------------------------------------------- the tool, on a tree made here
FAKE = {
    # the package: lazy, its public name bound only for type checkers
    "__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hyperspark.api import tune\n",
    "errors.py": "class SpecError(ValueError):\n    pass\n",
    "space.py": "from hyperspark.errors import SpecError\n",
    # the job's __init__ re-exports from a submodule that imports a name from the package: a cycle
    "job/__init__.py": "from .loop import run_loop\nVERSION = '1'\n",
    "job/loop.py": ("from . import VERSION\nfrom hyperspark.job import protocol\n\n"
                    "def run_loop():\n    return VERSION\n"),
    "job/protocol.py": "import json\n",
    # an upward import inside a function (relative, two levels up), and one only for type checkers
    "job/run.py": (
        "from typing import TYPE_CHECKING\n"
        "from hyperspark.job.protocol import json\n"
        "import hyperspark.space\n"
        "if TYPE_CHECKING:\n"
        "    from hyperspark.api import Result\n"
        "\n"
        "def main():\n"
        "    from ..ops import cli\n"
        "    return cli\n"
    ),
    "api.py": "from hyperspark.job import protocol\nfrom hyperspark import errors\n",
    "ops/__init__.py": "",
    "ops/cli.py": "import click\nfrom hyperspark.api import tune\nfrom hyperspark.job.loop import run_loop\n",
}


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "src" / "hyperspark" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "src"


def test_the_tool_finds_exactly_the_known_cycle_and_upward_import(tmp_path: Path) -> None:
    report = graph_of(make_tree(tmp_path, FAKE))
    assert [c["modules"] for c in report["cycles"]] == [["hyperspark.job", "hyperspark.job.loop"]]
    assert pairs(report["cycles"][0]["edges"]) == {("hyperspark.job", "hyperspark.job.loop"),
                                                   ("hyperspark.job.loop", "hyperspark.job")}
    [up] = report["upward"]
    assert (up["src"], up["dst"], up["src_layer"], up["dst_layer"]) == ("hyperspark.job.run", "hyperspark.ops.cli",
                                                                        "job", "ops")
    assert (up["path"], up["line"], up["scope"]) == ("src/hyperspark/job/run.py", 8, "function")
    # `from pkg import submodule` is an edge to the submodule; `import a.b` to a.b; third-party ignored
    assert {("hyperspark.job.loop", "hyperspark.job.protocol"), ("hyperspark.api", "hyperspark.errors"),
            ("hyperspark.api", "hyperspark.job.protocol"),
            ("hyperspark.job.run", "hyperspark.space")} <= pairs(report["edges"])
    assert not any(e["dst"] == "click" for e in report["edges"])
    # imports for type checkers only are listed apart and count for neither rule
    assert pairs(report["type_checking_edges"]) == {("hyperspark", "hyperspark.api"),
                                                    ("hyperspark.job.run", "hyperspark.api")}
    assert report["unlayered"] == [] and report["large_modules"] == [] and report["ok"] is False
    assert import_graph(tmp_path / "src", "--check").returncode == 1


def test_a_lazy_reexport_reaches_the_defining_module(tmp_path: Path) -> None:
    """`from hyperspark import tune` in the job loads hyperspark.api through the package's __getattr__."""
    files = {**FAKE, "job/loop.py": "def run_loop():\n    from hyperspark import tune\n",
             "job/run.py": "import hyperspark.job.protocol\n"}
    report = graph_of(make_tree(tmp_path, files))
    assert report["cycles"] == []
    assert [(u["src"], u["dst"], u["via"]) for u in report["upward"]] == [
        ("hyperspark.job.loop", "hyperspark.api", "lazy-reexport")]


def test_a_clean_tree_passes_the_check_and_sizes_are_reported(tmp_path: Path) -> None:
    long_body = "".join(f"    x{i} = {i}\n" for i in range(61))
    files = {**FAKE,
             "job/__init__.py": "",
             "job/loop.py": "def run_loop():\n    return 1\n",
             "job/run.py": "from hyperspark.job.protocol import json\n\n"
                           f"def allowed():  # long-function: one table, read top to bottom\n{long_body}",
             "ops/cli.py": "from hyperspark.api import tune\n"}
    src = make_tree(tmp_path, files)
    report = graph_of(src)
    assert report["ok"] is True and report["cycles"] == [] and report["upward"] == []
    [fn] = report["long_functions"]
    assert (fn["name"], fn["line"], fn["length"], fn["allowed"]) == ("hyperspark.job.run.allowed", 3, 62, True)
    assert fn["reason"] == "one table, read top to bottom"
    assert import_graph(src, "--check").returncode == 0

    # the same function without its reason fails the check; so does a module over 600 lines
    (src / "hyperspark" / "job" / "run.py").write_text(f"def allowed():\n{long_body}")
    (src / "hyperspark" / "space.py").write_text("x = 1\n" * 601)
    report = graph_of(src)
    assert [f["allowed"] for f in report["long_functions"]] == [False]
    assert [(m["module"], m["lines"]) for m in report["large_modules"]] == [("hyperspark.space", 601)]
    checked = import_graph(src, "--check")
    assert checked.returncode == 1 and "NOT ok" in checked.stdout
