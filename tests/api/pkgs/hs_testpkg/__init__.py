"""A user's package for the tests: a custom estimator, a pipeline factory, objectives, a non-estimator.

It is NOT importable from the repo root (tests/api/pkgs is not a package): tests put it on the driver's
path or ship it (--package / py_files), exactly as a user would.
"""
