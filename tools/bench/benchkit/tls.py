"""The TLS cases: HTTPS plaintext, WSS echo, new TLS connections per second
(full handshake and resumed with a session ticket), and the memory of an idle
TLS WebSocket.

Every target serves TLS on a second port (Target.tls_args) with one
certificate made for the run (RSA 2048, the commonest on the web, so that a
full handshake's price is the server's signature; the key exchange is
OpenSSL's default, X25519 ECDHE, in TLS 1.3). The ceiling is bench_ceiling with
the same certificate on OpenSSL's memory BIOs. HTTPS is loaded by wrk, the
rest by tools/bench/tlsload.
"""

import json
import os
import tempfile
import time

from .common import BUILD, HOST, Case, run_command, vm_rss_kib
from .load import idle_rss_kib

IDLE_CONNECTIONS = 2000


def tls_cases(quick=False):
    return [
        Case("https_plaintext_c100", "https", "HTTPS GET /plaintext, 100 conn", 100,
             "requests_per_s", "req/s", path="/plaintext"),
        Case("wss_20b_c100", "wss", "WSS echo 20 B, 100 conn", 100,
             "messages_per_s", "msg/s", size=20),
        Case("tls_handshake_full_c50", "handshake", "new TLS conn (full handshake), 50 at once",
             50, "connections_per_s", "conn/s", resume=False),
        Case("tls_handshake_resumed_c50", "handshake",
             "new TLS conn (resumed, ticket), 50 at once", 50, "connections_per_s", "conn/s",
             resume=True),
        Case("mem_idle_wss", "memory", f"memory, {IDLE_CONNECTIONS:,} idle WSS", IDLE_CONNECTIONS,
             "kib_per_connection", "KiB/conn", tls=True),
    ]


def tlsload_bin():
    return os.path.join(BUILD, "tools", "bench", "tlsload")


def ensure_certificate(args):
    """The run's certificate and key (made once, in build-release/bench/tls/)."""
    directory = os.path.join(BUILD, "bench", "tls")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    if not (os.path.exists(cert) and os.path.exists(key)):
        os.makedirs(directory, exist_ok=True)
        out = run_command(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                           "-keyout", key, "-out", cert, "-days", "3650",
                           "-subj", "/CN=localhost"], 120)
        if out.returncode != 0:
            raise RuntimeError(f"openssl req failed: {out.stderr.strip()}")
    args.tls_cert, args.tls_key = cert, key


def tlsload(args, port, mode, connections, duration, warmup, size=20, resume=False):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        json_path = tmp.name
    try:
        cmd = ["taskset", "-c", str(args.client_cpu), tlsload_bin(), "--port", str(port),
               "--mode", mode, "--connections", str(connections), "--size", str(size),
               "--duration", str(duration), "--warmup", str(warmup), "--connect-timeout", "60",
               "--json", json_path]
        if resume:
            cmd.append("--resume")
        out = run_command(cmd, duration + warmup + 120)
        try:
            with open(json_path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            raise RuntimeError(f"tlsload failed: {out.stderr.strip() or out.stdout.strip()}")
        return {
            "value": r["per_s"],
            "p50_ms": r["latency_us"]["p50"] / 1000,
            "p99_ms": r["latency_us"]["p99"] / 1000,
            "errors": r["errors"] + (0 if mode == "handshake" else
                                     r["connections"] - r["connected"]),
            "error_kinds": r["error_kinds"],
            "resumed": r.get("resumed", 0),
        }
    finally:
        os.unlink(json_path)


def run(args, server, case):
    """One TLS measurement (the caller records the CPU shares)."""
    from .load import wrk
    port = server.tls_port
    if case.kind == "https":
        return wrk(args, port, case.extra["path"], case.connections, args.duration,
                   scheme="https")
    if case.kind == "wss":
        return tlsload(args, port, "wss", case.connections, args.duration, args.warmup,
                       size=case.extra["size"])
    if case.kind == "handshake":
        return tlsload(args, port, "handshake", case.connections, args.duration, args.warmup,
                       resume=case.extra["resume"])
    raise ValueError(case.kind)


def warm_up(args, server):
    if server.tls_port is None:
        return
    if server.target.http:
        from .load import wrk
        wrk(args, server.tls_port, "/plaintext", 10, 1, scheme="https")
    tlsload(args, server.tls_port, "wss", 10, max(0.5, args.warmup), 0)


def measure_memory(args, server, connections):
    """Server RSS settled before and with `connections` idle TLS WebSockets."""
    port = server.tls_port
    tlsload(args, port, "wss", 1, 0.3, 0)  # the TLS and WebSocket code is loaded and warm
    time.sleep(1)
    before = vm_rss_kib(server.proc.pid)
    cmd = ["taskset", "-c", str(args.client_cpu), tlsload_bin(), "--port", str(port),
           "--mode", "wss", "--idle", "--connections", str(connections),
           "--duration", "300", "--connect-timeout", "180"]
    ready, with_conns = idle_rss_kib(cmd, server.proc.pid, "tlsload", "idle TLS connections")
    return {
        "value": (with_conns - before) / ready if ready else None,
        "rss_before_kib": before,
        "rss_with_kib": with_conns,
        "connected": ready,
        "errors": connections - ready,
    }
