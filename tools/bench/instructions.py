#!/usr/bin/env python3
"""Instructions and system calls per request, counted by callgrind.

Wall-clock throughput on a shared machine moves with the neighbours; the work
a server does per request does not. This runs each server of
build-release/ (the same binaries tools/bench/run measures) under
`valgrind --tool=callgrind --collect-systime=yes`, drives it with a fixed
number of requests from a deterministic client in this process, and divides
what callgrind counted between a warm-up and the end by that number:

  instructions/req   user-space instructions executed by the server (Ir)
  syscalls/req       system calls the server made (callgrind's sysCount)

Cases (the same requests as tools/bench/run's):
  http_plaintext_c100  GET /plaintext, 100 keep-alive connections, one request
                       in flight on each
  http_json_c100       GET /json, the same
  ws_20b_c1000         WebSocket echo of 20-byte text messages, 1,000
                       connections, one message in flight on each

The server is slowed some fifty-fold under callgrind, so every poll finds
requests waiting on many connections, as in the saturated bench.

With --cpu-seconds it also runs the same cases natively, side by side (server
pinned to one core, wrk or wsload on the other, targets alternated over
--rounds), and reports the server's CPU-seconds per request (user + system,
from /proc/<pid>/stat): what the kernel's share of each request adds.

--baseline DIR adds "tornado-cpp (before)", the echo_server of another build
directory (a checkout of an older commit), to compare before and after.

  tools/bench/instructions.py [--requests 20000] [--targets ceiling,tornado-cpp]
                              [--cases ...] [--baseline DIR] [--cpu-seconds]
                              [--json out.json] [--keep-dumps DIR]
"""

import argparse
import base64
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchkit.common import BUILD, HOST, free_port, git, median, wait_for_port  # noqa: E402


def echo_server(build):
    return lambda port: [os.path.join(build, "apps", "echo", "echo_server"), "--port", str(port),
                         "--address", HOST, "--logging", "warning"]


TARGETS = {
    "ceiling": lambda port: [os.path.join(BUILD, "tools", "bench", "ceiling", "bench_ceiling"),
                             "--port", str(port), "--address", HOST],
    "tornado-cpp": echo_server(BUILD),
}
BEFORE = "tornado-cpp (before)"

CASES = {
    "http_plaintext_c100": ("http", "/plaintext", 100),
    "http_json_c100": ("http", "/json", 100),
    "ws_20b_c1000": ("ws", "/echo", 1000),
}


# ---------------------------------------------------------------------------
# Deterministic clients: every connection keeps one request in flight until
# `total` answers have come back, then the rest are drained.


def connect_all(port, connections):
    socks = []
    for _ in range(connections):
        s = socket.create_connection((HOST, port), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    return socks


def response_length(buf):
    """Length of the first complete HTTP response in buf, or 0."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return 0
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", buf[:end], re.I)
    if not m:
        raise RuntimeError(f"response without Content-Length: {bytes(buf[:end])!r}")
    n = end + 4 + int(m.group(1))
    return n if len(buf) >= n else 0


def drive(socks, request, total, answer_length, check=None):
    """Sends `request` on every socket, and again on each when its answer is in,
    until `total` answers came back; returns how many did (total exactly, the
    last in-flight ones are drained but not counted beyond)."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = bytearray()
    sent = 0
    done = 0
    in_flight = 0
    for s in socks:
        if sent < total:
            s.sendall(request)
            sent += 1
            in_flight += 1
    deadline = time.monotonic() + 3600
    while in_flight:
        if time.monotonic() > deadline:
            raise RuntimeError("the server stopped answering")
        for key, _ in sel.select(timeout=60):
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                raise RuntimeError("the server closed a connection")
            buf = bufs[s]
            buf += data
            while True:
                n = answer_length(buf)
                if not n:
                    break
                if check:
                    check(bytes(buf[:n]))
                del buf[:n]
                done += 1
                in_flight -= 1
                if sent < total:
                    s.sendall(request)
                    sent += 1
                    in_flight += 1
    for s in socks:
        sel.unregister(s)
        s.setblocking(True)
    return done


def http_request(path):
    return (f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: instructions.py\r\n"
            "Accept: */*\r\n\r\n").encode()


def ws_handshake(socks, path):
    for s in socks:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    for s in socks:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = s.recv(4096)
            if not data:
                raise RuntimeError("handshake refused")
            buf += data
        if not buf.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"handshake answered {buf[:40]!r}")
        if buf.index(b"\r\n\r\n") + 4 != len(buf):
            raise RuntimeError("bytes after the handshake")


