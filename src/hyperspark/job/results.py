"""Run output on ``file://`` or any Hadoop file system (``hdfs://``...), written only by the driver.

Nothing is half-written: every file goes to a temporary name and is then renamed. ``trials.jsonl`` is
rewritten whole (atomically) as trials land, at most once a second plus a final flush, so a reader or a
resumed run never sees a torn line, on HDFS as on a local disk.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from hyperspark.errors import JobInputError
from hyperspark.job.protocol import TrialResult


class LocalFS:
    def __init__(self, root_uri: str):
        self.root = Path(urlparse(root_uri).path)

    def uri(self, rel: str = "") -> str:
        return (self.root / rel).as_uri() if rel else self.root.as_uri()

    def mkdirs(self, rel: str = "") -> None:
        (self.root / rel).mkdir(parents=True, exist_ok=True)

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            return None

    def write_bytes(self, rel: str, data: bytes) -> None:
        dst = self.root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dst)
        except BaseException:  # a full or read-only disk: no partial file under either name
            tmp.unlink(missing_ok=True)
            raise

    def rename_dir(self, src_rel: str, dst_rel: str) -> None:
        import shutil

        dst = self.root / dst_rel
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(self.root / src_rel, dst)

    def delete(self, rel: str) -> None:
        import shutil

        p = self.root / rel
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


class HadoopFS:
    """The JVM's Hadoop FileSystem through py4j: whatever the Spark session can reach."""

    def __init__(self, spark, root_uri: str):
        self._jvm = spark.sparkContext._jvm
        self.root_uri = root_uri.rstrip("/")
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        root = self._jvm.org.apache.hadoop.fs.Path(self.root_uri)
        self.fs = root.getFileSystem(conf)

    def _p(self, rel: str):
        return self._jvm.org.apache.hadoop.fs.Path(self.uri(rel))

    def uri(self, rel: str = "") -> str:
        return f"{self.root_uri}/{rel}" if rel else self.root_uri

    def mkdirs(self, rel: str = "") -> None:
        self.fs.mkdirs(self._p(rel))

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._p(rel)))

    def read_bytes(self, rel: str) -> bytes | None:
        p = self._p(rel)
        if not self.fs.exists(p):
            return None
        stream = self.fs.open(p)
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def write_bytes(self, rel: str, data: bytes) -> None:
        parent, _, name = rel.rpartition("/")
        tmp_rel = f"{parent}/.{name}.{uuid.uuid4().hex[:8]}.tmp" if parent else f".{name}.tmp"
        out = self.fs.create(self._p(tmp_rel), True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        self._replace(tmp_rel, rel)

    def _replace(self, src_rel: str, dst_rel: str) -> None:
        # Hadoop's FileSystem.rename does not overwrite; the delete+rename window is the only
        # non-atomic moment, and readers then see the old file or none, never a torn one.
        dst = self._p(dst_rel)
        if self.fs.exists(dst):
            self.fs.delete(dst, True)
        if not self.fs.rename(self._p(src_rel), dst):
            raise OSError(f"rename {self.uri(src_rel)} -> {self.uri(dst_rel)} failed")

    def rename_dir(self, src_rel: str, dst_rel: str) -> None:
        self._replace(src_rel, dst_rel)

    def delete(self, rel: str) -> None:
        self.fs.delete(self._p(rel), True)


def open_fs(spark, root_uri: str):
    scheme = urlparse(root_uri).scheme
    if scheme in ("", "file"):
        return LocalFS(root_uri)
    if spark is None:
        raise JobInputError(f"output {root_uri}: needs a Spark session to reach {scheme}://")
    return HadoopFS(spark, root_uri)


class RunStore:
    """``<output>/<run_id>/``: spec.json, trials.jsonl, summary.json, model/."""

    def __init__(self, fs, run_id: str, flush_every_s: float = 1.0):
        self.fs = fs
        self.run_id = run_id
        self.rows: list[TrialResult] = []
        self._flush_every = flush_every_s
        self._last_flush = 0.0
        self._dirty = False

    @property
    def uri(self) -> str:
        return self.fs.uri(self.run_id)

    def rel(self, name: str) -> str:
        return f"{self.run_id}/{name}"

    def read_json(self, name: str):
        raw = self.fs.read_bytes(self.rel(name))
        return None if raw is None else json.loads(raw)

    def write_json(self, name: str, obj) -> None:
        self.fs.write_bytes(self.rel(name), (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())

    def load_trials(self) -> list[TrialResult]:
        """Recorded rows, one per (trial, rung); a duplicate key keeps the first (it is never run twice)."""
        raw = self.fs.read_bytes(self.rel("trials.jsonl"))
        if raw is None:
            return []
        rows: dict[tuple[str, int], TrialResult] = {}
        for line in raw.decode("utf-8", errors="replace").splitlines():
            line = line.strip()
            if line:
                try:
                    r = TrialResult.model_validate_json(line)
                except ValueError:
                    continue  # cannot happen with atomic rewrites; tolerate hand edits
                rows.setdefault(r.key, r)
        return list(rows.values())

    def add_trial(self, row: TrialResult) -> None:
        self.rows.append(row)
        self._dirty = True
        if time.monotonic() - self._last_flush >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._dirty:
            return
        data = "".join(r.to_line() + "\n" for r in self.rows).encode()
        self.fs.write_bytes(self.rel("trials.jsonl"), data)
        self._last_flush = time.monotonic()
        self._dirty = False


def save_model(store: RunStore, write) -> None:
    """``write(tmp)`` writes the model under ``<run>/<tmp>/``, then it is renamed to ``model/``; a failure
    leaves neither (nothing half-written)."""
    tmp = f"model.tmp-{os.getpid()}"
    try:
        write(tmp)
        store.fs.rename_dir(store.rel(tmp), store.rel("model"))
    except BaseException:
        try:
            store.fs.delete(store.rel(tmp))
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        raise
