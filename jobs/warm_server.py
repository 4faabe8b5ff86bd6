"""spark-submit entry point of the HyperSpark warm tuning driver (``hyperspark up --warm``).

    spark-submit --master spark://HOST:7077 [--conf ...] jobs/warm_server.py --authkey-file F --ready-file R

See ``hyperspark/job/warm_server.py``.
"""
import sys

from hyperspark.job.warm_server import main

if __name__ == "__main__":
    sys.exit(main())
