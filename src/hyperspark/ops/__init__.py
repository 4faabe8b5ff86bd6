"""HyperSpark ops: bring Spark+HDFS clusters up and down, submit tuning jobs, benchmark scaling."""
from hyperspark import __version__

__all__ = ["__version__"]
