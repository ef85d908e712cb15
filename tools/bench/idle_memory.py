#!/usr/bin/python3
"""Server memory per idle WebSocket for the variants wsload cannot open: TLS
(wss://) and permessage-deflate, next to plain ws:// measured the same way.

For each variant a fresh echo_server is started (pinned with taskset to
--server-cpu), gets one echo so its code is loaded, settles, and its VmRSS is
read; then N clients (python3-websockets, Debian's, on --client-cpu) connect,
each sends one message and reads the echo (so compression state that is made
on first use exists), and all stay open and idle. Two seconds later VmRSS is
read again (largest of five samples); the figure is the difference divided
by N. A wss:// client keeps a TLS session, so the TLS figure includes
OpenSSL's per-connection state on the server side (SSL object, its buffers).

    /usr/bin/python3 tools/bench/idle_memory.py [--connections 2000] \
        [--server build-release/apps/echo/echo_server] [--json out.json]
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import websockets

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HOST = "127.0.0.1"

VARIANTS = [
    # name, tls, server flags, client compression
    ("ws", False, [], None),
    ("ws + permessage-deflate", False, ["--compression=true"], "deflate"),
    # The setting of docs/websocket.md that keeps no zlib state while idle.
    ("ws + permessage-deflate, released", False,
     ["--compression=true", "--server_no_context_takeover=true",
      "--client_no_context_takeover=true", "--release_state_between_messages=true"], "deflate"),
    ("wss (TLS)", True, [], None),
]


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def make_certificate(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


async def open_idle(url, n, compression, ssl_context, concurrency=100):
    connections = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one():
        async with semaphore:
            ws = await websockets.connect(url, compression=compression, ssl=ssl_context,
                                          ping_interval=None, max_queue=1, open_timeout=60)
            await ws.send("x" * 20)
            if await ws.recv() != "x" * 20:
                raise RuntimeError("wrong echo")
            connections.append(ws)

    await asyncio.gather(*(one() for _ in range(n)))
    return connections


def measure(args, name, tls, flags, compression, cert):
    port = free_port()
    cmd = ["taskset", "-c", str(args.server_cpu), args.server, f"--port={port}",
           "--logging=warning", *flags]
    scheme = "ws"
    ssl_context = None
    if tls:
        cmd += [f"--certfile={cert[0]}", f"--keyfile={cert[1]}"]
        scheme = "wss"
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ssl_context.check_hostname = False
        ssl_context.verify_mode = ssl.CERT_NONE
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{name}: server did not start")
                time.sleep(0.05)
        url = f"{scheme}://{HOST}:{port}/echo"

        async def run():
            warm = await open_idle(url, 1, compression, ssl_context)
            for ws in warm:
                await ws.close()
            await asyncio.sleep(1)
            before = vm_rss_kib(server.pid)
            connections = await open_idle(url, args.connections, compression, ssl_context)
            await asyncio.sleep(2)
            samples = []
            for _ in range(5):
                samples.append(vm_rss_kib(server.pid))
                await asyncio.sleep(0.2)
            negotiated = connections[0].extensions if connections else []
            for ws in connections:
                ws.transport.abort()
            return before, max(samples), [type(e).__name__ for e in negotiated]

        before, with_conns, extensions = asyncio.run(run())
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"variant": name, "connections": args.connections, "rss_before_kib": before,
            "rss_with_kib": with_conns, "extensions": extensions,
            "kib_per_connection": (with_conns - before) / args.connections}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--server", default=os.path.join(ROOT, "build-release", "apps", "echo",
                                                    "echo_server"))
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {args.client_cpu})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        cert = make_certificate(tmp)
        for name, tls, flags, compression in VARIANTS:
            r = measure(args, name, tls, flags, compression, cert)
            results.append(r)
            print(f"{name:28} {r['kib_per_connection']:6.2f} KiB/conn "
                  f"(RSS {r['rss_before_kib']:,} -> {r['rss_with_kib']:,} KiB, "
                  f"{r['connections']:,} idle, extensions {r['extensions'] or 'none'})",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
