"""Routing and resilience: failover order and verdicts, circuit breakers in shared memory,
fallback chains, token rotation, client keys, the admin endpoint, access-log variables."""

import json
import time

import pytest

from harness import get, post_json, request

CHAT = "/v1/chat/completions"


def chat(text, model="m"):
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def upstream(name, mock, proto="openai", extra=""):
    return (f"AIProxyUpstream {name} {mock.base_url(proto)} api={proto} token=tok-{name} "
            f"models=m {extra}")


def served_by(gw, text="hi", model="m", headers=None):
    status, hdrs, body = post_json(gw.url(CHAT), chat(text, model), headers)
    return status, hdrs.get("x-aiproxy-upstream"), body


def breakers(gw):
    status, _, body = get(gw.url("/aiproxy-admin/breakers"))
    assert status == 200, body
    return {(b["upstream"], b.get("model", f"token#{b.get('token')}")): b
            for b in json.loads(body)["breakers"]}


ADMIN = '<Location "/aiproxy-admin">\n    SetHandler aiproxy-admin\n</Location>'


def test_weighted_round_robin_spreads_by_weight(make_gateway, mock):
    gw = make_gateway("\n".join([
        upstream("a", mock, extra="weight=3"),
        upstream("b", mock, extra="weight=1"),
    ]))
    seen = [served_by(gw)[1] for _ in range(40)]
    assert seen.count("a") == 30 and seen.count("b") == 10
    # smooth: b never waits more than 3 turns of a
    assert "aaaa" not in "".join(seen)


@pytest.mark.parametrize("status", [429, 500, 503, 529, 408])
def test_retryable_status_tries_every_upstream(make_gateway, mock, status):
    """Every upstream sees the marker and fails with status: each is tried once, in weight
    order, and the client gets the last upstream's status and message in its envelope."""
    gw = make_gateway("\n".join([
        upstream("first", mock, proto="anthropic", extra="weight=100"),
        upstream("second", mock, proto="anthropic"),
    ]))
    mock.clear()
    st, who, body = served_by(gw, f"x [mock:status={status}]")
    assert st == status
    recs = mock.requests()
    assert len(recs) == 2
    assert "second answered" in json.loads(body)["error"]["message"]


def test_client_fault_is_not_retried(make_gateway, mock):
    gw = make_gateway("\n".join([
        upstream("first", mock, extra="weight=100"),
        upstream("second", mock),
    ]))
    mock.clear()
    st, _, body = served_by(gw, "x [mock:status=400]")
    assert st == 400
    assert len(mock.requests()) == 1
    assert "first answered 400" in json.loads(body)["error"]["message"]


def test_connect_failure_then_success(make_gateway, mock):
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m weight=100",
        upstream("good", mock),
    ]))
    st, who, _ = served_by(gw)
    assert (st, who) == (200, "good")


def test_breaker_opens_after_three_failures_and_resets(make_gateway, mock):
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m weight=100",
        upstream("good", mock),
        ADMIN,
    ]))
    for i in range(3):
        assert served_by(gw)[1] == "good"
        state = breakers(gw)[("dead", "m")]
        assert state["failures"] == i + 1
    assert state["open"] and 1790 <= state["seconds_to_reset"] <= 1800
    # open: the dead upstream is not even tried now
    t0 = time.monotonic()
    for _ in range(5):
        assert served_by(gw)[1] == "good"
    assert breakers(gw)[("dead", "m")]["failures"] == 3
    # the admin endpoint resets it
    st, _, body = request("POST", gw.url("/aiproxy-admin/breakers/reset?upstream=dead&model=m"))
    assert st == 200, body
    assert ("dead", "m") not in breakers(gw)
    st, _, body = request("POST", gw.url("/aiproxy-admin/breakers/reset?upstream=nope&model=m"))
    assert st == 404
    assert time.monotonic() - t0 < 5


