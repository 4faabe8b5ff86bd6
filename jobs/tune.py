"""spark-submit entry point of the HyperSpark tuning job.

    spark-submit --master spark://HOST:7077 jobs/tune.py SPEC [--run-id ID] [--resume] [--set k=v]

Exit codes: 0 success, 2 bad input (one line on stderr), 1 failure. The package ``hyperspark_job`` sits
next to this file, so the driver imports it from here; executors need it installed (our images and the
local target do) or shipped with ``--py-files``.
"""
import sys

from hyperspark_job.main import main

if __name__ == "__main__":
    sys.exit(main())
