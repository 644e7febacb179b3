"""netns_bridge.py: a command in a loopback-only network namespace reaches a host loopback
port only through the bridge, and nothing else: a non-loopback address fails at once with
ENETUNREACH (192.0.2.1 is TEST-NET-1, never routed; nothing is sent anywhere, the namespace has
no route), and host loopback ports that are not bridged are refused."""

import json
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from harness import free_port
from netns_bridge import HostForwarder, netns_argv, netns_unavailable_reason

PROBE = r"""
import errno, json, socket, sys, time, concurrent.futures
bridged, unbridged = int(sys.argv[1]), int(sys.argv[2])
out = {"interfaces": sorted(n for _, n in socket.if_nameindex())}

def roundtrip(i):
    payload = (b"%d:" % i) * 50000          # several hundred KB each way
    s = socket.create_connection(("127.0.0.1", bridged), timeout=10)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)              # half-close must reach the echo server
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    return got == payload

with concurrent.futures.ThreadPoolExecutor(8) as pool:
    out["echo_ok"] = list(pool.map(roundtrip, range(8)))

def attempt(addr):
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    t = time.monotonic()
    try:
        s.connect(addr)
        return {"connected": True}
    except OSError as e:
        return {"errno": errno.errorcode.get(e.errno, str(e.errno)),
                "seconds": time.monotonic() - t}
    finally:
        s.close()

out["test_net"] = attempt(("192.0.2.1", 443))
out["test_net6"] = attempt(("2001:db8::1", 443))
out["unbridged"] = attempt(("127.0.0.1", unbridged))
try:
    socket.getaddrinfo("example.invalid", 443)
    out["dns"] = "resolved"
except OSError as e:
    out["dns"] = type(e).__name__
print(json.dumps(out))
"""


class EchoServer:
    """A TCP echo server on the host's loopback that echoes until the client half-closes."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def netns():
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(f"no loopback-only network namespace here: {reason}")


def test_bridge_relays_and_nothing_else_is_reachable(netns):
    echo = EchoServer()
    # a host loopback port that answers but is not bridged: must stay invisible inside
    other = socket.create_server(("127.0.0.1", 0))
    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "bridge.sock"
        with HostForwarder(sock, echo.port):
            argv = netns_argv([sys.executable, "-c", PROBE, str(echo.port),
                               str(other.getsockname()[1])], {echo.port: sock})
            result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    other.close()
    echo.close()
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["interfaces"] == ["lo"]
    assert out["echo_ok"] == [True] * 8
    assert out["test_net"].get("errno") == "ENETUNREACH", out
    assert out["test_net"]["seconds"] < 1, out
    assert out["test_net6"].get("errno") in ("ENETUNREACH", "EADDRNOTAVAIL"), out
    assert out["unbridged"].get("errno") == "ECONNREFUSED", out
    assert out["dns"] == "gaierror", out


def test_exit_status_and_stdio_pass_through(netns):
    argv = netns_argv([sys.executable, "-c",
                       "import sys; print('out'); print('err', file=sys.stderr); sys.exit(7)"],
                      {})
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")


def test_forwarded_port_without_host_listener_is_refused_cleanly(netns):
    """The gateway gone: the client sees its connection closed, the bridge does not hang."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "bridge.sock"
        with HostForwarder(sock, port):
            code = ("import socket,sys; s=socket.create_connection(('127.0.0.1',int(sys.argv[1])));"
                    "s.settimeout(10); print(repr(s.recv(10)))")
            result = subprocess.run(netns_argv([sys.executable, "-c", code, str(port)],
                                               {port: sock}),
                                    capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("b''",), result.stdout
