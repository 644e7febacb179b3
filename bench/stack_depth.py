#!/usr/bin/env python3
"""How deep the worker threads of running apache2 processes have used their stacks.

A thread stack's pages are zero until the thread first uses them, and a page once touched
stays resident for the thread's life, so the deepest non-zero byte of each stack says how
much of it the thread keeps: with a stream per thread, that is memory per open stream
(docs/operations.md, sizing for many open streams). Run it as root while streams are held
open, e.g. during `bench/capacity.py --streams 300 --hold 60`:

    bench/stack_depth.py [--stack-kib 256]      # ThreadStackSize of the gateway, in KiB

It prints how many thread stacks reach each depth (in 512-byte steps, from the top of the
stack mapping, which holds the thread's descriptor and static TLS), and the 4 KiB pages that
depth occupies. Functions compiled with stack-clash protection probe a large frame's pages
without writing non-zero bytes, so a page can be resident below the depth shown; the depth is
a lower bound of what a thread touched, and a reliable comparison between two builds. Other
anonymous mappings of the same size (APR maps its allocators' large blocks) show up as an
outlier or two near the full size: they are not stacks.
"""

import argparse
import collections
import os


def apache2_pids():
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == "apache2":
                    yield int(entry)
        except OSError:
            pass


def is_thread_stack(size_kib, stack_kib):
    """An anonymous mapping of about the ThreadStackSize (glibc adds the guard page)."""
    return abs(size_kib - stack_kib) <= 8


def thread_stacks(pid, stack_kib):
    """(low, high) of the anonymous read-write mappings of the thread stack size."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) != 5 or fields[1] != "rw-p":
                continue
            low, high = (int(x, 16) for x in fields[0].split("-"))
            if is_thread_stack((high - low) // 1024, stack_kib):
                yield low, high


def deepest_use(data):
    """Bytes from the top of the mapping to its lowest non-zero byte; 0 if untouched."""
    for at in range(0, len(data), 64):
        if data[at:at + 64].strip(b"\0"):
            return len(data) - at
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stack-kib", type=int, default=256)
    args = ap.parse_args()
    depths = collections.Counter()
    for pid in apache2_pids():
        try:
            mem = open(f"/proc/{pid}/mem", "rb", 0)
            stacks = list(thread_stacks(pid, args.stack_kib))
        except OSError:
            continue
        with mem:
            for low, high in stacks:
                try:
                    mem.seek(low)
                    depth = deepest_use(mem.read(high - low))
                except OSError:
                    continue
                if depth:
                    depths[depth // 512 * 512] += 1
    if not depths:
        print("no apache2 thread stacks of that size (root needed to read them)")
        return 1
    print("depth from the stack's top   threads   pages touched")
    for depth, n in sorted(depths.items()):
        print(f"{depth / 1024:6.1f} - {(depth + 512) / 1024:4.1f} KiB        {n:7}   "
              f"{(depth + 511) // 4096 + 1}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
