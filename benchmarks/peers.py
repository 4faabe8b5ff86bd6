"""HyperSpark against its peers, side by side on ONE local Spark cluster (issue 22). Run by hand:

    .venv/bin/python benchmarks/peers.py [--short] [--repeats 3] [--out docs/bench/peers]

(the same as ``hyperspark bench --peers``). Needs the ``[peers]`` extra (hyperopt, ray[tune]) and mlflow;
a peer that is not installed gets its reason in every cell. The code: ``hyperspark.ops.peers``.
"""
from __future__ import annotations

import sys

from hyperspark.ops.peers.main import main

if __name__ == "__main__":
    sys.exit(main())
