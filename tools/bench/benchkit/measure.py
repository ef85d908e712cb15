"""The measure step: every case on every target, runs rotated, medians."""

import contextlib
import os
import subprocess
import time

from .common import BUILD, CEILING, REFERENCE, log, median
from .targets import Server
from .load import measure_memory, run_case, warm_up
from .deflate import add_wire_bytes, is_deflate, run_deflate
from . import tls


# ---------------------------------------------------------------------------
# The bench


def bench(args, targets, cases):
    logdir = os.path.join(BUILD, "bench", "logs")
    os.makedirs(logdir, exist_ok=True)
    active = [t for t in targets if t.note is None]
    for t in targets:
        if t.note:
            log(f"{t.name}: skipped ({t.note})")
    raw = {t.name: {c.id: [] for c in cases if t.supports(c)} for t in active}
    load_cases = [c for c in cases if c.kind != "memory" and not is_deflate(c)]
    memory_cases = [c for c in cases if c.kind == "memory" and not is_deflate(c)]
    deflate_cases = [c for c in cases if is_deflate(c)]
    for run in range(args.runs):
        order = active[run % len(active):] + active[:run % len(active)]
        log(f"run {run + 1}/{args.runs}: {', '.join(t.name for t in order)}")
        # Every target is up for the whole run (idle ones cost nothing), and
        # each case loads them one after the other: the figures a ratio
        # compares are taken seconds apart, not minutes, so a neighbour that
        # slows the machine for a minute falls on all of them alike.
        with contextlib.ExitStack() as stack:
            servers = {}
            for target in order:
                if not any(target.supports(c) for c in load_cases):
                    continue
                try:
                    server = stack.enter_context(Server(target, args, logdir))
                    warm_up(args, server)
                    servers[target.name] = server
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    log(f"  {target.name}: {e}")
            for case in load_cases:
                for target in order:
                    server = servers.get(target.name)
                    if server is None or not target.supports(case):
                        continue
                    try:
                        r = run_case(args, server, case)
                        if not server.alive():
                            raise RuntimeError(f"{target.name} died during {case.id}")
                    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                        log(f"  {target.name}: {e}")
                        del servers[target.name]
                        continue
                    r["run"] = run
                    raw[target.name][case.id].append(r)
                    log(f"  {target.name:12} {case.label:34} {r['value']:>12,.0f} {case.unit:6} "
                        f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
                        f"cpu server {r['server_cpu']:.0%} client {r['client_cpu']:.0%} "
                        f"(woken {r['client_wakeups_per_s']:,.0f}/s)"
                        + (f"  ERRORS {r['errors']}" if r["errors"] else ""))
                    time.sleep(0.5)
        for case in memory_cases:
            for target in order:
                if not target.supports(case):
                    continue
                try:
                    with Server(target, args, logdir) as server:
                        if case.extra.get("tls"):
                            r = tls.measure_memory(args, server, case.connections)
                        else:
                            r = measure_memory(args, server, case.connections,
                                               total=case.extra.get("total", False))
                    r["run"] = run
                    raw[target.name][case.id].append(r)
                    log(f"  {target.name:12} {case.label:34} {r['value']:8.2f} {case.unit} "
                        f"(RSS {r['rss_before_kib']:,} -> {r['rss_with_kib']:,} KiB)"
                        + (f"  ERRORS {r['errors']}" if r["errors"] else ""))
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    log(f"  {target.name}: memory: {e}")
        run_deflate(args, order, deflate_cases, raw, logdir, run)
    return raw


def summarise(targets, cases, raw):
    results = {}
    for t in targets:
        if t.note is not None:
            results[t.name] = {"skipped": t.note}
            continue
        per_case = {}
        for c in cases:
            runs = raw.get(t.name, {}).get(c.id)
            if not runs:
                continue
            entry = {"value": median(r["value"] for r in runs),
                     "unit": c.unit,
                     "runs": [r["value"] for r in runs],
                     "errors": sum(r["errors"] for r in runs)}
            if c.kind == "memory":
                entry["rss_before_kib"] = median(r["rss_before_kib"] for r in runs)
                entry["rss_with_kib"] = median(r["rss_with_kib"] for r in runs)
                entry["connected"] = min(r["connected"] for r in runs)
            else:
                entry["p50_ms"] = median(r["p50_ms"] for r in runs)
                entry["p99_ms"] = median(r["p99_ms"] for r in runs)
                entry["server_cpu"] = median(r["server_cpu"] for r in runs)
                entry["client_cpu"] = median(r["client_cpu"] for r in runs)
                # Work per second of server CPU: on a shared machine the share
                # of the core a target got varies; its work per CPU-second
                # varies much less.
                entry["per_cpu_s"] = median(r["value"] / r["server_cpu"] for r in runs
                                            if r["server_cpu"] > 0.05)
                entry["runs_server_cpu"] = [round(r["server_cpu"], 3) for r in runs]
                entry["runs_client_wakeups_per_s"] = [round(r["client_wakeups_per_s"])
                                                      for r in runs]
            per_case[c.id] = entry
        results[t.name] = per_case
    # Ratios against the references: within each run, where the two figures
    # were taken seconds apart, then the median of those ratios. (The ratio of
    # the medians could set a figure from a fast spell of the machine against
    # one from a slow spell.)
    def by_run(name, cid, figure):
        out = {}
        for r in raw.get(name, {}).get(cid, []):
            value = r["value"]
            if figure == "per_cpu_s":
                value = value / r["server_cpu"] if r.get("server_cpu", 0) > 0.05 else None
            if value is not None:
                out[r["run"]] = value
        return out

    for name, per_case in results.items():
        if "skipped" in per_case:
            continue
        for cid, entry in per_case.items():
            for ref, key in ((REFERENCE, "vs_tornado"), (CEILING, "vs_ceiling")):
                if "skipped" in results.get(ref, {"skipped": True}):
                    continue
                for figure, suffix in (("value", ""), ("per_cpu_s", "_per_cpu")):
                    mine, theirs = by_run(name, cid, figure), by_run(ref, cid, figure)
                    ratios = [mine[i] / theirs[i] for i in sorted(mine) if theirs.get(i)]
                    if ratios:
                        entry[key + suffix] = median(ratios)
            other = results.get(REFERENCE, {}).get(cid)
            if other and other.get("p99_ms") and entry.get("p99_ms"):
                entry["p99_vs_tornado"] = entry["p99_ms"] / other["p99_ms"]
    add_wire_bytes(results, raw)
    return results
