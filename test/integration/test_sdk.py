"""The real npm SDKs as clients: openai (Chat Completions and Responses), @anthropic-ai/sdk 1.x
and 0.x, and @google/genai, each against every demo model. That is same-protocol passthrough
and all 12 cross-protocol translations, as JSON and through each SDK's own stream helper, in the
plain, [mock:tool] and [mock:think] scenarios, plus an upstream 400 and a wrong client key.

test/sdk/run_client.mjs runs the SDK calls. It takes a batch of cases and runs them
concurrently, then prints one normalized result per case:
{text, thinking, tool_calls: [{name, arguments}], stop, usage: {input, output}}, or
{error, class, status, message} when the SDK threw. There is one node process per SDK, and
the processes run side by side. The tests here only read the results.

The gateway is the demo configuration with AIProxyClientKey set, so every call also shows
that the SDK's own way of sending its key is accepted: Bearer for openai and
@anthropic-ai/sdk 1.x, x-api-key for 0.x, and x-goog-api-key for genai.

The pinned SDKs are installed once with `npm ci` in test/sdk. A stamp in node_modules skips
the install while package.json and package-lock.json are unchanged. Without node or npm, or
when the registry cannot be reached for that install, the module is skipped."""

import json
import subprocess
import tempfile

import pytest

from conftest import DEMO_MODELS, GATEWAY_MODULES, Gateway, ensure_built, upstream_lines
from harness import REPO, mock_vector, npm_ci

SDK_DIR = REPO / "test" / "sdk"
SCRIPT = SDK_DIR / "run_client.mjs"

# sdk id (run_client.mjs) -> the client protocol it speaks
SDKS = {
    "openai-chat": "openai",        # openai 6.49.0, client.chat.completions
    "openai-responses": "responses",  # openai 6.49.0, client.responses
    "anthropic": "anthropic",       # @anthropic-ai/sdk 1.12.0: Bearer, anthropic-version 2026-10-21
    "anthropic-0": "anthropic",     # @anthropic-ai/sdk 0.137.0: x-api-key, 2023-06-01
    "genai": "gemini",              # @google/genai 2.32.0
}
MODELS = list(DEMO_MODELS.values())
SCENARIOS = ["plain", "tool", "think"]
STREAMS = [False, True]

CLIENT_KEY = "sk-sdk-test-client-key"  # run_client.mjs's default key
WRONG_KEY = "sk-sdk-test-wrong-key"

# Must match promptFor() in run_client.mjs.
PROMPTS = {
    "plain": "Hello from the SDK test!",
    "tool": "What is the weather? [mock:tool]",
    "texttool": "What is the weather? [mock:tool] [mock:text-tool]",
    "think": "Think about it. [mock:think]",
    "error": "Refuse this. [mock:status=400]",
}
TOOL_NAME = "get_weather"

# client protocol -> scenario -> the stop the client must see
EXPECTED_STOP = {
    "anthropic": {"plain": "end_turn", "think": "end_turn", "tool": "tool_use",
                  "texttool": "tool_use"},
    "openai": {"plain": "stop", "think": "stop", "tool": "tool_calls", "texttool": "tool_calls"},
    # Responses has no stop reason: a finished turn is status "completed"; a tool call is a
    # function_call output item (asserted through tool_calls)
    "responses": {"plain": "completed", "think": "completed", "tool": "completed",
                  "texttool": "completed"},
    "gemini": {"plain": "STOP", "think": "STOP", "tool": "STOP", "texttool": "STOP"},
}
# client protocol -> status -> the error class its SDK throws
EXPECTED_ERROR_CLASS = {
    "anthropic": {400: "BadRequestError", 401: "AuthenticationError"},
    "openai": {400: "BadRequestError", 401: "AuthenticationError"},
    "responses": {400: "BadRequestError", 401: "AuthenticationError"},
    "gemini": {400: "ApiError", 401: "ApiError"},
}

BATCH_TIMEOUT = 120

# Embeddings (scenario "embed") and legacy completions ("complete"); must match run_client.mjs.
EMBED_TEXTS = ["The first text to embed", "and a second one"]
COMPLETE_PROMPT = "Complete this sentence"
EMBED_SDKS = ["openai-chat", "genai"]
EMBED_PROTOCOLS = {"openai", "gemini"}  # upstream protocols that have embeddings
# the error class each SDK throws for the gateway's 501 not_implemented
EXPECTED_501_CLASS = {"openai-chat": "InternalServerError", "genai": "ApiError"}


