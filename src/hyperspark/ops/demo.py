"""``hyperspark demo``: one command on a fresh machine: up, upload the bundled data, tune, benchmark, down.

A library, no Click: each step's result goes to a :class:`DemoView` (the CLI passes
:class:`hyperspark.ops.render.DemoView`), so this module decides what happens and the view how it looks.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hyperspark.ops.model import ClusterStatus, LineSink, OpsError, SubmitResult, UploadResult

if TYPE_CHECKING:
    from hyperspark.ops.targets.base import Target

EXAMPLE_SPEC = "breast_cancer_sklearn.yaml"
#: the demo's benchmark: the README's 16-trial grid on 10k rows (about 0.5 s per trial on one core), timed on
#: the warm driver with one cold submit beside it, so a first run ends in about 4 minutes and still shows
#: both figures (issue 22: 7.5 min when every bench submit was cold on 20k rows)
BENCH_SPEC = "rf16-demo.yaml"


class DemoView(Protocol):
    def step(self, text: str) -> None: ...
    def status(self, st: ClusterStatus) -> None: ...
    def upload(self, r: UploadResult) -> None: ...
    def submit(self, r: SubmitResult) -> None: ...
    def bench(self, report: dict[str, Any]) -> None: ...
    def down(self, stopped: list[str]) -> None: ...
    def line(self, text: str) -> None: ...  # a progress line of the bench


@dataclass
class DemoOptions:
    workers: int = 2
    skip_bench: bool = False
    bench_repeats: int = 2
    keep: bool = False
    out_dir: Path = Path("demo-out")


def find_example(name: str) -> Path:
    """An example spec shipped with the tool (source checkout or wheel package data)."""
    from hyperspark.ops import resources

    path = resources.find(f"examples/{name}")
    if path is None:
        raise OpsError(f"example spec {name} is not installed")
    return path


def write_breast_cancer_csv(path: Path) -> Path:
    """scikit-learn's bundled breast-cancer data as CSV (no download): label column ``target``."""
    from sklearn.datasets import load_breast_cancer

    from hyperspark.ops.util.files import write_atomic

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [re.sub(r"[^A-Za-z0-9_]+", "_", c) for c in frame.columns]
    return write_atomic(path, frame.to_csv(index=False))


def load_bench():
    """The bench module, or OpsError when its dependencies are missing."""
    import importlib

    try:
        return importlib.import_module("hyperspark.ops.bench")
    except ImportError as exc:
        raise OpsError(f"bench is not available: {exc}") from exc


def _tune(target: Target, view: DemoView, on_line: LineSink) -> None:
    from hyperspark.ops.runs import validate_spec

    spec = find_example(EXAMPLE_SPEC)
    view.step("[2/5] putting the bundled breast-cancer dataset into cluster storage...")
    with tempfile.TemporaryDirectory() as tmp:
        csv = spec.parent / "data" / "breast_cancer.csv"
        if not csv.exists():
            csv = write_breast_cancer_csv(Path(tmp) / "breast_cancer.csv")
        uploaded = target.upload(csv, "data/breast_cancer.csv", force=True)
    view.upload(uploaded)
    view.step("[3/5] running the tuning search...")
    overrides = [f"dataset.uri={uploaded.dest}"]
    validate_spec(spec, overrides)
    result = target.submit(spec, on_line=on_line, overrides=overrides)
    if result.exit_code != 0:
        raise OpsError(result.error or f"the tuning job failed with exit code {result.exit_code}")
    view.submit(result)


def _bench(target: Target, opts: DemoOptions, view: DemoView) -> None:
    if opts.skip_bench:
        view.step("[4/5] benchmark skipped (--skip-bench)")
        return
    try:
        bench = load_bench()
    except OpsError as exc:
        view.step(f"[4/5] benchmark skipped: {exc}")
        return
    warm = target.supports_warm
    how = "on the warm driver, one cold submit beside it" if warm else "cold submits"
    view.step(f"[4/5] running the 1-vs-{opts.workers}-worker benchmark ({opts.bench_repeats} run(s) each, {how})...")
    # joblib at the largest N only: the figure the cluster is compared with (n_jobs=1 is the 1-worker search)
    view.bench(bench.run_bench(target=target, spec=bench.default_spec_path(BENCH_SPEC),
                               worker_counts=sorted({1, opts.workers}), repeats=opts.bench_repeats,
                               out_dir=opts.out_dir, overrides=[], on_line=view.line, warm=warm,
                               cold_runs=1 if warm else 0, baseline_counts=[opts.workers]))


def run_demo(target: Target, opts: DemoOptions, view: DemoView, on_line: LineSink) -> None:
    """Every step in order; the cluster is stopped at the end (also after a failure) unless ``opts.keep``.
    ``on_line`` receives the tuning job's driver lines."""
    try:
        view.step(f"[1/5] starting a {target.name} cluster with {opts.workers} workers...")
        view.status(target.up(opts.workers))
        _tune(target, view, on_line)
        _bench(target, opts, view)
    finally:
        if opts.keep:
            view.step("[5/5] cluster left running (--keep); stop it with `hyperspark down`")
        else:
            view.step("[5/5] stopping the cluster...")
            view.down(target.down())
