#!/usr/bin/env python3
"""Benchmarks of the mod_aiproxy gateway against plain mod_proxy, measured within one run.

bench/run.sh builds everything and calls this script; it can also be run alone once `make all`
has built out/*.so:

    python3 bench/bench.py [--rounds N] [--seconds S] [--pin split|none] [--micro BINARY]

Two private httpd instances under a temp dir: the gateway (mod_aiproxy + mod_aiproxy_translate
and, in the same vhost, a plain `ProxyPass /plain/`), and the mock upstream (mod_aiproxy_mock)
in its own httpd so they never share worker threads. The load generator is wrk (bench/post.lua).
Variants are interleaved (A B, then B A, ...) over several rounds and medians are reported,
because the machine is shared and noisy. Standard library only.
"""

import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import http.client

REPO = pathlib.Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
POST_LUA = BENCH / "post.lua"
MODDIR = pathlib.Path("/usr/lib/apache2/modules")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The private-httpd basics (apache2 path, minimal environment, ports) are the test harness's.
sys.path.insert(0, str(REPO / "test" / "integration"))
from harness import APACHE2, MINIMAL_ENV, SSL_MODULES, free_port, port_answers  # noqa: E402
from tls_certs import TestPKI  # noqa: E402

STOCK_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("mime_module", "mod_mime.so"),
    ("slotmem_shm_module", "mod_slotmem_shm.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("proxy_balancer_module", "mod_proxy_balancer.so"),
    ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"),
]

# One child with all worker threads, so the per-process figures (CPU, RSS) cover every
# request, and no child is started or reaped during a measurement. Unlimited keep-alive
# requests on both hops (the default 100 would add reconnects to both variants alike).
# The mock gets four times the gateway's threads: with equal counts, 64 streams held open at
# once left the mock's event MPM without a free worker, it dropped reused keep-alive
# connections, the gateway read no status line (AH01102) and its circuit breaker opened,
# so figure [4] measured 503s.
MPM_LINES = """StartServers 1
ServerLimit 1
ThreadLimit {threads}
ThreadsPerChild {threads}
MaxRequestWorkers {threads}
MinSpareThreads 1
MaxSpareThreads 128
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
# As Debian's stock apache2.conf: no .htaccess lookups (BENCH_ALLOWOVERRIDE=All to see them).
<Directory />
    AllowOverride {allowoverride}
</Directory>"""


def log(msg):
    print(msg, flush=True)


def taskset(cpus):
    return ["taskset", "-c", cpus] if cpus else []


class Instance:
    """A private httpd under workdir/name, optionally pinned to cpus (taskset -c)."""

    def __init__(self, workdir, name, ports, body, modules, cpus=None, threads=64, env=None):
        self.name = name
        self.env = dict(MINIMAL_ENV, **(env or {}))
        self.ports = ports
        self.cpus = cpus
        self.root = workdir / name
        for sub in ("run", "logs", "htdocs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "run", 0o777)
        self.conf = self.root / "httpd.conf"
        self.pidfile = self.root / "run" / "httpd.pid"
        lines = [f'ServerRoot "{self.root}"', "ServerName 127.0.0.1"]
        if os.geteuid() == 0:
            lines += ["User nobody", "Group nogroup"]
        lines += [f"Listen 127.0.0.1:{p}" for p in ports]
        lines += [
            f'PidFile "{self.pidfile}"',
            f'DefaultRuntimeDir "{self.root}/run"',
            f"Mutex default:{self.root}/run",
            f'ErrorLog "{self.root}/logs/error.log"',
            "LogLevel warn",
        ]
        lines += [f"LoadModule {m} {MODDIR / so}" for m, so in STOCK_MODULES]
        lines += [f'LoadModule {m} "{so}"' for m, so in modules]
        lines += ["TypesConfig /etc/mime.types", f'DocumentRoot "{self.root}/htdocs"',
                  MPM_LINES.format(threads=threads,
                                   allowoverride=os.environ.get("BENCH_ALLOWOVERRIDE", "None")),
                  body]
        self.conf.write_text("\n".join(lines) + "\n")

    def error_log(self):
        try:
            return (self.root / "logs" / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def start(self):
        cmd = taskset(self.cpus) + [APACHE2, "-f", str(self.conf), "-k", "start"]
        res = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise RuntimeError(f"httpd {self.name} did not start:\n{res.stdout}{res.stderr}"
                               f"\n{self.error_log()}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (self.pidfile.exists() and "resuming normal operations" in self.error_log()
                    and all(port_answers(p) for p in self.ports) and self.children()):
                return
            time.sleep(0.02)
        raise RuntimeError(f"httpd {self.name} not ready:\n{self.error_log()}")

    def parent(self):
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def children(self):
        parent = self.parent()
        kids = []
        if parent is None:
            return kids
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == parent:
                kids.append(int(entry))
        return sorted(kids)

    def cpu_seconds(self):
        """utime+stime of the parent and every child, in seconds."""
        total = 0
        for pid in [self.parent()] + self.children():
            try:
                stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
            except (OSError, TypeError):
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return total / CLK_TCK

    def children_rss_kb(self):
        total = 0
        for pid in self.children():
            try:
                for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self):
        pid = self.parent()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while self.pidfile.exists() or any(port_answers(p) for p in self.ports):
            if time.monotonic() > deadline:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.02)