def case_id(sdk, model, scenario, stream):
    return f"{sdk}/{model}/{scenario}/{'stream' if stream else 'json'}"


def kind(sdk, model):
    """'passthrough' or 'client->upstream' protocols, for failure messages."""
    proto = SDKS[sdk]
    upstream = next(name for name, m in DEMO_MODELS.items() if m == model)
    return "passthrough" if proto == upstream else f"{proto}->{upstream}"


def batch_cases(sdk, base):
    """Every case one SDK runs: the matrix, the upstream 400s and the wrong key."""
    cases = []
    for model in MODELS:
        for scenario in SCENARIOS + ["error"]:
            for stream in STREAMS:
                cases.append({"id": case_id(sdk, model, scenario, stream), "sdk": sdk,
                              "baseURL": base, "model": model, "scenario": scenario,
                              "stream": stream})
    if SDKS[sdk] in ("anthropic", "gemini"):
        cases += [{"id": case_id(sdk, model, "count", False), "sdk": sdk, "baseURL": base,
                   "model": model, "scenario": "count", "stream": False} for model in MODELS]
    if sdk in EMBED_SDKS:
        cases += [{"id": case_id(sdk, model, "embed", False), "sdk": sdk, "baseURL": base,
                   "model": model, "scenario": "embed", "stream": False} for model in MODELS]
    if sdk == "openai-chat":
        cases += [{"id": case_id(sdk, model, "complete", stream), "sdk": sdk, "baseURL": base,
                   "model": model, "scenario": "complete", "stream": stream}
                  for model in MODELS for stream in STREAMS]
    for stream in STREAMS:
        cases.append({"id": case_id(sdk, "wrong-key", "plain", stream), "sdk": sdk,
                      "baseURL": base, "model": DEMO_MODELS[SDKS[sdk]], "scenario": "plain",
                      "stream": stream, "apiKey": WRONG_KEY})
    return cases


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdk_installed():
    """The node binary, once test/sdk/node_modules is installed by `npm ci`."""
    return npm_ci(SDK_DIR, "SDK tests", ".aiproxy-sdk-stamp", timeout=600)


@pytest.fixture(scope="module")
def keyed_gateway(mock):
    """The demo configuration (as the session `gateway`), with a client key required."""
    ensure_built(*GATEWAY_MODULES)
    gw = Gateway(upstream_lines(mock) + f"\nAIProxyClientKey {CLIENT_KEY}")
    gw.start()
    yield gw
    gw.stop()
    gw.cleanup()


