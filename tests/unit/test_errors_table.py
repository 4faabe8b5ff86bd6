"""Every row of docs/errors.md is a case run here: the table and the cases live in one place.

The test PARSES ``docs/errors.md``: each table row starts with an id in backticks; the id names a
setup function below (``@case("id")``) that writes the input and says how to run it:

* ``cli``: ``hyperspark`` through Click's CliRunner (a fresh ``--state-dir``), the whole output must be
  exactly the row's message (one line), with the row's exit code;
* ``job``: ``python jobs/tune.py SPEC --master local[1]``: the last stderr line must be the message;
* ``hdfs``: a storage call against the session's real HDFS, rendered as the CLI renders an OpsError.

Every row also asserts: no ``Traceback`` anywhere, and nothing written under a final name (the
case lists the paths that must not exist afterwards). Messages may hold placeholders: ``{tmp}``
(the test's tmp dir), ``{state}``, ``{port}``, ``{java}``, and ``{*}`` for text that varies
(checksums, library versions).
"""
from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from hyperspark.ops.cli import cli
from tests.paths import REPO, TUNE

DOC = REPO / "docs" / "errors.md"
EXAMPLE = REPO / "examples" / "breast_cancer_sklearn.yaml"


# -- the table -----------------------------------------------------------------------------
@dataclass
class Row:
    id: str
    input: str
    message: str
    exit_code: int
    test: str


def _cells(line: str) -> list[str]:
    body = line.strip()[1:-1]  # drop the outer pipes
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def _unquote(cell: str) -> str:
    cell = cell.strip()
    for q in ("``", "`"):
        if cell.startswith(q) and cell.endswith(q) and len(cell) > 2 * len(q):
            return cell[len(q):-len(q)].strip()
    return cell


def parse_table(text: str) -> list[Row]:
    rows = []
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = _cells(line)
        assert len(cells) == 5, f"a row of docs/errors.md needs 5 cells: {line}"
        rows.append(Row(_unquote(cells[0]), cells[1], _unquote(cells[2]), int(cells[3]), cells[4]))
    return rows


ROWS = parse_table(DOC.read_text())


# -- the cases -----------------------------------------------------------------------------
@dataclass
class Case:
    kind: str  # cli | job | hdfs
    args: list[str] = field(default_factory=list)
    env: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # extra placeholders
    absent: list[Path] = field(default_factory=list)  # final names that must not exist afterwards
    present: list[Path] = field(default_factory=list)  # ... and ones that must (an accepted input)
    call: Callable[..., None] | None = None  # hdfs: raises the OpsError under test


CASES: dict[str, Callable[[Path], Case]] = {}


def case(row_id: str):
    def register(fn):
        assert row_id not in CASES, row_id
        CASES[row_id] = fn
        return fn

    return register


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def _spec_case(tmp: Path, data: str | bytes, name: str = "spec.yaml", extra: list[str] | None = None) -> Case:
    spec = _write(tmp / name, data)
    return Case("cli", ["submit", str(spec), *(extra or [])], absent=[tmp / "state" / "runs.json"])


# the spec -------------------------------------------------------------------------------
@case("spec-garbage-yaml")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, "name: [unclosed\n")


@case("spec-yaml-list")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, "- name\n- model\n")


@case("spec-binary")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, b"\x00\x01\x02\x03binary")


@case("spec-not-utf8")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, b"name: caf\xe9\n")


@case("spec-empty")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, "")


@case("spec-directory")
def _(tmp: Path) -> Case:
    (tmp / "specdir").mkdir()
    return Case("cli", ["submit", str(tmp / "specdir")], absent=[tmp / "state" / "runs.json"])


@case("spec-missing")
def _(tmp: Path) -> Case:
    return Case("cli", ["submit", str(tmp / "nosuch.yaml")], absent=[tmp / "state" / "runs.json"])


@case("spec-unknown-key")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text() + "bogus_key: 1\n")


@case("spec-wrong-type")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text().replace("cv_folds: 3", "cv_folds: three"))


@case("spec-cv-folds-1")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text().replace("cv_folds: 3", "cv_folds: 1"))


@case("spec-unknown-model")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text().replace("model: sklearn.random_forest", "model: sklearn.nosuch"))


@case("spec-bad-metric-override")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text(), extra=["--set", "metric=bogus"])


@case("spec-override-not-key-value")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text(), extra=["--set", "novalue"])


@case("spec-empty-space-list")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text().replace("n_estimators: [25, 50]", "n_estimators: []"))


