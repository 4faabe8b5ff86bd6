"""The HyperSpark tuning job: spec -> load -> split -> search -> refit -> write."""
__version__ = "0.1.0"