def run_batches(node, cases_by_sdk):
    """{case id: normalized result}: one concurrent batch per SDK, all SDKs side by side."""
    procs = {}
    for sdk, cases in cases_by_sdk.items():
        with tempfile.TemporaryFile("w+") as batch:
            json.dump({"cases": cases}, batch)
            batch.seek(0)
            proc = subprocess.Popen([node, str(SCRIPT)], cwd=SDK_DIR, stdin=batch,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs[sdk] = (proc, cases)
    results = {}
    for sdk, (proc, cases) in procs.items():
        try:
            out, err = proc.communicate(timeout=BATCH_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err = f"timed out after {BATCH_TIMEOUT} s\n{err}"
        for line in out.splitlines():
            if line.strip():
                obj = json.loads(line)
                results[obj["id"]] = obj
        for c in cases:
            results.setdefault(c["id"], {
                "error": f"run_client.mjs gave no result (exit {proc.returncode}): {err[-2000:]}"})
    return results


@pytest.fixture(scope="module")
def sdk_results(keyed_gateway, sdk_installed):
    base = keyed_gateway.url("").rstrip("/")
    return run_batches(sdk_installed, {sdk: batch_cases(sdk, base) for sdk in SDKS})


@pytest.fixture(scope="module")
def prefixed_results(mock, sdk_installed):
    """Every SDK with the gateway's base URL below a prefix (http://host/ai), as users
    configure a gateway mounted at <Location "/ai/">: plain calls, JSON and stream, to
    every demo model."""
    ensure_built(*GATEWAY_MODULES)
    gw = Gateway(upstream_lines(mock) + f"\nAIProxyClientKey {CLIENT_KEY}",
                 mount='<Location "/ai/">')
    gw.start()
    try:
        base = gw.url("/ai")
        return run_batches(sdk_installed, {sdk: [
            {"id": case_id(sdk, model, "plain", stream), "sdk": sdk, "baseURL": base,
             "model": model, "scenario": "plain", "stream": stream}
            for model in MODELS for stream in STREAMS] for sdk in SDKS})
    finally:
        gw.stop()
        gw.cleanup()


def result_of(sdk_results, sdk, model, scenario, stream):
    """The normalized answer of one case; fails the test with what the SDK threw."""
    res = sdk_results[case_id(sdk, model, scenario, stream)]
    if "error" in res:
        detail = {k: res[k] for k in ("class", "status", "body") if k in res}
        pytest.fail(f"{kind(sdk, model)}: the SDK threw {res['error']}\n{json.dumps(detail)}")
    return res


# ---- the matrix ------------------------------------------------------------------------------

MATRIX = [
    pytest.param(sdk, model, scenario, stream, id=case_id(sdk, model, scenario, stream))
    for sdk in SDKS for model in MODELS for scenario in SCENARIOS for stream in STREAMS
]


def assert_mock_answer(res, sdk, scenario, stream, where):
    """One SDK's normalized answer to the mock's plain, tool or think scenario, through any
    upstream (the OAuth and Kiro suites use it too): text, tool call, thinking, stop, usage."""
    assert "error" not in res, where
    if scenario in ("tool", "texttool"):
        assert res["tool_calls"] == [{"name": TOOL_NAME, "arguments": {"arg": "mock"}}], where
        # texttool: Kiro wrote the call after some text, which stays text
        assert res["text"] == ("Calling it. " if scenario == "texttool" else ""), where
    else:
        assert res["tool_calls"] == [], where
        assert res["text"] == f"echo: {PROMPTS[scenario]}", where
    assert res["thinking"] == ("mock thinking" if scenario == "think" else ""), where
    assert res["stop"] == EXPECTED_STOP[SDKS[sdk]][scenario], where
    hint = ""
    if sdk == "openai-chat" and stream:
        hint = (" (the request set stream_options.include_usage, so a last chunk with"
                " choices: [] and usage must come before [DONE])")
    usage = res["usage"]
    assert usage["input"] > 0 and usage["output"] > 0, f"usage missing or zero{hint}; {where}"


@pytest.mark.parametrize("sdk,model,scenario,stream", MATRIX)
def test_sdk_call(sdk_results, sdk, model, scenario, stream):
    """The SDK's own parse of the answer: text, tool call, thinking, stop, usage."""
    res = result_of(sdk_results, sdk, model, scenario, stream)
    where = f"{kind(sdk, model)}: {json.dumps(res)}"
    assert_mock_answer(res, sdk, scenario, stream, where)
    if scenario == "think" and kind(sdk, model) == "passthrough" and SDKS[sdk] == "anthropic":
        assert res["thinking_signature"] is True, where


@pytest.mark.parametrize("sdk,model,scenario", [
    pytest.param(sdk, model, scenario, id=f"{sdk}/{model}/{scenario}")
    for sdk in SDKS for model in MODELS for scenario in SCENARIOS
])
def test_stream_rebuilds_json(sdk_results, sdk, model, scenario):
    """The SDK's stream helper rebuilds the same message as the JSON call. Input tokens may
    differ, since the stream request body is a little longer; output tokens may not."""
    plain = result_of(sdk_results, sdk, model, scenario, False)
    streamed = result_of(sdk_results, sdk, model, scenario, True)

    def message(res):
        out = {k: v for k, v in res.items() if k not in ("id", "usage")}
        out["output_tokens"] = res["usage"]["output"]
        return out

    assert message(streamed) == message(plain), kind(sdk, model)


@pytest.mark.parametrize("sdk,model,stream", [
    pytest.param(sdk, model, stream, id=case_id(sdk, model, "error", stream))
    for sdk in SDKS for model in MODELS for stream in STREAMS
])
def test_upstream_error_reaches_the_sdk(sdk_results, sdk, model, stream):
    """An upstream 400 (not retried, not failed over) reaches the SDK as its own 400 error
    class, with the message parsed from the client protocol's envelope."""
    res = sdk_results[case_id(sdk, model, "error", stream)]
    where = f"{kind(sdk, model)}: {json.dumps(res)}"
    assert "error" in res, where
    assert res.get("status") == 400, where
    assert res.get("class") == EXPECTED_ERROR_CLASS[SDKS[sdk]][400], where
    assert res.get("message"), where


@pytest.mark.parametrize("sdk,stream", [
    pytest.param(sdk, stream, id=case_id(sdk, "wrong-key", "plain", stream))
    for sdk in SDKS for stream in STREAMS
])
def test_wrong_key_is_the_sdks_auth_error(sdk_results, sdk, stream):
    """A wrong client key, sent the SDK's way, gets 401 in the SDK's own error class."""
    res = sdk_results[case_id(sdk, "wrong-key", "plain", stream)]
    assert res.get("status") == 401, res
    assert res.get("class") == EXPECTED_ERROR_CLASS[SDKS[sdk]][401], res
    assert res.get("message"), res


def test_every_upstream_served_the_sdks(sdk_results, mock):
    """Each demo model's calls reached the mock of its own api type, from every client
    protocol (at least one JSON and one stream call per SDK), and no client key went
    upstream."""
    del sdk_results  # the batches must have run
    for name in DEMO_MODELS:
        seen = [r for r in mock.requests(name)
                if r.get("body") and PROMPTS["plain"] in r["body"]]
        assert len(seen) >= 2 * len(SDKS), (name, len(seen))
    for rec in mock.requests():
        text = json.dumps(rec["headers"]) + (rec.get("query") or "") + (rec.get("body") or "")
        assert CLIENT_KEY not in text and WRONG_KEY not in text, rec


@pytest.mark.parametrize("sdk,model,stream", [
    pytest.param(sdk, model, stream, id=case_id(sdk, model, "prefix", stream))
    for sdk in SDKS for model in MODELS for stream in STREAMS
])
def test_sdk_with_base_url_below_a_prefix(prefixed_results, sdk, model, stream):
    res = result_of(prefixed_results, sdk, model, "plain", stream)
    assert res["text"] == f"echo: {PROMPTS['plain']}", f"{kind(sdk, model)}: {json.dumps(res)}"
    assert res["stop"] == EXPECTED_STOP[SDKS[sdk]]["plain"]


@pytest.mark.parametrize("sdk,model", [
    pytest.param(sdk, model, id=f"{sdk}/{model}")
    for sdk in SDKS if SDKS[sdk] in ("anthropic", "gemini") for model in MODELS])
def test_count_tokens(sdk_results, sdk, model):
    """anthropic messages.countTokens and genai models.countTokens through every upstream
    protocol's own count endpoint."""
    res = result_of(sdk_results, sdk, model, "count", False)
    assert isinstance(res["input_tokens"], int) and res["input_tokens"] > 0, res


@pytest.mark.parametrize("sdk,model", [
    pytest.param(sdk, model, id=f"{sdk}/{model}") for sdk in EMBED_SDKS for model in MODELS])
def test_sdk_embeddings(sdk_results, sdk, model):
    """openai embeddings.create (base64 vectors, decoded by the SDK) and genai
    models.embedContent (:batchEmbedContents): the mock's vectors through openai and gemini
    upstreams, natively or translated; 501 in the SDK's error class from the others."""
    upstream = next(name for name, m in DEMO_MODELS.items() if m == model)
    if upstream not in EMBED_PROTOCOLS:
        res = sdk_results[case_id(sdk, model, "embed", False)]
        assert res.get("status") == 501, res
        assert res.get("class") == EXPECTED_501_CLASS[sdk], res
        assert "embeddings" in res.get("message", ""), res
        return
    res = result_of(sdk_results, sdk, model, "embed", False)
    where = f"{kind(sdk, model)}: {json.dumps(res)}"
    assert res["vectors"] == [mock_vector(text) for text in EMBED_TEXTS], where
    if sdk == "openai-chat":
        assert res["indexes"] == [0, 1], where
        if upstream == "openai":  # Gemini reports no usage for embeddings
            assert res["usage"]["input"] > 0, where


@pytest.mark.parametrize("model,stream", [
    pytest.param(model, stream, id=case_id("openai-chat", model, "complete", stream))
    for model in MODELS for stream in STREAMS])
def test_sdk_legacy_completions(sdk_results, model, stream):
    """openai completions.create, JSON and streamed: native on the openai upstream, a one-turn
    generation on the others, text_completion objects either way."""
    res = result_of(sdk_results, "openai-chat", model, "complete", stream)
    where = f"{kind('openai-chat', model)}: {json.dumps(res)}"
    assert res["object"] == "text_completion", where
    assert res["text"] == f"echo: {COMPLETE_PROMPT}", where
    assert res["stop"] == "stop", where
    assert res["usage"]["input"] > 0 and res["usage"]["output"] > 0, where
    if stream:
        assert res["chunks"] >= 3, where
