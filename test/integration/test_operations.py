"""Operations on one server: round-robin turns shared by every child (exact rotation of
upstreams and API keys across children), the metrics endpoint (Prometheus and OpenMetrics),
GET /v1/metrics/providers, mod_status's aiproxy section, and the example access-log
configuration (conf/examples/aiproxy-logging.conf)."""

import collections
import concurrent.futures
import glob
import json
import re
import time

from conftest import GATEWAY_MODULES, OUT, ensure_built
from harness import REPO, Httpd, free_port, get, post_json, request

CHAT = "/v1/chat/completions"
# Every child started at once and kept: requests land on several of them.
FOUR_CHILDREN = "StartServers 4\nMinSpareThreads 64\nMaxSpareThreads 64\n"


def chat(text="hi", model="m"):
    return {"model": model, "messages": [{"role": "user", "content": text}]}


class Gateway(Httpd):
    """A gateway whose body goes into its <VirtualHost>, with server-level lines before it and
    an access log of the child pid and upstream of each request."""

    def __init__(self, body, server=""):
        self.port = free_port()
        conf = (
            f"{server}\n"
            f"<VirtualHost 127.0.0.1:{self.port}>\n"
            '    CustomLog "@ROOT@/logs/pids.log" "%P %{AIPROXY_UPSTREAM}e"\n'
            '<Location "/">\n    SetHandler aiproxy\n</Location>\n'
            '<Location "/metrics">\n    SetHandler aiproxy-metrics\n</Location>\n'
            f"{body}\n</VirtualHost>\n"
        )
        super().__init__("gateway", conf, listen=[self.port],
                         extra_modules=[OUT / m for m in GATEWAY_MODULES])

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def pids(self):
        """The pid of the child that served each logged request."""
        text = (self.root / "logs" / "pids.log").read_text()
        return [line.split()[0] for line in text.splitlines() if line.strip()]


def started(body, server=""):
    ensure_built(*GATEWAY_MODULES)
    gw = Gateway(body, server)
    gw.start()
    return gw


def children(gw):
    """Pids of the gateway's children (processes whose parent is its main process)."""
    parent, found = str(gw.pid()), []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == parent and "rotatelogs" not in open(stat).read():
            found.append(stat.split("/")[2])
    return found


def wait_for_children(gw, n):
    deadline = time.monotonic() + 10
    while len(children(gw)) < n:
        assert time.monotonic() < deadline, f"only {children(gw)} children"
        time.sleep(0.05)


def concurrently(n, fn, workers=16):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda i: fn(i), range(n)))


