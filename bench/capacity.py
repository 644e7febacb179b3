#!/usr/bin/env python3
"""Capacity: many concurrent long streams through one gateway.

The load is two small C programs (bench/capacity_upstream.c, bench/capacity_client.c, built
by bench/bench.mk; one epoll thread each), so that on a small machine the CPU goes to the
gateway and the latency measured is the gateway's, not the load's. The upstream holds OpenAI
streams cheaply: the first event at once, then one every --interval seconds. The client opens
--streams streams through the gateway (a private apache2 with the built modules, event MPM
sized for them), at most --ramp of them awaiting their first event at once, times each one
from its request to its first event, and holds them all open while this script reads the
gateway's memory (PSS of the parent and every child, so shared pages count once) and CPU.

Printed figures (FIGURE lines like bench.py):
  memory per open stream   (PSS with the streams open - PSS idle) / streams     target <= 64 KiB
                           (the larger of a second after they opened and the end of the hold;
                           the JSON line's kib_per_stream_held is the end of the hold alone)
  first event latency      p50 and p99 from request sent to first event        p50 <= 0.1 s
                           (--ramp requests in flight at once: mostly their queueing, about
                           ramp / the rate at which the gateway opens streams)
  CPU per event            gateway utime+stime / events delivered while holding (and, as a
                           check that the load stays small, the client's and upstream's)

    bench/capacity.py --streams 1000                      # one size
    bench/capacity.py --streams 1000,5000,10000 --translated     # Anthropic clients
    bench/capacity.py --streams 1000 --client responses          # or gemini, anthropic
    bench/capacity.py --threads-per-child 500 --stack-kib 256 --max-mem-free-kib 2048
    bench/capacity.py --streams 1000 --history-kib 64 --env MALLOC_ARENA_MAX=2

Raising the open-file limit needs root (or a hard limit high enough): every stream holds two
sockets in the gateway and one in the client and in the upstream each; the two programs
inherit the limit this script sets.
"""

import argparse
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
from stack_depth import is_thread_stack  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- the load: two C programs (bench/capacity_client.c, bench/capacity_upstream.c) ---------

LOAD_BINS = ["out/bench/capacity_client", "out/bench/capacity_upstream"]


def build_load():
    """The client and the upstream, built by bench/bench.mk with the project's flags."""
    subprocess.run(["make", "-s", "-C", str(REPO), "--no-print-directory"] + LOAD_BINS,
                   check=True)


