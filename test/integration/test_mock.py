"""Tests of the mock upstream (mod_aiproxy_mock) against its spec (docs/mock-upstream.md)."""

import base64
import concurrent.futures
import http.client
import json
import re
import socket
import struct
import time

import pytest

from harness import (
    MockUpstream,
    compress,
    get,
    mock_vector,
    post_json,
    request,
    stream_chunks,
    stream_sse,
)

PROTOS = ["anthropic", "openai", "responses", "gemini"]
TOOL = "get_weather"
GEMINI_MODEL = "gemini-test-model"
MODELS = {
    "anthropic": "claude-test-model",
    "openai": "gpt-test-model",
    "responses": "gpt-resp-model",
    "gemini": GEMINI_MODEL,
}


# ---- building requests -----------------------------------------------------------------------


def make_body(proto, text, stream=False, tools=False, **extra):
    """A realistic request of proto whose last user message is text."""
    if proto == "anthropic":
        body = {
            "model": MODELS[proto],
            "max_tokens": 256,
            "system": [{"type": "text", "text": "be brief [mock:status=500]"}],
            "messages": [
                {"role": "user", "content": "earlier turn [mock:status=503]"},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                {"role": "user", "content": [{"type": "text", "text": text}]},
            ],
        }
        if tools:
            body["tools"] = [
                {"name": TOOL, "description": "w", "input_schema": {"type": "object"}},
                {"name": "other", "input_schema": {"type": "object"}},
            ]
    elif proto == "openai":
        body = {
            "model": MODELS[proto],
            "messages": [
                {"role": "system", "content": "be brief [mock:status=500]"},
                {"role": "user", "content": "earlier [mock:status=503]"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": text}]},
            ],
        }
        if tools:
            body["tools"] = [
                {"type": "function", "function": {"name": TOOL, "parameters": {}}},
                {"type": "function", "function": {"name": "other", "parameters": {}}},
            ]
    elif proto == "responses":
        body = {
            "model": MODELS[proto],
            "instructions": "be brief",
            "input": [
                {"role": "developer", "content": "dev [mock:status=500]"},
                {"role": "user", "content": "earlier [mock:status=503]"},
                {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": text}]},
            ],
        }
        if tools:
            body["tools"] = [
                {"type": "web_search"},
                {"type": "function", "name": TOOL, "parameters": {}},
            ]
    else:
        body = {
            "systemInstruction": {"parts": [{"text": "be brief [mock:status=500]"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "earlier [mock:status=503]"}]},
                {"role": "model", "parts": [{"text": "ok"}]},
                {"role": "user", "parts": [{"text": text}]},
            ],
        }
        if tools:
            body["tools"] = [
                {"functionDeclarations": [{"name": TOOL, "parameters": {}}, {"name": "other"}]}
            ]
    if stream and proto != "gemini":
        body["stream"] = True
    body.update(extra)
    return body


def make_path(proto, stream=False, sse=True):
    if proto == "anthropic":
        return "/v1/messages"
    if proto == "openai":
        return "/v1/chat/completions"
    if proto == "responses":
        return "/v1/responses"
    if not stream:
        return f"/v1beta/models/{GEMINI_MODEL}:generateContent"
    return f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent" + ("?alt=sse" if sse else "")


def call_json(mock, proto, text, tools=False, headers=None, **extra):
    body = make_body(proto, text, tools=tools, **extra)
    status, hdrs, payload = post_json(mock.base_url(proto) + make_path(proto), body, headers)
    return status, hdrs, json.loads(payload)


def call_stream(mock, proto, text, tools=False, headers=None, **extra):
    body = make_body(proto, text, stream=True, tools=tools, **extra)
    return stream_sse(mock.base_url(proto) + make_path(proto, stream=True), body, headers)


def stream_events(mock, proto, text, tools=False, **extra):
    s = call_stream(mock, proto, text, tools=tools, **extra)
    assert s.status == 200, s.raw
    events = s.events()
    assert not s.truncated
    return s, events


def body_len(proto, text, tools=False, stream=False, **extra):
    return len(json.dumps(make_body(proto, text, stream=stream, tools=tools, **extra)).encode())


# ---- normalising replies ---------------------------------------------------------------------


def summary(text="", thinking="", tool=None, stop="end", usage=None, text_deltas=0,
            arg_deltas=0):
    return {"text": text, "thinking": thinking, "tool": tool, "stop": stop, "usage": usage,
            "text_deltas": text_deltas, "arg_deltas": arg_deltas}


def summarize_json(proto, o):
    s = summary()
    if proto == "anthropic":
        for block in o["content"]:
            if block["type"] == "text":
                s["text"] += block["text"]
            elif block["type"] == "thinking":
                s["thinking"] += block["thinking"]
            elif block["type"] == "tool_use":
                s["tool"] = (block["name"], block["input"])
        s["stop"] = {"end_turn": "end", "tool_use": "tool"}[o["stop_reason"]]
        s["usage"] = (o["usage"]["input_tokens"], o["usage"]["output_tokens"], None)
    elif proto == "openai":
        msg = o["choices"][0]["message"]
        s["text"] = msg["content"] or ""
        s["thinking"] = msg.get("reasoning_content", "")
        if msg.get("tool_calls"):
            fn = msg["tool_calls"][0]["function"]
            s["tool"] = (fn["name"], json.loads(fn["arguments"]))
        s["stop"] = {"stop": "end", "tool_calls": "tool"}[o["choices"][0]["finish_reason"]]
        u = o["usage"]
        s["usage"] = (u["prompt_tokens"], u["completion_tokens"],
                      u["completion_tokens_details"]["reasoning_tokens"])
    elif proto == "responses":
        for item in o["output"]:
            if item["type"] == "message":
                s["text"] += "".join(p["text"] for p in item["content"])
            elif item["type"] == "reasoning":
                s["thinking"] += "".join(p["text"] for p in item["summary"])
            elif item["type"] == "function_call":
                s["tool"] = (item["name"], json.loads(item["arguments"]))
                s["stop"] = "tool"
        u = o["usage"]
        s["usage"] = (u["input_tokens"], u["output_tokens"],
                      u["output_tokens_details"]["reasoning_tokens"])
    else:
        cand = o["candidates"][0]
        for part in cand["content"]["parts"]:
            if part.get("thought"):
                s["thinking"] += part["text"]
            elif "text" in part:
                s["text"] += part["text"]
            elif "functionCall" in part:
                s["tool"] = (part["functionCall"]["name"], part["functionCall"]["args"])
                s["stop"] = "tool"
        assert cand["finishReason"] == "STOP"
        u = o["usageMetadata"]
        s["usage"] = (u["promptTokenCount"],
                      u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0),
                      u.get("thoughtsTokenCount"))
    return s


