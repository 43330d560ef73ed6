#!/usr/bin/env python3
"""Benchmark: validate and plan the 2,000-VM example offline with the release binary.

Targets (../shared/PRODUCT.md): under 100 ms and under 100 MB resident, for validate + plan of a
2,000-VM lab. Measures the whole process (start, read, parse, validate, allocate, plan, render),
RUNS times each for `labform validate` and `labform plan --json --no-lock`, and reports the
minimum and median wall time and the peak resident set size. Exits 1 when a target is missed.

Usage: python3 bench/plan_scale.py [RUNS]   (builds with `cargo build --release` first)
"""

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "labform")
LAB = os.path.join(ROOT, "examples", "scale", "lab.yaml")
TARGET_MS = 100.0
TARGET_MB = 100.0


def measure(arguments, runs):
    times = []
    peak_kib = 0
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen([BINARY, *arguments, LAB], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # wait4 gives this child's own resource usage; ru_maxrss is its peak RSS in KiB on Linux.
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = (time.perf_counter() - start) * 1000
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            sys.exit(f"labform {' '.join(arguments)} exited with {process.returncode}")
        times.append(elapsed)
        peak_kib = max(peak_kib, usage.ru_maxrss)
    return min(times), statistics.median(times), peak_kib / 1024


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "labform-cli"], cwd=ROOT, check=True)
    failed = False
    for arguments in (["validate"], ["plan", "--json", "--no-lock"]):
        fastest, median, peak_mb = measure(arguments, runs)
        ok = median < TARGET_MS and peak_mb < TARGET_MB
        failed |= not ok
        print(
            f"labform {' '.join(arguments):<24} 2,000 VMs: min {fastest:6.1f} ms, median {median:6.1f} ms, "
            f"peak RSS {peak_mb:5.1f} MB  [{'ok' if ok else 'MISSED'}: < {TARGET_MS:.0f} ms, < {TARGET_MB:.0f} MB]"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