def settled(fn, seconds=10):
    """fn() once it stops failing: a request is counted in the log phase, after its answer
    went out, so a scrape right after the answer may miss it for a moment."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def metrics(gw, accept=None):
    status, headers, body = get(gw.url("/metrics"), {"Accept": accept} if accept else None)
    assert status == 200, body
    return headers, body.decode()


def sample(text, name, **labels):
    """The value of the one sample of name whose labels include labels (0 when absent)."""
    found = []
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)\{(.*)\} (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if all(have.get(k) == v for k, v in labels.items()):
            found.append(float(m.group(3)))
    return sum(found)


# ---- shared turns ----------------------------------------------------------------------------

def test_round_robin_and_keys_rotate_exactly_across_children(mock):
    """Two equal upstreams, one with three keys: 96 requests over concurrent connections,
    served by several children, split 48/48, and the three keys serve 16 each. With a turn
    per child every child would start at the same upstream and key, and the split would
    drift by one per child that served an odd number."""
    gw = started("\n".join([
        f"AIProxyUpstream a {mock.base_url('openai')} api=openai "
        "token=key-1 token=key-2 token=key-3 models=m",
        f"AIProxyUpstream b {mock.base_url('openai')} api=openai token=key-b models=m",
    ]), FOUR_CHILDREN)
    try:
        wait_for_children(gw, 4)
        mock.clear()

        def one(i):
            status, headers, body = post_json(gw.url(CHAT), chat(f"r{i}"))
            assert status == 200, body
            return headers["x-aiproxy-upstream"]

        served = collections.Counter(concurrently(96, one))
        assert served == {"a": 48, "b": 48}
        keys = collections.Counter(r["headers"]["authorization"] for r in mock.requests())
        assert keys == {"Bearer key-1": 16, "Bearer key-2": 16, "Bearer key-3": 16,
                        "Bearer key-b": 48}
        assert len(set(gw.pids())) >= 2, "every request went to one child: nothing was shown"

        # one after the other, whichever child accepts: strictly a, b, a, b ...
        order = [post_json(gw.url(CHAT), chat())[1]["x-aiproxy-upstream"] for _ in range(12)]
        assert order in (["a", "b"] * 6, ["b", "a"] * 6)
    finally:
        gw.stop()
        gw.cleanup()


# ---- metrics ---------------------------------------------------------------------------------

def test_metrics_endpoint_counts_across_children(mock):
    gw = started("\n".join([
        "AIProxyCircuitBreaker 1 60",
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m weight=100",
        f"AIProxyUpstream good {mock.base_url('anthropic')} api=anthropic token=g models=m,m2",
    ]), FOUR_CHILDREN)
    try:
        wait_for_children(gw, 4)
        # the first request tries dead (no answer, its circuit opens) then good
        status, headers, body = post_json(gw.url(CHAT), chat())
        assert status == 200 and headers["x-aiproxy-upstream"] == "good", body
        results = concurrently(40, lambda i: post_json(gw.url(CHAT), chat(f"r{i}"))[0])
        assert results == [200] * 40
        # a model nobody serves, with a name the client made up: one "other" series
        status, _, _ = post_json(gw.url(CHAT), chat(model="client-invented-\u00e9-name"))
        assert status == 404
        assert len(set(gw.pids())) >= 2

        def all_counted():
            headers, text = metrics(gw)
            assert sample(text, "aiproxy_requests_total") == 42
            return headers, text

        headers, text = settled(all_counted)
        assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        good = dict(aiproxy_upstream="good", gen_ai_request_model="m",
                    aiproxy_client_protocol="openai")
        assert sample(text, "aiproxy_requests_total", aiproxy_status_class="2xx", **good) == 41
        assert sample(text, "aiproxy_attempts_total", aiproxy_status_class="2xx", **good) == 41
        assert sample(text, "aiproxy_requests_total", gen_ai_provider_name="anthropic") == 41
        dead = dict(aiproxy_upstream="dead", gen_ai_request_model="m")
        assert sample(text, "aiproxy_attempts_total", aiproxy_status_class="none", **dead) == 1
        assert sample(text, "aiproxy_failovers_total", **dead) == 1
        assert sample(text, "aiproxy_breaker_openings_total", **dead) == 1
        assert sample(text, "aiproxy_upstream_circuits_open", aiproxy_upstream="dead") == 1
        assert sample(text, "aiproxy_requests_total", aiproxy_upstream="none",
                      gen_ai_request_model="other", aiproxy_status_class="4xx") == 1
        assert "client-invented" not in text
        # the mock's usage: tokens counted per answered request
        assert sample(text, "gen_ai_client_token_usage_total", gen_ai_token_type="input",
                      **good) > 0
        assert sample(text, "gen_ai_client_token_usage_total", gen_ai_token_type="output",
                      **good) > 0
        assert sample(text, "gen_ai_server_request_duration_seconds_count", **good) == 41
        assert sample(text, "gen_ai_server_request_duration_seconds_bucket", le="+Inf",
                      **good) == 41
        assert sample(text, "gen_ai_server_time_to_first_token_seconds_count", **good) == 41
        # nothing but 2xx on m2, which nobody asked for: no series
        assert 'gen_ai_request_model="m2"' not in text

        headers, om = metrics(gw, "application/openmetrics-text; version=1.0.0")
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert "# TYPE aiproxy_requests counter" in om and om.endswith("# EOF\n")
        assert sample(om, "aiproxy_requests_total", aiproxy_status_class="2xx", **good) == 41

        # a graceful restart with the same upstreams keeps counting in the same segment
        gw.graceful()
        assert sample(metrics(gw)[1], "aiproxy_requests_total", aiproxy_status_class="2xx",
                      **good) == 41
        assert request("POST", gw.url("/metrics"))[0] == 405
    finally:
        gw.stop()
        gw.cleanup()


def test_provider_metrics_route_behind_client_keys(mock):
    gw = started("\n".join([
        "AIProxyClientKey client-key",
        f"AIProxyUpstream good {mock.base_url('openai')} api=openai token=g models=m",
        f"AIProxyUpstream limited {mock.base_url('openai')} api=openai token=l models=m "
        "weight=100",
    ]))
    try:
        auth = {"Authorization": "Bearer client-key"}
        assert get(gw.url("/v1/metrics/providers"))[0] == 401
        for _ in range(4):
            assert post_json(gw.url(CHAT), chat(), auth)[0] == 200
        def all_counted():
            status, headers, body = get(gw.url("/v1/metrics/providers"), auth)
            assert status == 200 and headers["content-type"] == "application/json"
            providers = json.loads(body)["providers"]
            assert sum(p["tokens"]["input"] > 0 for p in providers.values() if p["successes"]) \
                == sum(1 for p in providers.values() if p["successes"])
            return providers

        providers = settled(all_counted)
        assert set(providers) == {"good", "limited"}
        assert sum(p["requests"] for p in providers.values()) == 4
        assert sum(p["successes"] for p in providers.values()) == 4
        for p in providers.values():
            assert set(p) >= {"requests", "successes", "status_401", "status_403", "status_429",
                              "status_5xx", "failovers", "breaker_state", "tokens",
                              "mean_latency_ms", "mean_ttft_ms"}
            assert p["breaker_state"] in ("open", "closed")
        answered = [p for p in providers.values() if p["successes"]]
        assert all(p["mean_latency_ms"] > 0 and p["tokens"]["input"] > 0 for p in answered)
    finally:
        gw.stop()
        gw.cleanup()


def test_provider_metrics_count_refusals(mock):
    """A 429 of one upstream, then the other answers: counted as the first one's 429 and a
    failover, and as the second one's success."""
    gw = started("\n".join([
        f"AIProxyUpstream first {mock.base_url('openai')} api=openai token=f models=m "
        "weight=100",
        f"AIProxyUpstream second {mock.base_url('openai')} api=openai token=s models=m",
    ]))
    try:
        status, headers, body = post_json(gw.url(CHAT), chat("x [mock:status=429]"))
        providers = json.loads(get(gw.url("/v1/metrics/providers"))[2])["providers"]
        # the marker fails every upstream: both answered 429, the first led to a failover
        assert status == 429, body
        assert providers["first"]["status_429"] == 1 and providers["first"]["failovers"] == 1
        assert providers["second"]["status_429"] == 1
        assert providers["first"]["successes"] == 0
        assert post_json(gw.url(CHAT), chat())[0] == 200
        providers = json.loads(get(gw.url("/v1/metrics/providers"))[2])["providers"]
        assert providers["first"]["successes"] + providers["second"]["successes"] == 1
    finally:
        gw.stop()
        gw.cleanup()


