"""HyperSpark ops: bring Spark+HDFS clusters up and down, submit tuning jobs, benchmark scaling."""
__version__ = "0.1.0"
