"""The permessage-deflate cases: compressed echo and idle compressed connections.

Each target runs with compression on (tornado-cpp's --compression with the
setting's options, Tornado's get_compression_options returning {}, Node's ws
with perMessageDeflate) in a server of its own, started for the case, and
wsload --deflate offers permessage-deflate as browsers do and sends 1 KiB of
JSON-like text. tornado-cpp alone also runs each setting of docs/websocket.md
("Compression and memory"): what it costs in CPU and in bytes on the wire,
and what an idle connection keeps.
"""

import subprocess
import time

from .common import PERFORMANCE_MD, PROJECT, REFERENCE, Case, log, median
from .targets import Server, Target
from .load import measure_memory, run_case, wsload

NODE = "Node ws"
MESSAGE_SIZE = 1024
WSLOAD_FLAGS = ("--deflate", "--size", str(MESSAGE_SIZE))

_LOW_WINDOWS = ["--server_max_window_bits=9", "--client_max_window_bits=9", "--mem_level=1"]
_NO_TAKEOVER = ["--server_no_context_takeover=true", "--client_no_context_takeover=true"]
_RELEASE = ["--release_state_between_messages=true"]

# name: (label, tornado-cpp's echo_server flags). "default" is the one every
# target runs.
SETTINGS = {
    "default": ("defaults (context takeover, 15-bit windows, mem_level 8)", []),
    "no_takeover": ("no context takeover", _NO_TAKEOVER),
    "small": ("9-bit windows, mem_level 1", _LOW_WINDOWS),
    "no_takeover_release": ("no context takeover, state released", _NO_TAKEOVER + _RELEASE),
    "small_release": ("9-bit windows, mem_level 1, state released", _LOW_WINDOWS + _RELEASE),
    "low": ("no context takeover, 9-bit windows, mem_level 1, state released",
            _NO_TAKEOVER + _LOW_WINDOWS + _RELEASE),
}


def deflate_memory_connections(quick=False):
    # Tornado and Node keep about 300 KiB per compressed connection: 1,000
    # of them is 300 MiB each.
    return 300 if quick else 1000


def deflate_cases(quick=False):
    n = deflate_memory_connections(quick)
    cases = []
    for name, (label, _) in SETTINGS.items():
        default = name == "default"
        suffix = "" if default else f"_{name}"
        only = (PROJECT, REFERENCE, NODE) if default else (PROJECT,)
        cases.append(Case(f"ws_deflate_1k_c100{suffix}", "ws",
                          f"WS deflate echo 1 KiB JSON, 100 conn, {label}", 100,
                          "messages_per_s", "msg/s", main=default, size=MESSAGE_SIZE,
                          deflate=name, only=only))
        cases.append(Case(f"mem_idle_ws_deflate{suffix}", "memory",
                          f"memory, {n:,} idle WS deflate, {label}", n,
                          "kib_per_connection", "KiB/conn", main=default, deflate=name,
                          only=only))
    return cases


def is_deflate(case):
    return "deflate" in case.extra


def compressed_target(target, setting):
    """The target as a server with permessage-deflate on."""
    if target.name == PROJECT:
        flags = ["--compression=true", *SETTINGS[setting][1]]
    elif target.name == REFERENCE:
        flags = ["--compression"]
    elif target.name == NODE:
        flags = ["--deflate"]
    else:
        raise ValueError(f"{target.name} has no compression")
    return Target(target.name, lambda port: [*target.command(port), *flags], target.http,
                  target.ws)


def run_deflate(args, order, cases, raw, logdir, run):
    """One run of the deflate cases: each case loads the targets one after the
    other, each in a fresh server with the case's setting."""
    for case in cases:
        for target in order:
            if not target.supports(case):
                continue
            try:
                with Server(compressed_target(target, case.extra["deflate"]), args,
                            logdir) as server:
                    if case.kind == "memory":
                        r = measure_memory(args, server, case.connections, flags=WSLOAD_FLAGS)
                        log(f"  {target.name:12} {case.label:34} {r['value']:8.2f} {case.unit} "
                            f"(RSS {r['rss_before_kib']:,} -> {r['rss_with_kib']:,} KiB)"
                            + (f"  ERRORS {r['errors']}" if r["errors"] else ""))
                    else:
                        wsload(args, server.port, 20, MESSAGE_SIZE, args.warmup, 0,
                               flags=WSLOAD_FLAGS)
                        r = run_case(args, server, case)
                        if not server.alive():
                            raise RuntimeError(f"{target.name} died during {case.id}")
                        log(f"  {target.name:12} {case.label:34} {r['value']:>12,.0f} "
                            f"{case.unit:6} cpu server {r['server_cpu']:.0%}, "
                            f"{r.get('wire_bytes_per_message') or 0:.0f} B on the wire"
                            + (f"  ERRORS {r['errors']}" if r["errors"] else ""))
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                log(f"  {target.name}: {case.id}: {e}")
                continue
            r["run"] = run
            raw[target.name][case.id].append(r)
            time.sleep(0.5)


def add_wire_bytes(results, raw):
    """The median compressed size of an echoed message, where measured."""
    for name, per_case in results.items():
        if "skipped" in per_case:
            continue
        for cid, entry in per_case.items():
            sizes = [r.get("wire_bytes_per_message") for r in raw.get(name, {}).get(cid, [])]
            sizes = [s for s in sizes if s]
            if sizes:
                entry["wire_bytes_per_message"] = median(sizes)


def deflate_table(report):
    """docs/performance.md's compression table: one row per target and setting."""
    results = report["results"]
    lines = [
        "| server, setting | idle KiB/conn | echo msg/s | server cpu | msg per CPU-s "
        "| bytes on the wire per 1 KiB message |",
        "|---|---|---|---|---|---|",
    ]

    def fmt(entry, key, pattern):
        if not entry or entry.get(key) is None:
            return "n/a"
        return pattern.format(entry[key])

    for name, (label, _) in SETTINGS.items():
        suffix = "" if name == "default" else f"_{name}"
        targets = (PROJECT, REFERENCE, NODE) if name == "default" else (PROJECT,)
        for target in targets:
            per_case = results.get(target, {})
            if "skipped" in per_case:
                continue
            echo = per_case.get(f"ws_deflate_1k_c100{suffix}")
            memory = per_case.get(f"mem_idle_ws_deflate{suffix}")
            if not echo and not memory:
                continue
            lines.append(f"| {target}, {label} | {fmt(memory, 'value', '{:.2f}')} | "
                         f"{fmt(echo, 'value', '{:,.0f}')} | {fmt(echo, 'server_cpu', '{:.0%}')} | "
                         f"{fmt(echo, 'per_cpu_s', '{:,.0f}')} | "
                         f"{fmt(echo, 'wire_bytes_per_message', '{:.0f}')} |")
    if len(lines) == 2:
        return "Not measured in this run (the deflate cases were not selected)."
    memory_case = report.get("cases", {}).get("mem_idle_ws_deflate", {})
    lines += ["", f"Measured {report['date']} at commit `{report['commit']}`, median of "
              f"{report['runs']} runs: wsload --deflate, 100 connections, one 1 KiB message in "
              "flight each; idle: "
              f"{memory_case.get('connections', deflate_memory_connections()):,} connections "
              "that each sent one 1 KiB message and read its echo. Bytes on the wire: the "
              "compressed payload of an echo."]
    return "\n".join(lines)


def update_docs(report, replace_between):
    replace_between(PERFORMANCE_MD, "bench-deflate", deflate_table(report))
