"""Paths, the cases and small helpers shared by every step."""

import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import time


ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
BENCH = os.path.join(ROOT, "tools", "bench")
BUILD = os.path.join(ROOT, "build-release")
DOCS_BENCH = os.path.join(ROOT, "docs", "bench")
PERFORMANCE_MD = os.path.join(ROOT, "docs", "performance.md")
HOST = "127.0.0.1"  # only loopback is ever a target
THRESHOLD = 0.05

REFERENCE = "Tornado"
CEILING = "ceiling"
PROJECT = "tornado-cpp"


# ---------------------------------------------------------------------------
# Cases


class Case:
    def __init__(self, id, kind, label, connections, metric, unit, main=True, **extra):
        self.id = id
        self.kind = kind  # http, ws, memory
        self.label = label
        self.connections = connections
        self.metric = metric
        self.unit = unit
        self.main = main  # in the table; the others are for the plot
        self.extra = extra

    @property
    def higher_is_better(self):
        return self.kind != "memory"


def fd_hard_limit():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def big_memory_connections(quick=False):
    """100,000 idle connections, or as many as the fd limit lets one process
    hold (the server holds one descriptor per connection, wsload another)."""
    wanted = 5000 if quick else 100000
    hard = fd_hard_limit()
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard - 300)
    return wanted


def make_cases(memory_connections, big_connections=100000):
    from .tls import tls_cases  # the TLS cases live beside their load (tls.py)
    return [
        Case("http_plaintext_c100", "http", "HTTP GET /plaintext, 100 conn", 100,
             "requests_per_s", "req/s", path="/plaintext"),
        Case("http_json_c100", "http", "HTTP GET /json, 100 conn", 100,
             "requests_per_s", "req/s", path="/json"),
        Case("ws_20b_c100", "ws", "WS echo 20 B, 100 conn", 100,
             "messages_per_s", "msg/s", size=20),
        Case("ws_20b_c1000", "ws", "WS echo 20 B, 1,000 conn", 1000,
             "messages_per_s", "msg/s", size=20),
        Case("ws_64k_c10", "ws", "WS echo 64 KiB, 10 conn", 10,
             "messages_per_s", "msg/s", size=65536),
        Case("mem_idle_ws", "memory", f"memory, {memory_connections:,} idle WS",
             memory_connections, "kib_per_connection", "KiB/conn"),
        # The whole server with many idle connections on one loop: its total
        # RSS. tornado-cpp and the ceiling only (the others take minutes to
        # open this many).
        Case("mem_idle_ws_big", "memory",
             f"memory, {big_connections:,} idle WS, total RSS", big_connections,
             "total_rss_mib", "MiB", total=True, only=(PROJECT, CEILING)),
        Case("http_plaintext_c10", "http", "HTTP GET /plaintext, 10 conn", 10,
             "requests_per_s", "req/s", main=False, path="/plaintext"),
        Case("http_plaintext_c1000", "http", "HTTP GET /plaintext, 1,000 conn", 1000,
             "requests_per_s", "req/s", main=False, path="/plaintext"),
        Case("ws_20b_c10", "ws", "WS echo 20 B, 10 conn", 10,
             "messages_per_s", "msg/s", main=False, size=20),
    ] + tls_cases()


# ---------------------------------------------------------------------------
# Helpers


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def raise_fd_limit():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run_command(cmd, timeout, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def git(*args):
    try:
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return ""


def machine_info():
    info = {"nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for key, name in (("model name", "cpu"), ("cpu MHz", "mhz"), ("cache size", "cache")):
            m = re.search(rf"^{key}\s*:\s*(.+)$", text, re.M)
            if m:
                info[name] = m.group(1).strip()
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"MemTotal:\s+(\d+)", f.read())
            info["memory_mib"] = int(m.group(1)) // 1024
    except (OSError, AttributeError):
        pass
    info["kernel"] = platform.release()
    versions = {}
    for name, cmd in (("wrk", ["wrk", "--version"]), ("node", ["node", "--version"]),
                      ("libuv", ["pkg-config", "--modversion", "libuv"]),
                      ("compiler", [os.environ.get("CXX", "clang++"), "--version"])):
        try:
            out = run_command(cmd, 10)
            versions[name] = (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
    python = tornado_python()
    if python:
        out = run_command([python, "-c", "import tornado, sys; print(tornado.version, "
                           "sys.version.split()[0])"], 30)
        versions["tornado"] = out.stdout.strip()
    ws_pkg = os.path.join(BENCH, "node_modules", "ws", "package.json")
    if os.path.exists(ws_pkg):
        with open(ws_pkg) as f:
            versions["ws"] = json.load(f).get("version")
    info["versions"] = versions
    return info


def tornado_python():
    for candidate in ("/usr/bin/python3", sys.executable):
        try:
            if run_command([candidate, "-c", "import tornado"], 30).returncode == 0:
                return candidate
        except OSError:
            continue
    return None