def summarize_stream(proto, events):
    """Rebuild a summary from (event_name, data) pairs."""
    s = summary()
    if proto == "anthropic":
        blocks = {}
        args = ""
        for name, data in events:
            d = json.loads(data)
            assert d["type"] == name
            if name == "message_start":
                s["usage"] = [d["message"]["usage"]["input_tokens"], None, None]
            elif name == "content_block_start":
                blocks[d["index"]] = d["content_block"]
            elif name == "content_block_delta":
                delta = d["delta"]
                if delta["type"] == "text_delta":
                    s["text"] += delta["text"]
                    s["text_deltas"] += 1
                elif delta["type"] == "thinking_delta":
                    s["thinking"] += delta["thinking"]
                elif delta["type"] == "input_json_delta":
                    args += delta["partial_json"]
                    s["arg_deltas"] += 1
            elif name == "message_delta":
                s["stop"] = {"end_turn": "end", "tool_use": "tool"}[d["delta"]["stop_reason"]]
                s["usage"][1] = d["usage"]["output_tokens"]
        tools = [b for b in blocks.values() if b["type"] == "tool_use"]
        if tools:
            s["tool"] = (tools[0]["name"], json.loads(args))
        s["usage"] = tuple(s["usage"])
    elif proto == "openai":
        name_, args = None, ""
        for name, data in events:
            assert name is None
            if data == "[DONE]":
                continue
            d = json.loads(data)
            assert d["object"] == "chat.completion.chunk"
            if not d["choices"]:
                u = d["usage"]
                s["usage"] = (u["prompt_tokens"], u["completion_tokens"],
                              u["completion_tokens_details"]["reasoning_tokens"])
                continue
            choice = d["choices"][0]
            delta = choice["delta"]
            if delta.get("content"):
                s["text"] += delta["content"]
                s["text_deltas"] += 1
            if delta.get("reasoning_content"):
                s["thinking"] += delta["reasoning_content"]
            for call in delta.get("tool_calls", []):
                if call.get("function", {}).get("name"):
                    name_ = call["function"]["name"]
                if call.get("function", {}).get("arguments"):
                    args += call["function"]["arguments"]
                    s["arg_deltas"] += 1
            if choice["finish_reason"]:
                s["stop"] = {"stop": "end", "tool_calls": "tool"}[choice["finish_reason"]]
        if name_:
            s["tool"] = (name_, json.loads(args))
    elif proto == "responses":
        name_, args = None, ""
        for name, data in events:
            d = json.loads(data)
            assert d["type"] == name
            if name == "response.output_text.delta":
                s["text"] += d["delta"]
                s["text_deltas"] += 1
            elif name == "response.reasoning_summary_text.delta":
                s["thinking"] += d["delta"]
            elif name == "response.output_item.added" and d["item"]["type"] == "function_call":
                name_ = d["item"]["name"]
            elif name == "response.function_call_arguments.delta":
                args += d["delta"]
                s["arg_deltas"] += 1
            elif name == "response.completed":
                u = d["response"]["usage"]
                s["usage"] = (u["input_tokens"], u["output_tokens"],
                              u["output_tokens_details"]["reasoning_tokens"])
                final = summarize_json("responses", d["response"])
        if name_:
            s["tool"] = (name_, json.loads(args))
            s["stop"] = "tool"
        # the completed response object says the same as the deltas
        for key in ("text", "thinking", "tool", "stop", "usage"):
            assert final[key] == s[key], key
    else:
        finish = None
        for name, data in events:
            assert name is None
            d = json.loads(data)
            cand = d["candidates"][0]
            for part in cand["content"]["parts"]:
                if part.get("thought"):
                    s["thinking"] += part["text"]
                elif "text" in part:
                    s["text"] += part["text"]
                    s["text_deltas"] += 1
                elif "functionCall" in part:
                    s["tool"] = (part["functionCall"]["name"], part["functionCall"]["args"])
                    s["stop"] = "tool"
            finish = cand.get("finishReason", finish)
            u = d["usageMetadata"]
            s["usage"] = (u["promptTokenCount"],
                          u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0),
                          u.get("thoughtsTokenCount"))
            assert d["modelVersion"] == GEMINI_MODEL
        assert finish == "STOP"
    return s


# ---- default echo ----------------------------------------------------------------------------


@pytest.mark.parametrize("proto", PROTOS)
def test_default_json(mock, proto):
    text = "hello world, how are you?"
    status, headers, o = call_json(mock, proto, text)
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    s = summarize_json(proto, o)
    assert s["text"] == "echo: " + text
    assert s["thinking"] == "" and s["tool"] is None and s["stop"] == "end"
    assert s["usage"][0] == body_len(proto, text) // 4
    assert s["usage"][1] == 3
    if proto == "anthropic":
        assert re.fullmatch(r"msg_01[0-9A-Za-z]{22}", o["id"])
        assert o["type"] == "message" and o["role"] == "assistant"
        assert o["model"] == MODELS[proto]
        assert o["stop_sequence"] is None
        assert {"cache_creation_input_tokens", "cache_read_input_tokens"} <= set(o["usage"])
        assert headers["request-id"].startswith("req_")
    elif proto == "openai":
        assert o["id"].startswith("chatcmpl-") and o["object"] == "chat.completion"
        assert o["model"] == MODELS[proto] and isinstance(o["created"], int)
        assert o["choices"][0]["message"]["role"] == "assistant"
        assert o["usage"]["total_tokens"] == o["usage"]["prompt_tokens"] + 3
    elif proto == "responses":
        assert o["id"].startswith("resp_") and o["object"] == "response"
        assert o["status"] == "completed" and o["model"] == MODELS[proto]
        assert o["instructions"] == "be brief"
        msg = o["output"][0]
        assert msg["type"] == "message" and msg["id"].startswith("msg_")
        assert msg["status"] == "completed" and msg["role"] == "assistant"
        assert msg["content"][0]["type"] == "output_text"
        assert o["usage"]["total_tokens"] == o["usage"]["input_tokens"] + 3
    else:
        assert o["modelVersion"] == GEMINI_MODEL and o["responseId"]
        assert o["candidates"][0]["content"]["role"] == "model"
        u = o["usageMetadata"]
        assert u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"]
        assert "thoughtsTokenCount" not in u