# ---- load generation -------------------------------------------------------------------------

class Wrk:
    def __init__(self, cpus, threads):
        self.cpus = cpus
        self.threads = threads

    def command(self, url, body_file, conns, seconds, stop_after=None):
        cmd = taskset(self.cpus) + [
            "wrk", f"-t{min(self.threads, conns)}", f"-c{conns}", f"-d{seconds}s",
            "--timeout", "10s", "-s", str(POST_LUA), url, "--", str(body_file)]
        if stop_after:
            cmd.append(str(stop_after))
        return cmd

    def show(self, url, body_file, conns, seconds):
        """The command line, for the report (temp paths shortened)."""
        cmd = self.command(url, body_file, conns, seconds)
        return " ".join(c.replace(str(REPO) + "/", "").replace(str(body_file.parent) + "/", "")
                        for c in cmd)

    def run(self, url, body_file, conns, seconds, stop_after=None):
        cmd = self.command(url, body_file, conns, seconds, stop_after)
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        for line in res.stdout.splitlines():
            if line.startswith("WRKJSON "):
                out = json.loads(line[len("WRKJSON "):])
                out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
                out["errors"] = sum(out[k] for k in out if k.startswith("err_"))
                return out
        raise RuntimeError(f"wrk gave no result ({res.returncode}):\n{res.stdout}{res.stderr}")


