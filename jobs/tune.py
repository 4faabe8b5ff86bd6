"""spark-submit entry point of the HyperSpark tuning job (a shim: the job is ``hyperspark.job``).

    spark-submit --master spark://HOST:7077 jobs/tune.py SPEC [--run-id ID] [--resume] [--set k=v]

Exit codes: 0 success, 2 bad input (one line on stderr), 1 failure. The driver and the executors need the
``hyperspark`` package installed (our images and the local target have it) or shipped with ``--py-files``.
Under a bare ``spark-submit`` (no ``--conf spark.pyspark.python``, no ``PYSPARK_PYTHON``) the executors run
the driver's own interpreter (``session.workers_python``), not whatever ``python3`` their PATH holds.
"""
import sys

from hyperspark.job.cli import main

if __name__ == "__main__":
    sys.exit(main())
