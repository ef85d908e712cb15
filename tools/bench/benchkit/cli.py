"""The command line of tools/bench/run: measure then render, or render or compare alone."""

import argparse
import datetime
import json
import os
import resource
import shutil
import sys
import time

from .common import BUILD, DOCS_BENCH, PROJECT, ROOT, big_memory_connections, git, log, machine_info, make_cases, raise_fd_limit
from .build import build
from .targets import make_targets
from .scaling import scaling, scaling_table, write_scaling
from .measure import bench, summarise
from .render import plot, print_table, update_performance_md
from .compare import compare
from .deflate import deflate_cases
from . import tls


# ---------------------------------------------------------------------------
# Command line

DESCRIPTION = __doc__


def parse_args(argv):
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="2 s per case, one run, 2,000 idle connections; results stay in build-release/bench/")
    p.add_argument("--runs", type=int, help="runs per case (3; --quick 1)")
    p.add_argument("--duration", type=float, help="seconds per case (10; --quick 2)")
    p.add_argument("--warmup", type=float, help="wsload warm-up seconds (1; --quick 0.5)")
    p.add_argument("--memory-connections", type=int, help="idle connections (10000; --quick 2000)")
    p.add_argument("--targets", help="comma-separated subset of: tornado-cpp,Tornado,ceiling,Node ws")
    p.add_argument("--cases", help="comma-separated case ids (see the JSON)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2, help="build jobs (2)")
    p.add_argument("--no-build", action="store_true", help="use what is in build-release/")
    p.add_argument("--scaling", action="store_true",
                   help="only the scaling study: echo_server with 1 and 2 workers, every core "
                        "shared, pipelined load (writes docs/bench/scaling-latest.json)")
    p.add_argument("--pipeline", type=int, default=16,
                   help="--scaling: requests per write / messages in flight (16)")
    p.add_argument("--write", action="store_true", help="write docs/bench/ even with --quick")
    p.add_argument("--no-write", action="store_true", help="write nothing under docs/")
    p.add_argument("--compare", metavar="OLD_JSON", help="flag figures more than 5%% worse than OLD_JSON")
    p.add_argument("--new", metavar="NEW_JSON", help="with --compare: compare this file instead of running")
    p.add_argument("--render", metavar="JSON",
                   help="redraw the plot and the docs/performance.md table from a results file")
    args = p.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.duration = args.duration or (2 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1)
    args.memory_connections = args.memory_connections or (2000 if args.quick else 10000)
    args.big_connections = big_memory_connections(args.quick)
    args.wsload_bin = os.path.join(BUILD, "tools", "wsload", "wsload")
    return args


def main(argv):
    args = parse_args(argv)
    # Many idle connections need many descriptors: the soft limit goes up to
    # the hard one for this process and the servers and loads it starts.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cases = make_cases(args.memory_connections, args.big_connections) + deflate_cases(args.quick)
    cases_by_id = {c.id: c for c in cases}

    old = None
    if args.compare:
        with open(args.compare) as f:
            old = json.load(f)
    if args.compare and args.new:
        with open(args.new) as f:
            new = json.load(f)
        return 1 if compare(old, new, cases_by_id) else 0

    if args.render:
        with open(args.render) as f:
            report = json.load(f)
        memory = report.get("cases", {}).get("mem_idle_ws", {}).get("connections", 10000)
        big = report.get("cases", {}).get("mem_idle_ws_big", {}).get("connections", 100000)
        cases = make_cases(memory, big) + deflate_cases(report.get("quick", False))
        print_table(report["results"], cases)
        plot(report, os.path.join(os.path.dirname(os.path.abspath(args.render)), "latest.png"))
        update_performance_md(report, cases)
        return 0

    if args.cases:
        wanted = set(args.cases.split(","))
        unknown = wanted - set(cases_by_id)
        if unknown:
            sys.exit(f"unknown case(s): {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.id in wanted]
    for tool in ("taskset", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (tools/bootstrap installs it)")
    cpus = os.cpu_count() or 1
    if max(args.server_cpu, args.client_cpu) >= cpus or args.server_cpu == args.client_cpu:
        sys.exit(f"bench: need two distinct CPUs below {cpus} for --server-cpu/--client-cpu")

    raise_fd_limit()
    build_notes = {} if args.no_build else build(args)
    tls.ensure_certificate(args)
    if args.scaling:
        if PROJECT in build_notes:
            sys.exit(f"bench: {build_notes[PROJECT]}")
        started = time.time()
        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        report = {"date": datetime.date.today().isoformat(), "commit": commit,
                  "runs": args.runs, "duration_s": args.duration, "pipeline": args.pipeline,
                  "machine": machine_info(), "results": scaling(args)}
        report["elapsed_s"] = round(time.time() - started)
        print(scaling_table(report))
        if not args.no_write and (not args.quick or args.write):
            write_scaling(report)
        return 0
    targets = make_targets(build_notes)
    if args.targets:
        wanted = set(args.targets.split(","))
        for t in targets:
            if t.name not in wanted and t.note is None:
                t.note = "not selected (--targets)"

    load_before = os.getloadavg()
    if load_before[0] > 1.0:
        log(f"note: load average {load_before[0]:.1f}: other work shares these cores, figures "
            "will be noisy (the side-by-side ratios less so)")
    started = time.time()
    raw = bench(args, targets, cases)
    results = summarise(targets, cases, raw)

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    report = {
        "date": datetime.date.today().isoformat(),
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": commit,
        "quick": args.quick,
        "runs": args.runs,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "server_cpu": args.server_cpu,
        "client_cpu": args.client_cpu,
        "elapsed_s": round(time.time() - started),
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "machine": machine_info(),
        "cases": {c.id: {"label": c.label, "kind": c.kind, "connections": c.connections,
                         "metric": c.metric, "unit": c.unit, "main": c.main, **c.extra}
                  for c in cases},
        "results": results,
    }
    print_table(results, cases)

    write_docs = not args.no_write and (not args.quick or args.write)
    outdir = DOCS_BENCH if write_docs else os.path.join(BUILD, "bench")
    os.makedirs(outdir, exist_ok=True)
    dated = os.path.join(outdir, f"{report['date']}-{commit}.json")
    for path in (dated, os.path.join(outdir, "latest.json")):
        with open(path, "w") as f:
            json.dump(report, f, indent=2, ensure_ascii=False)
            f.write("\n")
    log(f"results: {os.path.relpath(dated, ROOT)} and latest.json")
    plot(report, os.path.join(outdir, "latest.png"))
    if write_docs:
        update_performance_md(report, cases)

    if old is not None:
        return 1 if compare(old, report, cases_by_id) else 0
    return 0
