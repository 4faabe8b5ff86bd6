"""spark-submit entry point of the HyperSpark warm tuning driver (``hyperspark up --warm``).

    spark-submit --master spark://HOST:7077 [--conf ...] jobs/warm_server.py --authkey-file F --ready-file R

See ``hyperspark_job/server.py``.
"""
import sys

from hyperspark_job.server import main

if __name__ == "__main__":
    sys.exit(main())
