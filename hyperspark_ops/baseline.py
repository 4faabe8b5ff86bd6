"""The bench's baseline: the same trials in ONE local process with joblib (no Spark at all).

    python -m hyperspark_ops.baseline SPEC.yaml DATA.csv N_JOBS   -> one JSON line on stdout

Same spec, same split, same folds and same per-trial code (``fit_and_score``) as the Spark job, so the
only difference is who schedules the trials. This is what a user would do without a cluster.
"""
from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    t0 = time.monotonic()
    spec_path, csv_path, n_jobs = argv[0], argv[1], int(argv[2])
    from joblib import Parallel, delayed

    from hyperspark_job import data as D
    from hyperspark_job import metrics as M
    from hyperspark_job.main import default_metric, pick_best
    from hyperspark_job.models import build_single_machine
    from hyperspark_job.space import expand
    from hyperspark_job.spec import load_spec
    from hyperspark_job.strategy_trials import TrialContext, evaluate

    spec = load_spec(spec_path)
    if spec.model_def.strategy != "trials":
        print("the joblib baseline applies to single-machine libraries only", file=sys.stderr)
        return 2
    data = D.prepare_local(D.read_local(f"file://{csv_path}", spec.dataset.resolved_format), spec.dataset.label,
                           spec.dataset.features, spec.task, spec.dataset.nan_policy)
    X, y, task, classes = data.X, data.y, data.task, data.classes
    X_tr, X_te, y_tr, y_te = D.split_numpy(X, y, task, spec.test_fraction, spec.seed)
    folds = D.cv_folds(y_tr, task, spec.cv_folds, spec.seed)
    metric = spec.metric or default_metric(task, len(classes))
    ctx = TrialContext(spec.model, task, metric, spec.threads_per_trial, spec.seed, len(classes))
    trials = expand(spec.model, spec.space, spec.search.type, spec.search.trials, spec.search.seed)
    order = {t.trial_id: i for i, t in enumerate(trials)}
    load_s = time.monotonic() - t0
    t1 = time.monotonic()
    todo = sorted(trials, key=lambda t: -t.cost_hint())  # the same longest-first order as the job
    rows = Parallel(n_jobs=n_jobs)(delayed(evaluate)(ctx, t, X_tr, y_tr, folds) for t in todo)
    search_s = time.monotonic() - t1
    best = pick_best(rows, order, metric)
    t2 = time.monotonic()
    est = build_single_machine(spec.model_def, task, best["params"], n_jobs, spec.seed)
    est.fit(X_tr, y_tr)
    M.all_scores(task, y_te, est.predict(X_te), None, len(classes))
    refit_s = time.monotonic() - t2
    print(json.dumps({"n_jobs": n_jobs, "load_s": round(load_s, 3), "search_s": round(search_s, 3),
                      "refit_s": round(refit_s, 3), "trials": len(rows), "best_params": best["params"],
                      "cv_score": best["mean"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
