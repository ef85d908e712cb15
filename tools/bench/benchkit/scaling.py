"""--scaling: echo_server with 1 and 2 workers, pipelined load."""

import json
import os
import re
import tempfile
import time

from .common import BENCH, BUILD, DOCS_BENCH, HOST, PERFORMANCE_MD, ROOT, log, median, run_command
from .targets import Server, Target
from .load import check_http, children_cpu_seconds
from .render import replace_between


# ---------------------------------------------------------------------------
# Scaling: --workers 1 and 2 on this machine's cores


def thread_cpu_seconds(pid):
    """CPU seconds of each thread of a process (and of its children's threads,
    for --fork), by thread id."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    out = {}
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[f"{p}/{tid}"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


SCALING_SETUPS = [("1 worker", ["--workers", "1"]),
                  ("2 workers (threads)", ["--workers", "2"]),
                  ("2 workers (--fork)", ["--workers", "2", "--fork"])]


def scaling_load(args, port, kind, duration):
    if kind == "http":
        duration = max(1, round(duration))
        cmd = ["wrk", "-t1", "-c100", f"-d{duration}s", "--timeout", "5s",
               "-s", os.path.join(BENCH, "wrk_pipeline.lua"),
               f"http://{HOST}:{port}/plaintext", "--", str(args.pipeline)]
        env = dict(os.environ, WRK_REPORT_LUA=os.path.join(BENCH, "wrk_report.lua"))
        out = run_command(cmd, duration + 60, env=env)
        m = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
        if not m:
            raise RuntimeError(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")
        r = json.loads(m.group(1))
        return r["requests"] / (r["duration_us"] / 1e6), sum(r["errors"].values())
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        json_path = tmp.name
    try:
        cmd = [args.wsload_bin, "--url", f"ws://{HOST}:{port}/echo", "--connections", "100",
               "--size", "20", "--depth", str(args.pipeline), "--duration", str(duration),
               "--warmup", str(args.warmup), "--json", json_path]
        run_command(cmd, duration + args.warmup + 120)
        with open(json_path) as f:
            r = json.load(f)
        return r.get("messages_per_s", 0.0), r["errors"] + (r["connections"] - r["connected"])
    finally:
        os.unlink(json_path)


def scaling(args):
    """tornado-cpp with 1 and 2 workers, everything free to run on every core.

    On a 2-core machine the load generator needs a core too, so 2 workers can
    never have 2 cores to themselves. Two things make the study fair: the load
    is pipelined (wrk sends `--pipeline` requests per write, wsload keeps as
    many messages in flight per connection), which makes the load generator
    cheap per request, and every figure comes with the CPU the server used,
    so throughput per server CPU-second shows whether a second loop adds
    capacity at the same cost per request (near-linear scaling) or not."""
    echo_server = os.path.join(BUILD, "apps", "echo", "echo_server")
    all_cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    logdir = os.path.join(BUILD, "bench", "logs")
    os.makedirs(logdir, exist_ok=True)
    raw = {name: {"http": [], "ws": []} for name, _ in SCALING_SETUPS}
    for run in range(args.runs):
        order = SCALING_SETUPS[run % len(SCALING_SETUPS):] + SCALING_SETUPS[:run % len(SCALING_SETUPS)]
        for name, flags in order:
            target = Target(name, lambda port, flags=flags: [
                echo_server, "--port", str(port), "--address", HOST, "--logging", "warning",
                *flags], True, True)
            with Server(target, args, logdir, cpus=all_cpus) as server:
                check_http(server.port)
                for kind in ("http", "ws"):
                    scaling_load(args, server.port, kind, max(1.0, args.warmup))
                    wall = time.monotonic()
                    threads_before = thread_cpu_seconds(server.proc.pid)
                    client_before = children_cpu_seconds()
                    value, errors = scaling_load(args, server.port, kind, args.duration)
                    wall = time.monotonic() - wall
                    threads_after = thread_cpu_seconds(server.proc.pid)
                    busy = sorted(((threads_after[t] - threads_before.get(t, 0.0)) / wall
                                   for t in threads_after), reverse=True)
                    server_cpu = sum(busy)
                    r = {"value": value, "errors": errors, "server_cpu": server_cpu,
                         "busiest_threads": [round(b, 3) for b in busy[:3]],
                         "client_cpu": (children_cpu_seconds() - client_before) / wall}
                    raw[name][kind].append(r)
                    log(f"run {run + 1}/{args.runs} {name:20} {kind:4} {value:>12,.0f}/s  "
                        f"server cpu {server_cpu:.2f} (threads {', '.join(f'{b:.2f}' for b in busy[:3])})"
                        f"  client {r['client_cpu']:.2f}" + (f"  ERRORS {errors}" if errors else ""))
    results = {}
    for name, _ in SCALING_SETUPS:
        results[name] = {}
        for kind in ("http", "ws"):
            runs = raw[name][kind]
            results[name][kind] = {
                "value": median(r["value"] for r in runs),
                "server_cpu": median(r["server_cpu"] for r in runs),
                "client_cpu": median(r["client_cpu"] for r in runs),
                "per_cpu_s": median(r["value"] / r["server_cpu"] for r in runs if r["server_cpu"] > 0.05),
                "busiest_threads": runs[len(runs) // 2]["busiest_threads"],
                "errors": sum(r["errors"] for r in runs),
                "runs": [r["value"] for r in runs],
            }
    one = results[SCALING_SETUPS[0][0]]
    for name, _ in SCALING_SETUPS:
        for kind in ("http", "ws"):
            entry = results[name][kind]
            entry["vs_1_worker"] = entry["value"] / one[kind]["value"] if one[kind]["value"] else None
    return results


def scaling_table(report):
    labels = {"http": f"HTTP /plaintext, 100 conn, {report['pipeline']} pipelined (req/s)",
              "ws": f"WS echo 20 B, 100 conn, {report['pipeline']} in flight (msg/s)"}
    lines = ["| case | setup | throughput | vs 1 worker | server CPU (cores) | per server CPU-second | load generator CPU |",
             "|---|---|---|---|---|---|---|"]
    for kind in ("http", "ws"):
        for name, _ in SCALING_SETUPS:
            e = report["results"][name][kind]
            lines.append(f"| {labels[kind]} | {name} | {e['value']:,.0f} | {e['vs_1_worker']:.2f}x | "
                         f"{e['server_cpu']:.2f} | {e['per_cpu_s']:,.0f} | {e['client_cpu']:.2f} |")
    lines.append("")
    lines.append(f"Medians of {report['runs']} runs of {report['duration_s']:g} s, {report['date']}, "
                 f"commit {report['commit']}; `tools/bench/run --scaling`.")
    return "\n".join(lines)


def write_scaling(report):
    os.makedirs(DOCS_BENCH, exist_ok=True)
    path = os.path.join(DOCS_BENCH, "scaling-latest.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
        f.write("\n")
    replace_between(PERFORMANCE_MD, "scaling-table", scaling_table(report))
    log(f"scaling: {os.path.relpath(path, ROOT)}")