def test_breaker_is_per_model(make_gateway, mock):
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t weight=100",
        f"AIProxyUpstream good {mock.base_url('openai')} api=openai token=g",
        "AIProxyCircuitBreaker 1 60",
        ADMIN,
    ]))
    assert served_by(gw, model="m1")[1] == "good"
    state = breakers(gw)
    assert state[("dead", "m1")]["open"] and ("dead", "m2") not in state


def test_breaker_survives_graceful_and_full_restart(make_gateway, mock):
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m weight=100",
        upstream("good", mock),
        "AIProxyCircuitBreaker 1 600",
        ADMIN,
    ]))
    served_by(gw)
    assert breakers(gw)[("dead", "m")]["open"]
    gw.graceful()
    assert breakers(gw)[("dead", "m")]["open"]
    gw.stop()
    gw.start()
    state = breakers(gw)[("dead", "m")]
    assert state["open"] and state["seconds_to_reset"] > 500


def test_retry_after_opens_a_cooldown(make_gateway, mock):
    gw = make_gateway("\n".join([
        upstream("limited", mock, extra="weight=100"),
        ADMIN,
    ]))
    st, _, _ = served_by(gw, "x [mock:status=429] [mock:retry-after=120]")
    assert st == 429
    state = breakers(gw)[("limited", "m")]
    assert state["open"] and 100 <= state["seconds_to_reset"] <= 120
    st, _, body = served_by(gw, "now")
    assert st == 503 and "circuit open" in json.loads(body)["error"]["message"]


def test_fallback_chain(make_gateway, mock):
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=big",
        f"AIProxyUpstream small {mock.base_url('openai')} api=openai token=s models=small "
        "map=small=small-upstream",
        "AIProxyFallback big small",
    ]))
    mock.clear()
    st, who, body = served_by(gw, model="big")
    assert (st, who) == (200, "small"), body
    assert mock.last("openai")["json"]["model"] == "small-upstream"


def test_fallback_cycle_refused_at_startup(mock):
    from conftest import Gateway
    gw = Gateway("AIProxyFallback a b\nAIProxyFallback b c\nAIProxyFallback c a")
    with pytest.raises(Exception) as failure:
        gw.start()
    assert "closes a cycle" in str(failure.value)
    gw.cleanup()


def test_token_rotation_skips_refused_token(make_gateway, mock):
    """Three tokens, the mock accepts one: a 401 moves on to the next token of the same
    upstream (before any other upstream), and a refused token then sits out, so later
    requests go straight to a working one."""
    from harness import MockUpstream
    keyed = MockUpstream(names=["openai"], require_keys={"openai": ["good-key"]})
    keyed.start()
    try:
        gw = make_gateway("\n".join([
            f"AIProxyUpstream keyed {keyed.base_url('openai')} api=openai "
            "token=bad-1 token=good-key token=bad-2 models=m",
            ADMIN,
        ]))
        for _ in range(6):
            st, who, body = served_by(gw)
            assert st == 200, body
        used = [r["headers"]["authorization"] for r in keyed.requests()]
        assert used.count("Bearer good-key") == 6
        # each bad token was refused at most once, then benched
        assert 1 <= used.count("Bearer bad-1") + used.count("Bearer bad-2") <= 2
        benched = {k: v for k, v in breakers(gw).items() if k[1].startswith("token#")}
        assert benched and all(v["open"] and v["last_status"] == 401 for v in benched.values())
        assert ("keyed", "token#1") not in benched  # the good one is never benched
    finally:
        keyed.stop()
        keyed.cleanup()


