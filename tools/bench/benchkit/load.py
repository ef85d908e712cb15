"""The load generators (wrk, wsload) and the idle-connection memory probe."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from .common import BENCH, HOST, run_command, vm_rss_kib


# ---------------------------------------------------------------------------
# Load


def check_http(port):
    """The target must answer as apps/echo does before it is measured."""
    for path, body in (("/plaintext", b"Hello, World!"),
                       ("/json", b'{"message":"Hello, World!"}')):
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as r:
            got = r.read()
            if r.status != 200 or got.replace(b" ", b"") != body.replace(b" ", b""):
                raise RuntimeError(f"GET {path} answered {r.status} {got[:60]!r}")


def wrk(args, port, path, connections, duration, scheme="http"):
    duration = max(1, round(duration))  # wrk takes whole seconds
    cmd = ["taskset", "-c", str(args.client_cpu), "wrk", "-t1", f"-c{connections}",
           f"-d{duration}s", "--timeout", "5s", "-s", os.path.join(BENCH, "wrk_report.lua"),
           f"{scheme}://{HOST}:{port}{path}"]
    out = run_command(cmd, duration + 60)
    m = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")
    r = json.loads(m.group(1))
    errors = sum(r["errors"].values())
    seconds = r["duration_us"] / 1e6
    return {
        "value": r["requests"] / seconds if seconds else 0.0,
        "p50_ms": r["latency_us"]["p50"] / 1000,
        "p99_ms": r["latency_us"]["p99"] / 1000,
        "errors": errors,
        "error_kinds": r["errors"],
    }


def wsload(args, port, connections, size, duration, warmup, flags=()):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        json_path = tmp.name
    try:
        cmd = ["taskset", "-c", str(args.client_cpu), args.wsload_bin, "--url",
               f"ws://{HOST}:{port}/echo", "--connections", str(connections), "--size", str(size),
               "--depth", "1", "--duration", str(duration), "--warmup", str(warmup),
               "--connect-timeout", "60", "--json", json_path, *flags]
        out = run_command(cmd, duration + warmup + 120)
        try:
            with open(json_path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            raise RuntimeError(f"wsload failed: {out.stderr.strip() or out.stdout.strip()}")
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
        return {
            "value": r.get("messages_per_s", 0.0),
            "p50_ms": r["latency_us"]["p50"] / 1000,
            "p99_ms": r["latency_us"]["p99"] / 1000,
            "errors": r["errors"] + (r["connections"] - r["connected"]),
            "error_kinds": r["error_kinds"],
            "wire_bytes_per_message": r.get("compressed_bytes_per_message"),
        }
    finally:
        os.unlink(json_path)


def source_addresses(connections):
    # About 20,000 connections per source address keeps clear of the ephemeral
    # port range (32768-60999 by default) even with earlier runs in TIME_WAIT.
    count = max(1, min(8, (connections + 1999) // 2000))
    return ",".join(f"127.0.0.{i + 1}" for i in range(count))


def idle_rss_kib(cmd, pid, tool, what):
    """Runs the load generator `cmd` holding idle connections until `tool` says
    "ready, N connections open"; returns N and the server's RSS (KiB, the
    highest of five samples once settled), then stops the generator."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 200
        ready = None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.match(rf"{tool}: ready, (\d+) connections open", line)
            if m:
                ready = int(m.group(1))
                break
        if ready is None:
            raise RuntimeError(f"{what} did not open: {proc.stderr.read()[-500:]}")
        time.sleep(2)
        samples = []
        for _ in range(5):
            samples.append(vm_rss_kib(pid))
            time.sleep(0.2)
        return ready, max(samples)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def measure_memory(args, server, connections, total=False, flags=()):
    """Server RSS settled before and with `connections` idle WebSocket connections
    (the figure: KiB per connection, or with `total` the whole RSS in MiB)."""
    port = server.port
    if server.target.http:
        check_http(port)
    # One echo: the WebSocket code is loaded and warm.
    wsload(args, port, 1, 20, 0.3, 0, flags=flags)
    time.sleep(1)
    before = vm_rss_kib(server.proc.pid)
    cmd = ["taskset", "-c", str(args.client_cpu), args.wsload_bin, "--url",
           f"ws://{HOST}:{port}/echo", "--connections", str(connections), "--idle",
           "--duration", "300", "--connect-timeout", "180",
           "--source-addresses", source_addresses(connections), *flags]
    ready, with_conns = idle_rss_kib(cmd, server.proc.pid, "wsload", "idle connections")
    errors = connections - ready
    if total:
        value = with_conns / 1024 if ready else None
    else:
        value = (with_conns - before) / ready if ready else None
    return {
        "value": value,
        "rss_before_kib": before,
        "rss_with_kib": with_conns,
        "connected": ready,
        "errors": errors,
    }


def cpu_seconds(pid):
    """User + system CPU time of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def children_sleeps():
    """Voluntary context switches of waited-for children: how often the load
    generator went to sleep waiting for the server, and so had to be woken."""
    import resource
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_nvcsw


def run_case(args, server, case):
    """One measurement, with how busy each side's core was meanwhile: a server
    under 100% was not saturated (the load generator or a neighbour was the
    limit)."""
    wall, server_cpu, client_cpu = time.monotonic(), cpu_seconds(server.proc.pid), \
        children_cpu_seconds()
    client_sleeps = children_sleeps()
    if case.kind in ("https", "wss", "handshake"):
        from . import tls
        r = tls.run(args, server, case)
    elif case.kind == "http":
        r = wrk(args, server.port, case.extra["path"], case.connections, args.duration)
    elif case.kind == "ws":
        r = wsload(args, server.port, case.connections, case.extra["size"], args.duration,
                   args.warmup, flags=("--deflate",) if "deflate" in case.extra else ())
    else:
        raise ValueError(case.kind)
    wall = time.monotonic() - wall
    r["server_cpu"] = (cpu_seconds(server.proc.pid) - server_cpu) / wall
    r["client_cpu"] = (children_cpu_seconds() - client_cpu) / wall
    # Thousands a second mean the server woke the load generator for each
    # answer or two (docs/performance.md, "Holding answers to the end of the poll").
    r["client_wakeups_per_s"] = (children_sleeps() - client_sleeps) / wall
    return r


def warm_up(args, server):
    if server.target.http:
        check_http(server.port)
        wrk(args, server.port, "/plaintext", 100, max(1, int(args.warmup)))
    if server.target.ws:
        wsload(args, server.port, 100, 20, args.warmup, 0)
    if server.tls_port is not None:
        from . import tls
        tls.warm_up(args, server)