# several objectives, constraints, conditional spaces (issue 21) ------------------------------------
_MO = "objectives: [{metric: roc_auc}, {metric: predict_ms}]\n"
for _id, _extra in {
    "spec-metric-and-objectives": "objectives: [{metric: roc_auc}]\n",
    "spec-duplicate-objective": "objectives: [{metric: roc_auc}, {metric: roc_auc}]\n",
    "spec-unknown-objective": "objectives: [{metric: speed}]\n",
    "spec-constraint-parse": "constraints: ['model_bytes <== 5']\n",
    "spec-constraint-unknown": "constraints: ['size <= 5']\n",
    "spec-select-not-objective": _MO + "select: {metric: accuracy}\n",
}.items():
    def _mo(tmp: Path, extra: str = _extra, keep_metric: bool = _id == "spec-metric-and-objectives") -> Case:
        text = EXAMPLE.read_text()
        text = text if keep_metric or "constraint" in extra else text.replace("metric: roc_auc\n", "")
        return _spec_case(tmp, text + extra)
    case(_id)(_mo)


@case("spec-branch-empty")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text().replace("max_depth: [3, 6, null]", "max_depth: {choice: {deep: null}}"))


@case("spec-family-resource")
def _(tmp: Path) -> Case:
    choice = ("model: {choice: {sklearn.random_forest: {max_depth: [2, 3]}, sklearn.knn: {n_neighbors: [3]}}}\n"
              "early_stopping: {resource: n_estimators, min: 5, max: 20}\n")
    text = EXAMPLE.read_text().replace("model: sklearn.random_forest\n", choice)
    for line in ("  n_estimators: [25, 50]\n", "  max_depth: [3, 6, null]\n", "  min_samples_leaf: [1, 4]\n"):
        text = text.replace(line, "")
    return _spec_case(tmp, text)


@case("spec-branch-name-not-string")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text().replace("max_depth: [3, 6, null]", "max_depth: {choice: {3: {}}}"))


# the data (the job itself, on local[1]) -------------------------------------------------------
def _job_case(tmp: Path, csv: str | None, label: str = "target") -> Case:
    uri = tmp / "data.csv"
    if csv is not None:
        _write(uri, csv)
    out = tmp / "out"
    spec = _write(tmp / "spec.yaml", (
        f"name: t\ndataset: {{uri: {uri}, label: {label}}}\nmodel: sklearn.decision_tree\n"
        f"search: {{type: grid}}\nspace: {{max_depth: [1, 2]}}\nmetric: accuracy\ncv_folds: 2\noutput: {out}\n"
    ))
    return Case("job", [str(spec)], values={"data": str(uri)},
                absent=[out / "r1" / "summary.json", out / "r1" / "model"])


ROWS6 = "1,2,{0}\n3,4,{1}\n5,6,{0}\n7,8,{1}\n9,1,{0}\n2,3,{1}\n"



@case("data-missing")
def _(tmp: Path) -> Case:
    return _job_case(tmp, None)


@case("data-empty-file")
def _(tmp: Path) -> Case:
    return _job_case(tmp, "")


@case("data-header-only")
def _(tmp: Path) -> Case:
    return _job_case(tmp, "a,b,target\n")


@case("data-one-class")
def _(tmp: Path) -> Case:
    return _job_case(tmp, "a,b,target\n" + ROWS6.format(1, 1))


@case("data-nans")
def _(tmp: Path) -> Case:
    return _job_case(tmp, "a,b,target\n" + ROWS6.format(0, 1).replace("3,4,", "3,,", 1))


@case("data-non-numeric")
def _(tmp: Path) -> Case:
    return _job_case(tmp, "a,b,target\n" + "x,y,0\nz,w,1\n" * 3)


@case("data-label-missing")
def _(tmp: Path) -> Case:
    return _job_case(tmp, "a,b,label\n" + ROWS6.format(0, 1))


# CLI arguments -----------------------------------------------------------------------------------
def _cli(*args: str, **kw) -> Callable[[Path], Case]:
    return lambda tmp: Case("cli", list(args), **kw)


for _id, _args in {
    "arg-workers-zero": ("up", "--workers", "0"),
    "arg-workers-not-int": ("up", "--workers", "two"),
    "arg-worker-memory": ("up", "--worker-memory", "lots"),
    "arg-scale-zero": ("scale", "0"),
    "arg-scale-too-many": ("scale", "99"),
    "arg-bench-workers-list": ("bench", "--workers", "1,x"),
    "arg-port-out-of-range": ("up", "--master-port", "70000"),
    "arg-unknown-target": ("--target", "nosuch", "status"),
    "arg-results-unknown-run": ("results", "../x"),
    "arg-logs-dotdot": ("logs", "../../etc/passwd"),
    "arg-gpus-negative": ("up", "--gpus-per-worker", "-1"),
    "arg-gpu-addresses-count": ("up", "--gpus-per-worker", "2", "--gpu-addresses", "0"),
    "arg-gpu-addresses-list": ("up", "--gpu-addresses", "0,,1"),
    "arg-gpus-compose": ("--target", "compose", "up", "--gpus-per-worker", "1"),
}.items():
    case(_id)(_cli(*_args))