@pytest.mark.parametrize("how", ["bearer", "x-api-key", "x-goog-api-key", "query"])
def test_client_keys(make_gateway, mock, how):
    gw = make_gateway(upstream("u", mock) + "\nAIProxyClientKey sk-client-123456 sk-other-7890")
    st, _, body = served_by(gw)
    assert st == 401 and "API key" in json.loads(body)["error"]["message"]
    st, _, _ = served_by(gw, headers={"Authorization": "Bearer sk-client-12345"})
    assert st == 401
    headers = {"bearer": {"Authorization": "Bearer sk-other-7890"},
               "x-api-key": {"x-api-key": "sk-other-7890"},
               "x-goog-api-key": {"x-goog-api-key": "sk-other-7890"}}.get(how, {})
    path = CHAT + ("?key=sk-other-7890" if how == "query" else "")
    st, hdrs, body = post_json(gw.url(path), chat("hi"), headers)
    assert st == 200, body
    assert "sk-other" not in json.dumps(mock.last("openai"))


def test_client_keys_protect_model_list(make_gateway, mock):
    gw = make_gateway(upstream("u", mock) + "\nAIProxyClientKey sk-client-123456")
    assert get(gw.url("/v1/models"))[0] == 401
    assert get(gw.url("/v1/models"), {"Authorization": "Bearer sk-client-123456"})[0] == 200


def test_request_id_and_log_variables(make_gateway, mock):
    gw = make_gateway(upstream("u", mock))
    st, hdrs, _ = post_json(gw.url(CHAT), chat("hi"))
    assert st == 200 and hdrs["x-aiproxy-request-id"].startswith("aip_")
    st, hdrs, _ = post_json(gw.url("/v1/nothing"), {})
    assert st == 404 and hdrs["x-aiproxy-request-id"]


@pytest.mark.parametrize("marker", ["[mock:sse-error]", "[mock:cut=0]"])
def test_stream_failing_before_content_fails_over(make_gateway, mock, marker):
    """A 200 stream that starts with an error event (or breaks before any content) never
    reaches the client: the next upstream is tried, and the final answer is one error."""
    gw = make_gateway("\n".join([
        upstream("first", mock, extra="weight=100"),
        upstream("second", mock),
        ADMIN,
    ]))
    mock.clear()
    body = chat(f"x {marker}")
    body["stream"] = True
    st, hdrs, payload = post_json(gw.url(CHAT), body)
    assert len(mock.requests()) == 2, "the second upstream was not tried"
    assert st == 502 and hdrs["content-type"].startswith("application/json")
    assert "first" not in hdrs.get("x-aiproxy-upstream", "")
    message = json.loads(payload)["error"]["message"]
    assert "second" in message
    assert breakers(gw)[("first", "m")]["failures"] == 1


def test_stream_error_after_content_is_not_retried(make_gateway, mock):
    """After the first byte there is no failover: the stream ends with the client
    protocol's error event, and only one upstream saw the request."""
    gw = make_gateway("\n".join([
        upstream("first", mock, extra="weight=100"),
        upstream("second", mock),
    ]))
    mock.clear()
    body = chat("x [mock:long=5] [mock:cut=3]")
    body["stream"] = True
    from harness import stream_sse
    with stream_sse(gw.url(CHAT), body) as s:
        assert s.status == 200
        events = s.events()
    assert len(mock.requests()) == 1
    texts = [e for e in events if e[1] != "[DONE]"]
    assert texts, "the content before the break reached the client"
    last = json.loads(events[-1][1]) if events[-1][1] != "[DONE]" else None
    assert last is not None and "error" in last, events[-2:]


@pytest.fixture(scope="module")
def failing_mock():
    """Mock vhosts that always fail in one way, beside the healthy session mock."""
    from harness import MockUpstream
    scenarios = {"s503": "[mock:status=503]", "s429": "[mock:status=429] [mock:retry-after=30]",
                 "s529": "[mock:status=529]", "s404": "[mock:status=404]",
                 "sseerr": "[mock:sse-error]", "cut": "[mock:cut=0]", "s400": "[mock:status=400]",
                 "cut10": "[mock:cut=10]"}
    m = MockUpstream(names=list(scenarios), scenarios=scenarios)
    m.start()
    yield m
    m.stop()
    m.cleanup()