# ---- mod_status ------------------------------------------------------------------------------

def test_server_status_shows_upstreams(mock):
    gw = started("\n".join([
        '<Location "/server-status">\n    SetHandler server-status\n</Location>',
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m weight=100",
        f"AIProxyUpstream good {mock.base_url('openai')} api=openai token=g models=m",
        "AIProxyCircuitBreaker 1 60",
    ]), "ExtendedStatus On")
    try:
        assert post_json(gw.url(CHAT), chat())[0] == 200
        status, _, body = get(gw.url("/server-status?auto"))
        assert status == 200
        lines = dict(line.split(": ", 1) for line in body.decode().splitlines() if ": " in line)
        assert lines["AIProxyUpstream_dead_State"] == "open"
        assert lines["AIProxyUpstream_dead_OpenCircuits"] == "1"
        assert lines["AIProxyUpstream_dead_Failovers"] == "1"
        assert lines["AIProxyUpstream_good_State"] == "ok"
        assert lines["AIProxyUpstream_good_Requests"] == "1"
        assert lines["AIProxyTokensCoolingDown"] == "0"
        html = get(gw.url("/server-status"))[2].decode()
        assert "<h2>AI proxy upstreams</h2>" in html and "<td>dead</td><td>open</td>" in html
    finally:
        gw.stop()
        gw.cleanup()


