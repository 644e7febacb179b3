"""The benchmark programs still build against the core libraries (`make bench` is not part of
`make test`, so a library the translate core came to need, the common one with the shared
allocators, once left bench_translate unlinkable without any test noticing), the quick
one still measures, and the capacity tools still hold every client protocol's streams and
read stacks without changing them."""

import ctypes
import json
import mmap
import subprocess
import sys

import pytest

from harness import REPO

BENCH_BINS = ["out/bench/bench_translate", "out/bench/bench_metrics",
              "out/bench/capacity_client", "out/bench/capacity_upstream"]


def test_bench_programs_link():
    result = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *BENCH_BINS],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for binary in BENCH_BINS:
        assert (REPO / binary).is_file(), binary


def test_bench_metrics_prints_its_figure():
    subprocess.run(["make", "--no-print-directory", "-C", str(REPO), BENCH_BINS[1]],
                   capture_output=True, check=True, timeout=600)
    result = subprocess.run([str(REPO / BENCH_BINS[1])], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    figures = [line for line in result.stdout.splitlines() if line.startswith("FIGURE ")]
    assert figures and all(len(line.split("|")) == 5 for line in figures), result.stdout


def test_stack_matrix_measures_every_pair():
    """bench_translate's stack matrix: a figure for every pair (a pair that failed prints n/a),
    each past the caller's own frames and well inside the 64 KiB it paints."""
    subprocess.run(["make", "--no-print-directory", "-C", str(REPO), BENCH_BINS[0]],
                   capture_output=True, check=True, timeout=600)
    result = subprocess.run([str(REPO / BENCH_BINS[0]), "bench/data", "stack"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[2:] if line.strip()]
    assert [row[0] for row in rows] == ["anthropic", "openai", "responses", "gemini", "kiro"]
    for row in rows:
        assert len(row) == 5, result.stdout
        assert all(256 < int(cell) < 32768 for cell in row[1:]), result.stdout


def _capacity(*args):
    return subprocess.run([str(REPO / "bench/capacity.py"), "--streams", "20", "--hold", "2",
                           "--interval", "1", "--threads-per-child", "64", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("client", ["anthropic", "responses", "gemini"])
def test_capacity_holds_every_client_protocol(client):
    """capacity.py's client recognises the end of each protocol's stream: a stream that ended
    without its final event would count as failed."""
    result = _capacity("--client", client)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(next(line for line in result.stdout.splitlines()
                             if line.startswith("{")))
    assert (report["ok"], report["ended"], report["failed"]) == (20, 20, 0), report
    assert f"{client.capitalize()} client -> OpenAI upstream" in result.stdout


def test_stack_depth_reads_only_resident_pages():
    """stack_depth.py must not fault pages in while it reads a stack: that memory would show as
    the streams' (it once added the whole stack to every thread)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import stack_depth
    finally:
        sys.path.pop(0)
    pages = 16
    region = mmap.mmap(-1, pages * stack_depth.PAGE)
    low = ctypes.addressof(ctypes.c_char.from_buffer(region))
    high = low + pages * stack_depth.PAGE
    region[-128] = 7  # the top page used, 128 bytes below the top: a shallow "stack"
    with open("/proc/self/mem", "rb", 0) as mem, open("/proc/self/pagemap", "rb", 0) as pagemap:
        assert stack_depth.stack_use(mem, pagemap, low, high) == (128, 1)
        assert list(stack_depth.resident_pages(pagemap, low, high)) == [high - stack_depth.PAGE]