@pytest.mark.parametrize("failure,stream", [
    (f, s) for f in ["s503", "s429", "s529", "s404", "cut"] for s in (False, True)
] + [("sseerr", True)])  # the mock sends in-stream errors only to streaming requests
def test_failover_to_a_healthy_upstream(make_gateway, mock, failing_mock, failure, stream):
    """The heavy upstream always fails in one way; every request is still answered by the
    healthy one, with its own freshly built body, and the failure counts against the first."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream failing {failing_mock.base_url(failure)} api=anthropic token=f "
        "models=m weight=100",
        upstream("healthy", mock),
        ADMIN,
    ]))
    failing_mock.clear()
    body = chat("hello")
    if stream:
        body["stream"] = True
    status, headers, payload = post_json(gw.url(CHAT), body)
    assert status == 200, payload
    assert headers["x-aiproxy-upstream"] == "healthy"
    if stream:
        from test_gateway import delta_text
        frames = [f[len("data: "):] for f in payload.decode().split("\n\n") if f.startswith("data: ")]
        assert "".join(delta_text("openai", None, f) for f in frames) == "echo: hello"
    else:
        assert json.loads(payload)["choices"][0]["message"]["content"] == "echo: hello"
    sent = failing_mock.last(failure)
    if failure != "cut" or stream:
        assert sent is not None and sent["path"] == "/v1/messages"
        assert sent["json"]["messages"][0]["content"] in ("hello", [{"type": "text", "text": "hello"}])
    assert breakers(gw)[("failing", "m")]["failures"] == 1


@pytest.mark.parametrize("proto", ["anthropic", "openai", "responses", "gemini"])
@pytest.mark.parametrize("translated", [False, True], ids=["passthrough", "translated"])
def test_json_answer_cut_short_fails_over(make_gateway, mock, failing_mock, proto, translated):
    """A 200 JSON answer whose body breaks off after a few bytes is no answer: whether it is
    passed through unchanged (same protocol) or translated, none of it reaches the client,
    and the next upstream answers."""
    from test_gateway import answer_text, client_request
    up_proto = ("anthropic" if proto == "openai" else "openai") if translated else proto
    gw = make_gateway("\n".join([
        f"AIProxyUpstream failing {failing_mock.base_url('cut10')} api={up_proto} token=f "
        "models=m weight=100",
        upstream("healthy", mock, proto=up_proto),
        ADMIN,
    ]))
    failing_mock.clear()
    path, body = client_request(proto, "hello", model="m")
    status, headers, payload = post_json(gw.url(path), body)
    assert status == 200, payload
    assert headers["x-aiproxy-upstream"] == "healthy"
    assert answer_text(proto, json.loads(payload)) == "echo: hello"
    assert failing_mock.last("cut10") is not None, "the failing upstream was not tried first"
    assert breakers(gw)[("failing", "m")]["failures"] == 1


def test_client_error_from_upstream_is_returned_not_retried(make_gateway, mock, failing_mock):
    gw = make_gateway("\n".join([
        f"AIProxyUpstream strict {failing_mock.base_url('s400')} api=openai token=f models=m "
        "weight=100",
        upstream("healthy", mock),
    ]))
    mock.clear()
    status, _, payload = post_json(gw.url(CHAT), chat("hello"))
    assert status == 400
    assert "strict answered 400" in json.loads(payload)["error"]["message"]
    assert mock.requests() == []


def test_balancer_member_parameters_reach_mod_proxy(make_gateway, mock, failing_mock):
    """Keys AIProxyUpstream does not know go to mod_proxy's BalancerMember: timeout=1 makes a
    silent upstream count as unreachable after a second, and the next one answers."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream slow {mock.base_url('anthropic')} api=anthropic token=t models=m "
        "weight=100 timeout=1 keepalive=On",
        upstream("fast", mock),
    ]))
    t0 = time.monotonic()
    status, who, body = served_by(gw, "x [mock:slow=3000] [mock:long=2]")
    assert status == 200 and who == "fast", body
    assert time.monotonic() - t0 < 9


