"""Run output on ``file://`` or any Hadoop file system (``hdfs://``...), written only by the driver.

Nothing is half-written: every file goes to a temporary name (synced: ``fsync`` locally, ``hsync`` on
Hadoop) and is then renamed over the old one; a failed write removes its temporary file. On Hadoop the
rename is ``FileContext.rename(OVERWRITE)``, one atomic step: never delete-then-rename, so a driver killed
in between cannot lose the file. ``trials.jsonl`` is rewritten whole as trials land, at most once a second
plus a final flush, so a reader or a resumed run never sees a torn line, on HDFS as on a local disk.

One driver per run dir: :class:`RunLock` holds ``<output>/<run_id>/.lock`` for the whole run (an ``fcntl``
lock locally, released by the kernel when the driver dies; on Hadoop a lease file that the holder renews and
a later driver may take over once it expired). A second driver on the same run id stops with one line.
``spec.json`` records the data's hash; a resume with other data (``upload --force`` of a new file) is one
line, or starts the run over with ``--force`` (:func:`open_run_dir`).

``file://`` URIs are percent-encoded (a space is ``%20``): :func:`local_path` is the one decoder.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from hyperspark.errors import JobInputError
from hyperspark.job.protocol import TrialResult
from hyperspark.job.redact import redact_doc


LOCK = ".lock"
#: seconds a Hadoop lease lasts without renewal (renewed every third of it while the run lives)
LEASE_S = float(os.environ.get("HYPERSPARK_RUN_LEASE_S", "60") or 60)


def local_path(uri: str) -> Path:
    """The local path of a ``file://`` URI (or a plain path), percent-decoded: ``file:///my%20data/x.csv``
    is ``/my data/x.csv``. The one decoder for every place that reads a file:// URI."""
    if "://" not in uri and not uri.startswith("file:"):
        return Path(uri)
    return Path(unquote(urlparse(uri).path))


def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": round(time.time(), 3)}


def _in_use(uri: str, holder: dict | None, extra: str = "") -> JobInputError:
    who = (f"pid {holder.get('pid')} on {holder.get('host')} since "
           f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder.get('since', 0)))}") if holder else "another driver"
    return JobInputError(f"run dir {uri} is in use by another driver ({who}{extra}); wait for it to end, "
                         "or choose another --run-id")