@case("arg-run-id-dotdot")
def _(tmp: Path) -> Case:
    return Case("cli", ["submit", str(EXAMPLE), "--run-id", "../x"],
                absent=[tmp / "state" / "runs.json", tmp / "state" / "logs"])


@case("arg-upload-dest-dotdot")
def _(tmp: Path) -> Case:
    src = _write(tmp / "x.csv", "a,b\n1,2\n")
    return Case("cli", ["upload", str(src), "../../outside.csv"],
                absent=[tmp / "outside.csv", tmp.parent / "outside.csv"],
                present=[tmp / "state" / "storage" / "outside.csv"])


@case("arg-upload-src-missing")
def _(tmp: Path) -> Case:
    return Case("cli", ["upload", str(tmp / "nosuch.csv")], absent=[tmp / "state" / "storage" / "data"])


# the environment ------------------------------------------------------------------------------------
@case("env-no-java")
def _(tmp: Path) -> Case:
    (tmp / "empty-bin").mkdir()
    return Case("cli", ["up", "--no-hdfs"], env={"PATH": str(tmp / "empty-bin"), "JAVA_HOME": None},
                absent=[tmp / "state" / "pids" / "master.pid"])


@case("env-old-java")
def _(tmp: Path) -> Case:
    home = tmp / "jdk8"
    java = _write(home / "bin" / "java", "#!/bin/sh\necho 'java version \"1.8.0_392\"' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return Case("cli", ["up", "--no-hdfs"], env={"JAVA_HOME": str(home)}, values={"java": str(java)},
                absent=[tmp / "state" / "pids" / "master.pid"])


@case("env-port-taken")
def _(tmp: Path) -> Case:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    c = Case("cli", ["up", "--workers", "1", "--no-hdfs", "--master-port", str(port)],
             values={"port": str(port)}, absent=[tmp / "state" / "pids" / "master.pid"])
    c.holder = holder  # type: ignore[attr-defined] - closed by the test
    return c


@case("env-connect-port-taken")
def _(tmp: Path) -> Case:
    c = CASES["env-port-taken"](tmp)
    port = c.values["port"]
    c.args = ["up", "--workers", "1", "--no-hdfs", "--connect-port", port]
    return c


@case("env-connect-no-server")
def _(tmp: Path) -> Case:
    (tmp / "spark" / "jars").mkdir(parents=True)  # a Spark without jars/spark-connect_*.jar
    return Case("cli", ["up", "--workers", "1", "--no-hdfs", "--connect"], env={"SPARK_HOME": str(tmp / "spark")},
                absent=[tmp / "state" / "pids" / "master.pid", tmp / "state" / "state.json"])


@case("env-no-nvidia-smi")
def _(tmp: Path) -> Case:
    from hyperspark.ops.util.java import java_home

    (tmp / "empty-bin").mkdir()  # Java from JAVA_HOME; no nvidia-smi on PATH (the discovery script is /bin/sh)
    return Case("cli", ["up", "--workers", "1", "--no-hdfs", "--gpus-per-worker", "1"],
                env={"PATH": str(tmp / "empty-bin"), "JAVA_HOME": java_home()},
                absent=[tmp / "state" / "pids" / "master.pid", tmp / "state" / "state.json"])


@case("env-no-docker-engine")
def _(tmp: Path) -> Case:
    return Case("cli", ["--target", "compose", "status"],
                env={"DOCKER_HOST": f"unix://{tmp}/no-docker.sock"}, values={"sock": f"{tmp}/no-docker.sock"})


@case("env-no-kubeconfig")
def _(tmp: Path) -> Case:
    return Case("cli", ["--target", "k8s", "status"],
                env={"KUBECONFIG": str(tmp / "no-kubeconfig"), "KUBERNETES_SERVICE_HOST": None,
                     "HYPERSPARK_K8S_KUBECONFIG": None})


@case("env-no-cluster")
def _(tmp: Path) -> Case:
    return Case("cli", ["submit", str(EXAMPLE)], absent=[tmp / "state" / "runs.json"])