@pytest.mark.parametrize("api,base,message", [
    # served by mod_aiproxy_oauth, but its only auth file cannot be read
    ("claudecode", "https://api.anthropic.com",
     "upstream sub: auth file /etc/aiproxy/claude.json is out of rotation: cannot read it"),
])
def test_oauth_upstream_loads_out_of_rotation(make_gateway, mock, api, base, message):
    """An OAuth subscription upstream (no base URL: the provider's endpoint) is accepted and
    shown in balancer-manager, but serves nothing while it has no usable credential."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream sub api={api} auth_file=/etc/aiproxy/claude.json models=m "
        "weight=100",
        upstream("keyed", mock),
    ]), ssl=True)  # the provider's endpoint is https
    assert message in gw.error_log()
    assert base in get(gw.url("/balancer-manager"))[2].decode()
    for _ in range(3):
        assert served_by(gw)[:2] == (200, "keyed")


@pytest.mark.parametrize("body,message", [
    ("AIProxyUpstream a http://127.0.0.1:1 api=bedrock token=t", "unknown api type 'bedrock'"),
    ("AIProxyUpstream a http://127.0.0.1:1 token=t\nAIProxyUpstream A http://127.0.0.1:2 token=t",
     "an upstream of that name is already defined"),
    ("AIProxyUpstream a http://127.0.0.1:1 api=openai", "has no token="),
    ("AIProxyUpstream a ftp://127.0.0.1:1 token=t", "must start with http:// or https://"),
    ("AIProxyUpstream a http://127.0.0.1:1 token=t weight=0", "weight=0"),
    ("AIProxyFallback a b\nAIProxyFallback b a", "closes a cycle"),
])
def test_bad_directives_refuse_startup_with_file_and_line(body, message):
    from conftest import Gateway
    gw = Gateway(body)
    try:
        with pytest.raises(Exception) as failure:
            gw.start()
        text = str(failure.value)
        assert message in text, text
        assert f"of {gw.conf_path}" in text and "line" in text, text
    finally:
        gw.cleanup()


# ---- models the gateway must not mistake for something else ------------------------------------

def test_percent_in_gemini_model_reaches_the_upstream(make_gateway, mock):
    """The model of a Gemini URL is decoded once: "gem%25zz" is the model "gem%zz", sent to
    the upstream escaped again, and nothing counts against the upstream."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream g {mock.base_url('gemini')} api=gemini token=tok-g",
        ADMIN,
    ]))
    mock.clear()
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    for _ in range(3):
        st, hdrs, payload = post_json(gw.url("/v1beta/models/gem%25zz:generateContent"), body)
        assert st == 200, payload
        assert hdrs["x-aiproxy-upstream"] == "g"
    # the mock records the path as httpd decoded it: the model arrived as "gem%zz"
    assert mock.last("gemini")["path"] == "/v1beta/models/gem%zz:generateContent"
    assert breakers(gw) == {}


def test_control_characters_in_model_refused_and_no_token_benched(make_gateway, mock):
    """A model named like a token key ("\\u0002token0") is refused with 400 in every client
    protocol before any upstream sees it; the tokens of the upstream stay in service."""
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t0 token=t1 weight=100",
        f"AIProxyUpstream good {mock.base_url('openai')} api=openai token=g",
        "AIProxyCircuitBreaker 1 1800",
        ADMIN,
    ]))
    from test_gateway import client_request, error_message
    for proto in ("anthropic", "openai", "responses"):
        path, body = client_request(proto, "hi", model="\u0002token0")
        for _ in range(3):
            st, _, payload = post_json(gw.url(path), body)
            assert st == 400, payload
            assert "control characters" in error_message(proto, payload)
    st, _, payload = post_json(gw.url("/v1beta/models/%02token0:generateContent"),
                               {"contents": [{"parts": [{"text": "hi"}]}]})
    assert st == 400 and "control characters" in error_message("gemini", payload)
    assert breakers(gw) == {}
    # a real failure of the dead upstream opens its model's circuit, not token 0's
    assert served_by(gw, model="m")[:2] == (200, "good")
    state = breakers(gw)
    assert ("dead", "m") in state and ("dead", "token#0") not in state