@pytest.mark.parametrize("proto", PROTOS)
def test_default_stream(mock, proto):
    text = "stream me please"
    s, events = stream_events(mock, proto, text)
    assert s.headers["content-type"].startswith("text/event-stream")
    assert "content-length" not in s.headers
    summ = summarize_stream(proto, events)
    assert summ["text"] == "echo: " + text
    assert summ["text_deltas"] >= 3
    assert summ["stop"] == "end" and summ["tool"] is None
    if proto == "openai":
        assert summ["usage"] is None  # only with stream_options.include_usage
    else:
        assert summ["usage"][0] == body_len(proto, text, stream=True) // 4
        assert summ["usage"][1] == summ["text_deltas"]
    names = [n for n, _ in events]
    if proto == "anthropic":
        assert names == ["message_start", "ping", "content_block_start"] + [
            "content_block_delta"] * summ["text_deltas"] + [
            "content_block_stop", "message_delta", "message_stop"]
        start = json.loads(events[0][1])["message"]
        assert start["model"] == MODELS[proto] and start["content"] == []
        assert start["stop_reason"] is None
    elif proto == "openai":
        chunks = [json.loads(d) for _, d in events[:-1]]
        assert events[-1][1] == "[DONE]"
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
        assert len({c["id"] for c in chunks}) == 1
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
        assert all("usage" not in c for c in chunks)  # no include_usage: no usage chunk
    elif proto == "responses":
        assert names == [
            "response.created", "response.in_progress", "response.output_item.added",
            "response.content_part.added"] + ["response.output_text.delta"] * summ[
            "text_deltas"] + ["response.output_text.done", "response.content_part.done",
                              "response.output_item.done", "response.completed"]
        seqs = [json.loads(d)["sequence_number"] for _, d in events]
        assert seqs == list(range(len(events)))
        created = json.loads(events[0][1])["response"]
        assert created["status"] == "in_progress" and created["output"] == []
        done = json.loads(events[-1][1])["response"]
        assert done["id"] == created["id"] and done["status"] == "completed"
    else:
        assert b"\r\n\r\n" in s.raw
        chunks = [json.loads(d) for _, d in events]
        assert len({c["responseId"] for c in chunks}) == 1
        assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])


def test_gemini_stream_without_alt_sse_is_json_array(mock):
    url = mock.base_url("gemini") + make_path("gemini", stream=True, sse=False)
    s = stream_chunks(url, make_body("gemini", "array please"))
    pieces = list(s)
    assert s.status == 200 and not s.truncated
    assert s.headers["content-type"].startswith("application/json")
    chunks = json.loads(bytes(s.raw))
    assert isinstance(chunks, list) and len(chunks) >= 3
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == (
        "echo: array please")
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert pieces[0][1].startswith(b"[")


def test_paths_may_carry_a_prefix(mock):
    status, _, body = post_json(mock.base_url("openai") + "/openai/v1/chat/completions",
                                make_body("openai", "prefixed"))
    assert status == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "echo: prefixed"
    status, _, body = post_json(
        mock.base_url("gemini") + "/gemini/v1beta/models/g-1:generateContent?foo=bar",
        make_body("gemini", "x"))
    assert status == 200 and json.loads(body)["modelVersion"] == "g-1"


@pytest.mark.parametrize("proto", PROTOS)
def test_last_user_text_extraction(mock, proto):
    """Only the last user message counts; string content works as well as parts."""
    body = make_body(proto, "ignored")
    if proto == "anthropic":
        body["messages"][-1]["content"] = [
            {"type": "text", "text": "a"}, {"type": "image", "source": {}},
            {"type": "text", "text": "b"}]
        body["messages"].append({"role": "assistant", "content": "tail"})
    elif proto == "openai":
        body["messages"][-1]["content"] = [
            {"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": "b"}]
        body["messages"].append({"role": "assistant", "content": "tail"})
    elif proto == "responses":
        body["input"][-1]["content"] = [
            {"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": "x"},
            {"type": "input_text", "text": "b"}]
        body["input"].append({"type": "function_call_output", "call_id": "c", "output": "o"})
    else:
        body["contents"][-1]["parts"] = [{"text": "a"}, {"inlineData": {}}, {"text": "b"}]
        body["contents"].append({"role": "model", "parts": [{"text": "tail"}]})
    status, _, payload = post_json(mock.base_url(proto) + make_path(proto), body)
    assert status == 200
    assert summarize_json(proto, json.loads(payload))["text"] == "echo: ab"


def test_responses_string_input(mock):
    status, _, payload = post_json(mock.base_url("responses") + "/v1/responses",
                                   {"model": "m", "input": "plain [mock:think]"})
    assert status == 200
    s = summarize_json("responses", json.loads(payload))
    assert s["text"] == "echo: plain [mock:think]" and s["thinking"] == "mock thinking"


# ---- tool calls ------------------------------------------------------------------------------


