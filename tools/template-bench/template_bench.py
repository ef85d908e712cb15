#!/usr/bin/env python3
"""Renders the 100-row table page (tests/data/template/table) with Tornado's
template engine and prints renders per second; with --cpp, runs tornado-cpp's
template_bench on the same page in the same run and prints both figures.

    /usr/bin/python3 tools/template-bench/template_bench.py \
        --cpp build/tools/template-bench/template_bench
"""
import argparse
import json
import os
import subprocess
import sys
import time

from tornado.template import Loader
from tornado.util import ObjectDict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = os.path.join(ROOT, "tests", "data", "template", "table")


def tornado_renders_per_second(seconds):
    """Renders per second of CPU time (as Google Benchmark reports for the
    C++ side), so that a busy machine slows both the same way."""
    with open(os.path.join(PAGE, "case.json"), encoding="utf-8") as f:
        values = json.load(f, object_pairs_hook=lambda p: ObjectDict(sorted(p)))["values"]
    page = Loader(PAGE).load("table.html")
    page.generate(**values)  # warm up
    renders = 0
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(20):
            page.generate(**values)
        renders += 20
        now = time.process_time()
        if now >= deadline:
            return renders / (now - start)


def cpp_renders_per_second(binary, seconds):
    result = subprocess.run(
        [
            binary,
            "--benchmark_filter=BM_RenderTablePage$",
            "--benchmark_min_time=%g" % seconds,
            "--benchmark_format=json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    return report["benchmarks"][0]["items_per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--cpp", help="path to the template_bench binary")
    args = parser.parse_args()
    python_rate = tornado_renders_per_second(args.seconds)
    print("Renders per second of CPU time, 100-row table page (%s):" % os.path.relpath(PAGE, ROOT))
    print("Tornado %s (Python %s): %.0f" % (__import__("tornado").version, sys.version.split()[0], python_rate))
    if args.cpp:
        cpp_rate = cpp_renders_per_second(args.cpp, args.seconds)
        print("tornado-cpp: %.0f (%.1fx)" % (cpp_rate, cpp_rate / python_rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
