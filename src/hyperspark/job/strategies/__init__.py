"""One home per kind of trial: base.py (the contract), estimator.py, mllib.py, objective.py; registry.py."""
