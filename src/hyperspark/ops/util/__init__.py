"""Small shared helpers, each idea once: files (atomic write, sha256, cache dir), processes (psutil),
polling, free ports, a background thread. They import only :mod:`hyperspark.ops.model` (for OpsError)."""