def ws_frame(payload):
    mask = b"\x11\x22\x33\x44"
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def ws_answer_length(buf):
    if len(buf) < 2:
        return 0
    n = 2 + (buf[1] & 0x7F)
    return n if len(buf) >= n else 0


# ---------------------------------------------------------------------------
# callgrind


def callgrind_control(*args):
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300)


def dump_totals(path):
    events, totals = None, None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("totals:") or (totals is None and line.startswith("summary:")):
                totals = [int(x) for x in line.split()[1:]]
    if not events or not totals:
        raise RuntimeError(f"no totals in {path}")
    return dict(zip(events, totals))


def measure(target, case, requests, warmup, dumps):
    kind, path, connections = CASES[case]
    port = free_port()
    out = os.path.join(dumps, f"callgrind.{target}.{case}")
    cmd = ["valgrind", "--tool=callgrind", "--collect-systime=yes", f"--callgrind-out-file={out}.%p",
           *TARGETS[target](port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if not wait_for_port(port, proc, 120):
            raise RuntimeError(f"{target} did not start: {proc.stderr.read().decode()[-500:]}")
        socks = connect_all(port, connections)
        if kind == "http":
            request, length = http_request(path), response_length
        else:
            ws_handshake(socks, path)
            request, length = ws_frame(b"x" * 20), ws_answer_length
        drive(socks, request, max(warmup, connections), length)
        callgrind_control("--zero", str(proc.pid))
        done = drive(socks, request, requests, length)
        callgrind_control("--dump", str(proc.pid))
        for s in socks:
            s.close()
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    files = sorted((f for f in os.listdir(dumps)
                    if f.startswith(os.path.basename(out) + f".{proc.pid}.")),
                   key=lambda f: int(f.rsplit(".", 1)[1]))
    if not files:
        raise RuntimeError(f"callgrind wrote no dump for {target} {case}")
    totals = dump_totals(os.path.join(dumps, files[0]))
    return {"requests": done,
            "instructions_per_request": totals["Ir"] / done,
            "syscalls_per_request": totals.get("sysCount", 0) / done,
            "dump": os.path.join(dumps, files[0])}


# ---------------------------------------------------------------------------
# Native CPU-seconds per request


class NativeTarget:
    """What benchkit's Server and run_case need of a target."""

    def __init__(self, name):
        self.name = name
        self.command = TARGETS[name]
        self.http = True
        self.ws = True


def cpu_seconds_per_request(names, cases, rounds, duration):
    from benchkit.load import run_case, warm_up
    from benchkit.common import make_cases
    from benchkit.targets import Server

    bench_args = argparse.Namespace(server_cpu=0, client_cpu=1, duration=duration, warmup=1,
                                    wsload_bin=os.path.join(BUILD, "tools", "wsload", "wsload"))
    by_id = {c.id: c for c in make_cases(1000)}
    logdir = tempfile.mkdtemp(prefix="instructions-logs.")
    per = {case: {n: [] for n in names} for case in cases}
    for rnd in range(rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for case in cases:
            for name in order:
                with Server(NativeTarget(name), bench_args, logdir) as server:
                    warm_up(bench_args, server)
                    r = run_case(bench_args, server, by_id[case])
                per[case][name].append(r["server_cpu"] / r["value"] if r["value"] else None)
                print(f"  round {rnd + 1} {case:22} {name:22} {r['value']:>10,.0f}/s "
                      f"server cpu {r['server_cpu']:.0%} "
                      f"{r['server_cpu'] / r['value'] * 1e6 if r['value'] else 0:.2f} us/req",
                      flush=True)
    return per


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20000, help="requests or messages counted")
    p.add_argument("--warmup", type=int, default=2000, help="requests before counting starts")
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--baseline", metavar="BUILD_DIR",
                   help=f"also measure this build's echo_server as \"{BEFORE}\"")
    p.add_argument("--cpu-seconds", action="store_true",
                   help="also measure server CPU-seconds per request natively, side by side")
    p.add_argument("--rounds", type=int, default=3, help="--cpu-seconds rounds (3)")
    p.add_argument("--duration", type=float, default=5, help="--cpu-seconds seconds per case (5)")
    p.add_argument("--no-callgrind", action="store_true", help="only --cpu-seconds")
    p.add_argument("--json", help="write the figures here as well")
    p.add_argument("--keep-dumps", metavar="DIR",
                   help="keep callgrind's files here (for callgrind_annotate)")
    args = p.parse_args(argv)
    names = args.targets.split(",")
    if args.baseline:
        TARGETS[BEFORE] = echo_server(os.path.abspath(args.baseline))
        names.insert(names.index("tornado-cpp") if "tornado-cpp" in names else len(names), BEFORE)
    cases = args.cases.split(",")
    dumps = args.keep_dumps or tempfile.mkdtemp(prefix="instructions.")
    os.makedirs(dumps, exist_ok=True)
    results = {case: {n: {} for n in names} for case in cases}
    if not args.no_callgrind:
        for case in cases:
            for target in names:
                r = measure(target, case, args.requests, args.warmup, dumps)
                results[case][target].update(r)
                print(f"{case:22} {target:22} {r['instructions_per_request']:10,.0f} instr/req "
                      f"{r['syscalls_per_request']:6.2f} syscalls/req", flush=True)
    if args.cpu_seconds:
        cpu = cpu_seconds_per_request(names, cases, args.rounds, args.duration)
        for case in cases:
            for n in names:
                runs = [v * 1e6 if v else None for v in cpu[case][n]]
                results[case][n]["cpu_us_per_request"] = median(runs)
                results[case][n]["cpu_us_runs"] = runs
    print()
    figures = [("instructions_per_request", "instr/req", "{:,.0f}"),
               ("syscalls_per_request", "syscalls/req", "{:.2f}"),
               ("cpu_us_per_request", "server CPU-us/req", "{:.2f}")]
    for key, label, fmt in figures:
        if not all(key in results[c][n] for c in cases for n in names):
            continue
        ratio = "ceiling" in names and len(names) > 1
        print(f"| case ({label}) | " + " | ".join(names)
              + (" | " + " | ".join(f"{n} / ceiling" for n in names if n != "ceiling")
                 if ratio else "") + " |")
        print("|---" * (1 + len(names) + (len(names) - 1 if ratio else 0)) + "|")
        for case in cases:
            per = results[case]
            row = [case] + [fmt.format(per[n][key]) for n in names]
            if ratio and key == "cpu_us_per_request":
                # As the bench's: the median of the ratios within each round.
                base = per["ceiling"]["cpu_us_runs"]
                row += [f"{median(a / b for a, b in zip(per[n]['cpu_us_runs'], base) if a and b):.2f}"
                        for n in names if n != "ceiling"]
            elif ratio:
                row += [f"{per[n][key] / per['ceiling'][key]:.2f}" for n in names if n != "ceiling"]
            print("| " + " | ".join(row) + " |")
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"commit": git("rev-parse", "--short", "HEAD"), "requests": args.requests,
                       "baseline": args.baseline, "results": results}, f, indent=1)
    if not args.keep_dumps:
        for f in os.listdir(dumps):
            os.unlink(os.path.join(dumps, f))
        os.rmdir(dumps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
