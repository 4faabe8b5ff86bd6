"""The bench's baseline: the same trials in ONE local process tree with joblib (no Spark at all).

    python -m hyperspark.ops.baseline SPEC.yaml DATA.csv N_JOBS   -> one JSON line on stdout

It runs the job's OWN pipeline (``hyperspark.job.run.run`` with ``spark=None``): same spec, split, folds,
searcher, scheduler and in-flight loop, with the joblib executor in place of Spark, so the only
difference is who runs the trials. This is what a user would do without a cluster.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    t0 = time.monotonic()
    spec_path, csv_path, n_jobs = argv[0], argv[1], int(argv[2])
    from hyperspark.errors import JobInputError
    from hyperspark.job.run import run
    from hyperspark.job.spec import load_spec

    with tempfile.TemporaryDirectory(prefix="hs-baseline-") as out:
        spec = load_spec(spec_path, [f"dataset.uri={Path(csv_path).resolve().as_uri()}",
                                     f"output={Path(out).as_uri()}"])
        try:
            s = run(None, spec, run_id=f"joblib-n{n_jobs}", log=lambda _m: None, progress_live=False,
                    n_jobs=n_jobs, timings={"session": round(time.monotonic() - t0, 3)})
        except JobInputError as e:
            print(f"hyperspark: error: {e}", file=sys.stderr)
            return 2
    t = s.timings
    print(json.dumps({"n_jobs": n_jobs, "load_s": t.get("load"), "search_s": t.get("search"),
                      "refit_s": t.get("refit"), "trials": s.search.ran, "best_params": s.best_params,
                      "cv_score": s.cv_score}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