@pytest.mark.parametrize("proto", PROTOS)
def test_tool_json(mock, proto):
    status, _, o = call_json(mock, proto, "call it [mock:tool]", tools=True)
    assert status == 200
    s = summarize_json(proto, o)
    assert s["tool"] == (TOOL, {"arg": "mock"})
    assert s["stop"] == "tool"
    assert s["text"] == ""
    if proto == "anthropic":
        assert re.fullmatch(r"toolu_01[0-9A-Za-z]{22}", o["content"][0]["id"])
    elif proto == "openai":
        call = o["choices"][0]["message"]["tool_calls"][0]
        assert call["id"].startswith("call_") and call["type"] == "function"
        assert o["choices"][0]["message"]["content"] is None
    elif proto == "responses":
        item = o["output"][0]
        assert item["call_id"].startswith("call_") and item["id"].startswith("fc_")
        assert item["status"] == "completed"
    else:
        assert o["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("proto", PROTOS)
def test_tool_stream(mock, proto):
    _, events = stream_events(mock, proto, "call it [mock:tool]", tools=True)
    s = summarize_stream(proto, events)
    assert s["tool"] == (TOOL, {"arg": "mock"})
    assert s["stop"] == "tool"
    if proto != "gemini":
        assert s["arg_deltas"] >= 2
    names = [n for n, _ in events]
    if proto == "anthropic":
        start = json.loads(events[2][1])
        assert start["content_block"]["type"] == "tool_use"
        assert start["content_block"]["input"] == {}
        assert names[-2:] == ["message_delta", "message_stop"]
    elif proto == "openai":
        first_call = json.loads(events[1][1])["choices"][0]["delta"]["tool_calls"][0]
        assert first_call["id"].startswith("call_") and first_call["index"] == 0
        assert first_call["function"]["name"] == TOOL
    elif proto == "responses":
        assert "response.function_call_arguments.done" in names
        i = names.index("response.function_call_arguments.done")
        assert names[i - 2:i] == ["response.function_call_arguments.delta"] * 2
        assert json.loads(events[i][1])["arguments"] == '{"arg":"mock"}'
    else:
        assert len(events) == 1


@pytest.mark.parametrize("proto", PROTOS)
def test_tool_marker_without_tools_echoes(mock, proto):
    status, _, o = call_json(mock, proto, "no tools [mock:tool]")
    assert status == 200
    s = summarize_json(proto, o)
    assert s["tool"] is None and s["text"] == "echo: no tools [mock:tool]"


@pytest.mark.parametrize("proto", PROTOS)
def test_tool_with_long_sends_text_first(mock, proto):
    _, events = stream_events(mock, proto, "[mock:tool,long=4]", tools=True)
    s = summarize_stream(proto, events)
    assert s["text_deltas"] == 4 and s["tool"] == (TOOL, {"arg": "mock"})


# ---- thinking --------------------------------------------------------------------------------


@pytest.mark.parametrize("proto", PROTOS)
def test_think_json(mock, proto):
    status, _, o = call_json(mock, proto, "ponder [mock:think]")
    assert status == 200
    s = summarize_json(proto, o)
    assert s["thinking"] == "mock thinking"
    assert s["text"] == "echo: ponder [mock:think]"
    if proto != "anthropic":
        assert s["usage"][2] == 2  # reasoning tokens
    if proto == "anthropic":
        assert [b["type"] for b in o["content"]] == ["thinking", "text"]
        assert len(o["content"][0]["signature"]) > 20
    elif proto == "responses":
        item = o["output"][0]
        assert item["type"] == "reasoning" and item["id"].startswith("rs_")
        assert item["summary"] == [{"type": "summary_text", "text": "mock thinking"}]
        assert item["encrypted_content"]
    elif proto == "gemini":
        part = o["candidates"][0]["content"]["parts"][0]
        assert part["thought"] is True and part["thoughtSignature"]
        u = o["usageMetadata"]
        assert u["totalTokenCount"] == (u["promptTokenCount"] + u["candidatesTokenCount"]
                                        + u["thoughtsTokenCount"])


@pytest.mark.parametrize("proto", PROTOS)
def test_think_stream(mock, proto):
    _, events = stream_events(mock, proto, "ponder [mock:think]")
    s = summarize_stream(proto, events)
    assert s["thinking"] == "mock thinking"
    assert s["text"] == "echo: ponder [mock:think]"
    names = [n for n, _ in events]
    if proto == "anthropic":
        start = json.loads(events[2][1])
        assert start["content_block"]["type"] == "thinking" and start["index"] == 0
        deltas = [json.loads(d)["delta"]["type"] for n, d in events
                  if n == "content_block_delta" and json.loads(d)["index"] == 0]
        assert deltas == ["thinking_delta", "thinking_delta", "signature_delta"]
        text_start = [json.loads(d) for n, d in events if n == "content_block_start"][1]
        assert text_start["index"] == 1 and text_start["content_block"]["type"] == "text"
    elif proto == "openai":
        deltas = [json.loads(d)["choices"][0]["delta"] for _, d in events[1:-2]]
        assert "reasoning_content" in deltas[0] and "content" in deltas[-1]
    elif proto == "responses":
        assert names[2:9] == [
            "response.output_item.added", "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
            "response.output_item.done"]
        done = json.loads(events[8][1])["item"]
        assert done["type"] == "reasoning" and done["encrypted_content"]
        assert json.loads(events[9][1])["output_index"] == 1
    else:
        first = json.loads(events[0][1])["candidates"][0]["content"]["parts"][0]
        assert first["thought"] is True and first["text"] == "mock thinking"


@pytest.mark.parametrize("proto", PROTOS)
def test_think_and_tool_combine(mock, proto):
    _, events = stream_events(mock, proto, "[mock:think] then [mock:tool]", tools=True)
    s = summarize_stream(proto, events)
    assert s["thinking"] == "mock thinking" and s["tool"] == (TOOL, {"arg": "mock"})
    assert s["text"] == "" and s["stop"] == "tool"
    status, _, o = call_json(mock, proto, "[mock:think,tool]", tools=True)
    j = summarize_json(proto, o)
    assert j["thinking"] == "mock thinking" and j["tool"] == (TOOL, {"arg": "mock"})


# ---- errors by status ------------------------------------------------------------------------

ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                   403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
                   500: "api_error", 503: "overloaded_error", 529: "overloaded_error"}
GEMINI_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                   404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                   503: "UNAVAILABLE", 529: "UNAVAILABLE"}