def test_server_status_without_extended_status_has_no_section(mock):
    gw = started("\n".join([
        '<Location "/server-status">\n    SetHandler server-status\n</Location>',
        f"AIProxyUpstream good {mock.base_url('openai')} api=openai token=g models=m",
    ]), "ExtendedStatus Off")
    try:
        assert "AIProxyUpstream_" not in get(gw.url("/server-status?auto"))[2].decode()
    finally:
        gw.stop()
        gw.cleanup()


# ---- access logs -----------------------------------------------------------------------------

def test_example_logging_config_writes_its_lines(mock):
    """conf/examples/aiproxy-logging.conf as documented: the readable line and the JSON line
    (through rotatelogs) of an answered request."""
    gw = started("\n".join([
        "Define AIPROXY_LOG_DIR @ROOT@/logs",
        f'Include "{REPO}/conf/examples/aiproxy-logging.conf"',
        f"AIProxyUpstream good {mock.base_url('openai')} api=openai token=g models=m "
        "map=m=upstream-m",
    ]))
    try:
        status, headers, _ = post_json(gw.url(CHAT), chat())
        assert status == 200
        request_id = headers["x-aiproxy-request-id"]
        logs = gw.root / "logs"
        deadline = time.monotonic() + 10
        while True:
            readable = (logs / "aiproxy_access.log").read_text() \
                if (logs / "aiproxy_access.log").exists() else ""
            rotated = glob.glob(str(logs / "aiproxy-*.jsonl"))
            jsonl = open(rotated[0]).read() if rotated else ""
            if request_id in readable and request_id in jsonl:
                break
            assert time.monotonic() < deadline, (readable, rotated, gw.error_log())
            time.sleep(0.05)
        assert re.search(
            rf'"POST {CHAT} HTTP/1.1" 200 \d+ \d+ id={request_id} upstream=good model=m '
            r"upstream_model=upstream-m attempts=1 in=\d+ out=\d+ ttfb_us=\d+", readable), readable
        line = json.loads(jsonl.strip().splitlines()[-1])
        assert line["request_id"] == request_id and line["upstream"] == "good"
        assert line["status"] == 200 and line["path"] == CHAT
        assert line["model"] == "m" and line["upstream_model"] == "upstream-m"
        assert line["attempts"] == "1" and int(line["input_tokens"]) > 0
        assert int(line["ttfb_us"]) > 0 and line["duration_us"] >= int(line["ttfb_us"])
    finally:
        gw.stop()
        gw.cleanup()


def test_forwarded_and_passthrough_requests_are_counted(mock):
    """A forwarded body (images: its answer passes as it is, nothing to read tokens from) and
    a passthrough request are counted like the others, and the log phase that counts them
    survives both (a crash there would not show in the answer, only in the error log)."""
    gw = started(f"AIProxyUpstream img {mock.base_url('openai')} api=openai token=k "
                 "models=gpt-image-1")
    try:
        status, _, body = post_json(gw.url("/v1/images/generations"),
                                    {"model": "gpt-image-1", "prompt": "a red fox"})
        assert status == 200, body
        status, _, body = post_json(gw.url("/passthrough/img/v1/chat/completions"), chat())
        assert status == 200, body

        def counted():
            text = metrics(gw)[1]
            assert sample(text, "aiproxy_requests_total", aiproxy_upstream="img",
                          gen_ai_request_model="gpt-image-1", aiproxy_status_class="2xx") == 1
            assert sample(text, "aiproxy_requests_total", aiproxy_upstream="img",
                          gen_ai_request_model="other", aiproxy_status_class="2xx") == 1
            return text

        text = settled(counted)
        assert sample(text, "gen_ai_client_token_usage_total", gen_ai_request_model="gpt-image-1") == 0
        assert "exit signal" not in gw.error_log()
    finally:
        gw.stop()
        gw.cleanup()
