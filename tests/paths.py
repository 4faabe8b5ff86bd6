"""Where things are in the checkout, defined once for every test (``from tests.paths import REPO``)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
EXAMPLES = REPO / "examples"
TUNE = REPO / "jobs" / "tune.py"  # the job's spark-submit entry point
SCRIPTS = REPO / "scripts"
#: a user's package (tests/api/pkgs): importable only once a test ships it (the ``testpkg`` fixture)
TESTPKG = REPO / "tests" / "api" / "pkgs" / "hs_testpkg"
