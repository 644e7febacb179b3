#!/usr/bin/env python3
"""Write the seeds of fuzz_eventstream (test/fuzz/corpus/fuzz_eventstream/).

Each seed is one mode byte (fuzz_eventstream.c: bits 0-4 piece size - 1, bit 5 a 256-byte
frame cap, bit 6 fix the checksums) then an AWS event stream: Kiro-shaped answers (text, tool
use in fragments, reasoning, metering, an exception frame), every header type, frames split at
odd piece sizes, bad prelude and message checksums, a cut frame, impossible lengths, a frame
past the cap. Run it after changing the input layout.

It also writes fuzz_response's Kiro seeds (corpus/fuzz_response/kiro_*): three spec bytes
(fuzz_response.c: byte 0 the client and its framing, byte 1 bit 7 a Kiro upstream, bit 4 fix
the checksums, bit 3 clear: tools offered, byte 2 the piece size) then a Kiro answer.
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_eventstream")
RESPONSE_OUT = os.path.join(HERE, "corpus", "fuzz_response")


def header(name, type_, value=b""):
    name = name.encode()
    body = bytes([len(name)]) + name + bytes([type_])
    if type_ in (6, 7):
        return body + struct.pack(">H", len(value)) + value
    return body + value


def string(name, value):
    return header(name, 7, value.encode())


def frame(headers, payload, bad_prelude=False, bad_message=False):
    hdr = b"".join(headers)
    total = 16 + len(hdr) + len(payload)
    prelude = struct.pack(">II", total, len(hdr))
    prelude += struct.pack(">I", zlib.crc32(prelude) ^ (1 if bad_prelude else 0))
    msg = prelude + hdr + payload
    return msg + struct.pack(">I", zlib.crc32(msg) ^ (1 if bad_message else 0))


def event(kind, payload):
    return frame([string(":message-type", "event"), string(":event-type", kind),
                  string(":content-type", "application/json")], json.dumps(payload).encode())


TEXT = event("assistantResponseEvent", {"content": "Hello"}) + \
    event("assistantResponseEvent", {"content": " world"})
TOOL = event("toolUseEvent", {"toolUseId": "tooluse_1", "name": "get_weather", "input": "{\"ci"}) + \
    event("toolUseEvent", {"toolUseId": "tooluse_1", "name": "get_weather", "input": "ty\":\"Paris\"}"}) + \
    event("toolUseEvent", {"toolUseId": "tooluse_1", "name": "get_weather", "stop": True})
THINK = event("reasoningContentEvent", {"text": "Let me think."})
METER = event("meteringEvent", {"unit": "credit", "usage": 0.02}) + \
    event("contextUsageEvent", {"contextUsagePercentage": 1.5})
EXCEPTION = frame([string(":message-type", "exception"),
                   string(":exception-type", "ThrottlingException"),
                   string(":content-type", "application/json")],
                  b'{"message":"Too many requests"}')
ERROR = frame([string(":message-type", "error"), string(":error-code", "InternalError"),
               string(":error-message", "boom")], b"")
ALL_TYPES = frame([header("t", 0), header("f", 1), header("b", 2, b"\xfb"),
                   header("s", 3, b"\xfe\xd4"), header("i", 4, b"\x00\x01\x11\x70"),
                   header("l", 5, b"\xff" * 4 + b"\x00" * 4), header("raw", 6, b"a\x00b"),
                   string("str", "x"), header("ts", 8, struct.pack(">q", 1754042400000)),
                   header("id", 9, bytes(range(16)))], b"{}")

SEEDS = {
    "text_whole": (0x1f, TEXT),
    "text_split_1": (0x00, TEXT),
    "text_split_7": (0x06, TEXT),
    "tool_fragments_split_13": (0x0c, TOOL + METER),
    "thinking_text_tool": (0x04, THINK + TEXT + TOOL + METER),
    "exception_frame": (0x02, TEXT + EXCEPTION),
    "error_frame": (0x10, ERROR),
    "all_header_types": (0x05, ALL_TYPES),
    "fix_checksums_all_types": (0x45, ALL_TYPES),
    "bad_prelude_crc": (0x03, TEXT[:8] + bytes([TEXT[8] ^ 0x80]) + TEXT[9:]),
    "bad_message_crc": (0x08, TEXT + frame([string(":event-type", "x")], b"{}", bad_message=True)),
    "bad_prelude_crc_later": (0x01, TEXT + frame([], b"{}", bad_prelude=True)),
    "cut_frame": (0x0a, TEXT + TOOL[:37]),
    "too_short": (0x40, struct.pack(">II", 15, 0) + b"\0" * 8),
    "headers_too_long": (0x40, struct.pack(">II", 20, 9) + b"\0" * 12),
    "unknown_header_type": (0x40, frame([b"\x01x\x0a"], b"")),
    "over_cap": (0x20, event("assistantResponseEvent", {"content": "x" * 300})),
    "empty_frame": (0x00, frame([], b"")),
    # Kiro answers split inside preludes, headers and payloads, and broken mid-stream.
    "tool_split_2": (0x01, THINK + TOOL),
    "tool_split_16": (0x0f, TOOL + TEXT + METER),
    "tool_split_32": (0x1f, TEXT + TOOL + TOOL + METER),
    "bad_message_crc_mid_tool_split_5": (0x04, TOOL[:60] + bytes([TOOL[60] ^ 0x01]) + TOOL[61:]),
    "bad_prelude_crc_second_frame_split_3": (
        0x02, TEXT + event("toolUseEvent", {"toolUseId": "t", "name": "n", "stop": True})[:8] +
        b"\0\0\0\0" + event("toolUseEvent", {"toolUseId": "t", "name": "n", "stop": True})[12:]),
    "bad_message_crc_last_frame_split_11": (0x0a, TEXT + THINK[:-1] + bytes([THINK[-1] ^ 0xff])),
    "fix_checksums_tool": (0x47, TOOL + EXCEPTION),
}


NESTED = event("assistantResponseEvent", {"assistantResponseEvent": {"content": "nested"}})
VALIDATION = event("assistantResponseEvent",
                   {"_type": "com.amazon.aws.codewhisperer#ValidationException", "message": "bad"})
USAGE = event("metadataEvent", {"tokenUsage": {"inputTokens": 12, "outputTokens": 7}})

# Calls written into the text (the request offered get_weather, search and f): one cut across
# events with brackets in its strings, an undeclared name, an unterminated one.
TEXT_CALLS = event("assistantResponseEvent", {"content": "Sure. [Called get_weather with args: {\"ci"}) + \
    event("assistantResponseEvent", {"content": "ty\": \"Paris [x] {\\\"y\\\"}\"}] and "}) + \
    event("assistantResponseEvent", {"content": "[Called nope with args: {}] [Called search with "}) + \
    event("assistantResponseEvent", {"content": "args: {\"q\": [1, {\"a\": \"]\"}]}][Called f with args: {"})

# name: (client, client framing 0 JSON / 1 SSE / 2 JSON array, fix checksums, piece, stream)
RESPONSE_SEEDS = {
    "kiro_anthropic_sse": (0, 1, 0, 6, THINK + TEXT + TOOL + METER + USAGE),
    "kiro_openai_json": (1, 0, 0, 0, TEXT + TOOL + USAGE),
    "kiro_responses_sse": (2, 1, 1, 12, TEXT + NESTED + TOOL + USAGE),
    "kiro_gemini_array": (3, 2, 0, 3, THINK + TEXT + TOOL),
    "kiro_openai_sse_exception": (1, 1, 0, 4, TEXT + EXCEPTION),
    "kiro_gemini_sse_validation": (3, 1, 1, 30, VALIDATION + TEXT),
    "kiro_anthropic_json_bad_crc": (0, 0, 0, 8, TEXT + frame([string(":event-type", "x")], b"{}",
                                                             bad_message=True) + TOOL),
    "kiro_responses_sse_cut": (2, 1, 0, 5, TEXT + TOOL[:37]),
    "kiro_anthropic_sse_text_calls": (0, 1, 1, 9, TEXT_CALLS + USAGE),
    "kiro_openai_json_text_calls": (1, 0, 0, 2, THINK + TEXT_CALLS + TOOL + USAGE),
    "kiro_gemini_sse_text_calls_exception": (3, 1, 0, 17, TEXT_CALLS + EXCEPTION),
    "kiro_responses_json_text_calls": (2, 0, 1, 30, TEXT_CALLS + TEXT),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (mode, stream) in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([mode]) + stream)
    os.makedirs(RESPONSE_OUT, exist_ok=True)
    for name, (client, framing, fix, piece, stream) in RESPONSE_SEEDS.items():
        spec = bytes([client | framing << 4, 128 | (16 if fix else 0), piece])
        with open(os.path.join(RESPONSE_OUT, name), "wb") as f:
            f.write(spec + stream)


if __name__ == "__main__":
    main()
