"""The local target's Spark Connect endpoint, the parts that need no Spark: the gRPC readiness probe against a
REAL gRPC server (grpcio's, HTTP/2) and against what must not pass (a bare TCP listener, an HTTP/1 server),
the lines `status` prints for a notebook, and the one line a failed start quotes from the server's log.
The server itself: tests/integration/test_connect_endpoint.py."""
from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest

from hyperspark.ops.targets.local import connect_server


def test_a_real_grpc_server_answers_the_probe():
    grpc = pytest.importorskip("grpc", reason="grpcio is not installed (pip install 'hyperspark[connect]')")
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert connect_server.answers_grpc(port)
    finally:
        server.stop(None)
    assert not connect_server.answers_grpc(port)  # nothing listens any more


def test_a_bare_tcp_listener_or_an_http1_server_is_not_a_grpc_server():
    with socket.socket() as listener:  # accepts, never speaks
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not connect_server.answers_grpc(listener.getsockname()[1], timeout=0.5)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        assert not connect_server.answers_grpc(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_attach_lines_are_python_that_names_the_cluster_and_its_interpreter():
    python = "/opt/venv with space/bin/python"
    lines = connect_server.attach_lines("spark://127.0.0.1:7077", python, 15002)
    assert set(lines) == {"classic", "connect"}
    for text in lines.values():
        compile(text, "<attach>", "exec")  # valid Python, as printed
    classic = lines["classic"]
    assert f"os.environ[\"PYSPARK_PYTHON\"] = {json.dumps(python)}" in classic
    assert ".master(\"spark://127.0.0.1:7077\")" in classic and f"(\"spark.pyspark.python\", {json.dumps(python)})" in classic
    assert lines["connect"].endswith("SparkSession.builder.remote(\"sc://127.0.0.1:15002\").getOrCreate()")
    assert set(connect_server.attach_lines("spark://127.0.0.1:7077", python, None)) == {"classic"}


def test_a_failed_start_quotes_the_first_error_of_that_start(tmp_path):
    log = tmp_path / "connect.log"
    log.write_text("\n=== 2026-01-01 00:00:00 start: old\nError: an older start's problem\n"
                   "\n=== 2026-01-01 00:01:00 start: spark-submit ...\nWARN something harmless\n"
                   "Error: Failed to load class org.apache.spark.sql.connect.service.SparkConnectServer.\n"
                   "Failed to load main class\n")
    assert connect_server._why(log) == ("Error: Failed to load class "
                                        "org.apache.spark.sql.connect.service.SparkConnectServer.")
    log.write_text("\n=== start\nonly this\n")
    assert connect_server._why(log) == "only this"
    assert connect_server._why(tmp_path / "missing.log") == "no log"


def test_status_text_shows_the_server_and_the_attach_lines_verbatim(capsys):
    from hyperspark.ops import render
    from hyperspark.ops.model import ClusterStatus, ConnectServerStatus

    attach = connect_server.attach_lines("spark://127.0.0.1:7077", "/venv/bin/python", 15002)
    st = ClusterStatus(target="local", master_url="spark://127.0.0.1:7077", master_ui="http://127.0.0.1:8080",
                       master_state="ALIVE", connect=ConnectServerStatus(True, 15002, 42, "sc://127.0.0.1:15002"),
                       attach=attach, urls={"connect": "sc://127.0.0.1:15002"})
    render.render_status(st)
    out = capsys.readouterr().out
    assert "spark connect: up, pid 42, sc://127.0.0.1:15002" in out
    for text in attach.values():
        assert "\n".join(f"    {ln}" for ln in text.splitlines()) in out
    render.render_status(ClusterStatus(target="local", master_url="m", master_ui="u", master_state="ALIVE",
                                       connect=ConnectServerStatus(False, 15002)))
    assert "spark connect: not running (`hyperspark up --connect` starts one)" in capsys.readouterr().out
