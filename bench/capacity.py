#!/usr/bin/env python3
"""Capacity: many concurrent long streams through one gateway.

An asyncio upstream (a child process of this script) holds OpenAI streams cheaply: the
first event at once, then one every --interval seconds. An asyncio client opens --streams
streams through the gateway (a private apache2 with the built modules, event MPM sized for
them), records when each first event arrives, holds them all open, and meanwhile reads the
gateway's memory (PSS of the parent and every child, so shared pages count once) and CPU.

Printed figures (FIGURE lines like bench.py):
  memory per open stream   (PSS with the streams open - PSS idle) / streams     target <= 64 KiB
  first event latency      p50 and p99 from request sent to first event        p50 <= 0.1 s
  CPU per event            gateway utime+stime / events delivered while holding

    bench/capacity.py --streams 1000                      # one size
    bench/capacity.py --streams 1000,5000,10000 --translated
    bench/capacity.py --threads-per-child 500 --stack-kib 256 --max-mem-free-kib 64

Raising the open-file limit needs root (or a hard limit high enough): every stream holds two
sockets in the gateway and one in the client and in the upstream each.
"""

import argparse
import asyncio
import json
import math
import os
import pathlib
import resource
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "integration"))
from harness import OUT, Httpd, free_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- the upstream: asyncio, one coroutine per held stream ---------------------------------

def chunk(delta, finish=None):
    return {"id": "chatcmpl-cap", "object": "chat.completion.chunk", "created": 1,
            "model": "cap", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def sse(obj):
    data = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    body = f"data: {data}\n\n".encode()
    return f"{len(body):x}\r\n".encode() + body + b"\r\n"


async def hold_stream(reader, writer, interval, events):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     + sse(chunk({"role": "assistant", "content": ""}))
                     + sse(chunk({"content": "first"})))
        await writer.drain()
        for _ in range(events):
            await asyncio.sleep(interval)
            writer.write(sse(chunk({"content": " more"})))
            await writer.drain()
        writer.write(sse(chunk({}, "stop")) + sse("[DONE]") + b"0\r\n\r\n")
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def serve_upstream(port, interval, events):
    async def main():
        server = await asyncio.start_server(
            lambda r, w: hold_stream(r, w, interval, events), "127.0.0.1", port, backlog=8192)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


# ---- the client --------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.first = []  # seconds from request to first event
        self.events = 0
        self.ended = 0
        self.failed = []


async def one_stream(port, body, stats, opened):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        stats.failed.append(f"connect: {exc}")
        opened.release()
        return
    sent = time.monotonic()
    writer.write(b"POST " + body[0].encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nConnection: close\r\n"
                 + f"Content-Length: {len(body[1])}\r\n\r\n".encode() + body[1])
    got_first = False
    try:
        status = await reader.readline()
        if b" 200 " not in status:
            stats.failed.append(status.decode(errors="replace").strip())
            return
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                if not got_first and b"first" in line:
                    stats.first.append(time.monotonic() - sent)
                    got_first = True
                    opened.release()
                stats.events += 1
        stats.ended += 1
    except (OSError, asyncio.IncompleteReadError) as exc:
        stats.failed.append(f"read: {exc}")
    finally:
        if not got_first:
            opened.release()
        writer.close()


# ---- the gateway --------------------------------------------------------------------------

GATEWAY_MODULES = ["mod_aiproxy_translate.so", "mod_aiproxy.so"]


def mpm_lines(servers, threads, stack_kib, max_mem_free_kib):
    return [
        f"StartServers {servers}",
        f"ServerLimit {servers}",
        f"ThreadLimit {threads}",
        f"ThreadsPerChild {threads}",
        f"MaxRequestWorkers {servers * threads}",
        f"MinSpareThreads {threads}",
        f"MaxSpareThreads {servers * threads}",
        "MaxConnectionsPerChild 0",
        f"ThreadStackSize {stack_kib * 1024}",
        f"MaxMemFree {max_mem_free_kib}",
        "ListenBacklog 8192",
    ]


