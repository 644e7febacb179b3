"""Heap trimming (mod_aiproxy_translate_trim.c): once requests have let their memory go and a
second passes without more, each child hands its heap's free pages back (malloc_trim), logged
at trace2 as AIP01207; a child with nothing let go since does nothing."""

import time

from harness import post_json

TRIMMED = "AIP01207"


def trims(gw):
    return gw.error_log().count(TRIMMED)


def wait_for_trims(gw, at_least, seconds):
    deadline = time.monotonic() + seconds
    while trims(gw) < at_least and time.monotonic() < deadline:
        time.sleep(0.2)
    return trims(gw)


def test_heap_trimmed_once_quiet_then_left_alone(make_gateway, mock):
    gw = make_gateway(f"AIProxyUpstream up {mock.base_url('anthropic')} api=anthropic token=t "
                      "models=m", log_level="warn aiproxy_translate:trace2")
    assert trims(gw) == 0
    conversation = [{"role": "user", "content": "an agent's long history " * 3000}]
    status, _, reply = post_json(gw.url("/v1/chat/completions"),
                                 {"model": "m", "messages": conversation})
    assert status == 200, reply
    # the watchdog looks every second: it sees the memory let go, then a quiet second
    assert wait_for_trims(gw, 1, 10) >= 1, gw.error_log()[-2000:]
    after_burst = trims(gw)
    time.sleep(3.5)
    assert trims(gw) == after_burst, "a child with nothing let go trimmed again"
    status, _, reply = post_json(gw.url("/v1/chat/completions"),
                                 {"model": "m", "messages": conversation})
    assert status == 200, reply
    assert wait_for_trims(gw, after_burst + 1, 10) == after_burst + 1
