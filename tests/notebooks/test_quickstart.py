"""examples/notebooks/quickstart.ipynb executed by a REAL Jupyter kernel (nbclient + ipykernel), as a user
runs it: against the session's real standalone cluster (a classic session: the kernel is the driver), and
against a real Spark Connect server on that cluster (``hyperspark up --connect``'s: the kernel is a client).

The kernel is this venv's Python, from a kernelspec written to a temporary JUPYTER_PATH (never a kernel
installed on the machine). The assertions read the executed notebook's outputs: no error, the best params
printed, the progress bar, the trials table and the report's plots as inline images.
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.paths import EXAMPLES

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

NOTEBOOK = EXAMPLES / "notebooks" / "quickstart.ipynb"
KERNEL = "hyperspark-test-venv"
TRIALS = 6


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kernelspec running THIS interpreter, found through a temporary JUPYTER_PATH (and a temporary
    runtime dir and IPython dir, so nothing is written to the home directory); yields that folder."""
    pytest.importorskip("nbclient", reason="nbclient is not installed (pip install 'hyperspark[dev]')")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install 'hyperspark[dev]')")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "share" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "HyperSpark tests (venv)", "language": "python"}))
    patch = pytest.MonkeyPatch()
    patch.setenv("JUPYTER_PATH", str(root / "share"))
    patch.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
    patch.setenv("IPYTHONDIR", str(root / "ipython"))
    try:
        yield root
    finally:
        patch.undo()


def execute(kernel: Path, env: dict[str, str], out: Path):
    """Run every cell in a fresh kernel (over IPC sockets in the kernel's folder: no TCP port), in the
    notebook's own folder (its default data path is relative); an error in any cell fails here with the
    cell's traceback (nbclient's CellExecutionError)."""
    import os

    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    (kernel / "ipc").mkdir(exist_ok=True)
    km = KernelManager(kernel_name=KERNEL, transport="ipc", ip=str(kernel / "ipc" / out.parent.name))
    client = NotebookClient(nb, km=km, timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "HYPERSPARK_"))}
    try:
        client.execute(env={**base, "HYPERSPARK_NOTEBOOK_OUTPUT": str(out),
                            "HYPERSPARK_NOTEBOOK_TRIALS": str(TRIALS), **env})
    finally:  # the executed notebook (outputs so far), to look at when a cell failed
        nbformat.write(nb, str(out.parent / "executed.ipynb"))
    return nb


def outputs(nb) -> list[dict]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def widget_outputs(nb) -> list[dict]:
    """What ipywidgets Output widgets captured (rich's live progress bar draws into one), from the widget
    state nbclient stores in the notebook's metadata."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [o for model in state.values() if model.get("model_name") == "OutputModel"
            for o in model["state"].get("outputs", [])]


def stdout(nb) -> str:
    return "".join(o.get("text", "") for o in outputs(nb) if o.output_type == "stream" and o.name == "stdout")


def check_executed(nb, out: Path) -> dict:
    """What every execution must show; returns the best params it printed."""
    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    assert all("Traceback" not in o.get("text", "") for o in outs)
    best = [ln for ln in stdout(nb).splitlines() if ln.startswith("best params: ")]
    assert len(best) == 1, stdout(nb)
    params = ast.literal_eval(best[0].removeprefix("best params: "))
    assert set(params) == {"max_depth", "max_features", "min_samples_leaf", "n_estimators"}
    assert params["n_estimators"] == 45  # the winner is from ASHA's full budget
    # the run is on disk as the table shows it
    (run,) = [p for p in out.iterdir() if (p / "summary.json").exists()]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_params"] == params and summary["search"]["type"] == "tpe"
    assert summary["early_stopping"]["type"] == "asha"
    rich = [o for o in outs if o.output_type in ("display_data", "execute_result")]
    bar = [o for o in widget_outputs(nb) if "trials" in o.get("data", {}).get("text/plain", "")
           and "━" in o["data"]["text/plain"]]
    assert bar, "no progress bar was displayed"
    tables = [o for o in rich if "<table" in o["data"].get("text/html", "") and "rung" in o["data"]["text/html"]]
    assert len(tables) == 1
    images = [o for o in rich if "image/png" in o["data"]]
    assert len(images) >= 3  # history, slices, parallel... each a PNG inline
    return summary


def test_quickstart_on_the_session_cluster(kernel, local_cluster, tmp_path):
    from hyperspark.ops.targets.local import auth

    # the kernel attaches as `status` tells a user to: SPARK_CONF_DIR = this cluster's client conf (its secret)
    conf = auth.client_conf_dir(local_cluster.state)
    nb = execute(kernel, {"HYPERSPARK_MASTER": local_cluster.master_url, "SPARK_CONF_DIR": str(conf)},
                 tmp_path / "runs")
    summary = check_executed(nb, tmp_path / "runs")
    assert summary["cluster"]["master"] == local_cluster.master_url
    assert summary["shipping"]["transport"] == "pull"  # a classic driver: long-lived trial tasks
    assert f"via {local_cluster.master_url}" in stdout(nb)


def test_quickstart_over_spark_connect(kernel, local_cluster, local_connect, tmp_path):
    nb = execute(kernel, {"HYPERSPARK_CONNECT_URL": local_connect}, tmp_path / "runs")
    summary = check_executed(nb, tmp_path / "runs")
    assert summary["shipping"]["transport"] == "connect"  # trials ran as UDF work of the Connect server
    assert summary["cluster"]["master"] == local_cluster.master_url  # ... on the session cluster
    assert f"via {local_connect}" in stdout(nb)
