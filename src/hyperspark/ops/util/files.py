"""Files: one atomic write, one sha256, one cache dir."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator

CHUNK = 1 << 20


def write_atomic(path: Path, text: str | bytes, mode: int | None = None) -> Path:
    """Write under a temporary sibling name, then rename: readers never see half a file.

    ``mode`` creates the file with those permission bits (e.g. 0o600 for a secret) before any byte
    is written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def chunks(path: Path, size: int = CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def digest_chunks(parts: Iterator[bytes]) -> tuple[str, int]:
    """sha256 hex digest and byte count of a stream of chunks."""
    h, size = hashlib.sha256(), 0
    for chunk in parts:
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 hex digest and size of a local file, read in chunks."""
    return digest_chunks(chunks(path))


def sha256_file(path: Path) -> str:
    return file_digest(path)[0]


def cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/hyperspark/...`` (default ``~/.cache/hyperspark/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).joinpath("hyperspark", *parts)
