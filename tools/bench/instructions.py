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

  tools/bench/instructions.py [--requests 20000] [--targets ceiling,tornado-cpp]
                              [--cases ...] [--json out.json] [--keep-dumps DIR]
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

from benchkit.common import BUILD, HOST, free_port, git, wait_for_port  # noqa: E402

TARGETS = {
    "ceiling": lambda port: [os.path.join(BUILD, "tools", "bench", "ceiling", "bench_ceiling"),
                             "--port", str(port), "--address", HOST],
    "tornado-cpp": lambda port: [os.path.join(BUILD, "apps", "echo", "echo_server"), "--port",
                                 str(port), "--address", HOST, "--logging", "warning"],
}

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


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20000, help="requests or messages counted")
    p.add_argument("--warmup", type=int, default=2000, help="requests before counting starts")
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--json", help="write the figures here as well")
    p.add_argument("--keep-dumps", metavar="DIR",
                   help="keep callgrind's files here (for callgrind_annotate)")
    args = p.parse_args(argv)
    dumps = args.keep_dumps or tempfile.mkdtemp(prefix="instructions.")
    os.makedirs(dumps, exist_ok=True)
    results = {}
    for case in args.cases.split(","):
        for target in args.targets.split(","):
            r = measure(target, case, args.requests, args.warmup, dumps)
            results.setdefault(case, {})[target] = r
            print(f"{case:22} {target:12} {r['instructions_per_request']:10,.0f} instr/req "
                  f"{r['syscalls_per_request']:6.2f} syscalls/req", flush=True)
    print()
    names = args.targets.split(",")
    print("| case | " + " | ".join(f"{n} instr/req" for n in names)
          + (" | ratio to ceiling" if "ceiling" in names and len(names) > 1 else "")
          + " | " + " | ".join(f"{n} syscalls/req" for n in names) + " |")
    for case, per in results.items():
        row = [case] + [f"{per[n]['instructions_per_request']:,.0f}" for n in names]
        if "ceiling" in names and len(names) > 1:
            others = [n for n in names if n != "ceiling"]
            row.append(", ".join(f"{per[n]['instructions_per_request'] / per['ceiling']['instructions_per_request']:.2f}"
                                 for n in others))
        row += [f"{per[n]['syscalls_per_request']:.2f}" for n in names]
        print("| " + " | ".join(row) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"commit": git("rev-parse", "--short", "HEAD"), "requests": args.requests,
                       "results": results}, f, indent=1)
    if not args.keep_dumps:
        for f in os.listdir(dumps):
            os.unlink(os.path.join(dumps, f))
        os.rmdir(dumps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
