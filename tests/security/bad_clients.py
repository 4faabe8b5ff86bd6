"""The four bad clients a listener must survive: a wrong key, a connect-and-close (a port probe), HTTP bytes,
and an idle connection held open. Used against the warm driver and the pull transport's listener."""
from __future__ import annotations

import socket
from multiprocessing.connection import Client


def send_bad_clients(address: tuple[str, int]) -> socket.socket:
    """Send the first three; return the fourth (idle, open): the caller closes it after its search."""
    try:
        Client(tuple(address), authkey=b"not-the-key" * 3).close()
        raise AssertionError("a client with the wrong key was let in")
    except Exception as exc:  # noqa: BLE001 - AuthenticationError, or the server hung up on it
        assert not isinstance(exc, AssertionError), exc
    socket.create_connection(tuple(address), timeout=10).close()  # a port probe
    with socket.create_connection(tuple(address), timeout=10) as http:
        http.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: probe\r\n\r\n")
        http.settimeout(5)
        try:
            http.recv(1024)
        except OSError:
            pass
    return socket.create_connection(tuple(address), timeout=10)  # says nothing, stays open
