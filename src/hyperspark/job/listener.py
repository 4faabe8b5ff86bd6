"""Authenticated ``multiprocessing.connection`` sockets that a bad client cannot knock over.

:class:`SafeListener` is what the warm driver (``warm_server.py``) and the pull transport
(``executors/pull.py``) listen with. ``multiprocessing.connection.Listener.accept`` runs the HMAC
handshake inline in the accepting thread, with no timeout, and lets its errors out: a wrong key raises
``AuthenticationError`` (not an ``OSError``), a connect-and-close ``EOFError``, HTTP bytes an ``OSError``
("bad message length"), and a client that connects and says nothing blocks every later connection.

Here the accepting thread only accepts. Each handshake runs on its own thread under a deadline
(``SO_RCVTIMEO``/``SO_SNDTIMEO`` on the socket, cleared once the peer is authenticated); every exception a
client can cause ends that connection alone, and accepting goes on. At most ``max_pending`` handshakes run at
once (more are closed at once). Only an authenticated connection reaches ``on_connection``.

:func:`connect` is the client side with the same deadline: a server that accepts and then says nothing (or
a port held by something else) is an error after ``timeout`` seconds, never a hang.
"""
from __future__ import annotations

import logging
import os
import socket
import struct
import threading
from multiprocessing.connection import Connection, Listener, answer_challenge, deliver_challenge
from typing import Callable

log = logging.getLogger(__name__)

#: seconds a peer has to complete the handshake (both sides)
HANDSHAKE_TIMEOUT_S = float(os.environ.get("HYPERSPARK_HANDSHAKE_TIMEOUT", "10") or 10)
MAX_PENDING = 256


def _set_timeouts(conn: Connection, seconds: float) -> None:
    """Kernel-level read/write timeouts on the connection's socket (0 = none): a blocking ``os.read`` in
    ``Connection.recv_bytes`` then fails with an ``OSError`` instead of waiting forever."""
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    try:
        secs = int(seconds)
        tv = struct.pack("ll", secs, int((seconds - secs) * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    finally:
        sock.close()


def _authenticate(conn: Connection, authkey: bytes, server: bool, timeout: float) -> None:
    _set_timeouts(conn, timeout)
    try:
        if server:
            deliver_challenge(conn, authkey)
            answer_challenge(conn, authkey)
        else:
            answer_challenge(conn, authkey)
            deliver_challenge(conn, authkey)
    except BlockingIOError:  # SO_RCVTIMEO/SO_SNDTIMEO ran out
        raise TimeoutError(f"no handshake within {timeout:g} s") from None
    _set_timeouts(conn, 0)


class SafeListener:
    """Accept on one thread, authenticate each connection on its own thread (see the module)."""

    def __init__(self, address, authkey: bytes, on_connection: Callable[[Connection], None], *,
                 backlog: int = 128, timeout: float | None = None, max_pending: int = MAX_PENDING,
                 name: str = "listener", report: Callable[[str], None] | None = None) -> None:
        self._listener = Listener(address, family="AF_INET", backlog=backlog)  # no authkey: we do it
        self.address = self._listener.address
        self._authkey = authkey
        self._on_connection = on_connection
        self._timeout = HANDSHAKE_TIMEOUT_S if timeout is None else timeout
        self._slots = threading.BoundedSemaphore(max_pending)
        self._closed = False
        self.refused = 0  # connections that failed the handshake (for tests and logs)
        self._name = name
        self._report = report or (lambda msg: log.info("%s", msg))
        self._thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn = self._listener._listener.accept()  # the raw socket: no handshake here
            except OSError:
                if self._closed:
                    return
                continue  # e.g. ECONNABORTED, EMFILE: this connection only
            if not self._slots.acquire(blocking=False):
                self._refuse(conn, "too many handshakes at once")
                continue
            threading.Thread(target=self._handshake, args=(conn,), name=f"{self._name}-handshake",
                             daemon=True).start()

    def _handshake(self, conn: Connection) -> None:
        try:
            try:
                _authenticate(conn, self._authkey, True, self._timeout)
            except Exception as exc:  # noqa: BLE001 - whatever a client sends, only it is dropped
                self._refuse(conn, f"{type(exc).__name__}: {exc}")
                return
        finally:
            self._slots.release()
        try:
            self._on_connection(conn)
        except Exception:  # noqa: BLE001 - a failing handler must not take the listener down
            log.exception("%s: handling a connection failed", self._name)
            conn.close()

    def _refuse(self, conn: Connection, why: str) -> None:
        self.refused += 1
        self._report(f"{self._name}: refused a connection ({why})")
        try:
            conn.close()
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass


def connect(address, authkey: bytes, timeout: float | None = None) -> Connection:
    """An authenticated client connection; ``TimeoutError``/``OSError``/``EOFError``/``AuthenticationError``
    within ``timeout`` seconds (connect and handshake) when the server does not answer as ours."""
    limit = HANDSHAKE_TIMEOUT_S if timeout is None else timeout
    sock = socket.create_connection(tuple(address), timeout=limit)
    sock.setblocking(True)
    conn = Connection(sock.detach())
    try:
        _authenticate(conn, authkey, False, limit)
    except BaseException:
        conn.close()
        raise
    return conn