def test_gateway_failure_blames_no_upstream(make_gateway, mock):
    """The attempt's subrequest cannot be set up (here: the admin denies subrequests): the
    client gets a 500 in its envelope, no upstream is tried or blamed, the log says why."""
    gw = make_gateway("\n".join([
        upstream("first", mock, extra="weight=100"),
        upstream("second", mock),
        '<Location "/v1/chat/completions">',
        "    <If \"%{IS_SUBREQ} == 'true'\">",
        "        Require all denied",
        "    </If>",
        "</Location>",
        ADMIN,
    ]))
    mock.clear()
    st, _, payload = served_by(gw)
    assert st == 500, payload
    assert "could not set up" in json.loads(payload)["error"]["message"]
    assert mock.requests() == []
    assert breakers(gw) == {}
    assert "could not be set up" in gw.error_log()


def test_many_failing_attempts_report_the_last_error(make_gateway, mock, failing_mock):
    """20 tokens all throttled: every one is tried, and the client gets the last answer's
    status and message (the error bytes of each attempt share one buffer)."""
    tokens = " ".join(f"token=t{i}" for i in range(20))
    gw = make_gateway("\n".join([
        f"AIProxyUpstream busy {failing_mock.base_url('s429')} api=openai {tokens} models=m",
        ADMIN,
    ]))
    failing_mock.clear()
    st, _, payload = served_by(gw)
    assert st == 429, payload
    assert len(failing_mock.requests("s429")) == 20
    message = json.loads(payload)["error"]["message"]
    assert message.startswith("upstream busy answered 429: "), message
    assert len(message) > len("upstream busy answered 429: ") + 5, message


def test_swallowed_stream_leaves_nothing_behind(make_gateway, mock, failing_mock):
    """A stream that began with an error event was committed, then swallowed: nothing it set
    (stream headers, no-gzip, the upstream's name) may reach the final answer."""
    echo_env = "|".join(f"%{{{v}}}e" for v in ("no-gzip", "no-brotli", "AIPROXY_UPSTREAM"))
    gw = make_gateway("\n".join([
        f"AIProxyUpstream streamer {failing_mock.base_url('sseerr')} api=anthropic token=f "
        "models=m weight=100",
        f"AIProxyUpstream strict {failing_mock.base_url('s400')} api=openai token=f models=m",
        f'Header always set X-Env "{echo_env}"',
    ]))
    body = chat("hello")
    body["stream"] = True
    st, hdrs, payload = post_json(gw.url(CHAT), body)
    assert st == 400, payload
    assert hdrs["content-type"] == "application/json"
    assert "strict answered 400" in json.loads(payload)["error"]["message"]
    for name in ("cache-control", "x-accel-buffering", "x-aiproxy-upstream"):
        assert name not in hdrs, (name, hdrs)
    assert hdrs["x-env"] == "(null)|(null)|(null)", hdrs["x-env"]


def test_swallowed_stream_then_answer_from_the_next(make_gateway, mock, failing_mock):
    gw = make_gateway("\n".join([
        f"AIProxyUpstream streamer {failing_mock.base_url('sseerr')} api=anthropic token=f "
        "models=m weight=100",
        upstream("healthy", mock),
        'Header always set X-Env "%{AIPROXY_UPSTREAM}e"',
    ]))
    body = chat("hello")
    body["stream"] = True
    st, hdrs, payload = post_json(gw.url(CHAT), body)
    assert st == 200, payload
    assert hdrs["content-type"].startswith("text/event-stream")
    assert hdrs["x-aiproxy-upstream"] == "healthy" and hdrs["cache-control"] == "no-cache"
    assert hdrs["x-env"] == "healthy"