@case("env-hdfs-safe-mode")
def _(tmp: Path) -> Case:
    src = _write(tmp / "x.csv", "a,b\n1,2\n")

    def call(hdfs_cluster) -> None:
        from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage

        storage = WebHdfsStorage(hdfs_cluster.webhdfs_url, hdfs_cluster.fs_uri)
        storage.upload(src, "/errors-table/x.csv")

    return Case("hdfs", call=call)


# the run dir and the state dir (issue 23; tests/security/ tests them on the pipeline and on real dirs) ----
@case("data-run-in-use")
def _(tmp: Path) -> Case:
    import types

    from hyperspark.job.results import LocalFS, RunStore

    c = _job_case(tmp, "a,b,target\n" + ROWS6.format(0, 1))
    store = RunStore(LocalFS((tmp / "out").as_uri()), "r1")
    store.acquire()  # this process is the other driver, holding run r1 until the test ends
    c.holder = types.SimpleNamespace(close=store.release)  # type: ignore[attr-defined]
    c.absent.append(tmp / "out" / "r1" / "trials.jsonl")
    return c


@case("data-changed-on-resume")
def _(tmp: Path) -> Case:
    import json

    from hyperspark.job.spec import load_spec

    c = _job_case(tmp, "a,b,target\n" + ROWS6.format(0, 1))
    fingerprint = load_spec(c.args[0]).fingerprint()  # the same spec, recorded with another data set's hash
    _write(tmp / "out" / "r1" / "spec.json", json.dumps({"fingerprint": fingerprint, "spec": {},
                                                         "data_hash": "sha256:" + "0" * 64}))
    c.args.append("--resume")
    return c


@case("arg-purge-unmarked")
def _(tmp: Path) -> Case:
    notes = _write(tmp / "state" / "notes.txt", "someone else's dir")
    return Case("cli", ["down", "--purge", "--yes"], present=[notes])


# input, all of it (issue 23): one check per class, not per example ----------------------------------
for _id, _edit in {
    "spec-duplicate-key": lambda t: t + "cv_folds: 4\n",
    "spec-yaml-alias": lambda t: t + "x: &a [1]\ny: *a\n",
    "spec-seed-range": lambda t: t.replace("seed: 7", "seed: -1"),
    "spec-uri-scheme": lambda t: t.replace("uri: data/breast_cancer.csv", "uri: s3://bucket/x.csv"),
    "spec-uri-not-uri": lambda t: t.replace("output: ../runs", "output: hdfs:/x"),
    "spec-label-as-feature": lambda t: t.replace("  label: target\n", "  label: target\n  features: [target, mean radius]\n"),
    "spec-features-empty": lambda t: t.replace("  label: target\n", "  label: target\n  features: []\n"),
    "spec-grid-too-large": lambda t: t.replace("  n_estimators: [25, 50]", "  n_estimators: {}\n  max_features: {}".format(
        list(range(1, 1001)), list(range(1, 1001)))).replace("  min_samples_leaf: [1, 4]", "  min_samples_leaf: {}".format(
        list(range(1, 1001)))).replace("  max_depth: [3, 6, null]\n", ""),
    "spec-trial-timeout-transport": lambda t: t + "trial_timeout: 30s\ntrial_tasks: per_trial\n",
}.items():
    case(_id)(lambda tmp, edit=_edit: _spec_case(tmp, edit(EXAMPLE.read_text())))


@case("spec-override-bad-yaml")
def _(tmp: Path) -> Case:
    return _spec_case(tmp, EXAMPLE.read_text(), extra=["--set", "metric=[unclosed"])


@case("arg-run-id-too-long")
def _(tmp: Path) -> Case:
    return Case("cli", ["submit", str(EXAMPLE), "--run-id", "a" * 200], absent=[tmp / "state" / "runs.json"])


@case("arg-package-symlink-loop")
def _(tmp: Path) -> Case:
    _write(tmp / "pkg" / "__init__.py", "")
    (tmp / "pkg" / "loop").symlink_to(tmp / "pkg" / "loop")
    return Case("cli", ["submit", str(EXAMPLE), "--package", str(tmp / "pkg")],
                absent=[tmp / "state" / "runs.json", tmp / "state" / "packages"])


case("arg-worker-memory-zero")(_cli("up", "--worker-memory", "0", absent=[]))
case("arg-duplicate-ports")(_cli("up", "--master-port", "7999", "--ui-port", "7999"))
case("env-bad-number")(_cli("status", env={"HYPERSPARK_START_TIMEOUT": "abc"}))


@case("data-infinite")
def _(tmp: Path) -> Case:
    return _job_case(tmp, "a,b,target\n" + ROWS6.format(0, 1).replace("3,4,", "3,inf,", 1))


