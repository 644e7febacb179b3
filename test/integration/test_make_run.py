"""`make run` is one of the README's two commands: it must serve the demo on the given port
with every client route answering for its demo model, and stop cleanly on SIGINT/SIGTERM."""

import json
import os
import signal
import subprocess
import time

import pytest

from harness import REPO, free_port, get, post_json, stream_sse
from test_gateway import answer_text, client_request, delta_text

DEMO = {"anthropic": "demo-anthropic", "openai": "demo-openai",
        "responses": "demo-responses", "gemini": "demo-gemini"}


def wait_for_port(url, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"make run exited early: {proc.stdout.read()}")
        try:
            status, _, _ = post_json(url, {}, timeout=1)
            return status
        except OSError:
            time.sleep(0.1)
    raise AssertionError("make run never answered")


def port_closed(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_make_run_serves_the_demo(stop_signal):
    port, mock_port = free_port(), free_port()
    env = dict(os.environ, MOCK_PORT=str(mock_port))
    proc = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_for_port(f"http://127.0.0.1:{port}/v1/messages", proc)
        for proto, model in DEMO.items():
            path, body = client_request(proto, "demo", model=model)
            status, _, payload = post_json(f"http://127.0.0.1:{port}{path}", body)
            assert status == 200, payload
            assert answer_text(proto, json.loads(payload)) == "echo: demo"
            path, body = client_request(proto, "demo stream", stream=True, model=model)
            with stream_sse(f"http://127.0.0.1:{port}{path}", body) as s:
                text = "".join(delta_text(proto, n, d) for n, d in s.events())
            assert text == "echo: demo stream"
        # /metrics (Require local): the requests above, counted across the children
        status, headers, payload = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
        for name in DEMO:
            assert (f'aiproxy_requests_total{{aiproxy_upstream="mock-{name}"'
                    in payload.decode()), payload.decode()
    finally:
        os.killpg(proc.pid, stop_signal)
        proc.wait(timeout=20)
    deadline = time.monotonic() + 10
    while not port_closed(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert port_closed(port) and port_closed(mock_port)
