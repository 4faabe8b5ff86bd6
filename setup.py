"""Build step only: copy the files the tool ships besides code into the wheel.

compose.yaml, the k8s/ tree, the example and benchmark specs, the Hadoop stand-in build script and the
job's spark-submit entry point live at the repository root (users and CI use them there); a wheel
carries copies under ``hyperspark/ops/_data/``, where :mod:`hyperspark.ops.resources` finds them.
Everything else is in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ["compose.yaml", "k8s", "examples", "benchmarks/specs", "scripts/hadoop-standin.sh", "jobs/tune.py",
           "jobs/warm_server.py"]


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        data = Path(self.build_lib) / "hyperspark" / "ops" / "_data"
        for rel in SHIPPED:
            src, dest = ROOT / rel, data / rel
            if not src.exists():  # an image build's context carries only the code (.dockerignore)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, dest)


setup(cmdclass={"build_py": BuildWithData})