def _state_case(name: str, text: str, *args: str) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        _write(tmp / "state" / ".hyperspark-state", "")
        _write(tmp / "state" / name, text)
        return Case("cli", list(args), absent=[tmp / "state" / "pids" / "master.pid"])
    return make


case("env-state-file-shape")(_state_case("state.json", "[1, 2]", "status"))
case("env-state-saved-port")(_state_case("state.json", '{"master_port": "abc"}', "status"))
case("env-runs-file-value")(_state_case("runs.json", '{"r1": 5}', "results", "r1"))


# -- the runner -----------------------------------------------------------------------------------
def _pattern(message: str, values: dict[str, str]) -> re.Pattern:
    parts = re.split(r"(\{[a-z*]+\})", message)
    out = []
    for p in parts:
        if p == "{*}":
            out.append(".*")
        elif re.fullmatch(r"\{[a-z]+\}", p):
            out.append(re.escape(values[p[1:-1]]))
        else:
            out.append(re.escape(p))
    return re.compile("".join(out))


def _run_cli(c: Case, tmp: Path) -> tuple[int, str]:
    env = {"HYPERSPARK_TARGET": None, "HADOOP_HOME": None, "HYPERSPARK_STATE_DIR": None, **c.env}
    res = CliRunner().invoke(cli, ["--state-dir", str(tmp / "state"), *c.args], env=env, prog_name="hyperspark")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"unexpected exception {res.exception!r}\n{res.output}")
    return res.exit_code, res.output


def _run_job(c: Case, tmp: Path) -> tuple[int, str, str]:
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    res = subprocess.run([sys.executable, str(TUNE), *c.args, "--run-id", "r1", "--master", "local[1]"],
                         env=env, capture_output=True, text=True, timeout=600, cwd=tmp)
    return res.returncode, res.stdout, res.stderr


def test_the_table_has_every_kind_of_input() -> None:
    assert len(ROWS) >= 30
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids)), "row ids must be unique"
    assert set(ids) == set(CASES), f"rows without a case: {set(ids) - set(CASES)}; cases without a row: " \
                                   f"{set(CASES) - set(ids)}"
    for prefix in ("spec-", "data-", "arg-", "env-"):
        assert any(i.startswith(prefix) for i in ids), prefix
    for r in ROWS:
        assert r.test == f"`tests/unit/test_errors_table.py::test_row[{r.id}]`", r.id


def _marks(row: Row) -> list:
    if row.id.startswith("data-"):
        return [pytest.mark.spark]
    if row.id.startswith("env-hdfs"):
        return [pytest.mark.hdfs]
    return []


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=_marks(r)) for r in ROWS])
def test_row(row: Row, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    c = CASES[row.id](tmp_path)
    values = {"tmp": str(tmp_path), "state": str(tmp_path / "state"), **c.values}
    try:
        if c.kind == "cli":
            code, output = _run_cli(c, tmp_path)
            lines = [ln for ln in output.splitlines() if ln.strip()]
            assert "Traceback" not in output, output
            assert len(lines) == 1, output
            got = lines[0]
        elif c.kind == "job":
            code, out, err = _run_job(c, tmp_path)
            assert "Traceback" not in out + err, err[-3000:]
            got = err.strip().splitlines()[-1] if err.strip() else ""
        else:
            request.getfixturevalue("monkeypatch").setenv("HYPERSPARK_UPLOAD_RETRY_S", "3")
            cluster = request.getfixturevalue("hdfs_cluster")
            from hyperspark.ops.model import OpsError

            from tests.integration.test_hdfs import hdfs_cli

            hdfs_cli(cluster, "dfsadmin", "-safemode", "enter")
            try:
                with pytest.raises(OpsError) as info:
                    c.call(cluster)
            finally:
                hdfs_cli(cluster, "dfsadmin", "-safemode", "leave")
            code, got = 1, f"Error: {info.value}"
            assert "\n" not in str(info.value)
            assert not cluster_has(cluster, "/errors-table/x.csv")
    finally:
        holder = getattr(c, "holder", None)
        if holder is not None:
            holder.close()
    assert _pattern(row.message, values).fullmatch(got), f"\n got: {got}\nwant: {row.message}"
    assert code == row.exit_code
    for p in c.absent:
        assert not p.exists(), f"{p} was written"
    for p in c.present:
        assert p.exists(), f"{p} is missing"


def cluster_has(cluster, path: str) -> bool:
    from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage

    return WebHdfsStorage(cluster.webhdfs_url, cluster.fs_uri).exists(path)
