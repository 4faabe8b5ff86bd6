"""The HyperSpark tuning job: spec -> load -> split -> search -> refit -> write (see run.py)."""
from hyperspark import __version__

__all__ = ["__version__"]