def gateway_conf(port, upstream_port, plain):
    """The gateway, or (plain) mod_proxy alone to the same upstream: the baseline that shows
    which part of the memory is the gateway's own."""
    route = (f'ProxyPass "/v1/" "http://127.0.0.1:{upstream_port}/v1/" timeout=600' if plain else
             f"AIProxyUpstream cap http://127.0.0.1:{upstream_port} api=openai token=t "
             'models=cap timeout=600\n<Location "/">\n    SetHandler aiproxy\n</Location>')
    return "\n".join(["Timeout 600", "KeepAlive Off", f"<VirtualHost 127.0.0.1:{port}>", route,
                      "</VirtualHost>"])


def pss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def pss_by_kind(pids, stack_kib):
    """PSS (KiB) of thread stacks (anonymous mappings of the ThreadStackSize), the heap (brk
    and other anonymous memory) and the rest (libraries, shared memory), for --breakdown."""
    kinds = {"thread stacks": 0, "heap and anonymous": 0, "files and shared": 0}
    for pid in pids:
        try:
            text = pathlib.Path(f"/proc/{pid}/smaps").read_text()
        except OSError:
            continue
        kind = None
        for line in text.splitlines():
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                name = head[5] if len(head) > 5 else ""
                size_kib = (hi - lo) // 1024
                if not name and abs(size_kib - stack_kib) <= 8:
                    kind = "thread stacks"
                elif not name or name in ("[heap]", "[stack]"):
                    kind = "heap and anonymous"
                else:
                    kind = "files and shared"
            elif head[0] == "Pss:" and kind:
                kinds[kind] += int(head[1])
    return kinds


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def gateway_pids(gw):
    return [gw.pid()] + gw.children()


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(math.ceil(p / 100 * len(xs))) - 1)] if xs else float("nan")


async def run_streams(port, n, body, ramp, hold_seconds, gw):
    stats = Stats()
    opened = asyncio.Semaphore(ramp)  # at most `ramp` streams still waiting for a first event
    tasks = []
    for _ in range(n):
        await opened.acquire()
        tasks.append(asyncio.create_task(one_stream(port, body, stats, opened)))
    while len(stats.first) + len(stats.failed) < n:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    pids = gateway_pids(gw)
    pss_open = pss_kib(pids)
    if os.environ.get("CAPACITY_BREAKDOWN"):
        print(f"  breakdown with {n} streams open: {pss_by_kind(pids, int(os.environ['CAPACITY_BREAKDOWN']))}",
              flush=True)
    cpu0, events0, t0 = cpu_seconds(pids), stats.events, time.monotonic()
    await asyncio.sleep(hold_seconds)
    cpu1, events1, t1 = cpu_seconds(pids), stats.events, time.monotonic()
    pss_hold = pss_kib(pids)
    await asyncio.gather(*tasks)
    return stats, max(pss_open, pss_hold), (cpu1 - cpu0) / max(1, events1 - events0), \
        (events1 - events0) / (t1 - t0)