def check_error_body(proto, status, o):
    if proto == "anthropic":
        assert o["type"] == "error"
        assert o["error"]["type"] == ANTHROPIC_TYPES[status]
        assert isinstance(o["error"]["message"], str) and o["error"]["message"]
    elif proto in ("openai", "responses"):
        err = o["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert err["param"] is None and err["message"]
        if status == 429:
            assert err["code"] == "rate_limit_exceeded"
        if status == 401:
            assert err["code"] == "invalid_api_key"
        if status >= 500:
            assert err["type"] == "server_error"
    else:
        err = o["error"]
        assert err["code"] == status and err["status"] == GEMINI_STATUSES[status]
        assert err["message"]


@pytest.mark.parametrize("status", [429, 529, 503, 500, 400, 403, 404])
@pytest.mark.parametrize("proto", PROTOS)
def test_status_marker(mock, proto, status):
    code, headers, o = call_json(mock, proto, f"fail [mock:status={status}]")
    assert code == status
    assert "retry-after" not in headers
    check_error_body(proto, status, o)


@pytest.mark.parametrize("proto", PROTOS)
def test_status_marker_on_stream_request_is_plain_error(mock, proto):
    s = call_stream(mock, proto, "[mock:status=429] [mock:retry-after=7]")
    assert s.status == 429
    assert s.headers["retry-after"] == "7"
    assert s.headers["content-type"].startswith("application/json")
    list(s)
    check_error_body(proto, 429, json.loads(bytes(s.raw)))


@pytest.mark.parametrize("proto", PROTOS)
def test_retry_after(mock, proto):
    code, headers, o = call_json(mock, proto, "[mock:status=429][mock:retry-after=3]")
    assert code == 429 and headers["retry-after"] == "3"
    if proto == "gemini":
        assert o["error"]["details"][0]["retryDelay"] == "3s"


def test_status_529_reason_line(mock):
    conn = http.client.HTTPConnection("127.0.0.1", mock.port("anthropic"), timeout=10)
    conn.request("POST", "/v1/messages", json.dumps(make_body("anthropic", "[mock:status=529]")),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 529 and resp.reason == "Site Overloaded"
    resp.read()
    conn.close()


# ---- in-stream errors ------------------------------------------------------------------------


@pytest.mark.parametrize("proto", PROTOS)
def test_sse_error(mock, proto):
    s = call_stream(mock, proto, "boom [mock:sse-error]")
    assert s.status == 200
    events = s.events()
    assert not s.truncated
    name, data = events[0]
    d = json.loads(data)
    if proto == "anthropic":
        assert len(events) == 1 and name == "error"
        assert d == {"type": "error", "error": {"type": "overloaded_error",
                                                "message": "Overloaded"}}
    elif proto == "openai":
        assert len(events) == 1 and name is None
        assert set(d["error"]) == {"message", "type", "param", "code"}
        assert b"[DONE]" not in s.raw
    elif proto == "responses":
        assert [n for n, _ in events] == ["error", "response.failed"]
        assert d["type"] == "error" and d["code"] == "server_error" and d["message"]
        failed = json.loads(events[1][1])["response"]
        assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    else:
        assert len(events) == 1 and name is None
        assert d["error"]["status"] == "UNAVAILABLE" and d["error"]["code"] == 503


def test_sse_error_gemini_json_array(mock):
    url = mock.base_url("gemini") + make_path("gemini", stream=True, sse=False)
    s = stream_chunks(url, make_body("gemini", "[mock:sse-error]"))
    list(s)
    assert s.status == 200
    assert json.loads(bytes(s.raw))[0]["error"]["status"] == "UNAVAILABLE"


@pytest.mark.parametrize("proto", PROTOS)
def test_sse_error_marker_ignored_without_stream(mock, proto):
    status, _, o = call_json(mock, proto, "[mock:sse-error]")
    assert status == 200
    assert summarize_json(proto, o)["text"] == "echo: [mock:sse-error]"


# ---- long, cut, slow -------------------------------------------------------------------------


@pytest.mark.parametrize("proto", PROTOS)
def test_long(mock, proto):
    extra = {"stream_options": {"include_usage": True}} if proto == "openai" else {}
    _, events = stream_events(mock, proto, "[mock:long=25]", **extra)
    s = summarize_stream(proto, events)
    assert s["text_deltas"] == 25
    assert s["usage"][1] == 25
    assert s["text"].startswith("echo: [mock:long=25]")
    status, _, o = call_json(mock, proto, "[mock:long=25]")
    assert summarize_json(proto, o)["text"] == s["text"]


@pytest.mark.parametrize("proto", PROTOS)
def test_cut_stream(mock, proto):
    s = call_stream(mock, proto, "[mock:cut=2]")
    assert s.status == 200
    events = s.events()
    assert s.truncated
    assert len(events) == 2
    if proto == "anthropic":
        assert [n for n, _ in events] == ["message_start", "ping"]
    if proto == "openai":
        assert b"[DONE]" not in s.raw


def test_cut_gemini_json_array(mock):
    url = mock.base_url("gemini") + make_path("gemini", stream=True, sse=False)
    s = stream_chunks(url, make_body("gemini", "[mock:cut=1]"))
    list(s)
    assert s.truncated
    assert bytes(s.raw).startswith(b"[") and not bytes(s.raw).endswith(b"]")


@pytest.mark.parametrize("proto", PROTOS)
def test_cut_json_body(mock, proto):
    with pytest.raises(http.client.IncompleteRead):
        call_json(mock, proto, "[mock:cut=10]")


@pytest.mark.parametrize("proto", PROTOS)
def test_cut_zero_sends_only_headers(mock, proto):
    s = call_stream(mock, proto, "[mock:cut=0]")
    assert s.status == 200
    assert s.headers["content-type"].startswith("text/event-stream")
    assert s.events() == [] and s.truncated and s.raw == b""
    with pytest.raises(http.client.IncompleteRead):
        call_json(mock, proto, "[mock:cut=0]")


@pytest.mark.parametrize("stream", [False, True])
def test_drop_closes_without_response(mock, stream):
    for proto in PROTOS:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            post_json(mock.base_url(proto) + make_path(proto, stream=stream),
                      make_body(proto, "[mock:drop]", stream=stream))
    assert_still_serving(mock, "openai")


@pytest.mark.parametrize("proto", PROTOS)
def test_slow_stream_arrives_incrementally(mock, proto):
    s = call_stream(mock, proto, "[mock:slow=300]")
    arrivals = [t - s.started for t, _, _ in s]
    assert s.status == 200 and len(arrivals) >= 3
    # event k cannot leave before k pauses ...
    for k, t in enumerate(arrivals):
        assert t >= 0.3 * k * 0.95, (k, arrivals)
    # ... and each leaves when written: the first arrives well before the last
    assert arrivals[0] < 0.3 and arrivals[-1] - arrivals[0] >= 0.3 * (len(arrivals) - 2)


def test_slow_json_delays_the_body(mock):
    t0 = time.monotonic()
    status, _, _ = call_json(mock, "openai", "[mock:slow=300]")
    assert status == 200 and time.monotonic() - t0 >= 0.28


# ---- request bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "zstd", "br", "gzip, br",
                                    "identity"])
