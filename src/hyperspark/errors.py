"""Errors the job reports as ONE line (exit code 2) instead of a traceback."""


class JobInputError(Exception):
    """Bad input: the spec, the data set or the run directory. Printed as one line, exit 2."""


class SpecError(JobInputError):
    """The spec file failed validation. The message names the key."""


class JobError(Exception):
    """The Python API's run failure (``hyperspark.JobError``): bad data, code not importable on executors,
    every trial failed... The message is the CLI's one line."""