def start_upstream(interval, events):
    """The upstream on a free port it picks itself (it prints it): no race for the port."""
    proc = subprocess.Popen([str(REPO / LOAD_BINS[1]), "--interval", str(interval),
                             "--events", str(events)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "port":
        proc.kill()
        raise RuntimeError(f"capacity_upstream did not start (said {line!r})")
    return proc, int(line[1])


class Client:
    """capacity_client: JSON lines on its stdout, a "snap" line on its stdin asks for the
    counters now. Its last line (kind final) may come at any read once every stream is done."""

    def __init__(self, port, n, ramp, timeout, path, body):
        self.proc = subprocess.Popen(
            [str(REPO / LOAD_BINS[0]), "--port", str(port), "--streams", str(n),
             "--ramp", str(ramp), "--timeout", str(timeout), "--path", path,
             "--body", body], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.final = None

    def _next(self, kinds):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"capacity_client exited ({self.proc.wait()}) without a report")
            report = json.loads(line)
            if report["kind"] == "final":
                self.final = report
            if report["kind"] in kinds or self.final:
                return report

    def opened(self):
        return self._next(("opened",))

    def snap(self):
        if self.final:
            return self.final
        try:
            self.proc.stdin.write("snap\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it is done and gone: its final report is still in the pipe
        return self._next(("snap",))

    def wait_final(self):
        return self.final or self._next(("final",))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


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
                if not name and is_thread_stack(size_kib, stack_kib):
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


def hold_streams(client, upstream, n, hold_seconds, gw):
    """Once every stream has its first event: the gateway's PSS with them all open, and its
    CPU (and the load's: the client's and the upstream's) against the events the client
    counted over HOLD seconds."""
    opened = client.opened()
    time.sleep(1.0)
    pids = gateway_pids(gw)
    pss_open = pss_kib(pids)
    if os.environ.get("CAPACITY_BREAKDOWN"):
        print(f"  breakdown with {n} streams open: "
              f"{pss_by_kind(pids, int(os.environ['CAPACITY_BREAKDOWN']))}", flush=True)
    load = [client.proc.pid, upstream.pid]
    cpu0, load0, snap0 = cpu_seconds(pids), cpu_seconds(load), client.snap()
    time.sleep(hold_seconds)
    cpu1, load1, snap1 = cpu_seconds(pids), cpu_seconds(load), client.snap()
    pss_hold = pss_kib(pids)
    events = max(1, snap1["events"] - snap0["events"])
    return {"pss_open": max(pss_open, pss_hold), "pss_held": pss_hold, "open_s": opened["t"],
            "cpu_per_event": (cpu1 - cpu0) / events, "load_cpu_per_event": (load1 - load0) / events,
            "events_per_s": events / max(1e-9, snap1["t"] - snap0["t"])}


def measure(n, args):
    events = int(args.hold / args.interval) + 4
    upstream, upstream_port = start_upstream(args.interval, events)
    servers = max(1, math.ceil(n * 1.05 / args.threads_per_child))
    gw_port = free_port()
    gw = Httpd("capacity", gateway_conf(gw_port, upstream_port, args.plain), listen=[gw_port],
               extra_modules=[args.modules / m for m in GATEWAY_MODULES],
               mpm=mpm_lines(servers, args.threads_per_child, args.stack_kib,
                             args.max_mem_free_kib),
               env=dict(kv.split("=", 1) for kv in args.env))
    client = None
    try:
        gw.start()
        deadline = time.monotonic() + 60
        while len(gateway_pids(gw)) < servers + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # every child's threads started and settled
        pss_idle = pss_kib(gateway_pids(gw))
        if os.environ.get("CAPACITY_BREAKDOWN"):
            print(f"  breakdown idle: {pss_by_kind(gateway_pids(gw), args.stack_kib)}", flush=True)
        turns = ((history(args.history_kib) if args.history_kib else []) +
                 [{"role": "user", "content": "hold"}])
        path, payload = CLIENT_REQUESTS[args.client](turns)
        # A stream that receives nothing for this long has failed: several event intervals.
        timeout = max(60.0, 4 * args.interval)
        client = Client(gw_port, n, args.ramp, timeout, path, json.dumps(payload))
        held = hold_streams(client, upstream, n, args.hold, gw)
        final = client.wait_final()
    finally:
        if client:
            client.stop()
        gw.stop()
        upstream.terminate()
        upstream.wait(10)
        if not os.environ.get("AIPROXY_KEEP_TMP"):
            gw.cleanup()
    nan = float("nan")
    return {
        "streams": n, "servers": servers, "threads": args.threads_per_child,
        "ok": final["ok"], "ended": final["ended"], "failed": final["failed"],
        "failures": final["failures"],
        "pss_idle_mib": pss_idle / 1024, "pss_open_mib": held["pss_open"] / 1024,
        "kib_per_stream": (held["pss_open"] - pss_idle) / max(1, final["ok"]),
        # at the end of the hold only: without what a burst of opening left behind for a while
        "kib_per_stream_held": (held["pss_held"] - pss_idle) / max(1, final["ok"]),
        "first_p50_s": nan if final["first_p50_s"] is None else final["first_p50_s"],
        "first_p99_s": nan if final["first_p99_s"] is None else final["first_p99_s"],
        "open_s": held["open_s"],
        "cpu_us_per_event": held["cpu_per_event"] * 1e6, "events_per_s": held["events_per_s"],
        "load_cpu_us_per_event": held["load_cpu_per_event"] * 1e6,
    }


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, want)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# The streaming request each client protocol sends for a conversation of chat turns: its path
# and body. The upstream is OpenAI in every case: the other clients' streams are translated.
CLIENT_REQUESTS = {
    "openai": lambda turns: ("/v1/chat/completions",
                             {"model": "cap", "stream": True, "messages": turns}),
    "anthropic": lambda turns: ("/v1/messages", {"model": "cap", "max_tokens": 64,
                                                 "stream": True, "messages": turns}),
    "responses": lambda turns: ("/v1/responses", {"model": "cap", "stream": True,
                                                  "input": turns}),
    "gemini": lambda turns: ("/v1beta/models/cap:streamGenerateContent?alt=sse", {
        "contents": [{"role": "model" if t["role"] == "assistant" else "user",
                      "parts": [{"text": t["content"]}]} for t in turns]}),
}


def client_name(client):
    return ("OpenAI passthrough" if client == "openai"
            else f"{client.capitalize()} client -> OpenAI upstream")


def history(kib):
    """An agent's conversation so far, about kib KiB of turns: what Claude Code and Codex send
    with every request, which the gateway reads, and holds while the answer streams."""
    turn = "the agent read a file and wrote about it at length; " * 20  # about 1 KiB
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": turn}
            for i in range(max(2, kib) // 2 * 2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", default="1000")
    ap.add_argument("--threads-per-child", type=int, default=500)
    ap.add_argument("--stack-kib", type=int, default=256)
    ap.add_argument("--max-mem-free-kib", type=int, default=2048,
                    help="MaxMemFree (httpd's default; lower costs CPU, docs/operations.md)")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between events")
    ap.add_argument("--hold", type=float, default=15.0, help="seconds all streams stay open")
    ap.add_argument("--ramp", type=int, default=256, help="streams opening at once")
    ap.add_argument("--client", choices=sorted(CLIENT_REQUESTS), default="openai",
                    help="the clients' protocol; the upstream speaks OpenAI, so any other is "
                         "translated (default: openai, passed through)")
    ap.add_argument("--translated", dest="client", action="store_const", const="anthropic",
                    help="the same as --client anthropic")
    ap.add_argument("--modules", type=pathlib.Path, default=OUT,
                    help="where the gateway's modules are (another build's out/ to compare)")
    ap.add_argument("--history-kib", type=int, default=0,
                    help="a conversation of about this many KiB before the question (at most "
                         "120: the body goes to the client program as one argument)")
    ap.add_argument("--plain", action="store_true",
                    help="mod_proxy's ProxyPass alone instead of the gateway (the baseline)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="in apache2's environment, e.g. MALLOC_ARENA_MAX=2 (repeatable)")
    args = ap.parse_args()
    if any("=" not in kv for kv in args.env):
        ap.error("--env takes NAME=VALUE")
    if args.plain and args.client != "openai":
        ap.error("--plain passes OpenAI requests through; it takes no other --client")
    build_load()
    sizes = [int(s) for s in args.streams.split(",")]
    limit = raise_fd_limit(4 * max(sizes) + 1024)
    print(f"capacity: open-file limit {limit}; ThreadsPerChild {args.threads_per_child}, "
          f"ThreadStackSize {args.stack_kib} KiB, MaxMemFree {args.max_mem_free_kib} KiB, "
          f"{'plain ProxyPass' if args.plain else client_name(args.client)}"
          f"{''.join(' ' + kv for kv in args.env)}", flush=True)
    for n in sizes:
        r = measure(n, args)
        print(json.dumps(r), flush=True)
        note = f"{n} streams, {r['servers']}x{r['threads']} threads, {r['failed']} failed"
        if args.history_kib:
            note += f", {args.history_kib} KiB of history in each request"
        print(f"FIGURE memory per open stream|{r['kib_per_stream']:.1f} KiB|<= 64 KiB|"
              f"{int(r['kib_per_stream'] <= 64)}|{note}; idle {r['pss_idle_mib']:.0f} MiB, "
              f"open {r['pss_open_mib']:.0f} MiB (PSS)")
        print(f"FIGURE first event p50 / p99|{r['first_p50_s'] * 1000:.0f} ms / "
              f"{r['first_p99_s'] * 1000:.0f} ms|p50 <= 100 ms|{int(r['first_p50_s'] <= 0.1)}|"
              f"{note}, {args.ramp} opening at once, all open in {r['open_s']:.1f} s")
        print(f"FIGURE CPU per event|{r['cpu_us_per_event']:.0f} us|-|-|{note}, "
              f"{r['events_per_s']:.0f} events/s while holding (client and upstream: "
              f"{r['load_cpu_us_per_event']:.0f} us per event)")


if __name__ == "__main__":
    main()
