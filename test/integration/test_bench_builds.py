"""The benchmark programs still build against the core libraries (`make bench` is not part of
`make test`, so a library the translate core came to need, the common one with the shared
allocators, once left bench_translate unlinkable without any test noticing), and the quick
one still measures."""

import subprocess

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