def test_compressed_request_body(mock, coding):
    mock.clear()
    raw = json.dumps(make_body("anthropic", f"compressed {coding}")).encode()
    data = raw
    for c in [c.strip() for c in coding.split(",")]:
        data = compress(data, c)
    status, _, payload = post_json(mock.base_url("anthropic") + "/v1/messages", data,
                                   {"Content-Encoding": coding})
    assert status == 200, payload
    assert summarize_json("anthropic", json.loads(payload))["text"] == f"echo: compressed {coding}"
    rec = mock.last("anthropic")
    assert rec["content_encoding"] == coding
    assert base64.b64decode(rec["body_b64"]) == data
    assert rec["body"] == raw.decode()
    assert rec["json"]["model"] == MODELS["anthropic"]
    # input tokens count the decoded body
    assert json.loads(payload)["usage"]["input_tokens"] == len(raw) // 4


def test_large_compressed_body(mock):
    text = "x" * 3_000_000
    raw = json.dumps(make_body("openai", text)).encode()
    status, _, payload = post_json(mock.base_url("openai") + "/v1/chat/completions",
                                   compress(raw, "zstd"), {"Content-Encoding": "zstd"})
    assert status == 200
    assert json.loads(payload)["usage"]["prompt_tokens"] == len(raw) // 4


@pytest.mark.parametrize("coding,expected", [("gzip", 400), ("zstd", 400), ("br", 400),
                                             ("compress", 415)])
@pytest.mark.parametrize("proto", PROTOS)
def test_bad_encoded_body(mock, proto, coding, expected):
    mock.clear()
    status, _, payload = post_json(mock.base_url(proto) + make_path(proto), b"not compressed",
                                   {"Content-Encoding": coding})
    assert status == expected
    o = json.loads(payload)
    assert "error" in o
    rec = mock.last(proto)
    assert rec["body"] is None and base64.b64decode(rec["body_b64"]) == b"not compressed"
    assert_still_serving(mock, proto)


def test_truncated_gzip(mock):
    data = compress(json.dumps(make_body("openai", "t" * 1000)), "gzip")
    status, _, _ = post_json(mock.base_url("openai") + "/v1/chat/completions", data[:-20],
                             {"Content-Encoding": "gzip"})
    assert status == 400


def test_chunked_request_body(mock):
    body = json.dumps(make_body("openai", "chunked")).encode()
    conn = http.client.HTTPConnection("127.0.0.1", mock.port("openai"), timeout=10)
    conn.request("POST", "/v1/chat/completions", body=iter([body[:10], body[10:]]),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read())["choices"][0]["message"]["content"] == "echo: chunked"
    conn.close()


# ---- bad input -------------------------------------------------------------------------------


def assert_still_serving(mock, proto):
    status, _, o = call_json(mock, proto, "still alive")
    assert status == 200
    assert summarize_json(proto, o)["text"] == "echo: still alive"


@pytest.mark.parametrize("payload", [b"{not json", b"", b"[1,2,3]", b"\"str\"",
                                     b"{\"model\": \"\xff\xfe\"}", b"{" * 100000,
                                     b"{\"messages\": 5, \"contents\": {}, \"input\": 7}"])
@pytest.mark.parametrize("proto", PROTOS)
def test_bad_json(mock, proto, payload):
    status, headers, body = post_json(mock.base_url(proto) + make_path(proto), payload)
    if payload.startswith(b"{\"messages\": 5"):
        # valid JSON object with odd members: served as an empty prompt
        assert status == 200, body
        assert summarize_json(proto, json.loads(body))["text"] == "echo: "
    else:
        assert status == 400
        check_error_body(proto, 400, json.loads(body))
    assert_still_serving(mock, proto)


def test_unknown_path_404(mock):
    for method, path in [("POST", "/v1/nothing"), ("GET", "/"), ("GET", "/v1/messages"),
                         ("PUT", "/v1/chat/completions"), ("POST", "/v1beta/models/x:unknown")]:
        status, headers, body = request(method, mock.base_url("openai") + path,
                                        b"{}" if method != "GET" else None)
        assert status == 404, (method, path)
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body)["error"]["code"] == 404


def test_garbage_connection_then_serving(mock):
    with socket.create_connection(("127.0.0.1", mock.port("anthropic")), timeout=5) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    with socket.create_connection(("127.0.0.1", mock.port("anthropic")), timeout=5) as sock:
        sock.sendall(b"\x00\x01garbage\r\n\r\n")
        sock.recv(1000)
    assert_still_serving(mock, "anthropic")
    assert "exit signal" not in mock.error_log()


def test_client_disconnect_mid_stream(mock):
    for _ in range(3):
        s = call_stream(mock, "anthropic", "[mock:slow=50] [mock:long=20]")
        it = iter(s)
        next(it)
        s.close()
    assert_still_serving(mock, "anthropic")
    assert "exit signal" not in mock.error_log()


# ---- other endpoints -------------------------------------------------------------------------


def test_models_list(mock):
    for proto in PROTOS:
        status, _, body = get(mock.base_url(proto) + "/v1/models")
        assert status == 200
        o = json.loads(body)
        assert o["object"] == "list"
        assert all(m["object"] == "model" and m["id"] for m in o["data"])