def http_post(port, path, body, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "Authorization": "Bearer bench-client-key"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ---- figures ---------------------------------------------------------------------------------

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_list(xs, fmt):
    return "[" + " ".join(fmt.format(x) for x in xs) + "]"


class Results:
    """The summary table: (figure, value, target, verdict) rows."""

    def __init__(self):
        self.rows = []

    def add(self, figure, value, target="", ok=None, note=""):
        verdict = "" if ok is None else ("ok" if ok else "MISSED target")
        self.rows.append((figure, value, target, verdict, note))

    def print(self):
        w0 = max(len(r[0]) for r in self.rows)
        w1 = max(len(r[1]) for r in self.rows)
        w2 = max(len(r[2]) for r in self.rows)
        log("")
        log("=" * (w0 + w1 + w2 + 24))
        log(f"{'figure':<{w0}}  {'value':<{w1}}  {'target':<{w2}}  verdict")
        log("-" * (w0 + w1 + w2 + 24))
        for fig, val, tgt, verdict, note in self.rows:
            log(f"{fig:<{w0}}  {val:<{w1}}  {tgt:<{w2}}  {verdict}")
            if note:
                log(f"{'':<{w0}}  ({note})")
        log("=" * (w0 + w1 + w2 + 24))


MOCK = None  # the mock Instance, for its CPU figure


def measure(gw, wrk, url, body_file, conns, seconds, stop_after=None):
    """One wrk run with the gateway's (and the mock's) CPU time around it."""
    cpu0 = gw.cpu_seconds()
    mcpu0 = MOCK.cpu_seconds() if MOCK else 0
    res = wrk.run(url, body_file, conns, seconds, stop_after)
    cpu1 = gw.cpu_seconds()
    mcpu1 = MOCK.cpu_seconds() if MOCK else 0
    res["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / max(res["requests"], 1)
    res["mock_cpu_us_per_req"] = (mcpu1 - mcpu0) * 1e6 / max(res["requests"], 1)
    res["gw_util"] = (cpu1 - cpu0) / (res["duration_us"] / 1e6)
    return res


def interleaved(gw, wrk, variants, conns, seconds, rounds, label):
    """variants: [(name, url, body_file)]; returns {name: [result per round]}.
    Round i runs the variants in order, round i+1 in reverse order (A B B A A B ...)."""
    out = {name: [] for name, _, _ in variants}
    for i in range(rounds):
        order = variants if i % 2 == 0 else list(reversed(variants))
        parts = []
        for name, url, body_file in order:
            res = measure(gw, wrk, url, body_file, conns, seconds)
            if res["errors"]:
                log(f"  WARNING {label} {name}: {res['errors']} errors "
                    f"(status>399: {res['err_status']})")
            out[name].append(res)
            parts.append(f"{name} {res['rps']:.0f} req/s p50 {res['lat_p50_us'] / 1000:.3f} ms "
                         f"cpu {res['cpu_us_per_req']:.0f} us/req "
                         f"(mock {res['mock_cpu_us_per_req']:.0f}, "
                         f"gw util {res['gw_util']:.2f})")
        log(f"  {label} round {i + 1}/{rounds}: " + "; ".join(parts))
    return out


def chat_body(model, text, stream=False):
    body = {"model": model, "max_tokens": 64,
            "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return json.dumps(body)


def write_body(workdir, name, text):
    path = workdir / f"{name}.json"
    path.write_text(text)
    os.chmod(path, 0o644)
    return path


def probe(port, path, body):
    try:
        return http_post(port, path, body)
    except OSError as exc:
        return 0, str(exc).encode()


def figure_routing(res, gw, wrk, port, body_file, args):
    """Issue 3: gateway (same protocol) vs plain ProxyPass, 32 connections, same httpd."""
    conns = args.conns
    variants = [("aiproxy", f"http://127.0.0.1:{port}/v1/chat/completions", body_file),
                ("plain", f"http://127.0.0.1:{port}/plain/v1/chat/completions", body_file)]
    log(f"\n[1] routing overhead: POST {body_file.stat().st_size} B OpenAI chat, {args.rounds} "
        f"interleaved rounds of\n    {wrk.show(variants[0][1], body_file, conns, args.seconds)}"
        f"\n    {wrk.show(variants[1][1], body_file, conns, args.seconds)}")
    for name, url, bf in variants:  # warm-up: connection pools, allocators, caches
        wrk.run(url, bf, conns, args.warmup)
    runs = interleaved(gw, wrk, variants, conns, args.seconds, args.rounds, "c=32")
    a, p = runs["aiproxy"], runs["plain"]
    rps_a = median([r["rps"] for r in a])
    rps_p = median([r["rps"] for r in p])
    ratios = [x["rps"] / y["rps"] for x, y in zip(a, p)]
    ratio = median(ratios)
    lat_a = median([r["lat_p50_us"] for r in a]) / 1000
    lat_p = median([r["lat_p50_us"] for r in p]) / 1000
    added = median([(x["lat_p50_us"] - y["lat_p50_us"]) / 1000 for x, y in zip(a, p)])
    cpu_a = median([r["cpu_us_per_req"] for r in a])
    cpu_p = median([r["cpu_us_per_req"] for r in p])
    util_a = median([r["gw_util"] for r in a])
    util_p = median([r["gw_util"] for r in p])
    res.add(f"[1] throughput aiproxy vs plain ProxyPass (c={conns})",
            f"{rps_a:.0f} vs {rps_p:.0f} req/s = {ratio:.2f}x", ">= 0.8x", ratio >= 0.8,
            "median of per-round ratios " + fmt_list(ratios, "{:.2f}") +
            f"; gateway CPU busy {util_a:.2f} vs {util_p:.2f} of its core: below 1 the gateway "
            "was not the bottleneck and the ratio mostly reflects the machine's other load")
    cap_ratios = [y["cpu_us_per_req"] / x["cpu_us_per_req"] for x, y in zip(a, p)]
    cap = median(cap_ratios)
    res.add("[1] gateway-bound throughput aiproxy/plain (= plain/aiproxy CPU per request)",
            f"{cap:.2f}x", ">= 0.8x", cap >= 0.8,
            f"gateway httpd CPU per request {cpu_a:.0f} vs {cpu_p:.0f} us "
            f"(+{cpu_a - cpu_p:.0f} us); "
            "per-round " + fmt_list(cap_ratios, "{:.2f}") +
            "; what the throughput ratio is when the gateway's CPU is the bottleneck")
    res.add(f"[1] median latency aiproxy vs plain (c={conns})",
            f"{lat_a:.3f} vs {lat_p:.3f} ms = {added:+.3f} ms", "<= +0.2 ms", added <= 0.2,
            "wrk p50, median over rounds of the paired difference; at c=32 mostly queueing "
            "(c / throughput)")

    # Unloaded latency: one connection, so the difference is the gateway's own work.
    log(f"\n[1b] unloaded latency: as [1] with -c1, {args.rounds} interleaved rounds")
    runs1 = interleaved(gw, wrk, variants, 1, args.seconds, args.rounds, "c=1")
    a1, p1 = runs1["aiproxy"], runs1["plain"]
    l_a = median([r["lat_p50_us"] for r in a1]) / 1000
    l_p = median([r["lat_p50_us"] for r in p1]) / 1000
    d1 = median([(x["lat_p50_us"] - y["lat_p50_us"]) / 1000 for x, y in zip(a1, p1)])
    res.add("[1b] median latency aiproxy vs plain (c=1)",
            f"{l_a:.3f} vs {l_p:.3f} ms = {d1:+.3f} ms", "<= +0.2 ms", d1 <= 0.2,
            "one connection: no queueing, the difference is the gateway's own path")


def figure_translation(res, gw, wrk, port, workdir, args):
    """Issue 4: CPU per request, OpenAI client -> Anthropic upstream vs same-protocol."""
    conns = args.conns
    path = "/v1/chat/completions"
    trans = write_body(workdir, "translated", chat_body("bench-anthropic", "Hello, benchmark"))
    same = write_body(workdir, "passthrough", chat_body("bench-openai", "Hello, benchmark"))
    url = f"http://127.0.0.1:{port}{path}"
    log(f"\n[2] translation CPU: OpenAI client -> Anthropic upstream (model bench-anthropic) vs "
        f"OpenAI -> OpenAI (bench-openai), {args.rounds} interleaved rounds of\n"
        f"    {wrk.show(url, trans, conns, args.seconds)}\n"
        f"    {wrk.show(url, same, conns, args.seconds)}")
    status, body = probe(port, path, trans.read_text())
    if status != 200:
        why = "not implemented yet (501)" if status == 501 else f"status {status}"
        log(f"  translated request answered {status}: {body[:300]!r}")
        res.add("[2] CPU per request translated vs passthrough", f"skipped: {why}", "<= 1.3x",
                None)
        return False
    try:
        reply = json.loads(body)
        ok = reply.get("object") == "chat.completion"
    except ValueError:
        ok = False
    if not ok:
        log(f"  translated reply is not an OpenAI chat.completion: {body[:300]!r}")
    variants = [("translated", f"http://127.0.0.1:{port}{path}", trans),
                ("passthrough", f"http://127.0.0.1:{port}{path}", same)]
    for name, url, bf in variants:
        wrk.run(url, bf, conns, args.warmup)
    runs = interleaved(gw, wrk, variants, conns, args.seconds, args.rounds, "cpu")
    t, s = runs["translated"], runs["passthrough"]
    cpu_t = median([r["cpu_us_per_req"] for r in t])
    cpu_s = median([r["cpu_us_per_req"] for r in s])
    ratios = [x["cpu_us_per_req"] / y["cpu_us_per_req"] for x, y in zip(t, s)]
    ratio = median(ratios)
    res.add("[2] gateway CPU per request translated vs passthrough",
            f"{cpu_t:.0f} vs {cpu_s:.0f} us = {ratio:.2f}x", "<= 1.3x", ratio <= 1.3,
            f"+{cpu_t - cpu_s:.0f} us; median of per-round ratios " + fmt_list(ratios, "{:.2f}") +
            f"; throughput {median([r['rps'] for r in t]):.0f} vs "
            f"{median([r['rps'] for r in s]):.0f} req/s")
    return True


def figure_tls(res, gw, mock, wrk, port, workdir, args):
    """https vs http upstream: gateway CPU per request with verified TLS to the mock, and how
    many requests each TLS connection carried (keep-alive reuse, from the mock's log)."""
    conns = args.conns
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    https = write_body(workdir, "https", chat_body("bench-tls", "Hello, benchmark"))
    http = write_body(workdir, "http", chat_body("bench-openai", "Hello, benchmark"))
    log(f"\n[5] TLS upstream: model bench-tls (https://localhost, verified against the bench CA) "
        f"vs bench-openai (http), {args.rounds} interleaved rounds of\n"
        f"    {wrk.show(url, https, conns, args.seconds)}")
    status, body = probe(port, "/v1/chat/completions", https.read_text())
    if status != 200:
        log(f"  https probe answered {status}: {body[:300]!r}\n{gw.error_log()[-2000:]}")
        res.add("[5] gateway CPU per request https vs http upstream", f"skipped: {status}",
                "", None)
        return
    variants = [("https", url, https), ("http", url, http)]
    for name, u, bf in variants:
        wrk.run(u, bf, conns, args.warmup)
    tls_log = mock.root / "logs" / "tls.log"
    before = len(tls_log.read_text().splitlines())
    runs = interleaved(gw, wrk, variants, conns, args.seconds, args.rounds, "tls")
    t, h = runs["https"], runs["http"]
    cpu_t = median([r["cpu_us_per_req"] for r in t])
    cpu_h = median([r["cpu_us_per_req"] for r in h])
    ratios = [x["cpu_us_per_req"] / y["cpu_us_per_req"] for x, y in zip(t, h)]
    # %{remote}p of every request the TLS vhost served during the rounds: one port, one connection
    ports = [line.split()[0] for line in tls_log.read_text().splitlines()[before:]]
    per_conn = len(ports) / max(len(set(ports)), 1)
    res.add("[5] gateway CPU per request https vs http upstream",
            f"{cpu_t:.0f} vs {cpu_h:.0f} us = {median(ratios):.2f}x", "", None,
            f"+{cpu_t - cpu_h:.0f} us per request for TLS; per-round "
            + fmt_list(ratios, "{:.2f}") + f"; throughput {median([r['rps'] for r in t]):.0f} vs "
            f"{median([r['rps'] for r in h]):.0f} req/s")
    res.add("[5] requests per upstream TLS connection (keep-alive reuse)",
            f"{per_conn:.0f} ({len(ports)} requests on {len(set(ports))} connections)",
            ">= 100", per_conn >= 100,
            "a handshake per request would show 1; mod_proxy keeps the verified connections")


def compare_gateways(wrk, workdir, gw_cpus, args, variants, body_file, title):
    """Gateways with the same configuration (two upstreams of equal weight for the model, two
    keys each, so every request takes an upstream turn and a key turn), differing in their
    modules, environment or server-wide directives: variants maps a name to (module
    directory, environment or None, directives or "").
    On the same CPU, one idle while another is measured, interleaved over args.rounds rounds.
    Returns each variant's runs. Raises RuntimeError when one does not start or answer."""
    body = "\n".join(
        f"    AIProxyUpstream rr-{n} http://127.0.0.1:{MOCK.ports[0]}/openai api=openai "
        f"token=bench-key-1 token=bench-key-2 models=bench-rr" for n in ("a", "b"))
    gateways = {}
    for name, (so_dir, env, directives) in variants.items():
        port = free_port()
        inst = Instance(workdir, f"gw-{name}", [port], f"""{directives}
<VirtualHost 127.0.0.1:{port}>
{body}
    <Location "/">
        SetHandler aiproxy
    </Location>
</VirtualHost>""", [("aiproxy_translate_module", so_dir / "mod_aiproxy_translate.so"),
                    ("aiproxy_module", so_dir / "mod_aiproxy.so")], gw_cpus, env=env)
        gateways[name] = (inst, f"http://127.0.0.1:{port}/v1/chat/completions", port)
    first = next(iter(gateways.values()))
    log(f"\n{title}, {args.rounds} interleaved rounds of\n"
        f"    {wrk.show(first[1], body_file, args.conns, args.seconds)}")
    started = []
    try:
        for inst, url, port in gateways.values():
            inst.start()
            started.append(inst)
            status, reply = probe(port, "/v1/chat/completions", body_file.read_text())
            if status != 200:
                raise RuntimeError(f"{inst.name} answered {status}: {reply[:200]!r}")
            wrk.run(url, body_file, args.conns, args.warmup)
        runs = {name: [] for name in gateways}
        names = list(gateways)
        for i in range(args.rounds):
            parts = []
            for name in (names if i % 2 == 0 else list(reversed(names))):
                inst, url, _ = gateways[name]
                r = measure(inst, wrk, url, body_file, args.conns, args.seconds)
                runs[name].append(r)
                parts.append(f"{name} {r['rps']:.0f} req/s cpu {r['cpu_us_per_req']:.1f} us/req")
            log(f"  round {i + 1}/{args.rounds}: " + "; ".join(parts))
        for name, (inst, _, _) in gateways.items():
            runs[name][-1]["rss_kb_after"] = inst.children_rss_kb()
        return runs
    finally:
        for inst in started:
            inst.stop()


def add_cpu_ratio(res, runs, label, target, a, b):
    """A row of a's CPU per request against b's (median of the per-round ratios), with a
    verdict against target unless it is None. Give every comparison a second row of a copy
    of b against b: a ratio means something only next to that of two identical gateways
    (the noise floor)."""
    cpu = {name: median([r["cpu_us_per_req"] for r in runs[name]]) for name in runs}
    ratios = [p["cpu_us_per_req"] / q["cpu_us_per_req"] for p, q in zip(runs[a], runs[b])]
    ratio = median(ratios)
    res.add(f"{label}, {a} vs {b}", f"{cpu[a]:.1f} vs {cpu[b]:.1f} us = {ratio:.3f}x",
            "" if target is None else f"< {target:.2f}x",
            None if target is None else ratio < target,
            "per-round " + fmt_list(ratios, "{:.3f}"))


def question_bodies():
    """The two requests figures 6 and 7 compare gateways with: a one-line question, and the
    same after an agent's 64 KiB conversation (where memory settings matter most)."""
    from capacity import history  # the same conversation as bench/capacity.py --history-kib

    one_line = chat_body("bench-rr", "Hello, benchmark")
    agent = json.loads(one_line)
    agent["messages"] = history(64) + agent["messages"]
    return {"one-line": one_line, "64KiB-conversation": json.dumps(agent)}


def figure_build_cost(res, wrk, workdir, gw_cpus, modules, args):
    """This build's gateway CPU per request against a previous one's (--baseline DIR: its out/
    directory), in one run: with a one-line question (issue 13: the metrics and the turns
    shared by every child) and with an agent's 64 KiB conversation (the request memory that
    is let go, and the heap trimming after it)."""
    base = pathlib.Path(args.baseline).resolve()
    mods = workdir / "baseline-modules"
    mods.mkdir(exist_ok=True)
    for so in ("mod_aiproxy_translate.so", "mod_aiproxy.so"):
        shutil.copy2(base / so, mods / so)
        os.chmod(mods / so, 0o755)
    os.chmod(mods, 0o755)
    for what, body in question_bodies().items():
        body_file = write_body(workdir, "build-" + what, body)
        label = f"[6] gateway CPU/req, {what}"
        try:
            runs = compare_gateways(
                wrk, workdir / ("build-" + what), gw_cpus, args,
                {"this": (modules, None, ""), "previous": (mods, None, ""),
                 "control": (mods, None, "")},
                body_file, f"[6] this build vs {base} (previous build), {what}, gateway CPU "
                "per request")
            add_cpu_ratio(res, runs, label, 1.02, "this", "previous")
            add_cpu_ratio(res, runs, label + " (noise floor)", None, "control", "previous")
        except RuntimeError as exc:
            log(f"  [6] skipped: {exc}")
            res.add(label, f"skipped: {exc}", "", None)


# Settings that keep less freed memory resident (docs/operations.md, sizing for many open
# streams, measured with bench/capacity.py): glibc's malloc in apache2's environment (freed
# memory at the top of a heap given back at every free; that and every allocation of 16 KiB or
# more its own mmap; two arenas for all threads instead of 8 per CPU), and httpd's MaxMemFree
# (what a connection's allocator keeps of the blocks its requests freed, httpd's default
# 2048 KiB). Name -> (environment, directives).
MEMORY_SETTINGS = {
    "trim": ({"MALLOC_TRIM_THRESHOLD_": "0"}, ""),
    "trim+mmap": ({"MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_MMAP_THRESHOLD_": "16384"}, ""),
    "arenas2": ({"MALLOC_ARENA_MAX": "2"}, ""),
    "maxmemfree64": ({}, "MaxMemFree 64"),
    "maxmemfree8": ({}, "MaxMemFree 8"),
}


def figure_memory_settings(res, wrk, workdir, gw_cpus, modules, args):
    """What each of MEMORY_SETTINGS costs in gateway CPU per request against the defaults,
    with a one-line question and with an agent's 64 KiB conversation (where they save the
    most), and the gateway's RSS after the rounds."""
    for what, body in question_bodies().items():
        body_file = write_body(workdir, "memory-" + what, body)
        variants = {name: (modules, env, conf) for name, (env, conf) in MEMORY_SETTINGS.items()}
        variants.update({"default": (modules, None, ""), "control": (modules, None, "")})
        try:
            runs = compare_gateways(
                wrk, workdir / what, gw_cpus, args, variants, body_file,
                f"[7] memory settings against the defaults, {what}, gateway CPU per request")
        except RuntimeError as exc:
            log(f"  [7] skipped: {exc}")
            res.add(f"[7] memory settings, {what}", f"skipped: {exc}", "", None)
            continue
        for name, (env, conf) in MEMORY_SETTINGS.items():
            setting = " ".join([f"{k}={v}" for k, v in env.items()] + [conf] * bool(conf))
            add_cpu_ratio(res, runs, f"[7] CPU/req {what} ({setting})", None, name, "default")
        add_cpu_ratio(res, runs, f"[7] CPU/req {what} (noise floor)", None, "control", "default")
        res.add(f"[7] gateway RSS after the rounds, {what}",
                ", ".join(f"{name} {runs[name][-1]['rss_kb_after'] / 1024:.0f} MiB"
                          for name in runs), "", None)


def count_sse_events(body):
    return sum(1 for line in body.decode("utf-8", "replace").splitlines()
               if line.startswith("data:"))


def run_count(wrk, url, body_file, conns, count):
    """Repeat 1-second wrk runs until at least count requests completed (wrk's response()
    hook, which a fixed count needs, slows streamed responses down to ~1 per second per
    connection). Returns (requests, errors, rps)."""
    done = errors = 0
    elapsed = 0.0
    while done < count:
        r = wrk.run(url, body_file, conns, 1)
        done += r["requests"]
        errors += r["errors"]
        elapsed += r["duration_us"] / 1e6
        if r["requests"] == 0:
            break
    return done, errors, done / elapsed if elapsed else 0.0


def figure_memory(res, gw, wrk, port, workdir, args, translated):
    """RSS of the gateway's children after batches of N streams: bounded per-stream memory
    shows as no growth from one batch to the next."""
    model = "bench-anthropic" if translated else "bench-openai"
    how = "OpenAI client -> Anthropic upstream" if translated else "OpenAI passthrough"
    body = write_body(workdir, "stream", chat_body(
        model, f"Stream please [mock:long={args.stream_events}]", stream=True))
    path = "/v1/chat/completions"
    status, reply = probe(port, path, body.read_text())
    events = count_sse_events(reply)
    url = f"http://127.0.0.1:{port}{path}"
    log(f"\n[4] memory: {args.batches} batches of {args.streams} streams of "
        f"[mock:long={args.stream_events}] ({how}), 1 s runs of\n"
        f"    {wrk.show(url, body, args.stream_conns, 1)}\n"
        f"    one probe stream: status {status}, {events} SSE events, {len(reply)} B")
    if status != 200:
        res.add("[4] gateway RSS growth over streams", f"skipped: status {status}", "bounded",
                None)
        return
    # Warm-up with as many connections as worker threads, so every thread's allocator and
    # the proxy connection pool reach their steady size before the first reading.
    run_count(wrk, url, body, 64, args.streams // 2)
    rss = [gw.children_rss_kb()]
    total = [0]
    failed = 0
    log(f"  after warm-up: children RSS {rss[0]} KB")
    for _ in range(args.batches):
        n, errors, rate = run_count(wrk, url, body, args.stream_conns, args.streams)
        if errors:
            log(f"  WARNING streams: {errors} errors")
        failed += errors
        total.append(total[-1] + n)
        rss.append(gw.children_rss_kb())
        log(f"  after {total[-1]} streams ({rate:.0f} streams/s): children RSS {rss[-1]} KB")
    growth = [rss[i + 1] - rss[i] for i in range(len(rss) - 1)]
    per_stream_b = growth[-1] * 1024 / max(total[-1] - total[-2], 1)
    res.add("[4] gateway children RSS after warm-up / each batch",
            " / ".join(str(x) for x in rss) + " KB", "", None,
            f"{total[-1]} streams of {events} events ({len(reply)} B) each; {how}")
    # Failed streams (an open circuit answers 503 at once) cost no memory: the figure would
    # say nothing, so it counts as missed.
    valid = failed <= total[-1] // 100
    res.add("[4] RSS growth per batch (verdict on the last)",
            " ".join(f"{g:+d}" for g in growth) + f" KB (last: {per_stream_b:.0f} B/stream)",
            "< 128 B/stream", valid and per_stream_b < 128,
            "allocator noise is a few 100 KB; a leaked stream buffer or pool would be "
            ">= 8 KB/stream" + ("" if valid else f"; INVALID: {failed} of {total[-1]} streams "
                                "failed"))


def profile(gw, wrk, port, workdir, args):
    """perf record -g on the gateway's child while wrk drives one variant; prints the top."""
    variant = args.profile
    paths = {"aiproxy": ("/v1/chat/completions", "bench-openai"),
             "plain": ("/plain/v1/chat/completions", "bench-openai"),
             "passthrough": ("/v1/chat/completions", "bench-openai"),
             "translated": ("/v1/chat/completions", "bench-anthropic")}
    path, model = paths[variant]
    body = write_body(workdir, "profile", chat_body(model, "Hello, benchmark"))
    url = f"http://127.0.0.1:{port}{path}"
    wrk.run(url, body, args.conns, args.warmup)
    data = workdir / "perf.data"
    pids = ",".join(str(p) for p in gw.children())
    callgraph = os.environ.get("BENCH_PERF_CALLGRAPH", "fp")  # dwarf: better user stacks
    perf = subprocess.Popen(["perf", "record", "-F", "2999", "--call-graph", callgraph,
                             "-o", str(data), "-p", pids],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    r = wrk.run(url, body, args.conns, args.seconds)
    perf.send_signal(signal.SIGINT)
    perf.wait()
    log(f"profile of {variant}: {r['rps']:.0f} req/s during the recording")
    for opts in (["--no-children", "--percent-limit", "0.7", "-g", "none"],
                 ["--children", "--percent-limit", "3", "-g", "none"]):
        rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort",
                              "dso,symbol"] + opts, capture_output=True, text=True)
        log(rep.stdout)
    if os.environ.get("BENCH_PERF_KEEP"):
        shutil.copy2(data, os.environ["BENCH_PERF_KEEP"])
        log(f"perf data kept in {os.environ['BENCH_PERF_KEEP']}")


def figure_micro(res, binary):
    log(f"\n[3] micro benchmarks (thread CPU time, median of 9 rounds): {binary} bench/data")
    if not binary or not pathlib.Path(binary).exists():
        res.add("[3] translate micro benchmarks", "not available (bench_translate not built)",
                "", None)
        return
    proc = subprocess.run([str(binary), str(BENCH / "data")], capture_output=True, text=True,
                          timeout=180)
    for line in proc.stdout.splitlines():
        if line.startswith("FIGURE "):
            # FIGURE <name>|<value>|<target>|<ok: 1, 0 or ->|<note>
            name, value, target, ok, note = line[len("FIGURE "):].split("|", 4)
            res.add("[3] " + name, value, target, None if ok == "-" else ok == "1", note)
        else:
            log("  " + line)
    if proc.returncode != 0:
        log(proc.stderr)
        res.add("[3] translate micro benchmarks", f"failed (exit {proc.returncode})", "", None)


def figure_metrics_micro(res, binary):
    """Figure 6, the core's share: the metrics and shared turns' work per request alone."""
    log(f"\n[6] metrics + shared turns micro benchmark (thread CPU time): {binary}")
    if not binary.exists():
        res.add("[6] metrics + shared turns, core work per request",
                "not available (bench_metrics not built)", "", None)
        return
    proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120)
    for line in proc.stdout.splitlines():
        if line.startswith("FIGURE "):
            name, value, target, ok, note = line[len("FIGURE "):].split("|", 4)
            res.add("[6] " + name, value, target, None if ok == "-" else ok == "1", note)


def on_signal(signum, frame):
    raise SystemExit(128 + signum)  # runs the finally blocks that stop the httpd instances


def main():
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "out"), help="directory holding the built .so")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 7)))
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", 2)))
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--stream-events", type=int, default=200)
    ap.add_argument("--stream-conns", type=int, default=16)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--pin", choices=["split", "none"],
                    default=os.environ.get("BENCH_PIN", "split"),
                    help="split: gateway on CPU 0, mock + wrk on CPU 1 (needs 2+ CPUs)")
    ap.add_argument("--only", default="1,2,3,4,5,6",
                    help="figures to run, e.g. 1,3 (7, the memory settings, only when named)")
    ap.add_argument("--micro", default=None, help="bench_translate binary for figure 3")
    ap.add_argument("--baseline", default=None,
                    help="figure 6: out/ directory of a previous build to compare CPU per request "
                         "with (bench/run.sh --baseline COMMIT builds one)")
    ap.add_argument("--profile", choices=["aiproxy", "plain", "passthrough", "translated"],
                    help="instead of the figures: perf record the gateway under this variant")
    args = ap.parse_args()
    only = set(args.only.split(","))

    ncpu = len(os.sched_getaffinity(0))
    if args.pin == "split" and ncpu >= 2:
        cpus = sorted(os.sched_getaffinity(0))
        gw_cpus, rest_cpus = str(cpus[0]), ",".join(str(c) for c in cpus[1:])
        pin_note = f"gateway httpd on CPU {gw_cpus}; mock httpd and wrk on CPU {rest_cpus}"
    else:
        gw_cpus = rest_cpus = None
        pin_note = "no pinning"
    wrk = Wrk(rest_cpus, threads=1)

    res = Results()
    out = pathlib.Path(args.out).resolve()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="aiproxy-bench-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    # Private copies of the modules: others may rebuild out/ while the benchmark runs.
    mods = workdir / "modules"
    mods.mkdir()
    for so in ("mod_aiproxy_translate.so", "mod_aiproxy.so", "mod_aiproxy_mock.so"):
        shutil.copy2(out / so, mods / so)
        os.chmod(mods / so, 0o755)
    os.chmod(mods, 0o755)

    gw_port, mock_port, tls_port = free_port(), free_port(), free_port()
    pki = TestPKI(workdir / "pki", ca_name="bench CA")
    cert, key = pki.leaf("mock")
    ssl_modules = [(name, str(path)) for name, path in SSL_MODULES]
    mock = Instance(workdir, "mock", [mock_port, tls_port], f"""
<VirtualHost 127.0.0.1:{mock_port}>
    AIProxyMockName bench
    <Location "/">
        SetHandler aiproxy-mock
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:{tls_port}>
    AIProxyMockName bench-tls
    SSLEngine on
    SSLCertificateFile "{cert}"
    SSLCertificateKeyFile "{key}"
    CustomLog "{workdir}/mock/logs/tls.log" "%{{remote}}p %k"
    <Location "/">
        SetHandler aiproxy-mock
    </Location>
</VirtualHost>""", ssl_modules + [("aiproxy_mock_module", mods / "mod_aiproxy_mock.so")],
                    rest_cpus, threads=256)
    gw = Instance(workdir, "gateway", [gw_port], f"""
<VirtualHost 127.0.0.1:{gw_port}>
    AIProxyUpstream bench-openai http://127.0.0.1:{mock_port}/openai api=openai \\
        token=bench-upstream-key models=bench-openai
    AIProxyUpstream bench-anthropic http://127.0.0.1:{mock_port}/anthropic api=anthropic \\
        token=bench-upstream-key models=bench-anthropic
    AIProxyUpstream bench-tls https://localhost:{tls_port}/openai api=openai \\
        token=bench-upstream-key models=bench-tls tls_ca="{pki.ca_file}"
    <Location "/">
        SetHandler aiproxy
    </Location>
    # The baseline: plain mod_proxy to the same mock, same httpd, same mod_proxy settings.
    ProxyPass "/plain/" "http://127.0.0.1:{mock_port}/openai/"
</VirtualHost>""", ssl_modules + [("aiproxy_translate_module", mods / "mod_aiproxy_translate.so"),
                                   ("aiproxy_module", mods / "mod_aiproxy.so")], gw_cpus)

    log(f"aiproxy bench: {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs "
        f"({pin_note}), load average {os.getloadavg()[0]:.2f}")
    log(f"  workdir {workdir}; gateway :{gw_port} (1 child x 64 threads), mock :{mock_port}")
    global MOCK
    MOCK = mock
    started = []
    failed = False
    try:
        if "3" in only and not args.profile:
            figure_micro(res, args.micro)  # first, while no httpd of ours runs
        if "6" in only and not args.profile:
            figure_metrics_micro(res, out / "bench" / "bench_metrics")
        for inst in (mock, gw):
            inst.start()
            started.append(inst)
        body = chat_body("bench-openai", "Hello, benchmark")
        body_file = write_body(workdir, "routing", body)
        for path in ("/v1/chat/completions", "/plain/v1/chat/completions"):
            status, reply = probe(gw_port, path, body)
            log(f"  probe {path}: {status} {len(reply)} B {reply[:120]!r}")
            if status != 200:
                raise RuntimeError(f"{path} answered {status}; gateway log:\n{gw.error_log()}")
        translated = False
        if args.profile:
            profile(gw, wrk, gw_port, workdir, args)
            only = set()
        if "1" in only:
            figure_routing(res, gw, wrk, gw_port, body_file, args)
        if "2" in only:
            translated = figure_translation(res, gw, wrk, gw_port, workdir, args)
        elif "4" in only:
            translated = probe(gw_port, "/v1/chat/completions",
                               chat_body("bench-anthropic", "hi"))[0] == 200
        if "4" in only:
            figure_memory(res, gw, wrk, gw_port, workdir, args, translated)
        if "5" in only:
            figure_tls(res, gw, mock, wrk, gw_port, workdir, args)
        if ("6" in only and args.baseline) or "7" in only:
            gw.stop()  # idle, but out of the way of the gateways compared
        if "6" in only and args.baseline:
            figure_build_cost(res, wrk, workdir, gw_cpus, mods, args)
        if "7" in only:
            figure_memory_settings(res, wrk, workdir, gw_cpus, mods, args)
    except RuntimeError as exc:
        log(f"\nbench: setup failed, no further figures: {exc}")
        failed = True
    finally:
        for inst in reversed(started):
            inst.stop()
        errors = [line for line in gw.error_log().splitlines() if ":error]" in line]
        if errors:
            log(f"gateway error log ({len(errors)} error lines), first: {errors[0]}")
        if not os.environ.get("BENCH_KEEP_TMP"):
            shutil.rmtree(workdir, ignore_errors=True)
    if res.rows:
        res.print()
        log(f"conditions: {pin_note}; wrk {args.conns} connections (1 thread) for [1]/[2], "
            f"{args.rounds} interleaved rounds of {args.seconds}s, medians")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