class LocalFS:
    def __init__(self, root_uri: str):
        self.root = local_path(root_uri)

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
        old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
        if dst.exists():  # moved aside, not deleted first: a kill in between keeps both copies
            os.replace(dst, old)
        os.replace(self.root / src_rel, dst)
        shutil.rmtree(old, ignore_errors=True)

    def lock(self, rel: str) -> "RunLock":
        """An exclusive ``fcntl`` lock on ``<rel>/.lock`` (the kernel drops it when this process dies)."""
        import fcntl

        path = self.root / rel / LOCK
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0) or b"null")
            except ValueError:
                holder = None
            os.close(fd)
            raise _in_use(self.uri(rel), holder if isinstance(holder, dict) else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder()).encode(), 0)
        return RunLock(lambda: os.close(fd))

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
        self._gateway = spark.sparkContext._gateway
        self.root_uri = root_uri.rstrip("/")
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        root = self._jvm.org.apache.hadoop.fs.Path(self.root_uri)
        self.fs = root.getFileSystem(self._conf)

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

    def write_bytes(self, rel: str, data: bytes, overwrite: bool = True) -> None:
        parent, _, name = rel.rpartition("/")
        tmp_rel = f"{parent}/.{name}.{uuid.uuid4().hex[:8]}.tmp" if parent else f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            out = self.fs.create(self._p(tmp_rel), True)
            try:
                out.write(bytearray(data))
                out.hsync()  # on the DataNodes' disks before the rename makes it the file
            finally:
                out.close()
            self._replace(tmp_rel, rel, overwrite)
        except BaseException:
            try:
                self.fs.delete(self._p(tmp_rel), False)
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            raise

    def _replace(self, src_rel: str, dst_rel: str, overwrite: bool = True) -> None:
        """``src`` becomes ``dst`` in ONE step (``FileContext.rename`` with ``OVERWRITE``): readers see the
        old file or the new one, and a kill cannot leave neither. ``overwrite=False`` fails when ``dst``
        exists (a lease taken by someone else)."""
        jvm = self._jvm
        opts = self._gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
        opts[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE if overwrite else jvm.org.apache.hadoop.fs.Options.Rename.NONE
        fc = jvm.org.apache.hadoop.fs.FileContext.getFileContext(self.fs.getUri(), self._conf)
        fc.rename(self._p(src_rel), self._p(dst_rel), opts)

    def rename_dir(self, src_rel: str, dst_rel: str) -> None:
        """A directory (the model): the old one moved aside first, then the new one in, then the old deleted
        (Hadoop does not rename over a non-empty directory; at no moment is there no model at all)."""
        old = f"{dst_rel}.old-{uuid.uuid4().hex[:8]}"
        if self.fs.exists(self._p(dst_rel)) and not self.fs.rename(self._p(dst_rel), self._p(old)):
            raise OSError(f"rename {self.uri(dst_rel)} -> {self.uri(old)} failed")
        if not self.fs.rename(self._p(src_rel), self._p(dst_rel)):
            raise OSError(f"rename {self.uri(src_rel)} -> {self.uri(dst_rel)} failed")
        self.fs.delete(self._p(old), True)

    def delete(self, rel: str) -> None:
        self.fs.delete(self._p(rel), True)

    def lock(self, rel: str) -> "RunLock":
        """A lease file ``<rel>/.lock`` (holder, expiry) renewed every ``LEASE_S / 3`` s while the run lives;
        a lease past its expiry (its driver died) is taken over."""
        path = f"{rel}/{LOCK}"
        mine = {**_holder(), "owner": uuid.uuid4().hex}
        prev = self._read_lease(path)
        if prev is not None and prev.get("expires", 0) > time.time():
            raise _in_use(self.uri(rel), prev, f"; its lease runs {prev['expires'] - time.time():.0f} s more")
        self.mkdirs(rel)
        try:
            self._write_lease(path, mine, overwrite=prev is not None)  # a new lease: refused if one appeared
        except Exception:
            if prev is None and self.exists(path):
                raise _in_use(self.uri(rel), self._read_lease(path)) from None
            raise
        if (self._read_lease(path) or {}).get("owner") != mine["owner"]:
            raise _in_use(self.uri(rel), self._read_lease(path))
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(LEASE_S / 3):
                try:
                    self._write_lease(path, mine, overwrite=True)
                except Exception:  # noqa: BLE001 - the next renewal tries again
                    pass

        threading.Thread(target=renew, name="hyperspark-run-lease", daemon=True).start()

        def release() -> None:
            stop.set()
            if (self._read_lease(path) or {}).get("owner") == mine["owner"]:
                self.fs.delete(self._p(path), False)

        return RunLock(release)

    def _read_lease(self, path: str) -> dict | None:
        try:
            raw = self.read_bytes(path)
            data = json.loads(raw) if raw else None
        except Exception:  # noqa: BLE001 - a torn or foreign file: no lease
            return None
        return data if isinstance(data, dict) else None

    def _write_lease(self, path: str, holder: dict, overwrite: bool) -> None:
        self.write_bytes(path, json.dumps({**holder, "expires": time.time() + LEASE_S}).encode(), overwrite)


class RunLock:
    """A held run dir; :meth:`release` (idempotent) lets the next driver in."""

    def __init__(self, release) -> None:
        self._release = release
        self._done = False

    def release(self) -> None:
        if not self._done:
            self._done = True
            self._release()


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
        self._lock: RunLock | None = None

    def acquire(self) -> None:
        """Hold ``<run>/.lock`` (a second driver on this run id: one line, see the module)."""
        if self._lock is None:
            self._lock = self.fs.lock(self.run_id)

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

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


def open_run_dir(store: RunStore, output: str, fingerprint: str, spec_doc: dict, data_hash: str,
                 force: bool = False) -> RunStore:
    """Lock the run dir, check it was made with this spec and this data, load its rows, record spec.json.

    A different spec or data set is one line (the rows would mix two searches); ``force`` starts the run
    over instead (its rows, summary and model removed). The lock is released on any error here."""
    store.acquire()
    try:
        prev = store.read_json("spec.json")
        problem = _mismatch(store.run_id, output, prev, fingerprint, data_hash) if prev is not None else None
        if problem is not None and not force:
            raise JobInputError(problem)
        if problem is not None:  # --force: the old search's results go, the new one starts from nothing
            for name in ("trials.jsonl", "summary.json", "model"):
                if store.fs.exists(store.rel(name)):
                    store.fs.delete(store.rel(name))
        store.rows = store.load_trials()
        store.fs.mkdirs(store.run_id)
        doc = {"fingerprint": fingerprint, "spec": redact_doc(spec_doc)}  # no credential URI in the output
        if data_hash:
            doc["data_hash"] = data_hash
        store.write_json("spec.json", doc)
    except BaseException:
        store.release()
        raise
    return store


def _mismatch(run_id: str, output: str, prev: dict, fingerprint: str, data_hash: str) -> str | None:
    if prev.get("fingerprint") != fingerprint:
        return f"run {run_id} in {output} was made with a different spec; choose another --run-id (or --force to start it over)"
    old = prev.get("data_hash")
    if old and data_hash and old != data_hash:
        return (f"run {run_id} in {output} was made with other data ({old[:19]}..., now {data_hash[:19]}...): "
                "its scores would mix two data sets; choose another --run-id, or --force to start it over")
    return None