def test_count_tokens(mock):
    body = make_body("anthropic", "count")
    status, _, payload = post_json(mock.base_url("anthropic") + "/v1/messages/count_tokens",
                                   body)
    assert status == 200
    assert json.loads(payload) == {"input_tokens": len(json.dumps(body)) // 4}
    body = make_body("gemini", "count")
    status, _, payload = post_json(
        mock.base_url("gemini") + f"/v1beta/models/{GEMINI_MODEL}:countTokens", body)
    assert status == 200 and json.loads(payload)["totalTokens"] == len(json.dumps(body)) // 4


def test_responses_compact(mock):
    status, _, payload = post_json(mock.base_url("responses") + "/v1/responses/compact",
                                   make_body("responses", "compact me"))
    assert status == 200
    o = json.loads(payload)
    assert o["object"] == "response.compaction" and o["id"].startswith("resp_")
    assert o["output"][-1]["type"] == "compaction" and o["output"][-1]["encrypted_content"]
    assert o["output"][0]["content"][0]["text"] == "compact me"
    assert o["usage"]["input_tokens"] > 0


def test_openai_include_usage(mock):
    _, events = stream_events(mock, "openai", "usage please",
                              stream_options={"include_usage": True})
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert events[-1][1] == "[DONE]"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(c["usage"] is None for c in chunks[:-1])


def test_ids_differ_between_requests(mock):
    ids = {call_json(mock, "anthropic", "id")[2]["id"] for _ in range(20)}
    assert len(ids) == 20


def test_unicode_text_split_safely(mock):
    text = "日本語のテキスト🎉é"
    _, events = stream_events(mock, "anthropic", text)
    s = summarize_stream("anthropic", events)
    assert s["text"] == "echo: " + text and s["text_deltas"] >= 3


# ---- recording -------------------------------------------------------------------------------


def test_record_fields(mock):
    mock.clear()
    body = make_body("gemini", "record me")
    url = mock.base_url("gemini") + f"/v1beta/models/{GEMINI_MODEL}:generateContent?key=k1&x=%20y"
    t0 = time.time()
    status, _, _ = post_json(url, body, {"X-Goog-Api-Key": "secret", "X-Custom": "a b"})
    assert status == 200
    recs = mock.requests()
    assert len(recs) == 1
    rec = recs[0]
    assert rec["method"] == "POST"
    assert rec["path"] == f"/v1beta/models/{GEMINI_MODEL}:generateContent"
    assert rec["query"] == "key=k1&x=%20y"
    assert rec["headers"]["x-goog-api-key"] == "secret"
    assert rec["headers"]["x-custom"] == "a b"
    assert rec["headers"]["content-type"] == "application/json"
    assert rec["port"] == mock.port("gemini")
    assert rec["upstream"] == "gemini"
    assert rec["content_encoding"] is None
    assert rec["json"] == body
    assert base64.b64decode(rec["body_b64"]) == json.dumps(body).encode()
    assert abs(rec["time"] - t0) < 5
    assert mock.last("openai") is None
    assert mock.last() == rec


def test_record_every_upstream_and_errors(mock):
    mock.clear()
    for proto in PROTOS:
        call_json(mock, proto, "[mock:status=500]")
    get(mock.base_url("openai") + "/v1/models")
    request("DELETE", mock.base_url("anthropic") + "/whatever")
    recs = mock.requests()
    assert [r["upstream"] for r in recs] == PROTOS + ["openai", "anthropic"]
    assert recs[-2]["method"] == "GET" and recs[-2]["body"] == ""
    assert recs[-1]["method"] == "DELETE"


def test_record_concurrent_writers(mock):
    mock.clear()
    big = "y" * 200_000  # lines far larger than a pipe buffer

    def one(i):
        proto = PROTOS[i % 4]
        text = f"parallel {i} " + (big if i % 5 == 0 else "")
        return call_json(mock, proto, text)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(one, range(120)))
    assert statuses == [200] * 120
    recs = mock.requests()  # every line parses
    assert len(recs) == 120
    texts = set()
    for rec in recs:
        o = rec["json"]
        if rec["upstream"] == "gemini":
            texts.add(o["contents"][-1]["parts"][0]["text"].split(" ")[1])
        elif rec["upstream"] == "responses":
            texts.add(o["input"][-1]["content"][0]["text"].split(" ")[1])
        else:
            texts.add(o["messages"][-1]["content"][0]["text"].split(" ")[1])
    assert texts == {str(i) for i in range(120)}


# ---- AIProxyMockRequireKey -------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed():
    upstream = MockUpstream(names=["keyed", "open"], require_keys={"keyed": ["k1", "k 2"]})
    upstream.start()
    yield upstream
    upstream.stop()
    upstream.cleanup()


GOOD_AUTH = {
    "anthropic": [{"x-api-key": "k1"}, {"Authorization": "Bearer k 2"}],
    "openai": [{"Authorization": "Bearer k1"}],
    "responses": [{"Authorization": "Bearer k 2"}],
    "gemini": [{"x-goog-api-key": "k1"}, "?key=k1"],
}
BAD_AUTH = {
    "anthropic": [{}, {"x-api-key": "nope"}, {"x-goog-api-key": "k1"}],
    "openai": [{}, {"x-api-key": "k1"}, {"Authorization": "Bearer k3"}],
    "responses": [{}, {"x-goog-api-key": "k1"}, {"Authorization": "k1"}],
    "gemini": [{}, {"Authorization": "Bearer k1"}, "?key=bad"],
}


def keyed_call(keyed, proto, auth, name="keyed"):
    url = keyed.base_url(name) + make_path(proto)
    headers = {}
    if isinstance(auth, str):
        url += auth
    else:
        headers = auth
    status, _, payload = post_json(url, make_body(proto, "auth"), headers)
    return status, json.loads(payload)


