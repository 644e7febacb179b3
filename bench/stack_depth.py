#!/usr/bin/env python3
"""How deep the worker threads of running apache2 processes have used their stacks.

A thread stack's pages are zero until the thread first uses them, and a page once touched
stays resident for the thread's life, so the deepest non-zero byte of each stack says how
much of it the thread keeps: with a stream per thread, that is memory per open stream
(docs/operations.md, sizing for many open streams). Run it as root while streams are held
open, e.g. during `bench/capacity.py --streams 300 --hold 60`:

    bench/stack_depth.py [--stack-kib 256]      # ThreadStackSize of the gateway, in KiB

It prints how many thread stacks reach each depth (in 512-byte steps, from the top of the
stack mapping, which holds the thread's descriptor and static TLS) with the 4 KiB pages of
the stack that are resident. Only resident pages are read (/proc/PID/pagemap says which):
reading a page that was never touched through /proc/PID/mem faults it in, and an earlier
version that read whole stacks added their full size to the memory of every thread, which a
capacity.py run at the same time then counted as memory per stream. Functions compiled with
stack-clash protection probe a large frame's pages without writing non-zero bytes, so a page
can be resident below the depth shown: the resident count is the memory, the depth the
reliable comparison between two builds. Other anonymous mappings of the same size (APR maps
its allocators' large blocks) show up as an outlier or two near the full size: they are not
stacks.
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


PAGE = 4096
PAGEMAP_PRESENT = 1 << 63
PAGEMAP_SWAPPED = 1 << 62


def resident_pages(pagemap, low, high):
    """Addresses of the pages of [low, high) in memory or swap, lowest first."""
    pagemap.seek(low // PAGE * 8)
    entries = pagemap.read((high - low) // PAGE * 8)
    for i in range(len(entries) // 8):
        entry = int.from_bytes(entries[i * 8:i * 8 + 8], "little")
        if entry & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED):
            yield low + i * PAGE


def stack_use(mem, pagemap, low, high):
    """(bytes from the top of the mapping to its lowest non-zero byte, resident pages)."""
    pages = list(resident_pages(pagemap, low, high))
    for page in pages:
        mem.seek(page)
        data = mem.read(PAGE)
        for at in range(0, PAGE, 64):
            if data[at:at + 64].strip(b"\0"):
                return high - page - at, len(pages)
    return 0, len(pages)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stack-kib", type=int, default=256)
    args = ap.parse_args()
    uses = collections.Counter()  # (depth rounded down to 512 bytes, resident pages): threads
    for pid in apache2_pids():
        try:
            mem = open(f"/proc/{pid}/mem", "rb", 0)
            pagemap = open(f"/proc/{pid}/pagemap", "rb", 0)
            stacks = list(thread_stacks(pid, args.stack_kib))
        except OSError:
            continue
        with mem, pagemap:
            for low, high in stacks:
                try:
                    depth, pages = stack_use(mem, pagemap, low, high)
                except OSError:
                    continue
                if depth:
                    uses[depth // 512 * 512, pages] += 1
    if not uses:
        print("no apache2 thread stacks of that size (root needed to read them)")
        return 1
    print("depth from the stack's top   threads   pages resident")
    for (depth, pages), n in sorted(uses.items()):
        print(f"{depth / 1024:6.1f} - {(depth + 512) / 1024:4.1f} KiB        {n:7}   {pages}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
