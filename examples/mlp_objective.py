# %% [markdown]
# # Tune your own training loop with HyperSpark (notebook-style)
#
# A custom objective trains scikit-learn's `MLPClassifier` one epoch at a time with `partial_fit`.
# `budget` is the number of epochs; each epoch's validation accuracy is reported, and ASHA stops the
# weak configurations after 3 or 9 epochs instead of training all of them for 27.
# Run it cell by cell in Jupyter (with a SparkSession, or none: a local one is made), or as a script.

# %%
import os
import sys

import numpy as np
from pyspark.sql import SparkSession
from sklearn.datasets import load_breast_cancer

import hyperspark

# the workers run THIS interpreter (a plain Python driver sends PYSPARK_PYTHON, default: python3 on PATH)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
spark = SparkSession.getActiveSession() or SparkSession.builder.master("local[2]").getOrCreate()
frame = load_breast_cancer(as_frame=True).frame  # 569 rows, 30 features, label "target"


# %%
def objective(params, data, budget, report):
    """``data``: the train split (data.X, data.y as numpy); this function does its own validation."""
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    X_tr, X_va, y_tr, y_va = train_test_split(data.X, data.y, test_size=0.25, random_state=0, stratify=data.y)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_va = scaler.transform(X_tr), scaler.transform(X_va)
    clf = MLPClassifier(hidden_layer_sizes=(params["width"],), alpha=params["alpha"],
                        learning_rate_init=params["lr"], random_state=0)
    classes = np.unique(data.y)
    score = 0.0
    for epoch in range(1, budget + 1):
        clf.partial_fit(X_tr, y_tr, classes=classes)
        score = clf.score(X_va, y_va)
        report(epoch, score)  # ASHA sees the learning curve; trials.jsonl keeps it
    return {"score": score, "loss": clf.loss_}  # extra numbers land in the trial's metrics


# %%
result = hyperspark.tune(
    objective=objective,
    space={"width": hyperspark.choice(8, 32, 64),
           "alpha": hyperspark.loguniform(1e-5, 1e-1),
           "lr": hyperspark.loguniform(1e-4, 1e-1)},
    data=frame, label="target",
    search="tpe", trials=12, metric="val_accuracy", direction="maximize",
    early_stopping={"type": "asha", "resource": "epochs", "min": 3, "max": 27, "reduction": 3},
)

# %%
print(result)
print("best:", result.best_params, f"val_accuracy={result.best_score:.4f}")
es = result.summary.early_stopping
print(f"evaluations per rung (epochs {es.rungs}): {es.per_rung}; pruned: {es.pruned}")
print(result.trials[["params", "rung", "budget", "mean", "decision"]].sort_values("mean", ascending=False).head())

# %%
print(result.spec_yaml())  # the same run as a spec file (the objective itself was shipped by value)