@pytest.mark.parametrize("proto", PROTOS)
def test_require_key(keyed, proto):
    for auth in GOOD_AUTH[proto]:
        status, o = keyed_call(keyed, proto, auth)
        assert status == 200, (auth, o)
    for auth in BAD_AUTH[proto]:
        status, o = keyed_call(keyed, proto, auth)
        assert status == 401, auth
        check_error_body(proto, 401, o)
        if proto == "gemini":
            assert o["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    # a vhost without keys is open
    status, _ = keyed_call(keyed, proto, {}, name="open")
    assert status == 200
    # refused requests are recorded too
    assert keyed.last("keyed")["json"]["model" if proto != "gemini" else "contents"]


# ---- odd but valid JSON ----------------------------------------------------------------------

ODD_BODIES = [
    {},
    {"model": 5, "stream": "yes", "stream_options": 3, "tools": 7},
    {"model": None, "messages": [None, 5, "x", {"role": 5}, {"role": "user", "content": 5}]},
    {"messages": [{"role": "user", "content": [None, 1, {"type": "text", "text": 5},
                                               {"type": "text"}]}]},
    {"messages": [{"role": "user", "content": "[mock:tool]"}], "tools": [None, {"name": 5}]},
    {"messages": [{"role": "user", "content": "[mock:tool]"}],
     "tools": [{"type": "function", "function": None}]},
    {"input": [None, {"role": "user", "content": None}], "tools": [{"type": "function"}]},
    {"input": {"role": "user"}, "reasoning": 5, "metadata": [1], "temperature": "hot"},
    {"contents": [None, {"parts": None}, {"role": "user", "parts": [{"text": None}, 5]}]},
    {"contents": [{"parts": [{"text": "[mock:tool]"}]}],
     "tools": [{"functionDeclarations": 5}, {"functionDeclarations": [{"name": None}]}]},
    {"messages": [{"role": "user", "content": "[mock:status=99999][mock:slow=-1]"
                                              "[mock:cut=x][mock:long=99999999999999]"}]},
    {"messages": [{"role": "user", "content": "[mock:[mock:think]] [mock: tool] [mock:"}]},
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("proto", PROTOS)
def test_odd_but_valid_json(mock, proto, stream):
    for body in ODD_BODIES:
        url = mock.base_url(proto) + make_path(proto, stream=stream)
        status, _, payload = post_json(url, body, timeout=20)
        assert status == 200, (body, payload)
        assert payload
    assert_still_serving(mock, proto)
    assert "exit signal" not in mock.error_log()


def test_marker_parsing_edge_cases(mock):
    # a broken marker does not hide the next one; unknown and malformed items are ignored
    _, _, o = call_json(mock, "anthropic", "[mock:[mock:think] [mock:bogus,think=1,status=abc]")
    s = summarize_json("anthropic", o)
    assert s["thinking"] == "mock thinking"
    status, _, _ = call_json(mock, "anthropic", "[mock:status=700] [MOCK:status=500]")
    assert status == 200


# ---- the harness itself ----------------------------------------------------------------------


def test_harness_context_manager_and_graceful():
    with MockUpstream(names=["solo"]) as m:
        assert m.pid() and post_json(m.base_url("solo") + "/v1/chat/completions",
                                     make_body("openai", "one"))[0] == 200
        m.write_conf(m.conf_body.replace('AIProxyMockName "solo"', 'AIProxyMockName "renamed"'))
        m.graceful()
        post_json(m.base_url("solo") + "/v1/chat/completions", make_body("openai", "two"))
        assert [r["upstream"] for r in m.requests()] == ["solo", "renamed"]
        root, port = m.root, m.port("solo")
    assert not root.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# ---- embeddings and legacy completions -------------------------------------------------------


def test_openai_embeddings(mock):
    url = mock.base_url("openai") + "/v1/embeddings"
    status, _, payload = post_json(url, {"model": "emb", "input": ["a", "b"], "dimensions": 3})
    assert status == 200, payload
    body = json.loads(payload)
    assert body["object"] == "list" and body["model"] == "emb"
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0),
                                                                 ("embedding", 1)]
    assert [d["embedding"] for d in body["data"]] == [mock_vector("a", 3), mock_vector("b", 3)]
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    # base64: little-endian float32
    status, _, payload = post_json(url, {"model": "emb", "input": "a",
                                         "encoding_format": "base64"})
    raw = base64.b64decode(json.loads(payload)["data"][0]["embedding"])
    assert list(struct.unpack("<8f", raw)) == mock_vector("a")
    # token ids are refused; markers work
    status, _, payload = post_json(url, {"model": "emb", "input": [[1, 2]]})
    assert status == 400 and json.loads(payload)["error"]["message"].startswith("mock:")
    status, _, _ = post_json(url, {"model": "emb", "input": "x [mock:status=503]"})
    assert status == 503


def test_gemini_embeddings(mock):
    base = mock.base_url("gemini") + "/v1beta/models/g-emb"
    status, _, payload = post_json(base + ":embedContent", {
        "content": {"parts": [{"text": "one"}, {"text": " two"}]}, "outputDimensionality": 4})
    assert status == 200, payload
    assert json.loads(payload) == {"embedding": {"values": mock_vector("one two", 4)}}
    status, _, payload = post_json(base + ":batchEmbedContents", {"requests": [
        {"model": "models/g-emb", "content": {"parts": [{"text": t}]}} for t in ("x", "y")]})
    assert status == 200, payload
    assert json.loads(payload) == {"embeddings": [{"values": mock_vector("x")},
                                                  {"values": mock_vector("y")}]}
    # as Google: each request of a batch must name the URL's model
    status, _, payload = post_json(base + ":batchEmbedContents", {"requests": [
        {"model": "models/other", "content": {"parts": [{"text": "x"}]}}]})
    assert status == 400
    assert json.loads(payload)["error"]["status"] == "INVALID_ARGUMENT"
    status, _, _ = post_json(base + ":embedContent", {"content": {"parts": [
        {"text": "x [mock:status=429]"}]}})
    assert status == 429


def test_legacy_completions(mock):
    url = mock.base_url("openai") + "/v1/completions"
    status, _, payload = post_json(url, {"model": "c", "prompt": ["one", "two"]})
    assert status == 200, payload
    body = json.loads(payload)
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    assert [(c["index"], c["text"], c["finish_reason"]) for c in body["choices"]] == [
        (0, "echo: one", "stop"), (1, "echo: two", "stop")]
    assert body["usage"]["completion_tokens"] == 6
    with stream_sse(url, {"model": "c", "prompt": "hi", "stream": True,
                          "stream_options": {"include_usage": True}}) as s:
        events = s.events()
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert {c["object"] for c in chunks} == {"text_completion"}
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "echo: hi"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    # chat completions are still chat completions
    status, _, payload = post_json(mock.base_url("openai") + "/v1/chat/completions",
                                   {"model": "c", "messages": [{"role": "user",
                                                                "content": "x"}]})
    assert json.loads(payload)["object"] == "chat.completion"
