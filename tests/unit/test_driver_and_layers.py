"""The shared submit path (targets/submit.py) with a stand-in launcher, the typed protocol on a real
summary, and the layering rules of hyperspark.ops (nothing below targets/ imports from it; no import
circles at all, function-level imports included)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from hyperspark.job.protocol import RunSummary, new_run_id, parse_trials

from hyperspark.ops import render
from hyperspark.ops.model import NoClusterError, OpsError
from hyperspark.ops.targets.base import Target
from hyperspark.ops.targets.request import DriverOutput, DriverRequest
from tests.paths import REPO

DATA = Path(__file__).parent / "data"
PACKAGE = REPO / "src" / "hyperspark" / "ops"


class ScriptedTarget(Target):
    """A target whose driver prints given lines and exits with a given code; storage is a dict."""

    name = "scripted"

    def __init__(self, state_dir: Path, lines: list[str], code: int, files: dict[str, str]) -> None:
        super().__init__(state_dir)
        self.lines, self.code, self.files, self.requests = lines, code, files, []

    def launch_driver(self, request: DriverRequest, output: DriverOutput) -> int:
        self.requests.append(request)
        for line in self.lines:
            output.feed(line + "\n")
        return self.code

    def read_text(self, uri: str) -> str:
        if uri not in self.files:
            raise OpsError(f"no such file: {uri}")
        return self.files[uri]

    up = down = status = scale = upload = logs = doctor = None  # type: ignore[assignment]


def _summary_text(output_uri: str) -> str:
    data = json.loads((DATA / "summary.json").read_text())
    data["output_uri"] = output_uri
    return json.dumps(data)


def test_todays_summary_and_trials_parse_as_the_protocol() -> None:
    summary = RunSummary.model_validate_json((DATA / "summary.json").read_text())
    trials = parse_trials((DATA / "trials.jsonl").read_text())
    assert summary.metric == "roc_auc" and len(trials) == 12
    ranked = render.rank_trials(trials, summary)
    assert [t.best for t in ranked].count(True) == 1
    assert next(t for t in ranked if t.best).params == summary.best_params


def test_submit_records_once_and_reads_the_summary(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    out = "file:///runs/r1"
    result_line = {"run_id": "r1", "output_uri": out, "best_params": {"d": 3}, "cv_score": 0.9,
                   "metric": "roc_auc"}
    seen: list[str] = []
    target = ScriptedTarget(tmp_path / "state", ["noise", "HYPERSPARK_RESULT " + json.dumps(result_line)], 0,
                            {f"{out}/summary.json": _summary_text(out)})
    res = target.submit(spec, run_id="r1", overrides=["cv_folds=4"], on_line=seen.append)
    assert res.exit_code == 0 and res.output_uri == out and res.error is None
    assert isinstance(res.summary, RunSummary) and res.result.cv_score == 0.9
    assert target.state.runs() == {"r1": out}
    assert seen[0] == "noise"
    assert target.requests[0].job_args("S") == ["S", "--run-id", "r1", "--set", "cv_folds=4"]
    assert "HYPERSPARK_RESULT" in target.state.log_file("driver").read_text()
    assert render.to_jsonable(res)["summary"]["metric"] == "roc_auc"


def test_failed_run_is_not_recorded_and_keeps_the_jobs_error_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    target = ScriptedTarget(tmp_path / "state", ["hyperspark: error: dataset.uri: no such file"], 2, {})
    res = target.submit(spec)
    assert res.exit_code == 2 and res.summary is None and res.result is None
    assert res.error == "dataset.uri: no such file"
    assert target.state.runs() == {}
    assert res.run_id.startswith("x-") and len(res.run_id) == len(new_run_id("x"))  # the spec's name
    crashed = ScriptedTarget(tmp_path / "state2", ["hyperspark: failed: Py4JError: lost the master"], 1, {}).submit(spec)
    assert crashed.exit_code == 1 and crashed.error == "Py4JError: lost the master"


def test_missing_spec_and_no_cluster_stop_before_any_log(tmp_path: Path) -> None:
    class Down(ScriptedTarget):
        def before_submit(self, request: DriverRequest) -> None:
            raise NoClusterError(self.name)

    target = Down(tmp_path / "state", [], 0, {})
    with pytest.raises(OpsError, match="^no such spec file: "):
        target.submit(tmp_path / "absent.yaml")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    with pytest.raises(NoClusterError):
        target.submit(spec)
    assert not target.state.logs_dir.exists()


LOWER_LAYERS = ["model.py", "settings.py", "state.py", "spark_api.py", "storage.py", "storage_uri.py",
                "k8s_render.py", "resources.py", "render.py", "util", "hdfs"]


def _imports(path: Path) -> list[str]:
    """Every module an ``import`` statement of ``path`` names (function-level ones too), made absolute."""
    parts = path.relative_to(PACKAGE.parents[1]).with_suffix("").parts
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


def _module_graph() -> dict[str, set[str]]:
    """hyperspark.ops module -> the hyperspark.ops modules it imports (a package stands for its __init__)."""
    files = {".".join(f.relative_to(PACKAGE.parents[1]).with_suffix("").parts).removesuffix(".__init__"): f
             for f in PACKAGE.rglob("*.py")}

    def module(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    return {m: {t for t in map(module, _imports(f)) if t and t != m} for m, f in files.items()}


@pytest.mark.parametrize("module", LOWER_LAYERS)
def test_lower_layers_never_import_targets(module: str) -> None:
    path = PACKAGE / module
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for f in files:
        names = _imports(f)
        assert not any(n.startswith("hyperspark.ops.targets") for n in names), f"{f.name} imports {names}"


def test_ops_has_no_import_circles() -> None:
    """Not even through an import inside a function: each circle found is named."""
    graph = _module_graph()
    circles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in path and nxt > start:  # each circle once, from its smallest module
                    stack.append((nxt, [*path, nxt]))
    assert circles == []


@pytest.mark.parametrize("module, forbidden", [
    ("hyperspark.ops.storage", "hyperspark.ops.hdfs"),  # the interface; storage_uri picks an implementation
    ("hyperspark.ops.targets.request", "hyperspark.ops.targets."),  # the request types need no target
    ("hyperspark.ops.targets.submit", "hyperspark.ops.targets.base"),  # a target is a Launcher protocol there
])
def test_modules_that_stay_below(module: str, forbidden: str) -> None:
    assert not any(t.startswith(forbidden) for t in _module_graph()[module])


def test_each_target_package_imports_no_other_target() -> None:
    graph = _module_graph()
    names = ("local", "compose", "k8s")
    for name in names:
        others = tuple(f"hyperspark.ops.targets.{o}" for o in names if o != name)
        for mod, deps in graph.items():
            if mod.startswith(f"hyperspark.ops.targets.{name}"):
                assert not [d for d in deps if d.startswith(others)], mod
