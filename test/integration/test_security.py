"""Security: the gateway is no open proxy, model names cannot steer upstream URLs or headers,
and secrets (upstream tokens, client keys) never show in logs, errors, admin or status output.

Requests that try to reach somewhere else aim at a "bait" listener on loopback (never at
the internet): the test fails if anything connects to it."""

import json
import socket
import threading
import time
import urllib.parse

import pytest

from conftest import MOCK_NAMES
from harness import get, post_json, request
from test_gateway import client_request, error_message

UPSTREAM_SECRET = "sk-upstream-SECRET-7f3a9c"
CLIENT_SECRET = "ck-client-SECRET-b41e07"
ADMIN = '<Location "/aiproxy-admin">\n    SetHandler aiproxy-admin\n</Location>'
STATUS = '<Location "/server-status">\n    SetHandler server-status\n</Location>'


class Bait:
    """A loopback listener that records every connection made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def bait():
    b = Bait()
    yield b
    b.close()


def raw_exchange(port, data, timeout=5):
    """Send raw bytes, return the status code of the answer (0 when none came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        reply = b""
        try:
            while b"\r\n" not in reply:
                got = s.recv(4096)
                if not got:
                    break
                reply += got
        except socket.timeout:
            pass
    parts = reply.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def gateway_lines(mock, extra=""):
    return "\n".join(
        f"AIProxyUpstream up-{name} {mock.base_url(name)} api={name} token={UPSTREAM_SECRET} "
        f"models=m-{name} {extra}" for name in MOCK_NAMES)


def test_no_open_proxy(make_gateway, mock, bait):
    """Absolute URIs, CONNECT, a Host naming another server, the balancers' own scheme and
    paths outside the routes reach no upstream and no third party."""
    gw = make_gateway(gateway_lines(mock))
    mock.clear()
    target = f"127.0.0.1:{bait.port}"
    chat = json.dumps({"model": "m-openai", "messages": [{"role": "user", "content": "x"}]})
    attempts = [
        f"GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\n\r\n",
        f"POST http://{target}/v1/chat/completions HTTP/1.1\r\nHost: {target}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(chat)}\r\n\r\n{chat}",
        f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: {target}\r\n\r\n",
        f"GET http://{target}/v1/models HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n\r\n",
        "GET balancer://aiproxy/v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
        f"GET /http://{target}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        f"GET /proxy:http://{target}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        f"GET //{target}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ]
    for attempt in attempts:
        status = raw_exchange(gw.port, attempt.encode())
        if attempt.startswith("CONNECT"):
            assert status == 404, status  # no route: "Invalid URL (CONNECT /)"
        if attempt.startswith("GET balancer:"):
            assert status == 400, status  # httpd refuses the scheme itself
        # an absolute URI naming a route is the gateway's own request, served by it (as httpd
        # serves any absolute URI without ProxyRequests); everything else is refused
        local_route = attempt.split(" ")[1].endswith(("/v1/chat/completions", "/v1/models"))
        assert status >= 400 or local_route, (attempt, status)
    time.sleep(0.2)  # a connection the gateway might have started would have landed by now
    assert bait.connections == 0
    assert [r["path"] for r in mock.requests()] == ["/v1/chat/completions"], \
        "a request outside the routes reached an upstream"


# Names a client may send, meant to change the upstream URL, its query or its headers.
HOSTILE_NAMES = ["../../v1/admin", "a/../b", "a%2F..%2Fb", "m?alt=json&key=x", "m#frag",
                 "m\r\nX-Injected: 1", "m\nX-Injected: 1", "m\x00tail", "m:streamGenerateContent",
                 "m%3Fx", "m\\..\\x", "m" * 5000, "m;a=b", "m%0d%0aX-Injected:%201"]


@pytest.mark.parametrize("proto", MOCK_NAMES)
@pytest.mark.parametrize("upstream", ["gemini", "openai"])
def test_model_names_cannot_steer_upstream_urls(make_gateway, mock, proto, upstream):
    """An upstream that serves every model (no models=) gets whatever name the client sends:
    in a Gemini URL path it is one percent-encoded segment, in a JSON body one string; it
    never adds a path segment, a query, a fragment or a header. Or the gateway refuses it, in
    the client's envelope."""
    gw = make_gateway(f"AIProxyUpstream any {mock.base_url(upstream)} api={upstream} token=t")
    for name in HOSTILE_NAMES:
        mock.clear()
        path, body = client_request(proto, "hi", model="m")
        if proto == "gemini":
            path = path.replace("/models/m:", "/models/" + urllib.parse.quote(name, safe="") + ":")
        else:
            body["model"] = name
        status, headers, payload = post_json(gw.url(path), body)
        # refused by the gateway (400, 404) or by the upstream (its 4xx, in the client's
        # envelope), or served
        assert status == 200 or 400 <= status < 500, (name, status, payload[:200])
        if proto == "gemini" and ("/" in name or "\x00" in name) and status == 404:
            # httpd itself refuses an encoded slash (AllowEncodedSlashes Off, the default) or
            # NUL in a path before any handler runs: its own 404 page, nothing sent anywhere
            assert mock.requests() == []
            continue
        if any(ord(c) < 32 for c in name):
            assert status == 400 and mock.requests() == [], (name, status, payload[:200])
        if status != 200:
            assert headers.get("content-type", "").startswith("application/json"), \
                (name, status, payload[:300])
            assert error_message(proto, payload), (name, status, payload[:200])
        for rec in mock.requests():
            assert "x-injected" not in rec["headers"], (name, rec["headers"])
            if upstream == "gemini":
                # the mock records the path decoded once: the name exactly, in one segment
                assert rec["path"] == f"/v1beta/models/{name}:generateContent", (name, rec)
                assert (rec["query"] or "") == "", rec["query"]
            else:
                assert rec["path"] == "/v1/chat/completions", rec["path"]
                assert rec["json"]["model"] == name


def test_secrets_never_shown(make_gateway, mock):
    """Every configured secret (upstream token, client key) is looked for in every output a
    client or an operator sees: answers (good, refused, failed), admin, balancer-manager,
    server-status, /v1/models, /readyz, the error log at debug and the access log."""
    body = "\n".join([
        gateway_lines(mock),
        f"AIProxyUpstream refused {mock.base_url('openai')} api=openai "
        f"token={UPSTREAM_SECRET}-2 models=m-refused header=\"x-extra: {UPSTREAM_SECRET}-3\"",
        f"AIProxyClientKey {CLIENT_SECRET}",
        ADMIN, STATUS,
        'LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" '
        '%{AIPROXY_UPSTREAM}e %{AIPROXY_MODEL}e" combinedai',
        "CustomLog @ROOT@/logs/access.log combinedai",
    ])
    gw = make_gateway(body, log_level="debug")
    outputs = []
    auth = {"Authorization": f"Bearer {CLIENT_SECRET}"}
    for proto in MOCK_NAMES:
        for model in (f"m-{proto}", "m-refused", "unknown-model"):
            for stream in (False, True):
                path, req = client_request(proto, "hi [mock:status=401]" if model == "m-refused"
                                           else "hi", stream=stream, model=model)
                path = path.replace("key=" + "client-secret-must-not-leak", "key=" + CLIENT_SECRET)
                headers = {} if proto == "gemini" and stream else auth
                status, hdrs, payload = post_json(gw.url(path), req, headers)
                outputs.append((status, json.dumps(hdrs), payload.decode("utf-8", "replace")))
    # a wrong client key, and no key
    for headers in ({"Authorization": "Bearer wrong"}, {}):
        outputs.append(post_json(gw.url("/v1/chat/completions"),
                                 {"model": "m-openai", "messages": []}, headers))
    for path in ("/aiproxy-admin/breakers", "/balancer-manager", "/server-status",
                 "/server-status?auto", "/v1/models", "/readyz", "/livez"):
        outputs.append(get(gw.url(path), auth))
    gw.stop()
    texts = [json.dumps(o, default=lambda b: b.decode("utf-8", "replace")) for o in outputs]
    texts.append(gw.error_log())
    texts.append((gw.root / "logs" / "access.log").read_text())
    for secret in (UPSTREAM_SECRET, CLIENT_SECRET):
        leaks = [t[max(0, t.find(secret) - 200):t.find(secret) + 60] for t in texts
                 if secret in t]
        assert not leaks, f"{secret} shown: {leaks[:3]}"
