"""Everything HDFS, once: the local cluster (``cluster``), the distribution finder (``dist``),
WebHDFS storage (``webhdfs``), the NameNode JMX reader used by every target (``jmx``), the HDFS
path parser (``paths``) and the upload script run inside a NameNode container or pod (``upload``)."""