def measure(n, args):
    upstream_port = free_port()
    events = int(args.hold / args.interval) + 4
    upstream = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(upstream_port),
                                 "--interval", str(args.interval), "--events", str(events)])
    servers = max(1, math.ceil(n * 1.05 / args.threads_per_child))
    gw_port = free_port()
    gw = Httpd("capacity", gateway_conf(gw_port, upstream_port, args.plain), listen=[gw_port],
               extra_modules=[args.modules / m for m in GATEWAY_MODULES],
               mpm=mpm_lines(servers, args.threads_per_child, args.stack_kib,
                             args.max_mem_free_kib))
    try:
        gw.start()
        deadline = time.monotonic() + 60
        while len(gateway_pids(gw)) < servers + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # every child's threads started and settled
        pss_idle = pss_kib(gateway_pids(gw))
        if os.environ.get("CAPACITY_BREAKDOWN"):
            print(f"  breakdown idle: {pss_by_kind(gateway_pids(gw), args.stack_kib)}", flush=True)
        if args.translated:
            path = "/v1/messages"
            payload = {"model": "cap", "max_tokens": 64, "stream": True,
                       "messages": [{"role": "user", "content": "hold"}]}
        else:
            path = "/v1/chat/completions"
            payload = {"model": "cap", "stream": True,
                       "messages": [{"role": "user", "content": "hold"}]}
        body = (path, json.dumps(payload).encode())
        stats, pss_open, cpu_per_event, event_rate = asyncio.run(
            run_streams(gw_port, n, body, args.ramp, args.hold, gw))
    finally:
        gw.stop()
        upstream.terminate()
        upstream.wait(10)
        if not os.environ.get("AIPROXY_KEEP_TMP"):
            gw.cleanup()
    return {
        "streams": n, "servers": servers, "threads": args.threads_per_child,
        "ok": len(stats.first), "failed": len(stats.failed), "failures": stats.failed[:3],
        "pss_idle_mib": pss_idle / 1024, "pss_open_mib": pss_open / 1024,
        "kib_per_stream": (pss_open - pss_idle) / max(1, len(stats.first)),
        "first_p50_s": percentile(stats.first, 50), "first_p99_s": percentile(stats.first, 99),
        "cpu_us_per_event": cpu_per_event * 1e6, "events_per_s": event_rate,
    }


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, want)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", default="1000")
    ap.add_argument("--threads-per-child", type=int, default=500)
    ap.add_argument("--stack-kib", type=int, default=256)
    ap.add_argument("--max-mem-free-kib", type=int, default=64)
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between events")
    ap.add_argument("--hold", type=float, default=15.0, help="seconds all streams stay open")
    ap.add_argument("--ramp", type=int, default=256, help="streams opening at once")
    ap.add_argument("--translated", action="store_true",
                    help="Anthropic client, OpenAI upstream (default: OpenAI passthrough)")
    ap.add_argument("--modules", type=pathlib.Path, default=OUT,
                    help="where the gateway's modules are (another build's out/ to compare)")
    ap.add_argument("--plain", action="store_true",
                    help="mod_proxy's ProxyPass alone instead of the gateway (the baseline)")
    ap.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--events", type=int, default=10, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_upstream:
        raise_fd_limit(65536)
        serve_upstream(args.serve_upstream, args.interval, args.events)
        return
    sizes = [int(s) for s in args.streams.split(",")]
    limit = raise_fd_limit(4 * max(sizes) + 1024)
    print(f"capacity: open-file limit {limit}; ThreadsPerChild {args.threads_per_child}, "
          f"ThreadStackSize {args.stack_kib} KiB, MaxMemFree {args.max_mem_free_kib} KiB, "
          f"{'plain ProxyPass' if args.plain else 'Anthropic client -> OpenAI upstream' if args.translated else 'OpenAI passthrough'}",
          flush=True)
    for n in sizes:
        r = measure(n, args)
        print(json.dumps(r), flush=True)
        note = f"{n} streams, {r['servers']}x{r['threads']} threads, {r['failed']} failed"
        print(f"FIGURE memory per open stream|{r['kib_per_stream']:.1f} KiB|<= 64 KiB|"
              f"{int(r['kib_per_stream'] <= 64)}|{note}; idle {r['pss_idle_mib']:.0f} MiB, "
              f"open {r['pss_open_mib']:.0f} MiB (PSS)")
        print(f"FIGURE first event p50 / p99|{r['first_p50_s'] * 1000:.0f} ms / "
              f"{r['first_p99_s'] * 1000:.0f} ms|p50 <= 100 ms|{int(r['first_p50_s'] <= 0.1)}|"
              f"{note}")
        print(f"FIGURE CPU per event|{r['cpu_us_per_event']:.0f} us|-|-|{note}, "
              f"{r['events_per_s']:.0f} events/s while holding")


if __name__ == "__main__":
    main()
