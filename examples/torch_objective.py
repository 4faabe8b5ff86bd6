# %% [markdown]
# # One GPU per trial: a PyTorch objective under ASHA (notebook-style)
#
# Each trial asks for one GPU (`resources={"gpus": 1}`): Spark's task resource profile places it where a
# GPU is free, `CUDA_VISIBLE_DEVICES` holds its address, and the objective's `trial` argument says which
# (`trial.gpus`). `budget` is the number of epochs; ASHA stops weak configurations early.
# Without a GPU (or without torch's CUDA) it runs on the CPU with `resources` left out, so the same notebook
# works on a laptop. Needs `torch` (optional: `pip install torch`).
#
#   GPU cluster:  hyperspark up --workers 2 --gpus-per-worker 1, then run this with
#                 HYPERSPARK_MASTER=spark://127.0.0.1:7077 (the session asks for the workers' GPUs)

# %%
import os
import sys

from pyspark.sql import SparkSession
from sklearn.datasets import load_breast_cancer

import hyperspark

# the workers run THIS interpreter (a plain Python driver sends PYSPARK_PYTHON, default: python3 on PATH)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
MASTER = os.environ.get("HYPERSPARK_MASTER")
GPUS = int(os.environ.get("HYPERSPARK_GPUS_PER_WORKER", "1")) if MASTER else 0
builder = SparkSession.builder.master(MASTER or "local[2]").config("spark.dynamicAllocation.enabled", "false")
if GPUS:
    builder = builder.config("spark.executor.resource.gpu.amount", str(GPUS))
spark = SparkSession.getActiveSession() or builder.getOrCreate()
frame = load_breast_cancer(as_frame=True).frame


# %%
def objective(params, data, budget, report, trial):
    """A 2-layer network trained ``budget`` epochs on the trial's own device; validation accuracy."""
    import numpy as np
    import torch

    device = torch.device("cuda" if trial.gpus and torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(data.y))
    cut = int(0.75 * len(idx))
    X = torch.tensor((data.X - data.X.mean(0)) / (data.X.std(0) + 1e-9), dtype=torch.float32, device=device)
    y = torch.tensor(data.y, dtype=torch.long, device=device)
    tr, va = torch.tensor(idx[:cut], device=device), torch.tensor(idx[cut:], device=device)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], params["width"]), torch.nn.ReLU(),
                              torch.nn.Linear(params["width"], 2)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=params["lr"])
    acc = 0.0
    for epoch in range(1, budget + 1):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X[tr]), y[tr]).backward()
        opt.step()
        with torch.no_grad():
            acc = float((net(X[va]).argmax(1) == y[va]).float().mean())
        report(epoch, acc)
    return {"score": acc, "on_gpu": float(device.type == "cuda")}


# %%
result = hyperspark.tune(
    objective=objective,
    space={"width": hyperspark.choice(16, 64, 256), "lr": hyperspark.loguniform(1e-3, 1e-1)},
    data=frame, label="target", search="tpe", trials=12, direction="maximize",
    early_stopping={"type": "asha", "resource": "epochs", "min": 5, "max": 45, "reduction": 3},
    **({"resources": {"gpus": 1}} if GPUS else {}),
)

# %%
print("best:", result.best_params, f"val_accuracy={result.best_score:.4f}")
print(result.trials[["params", "rung", "mean", "devices" if GPUS else "executor_id"]].head())
