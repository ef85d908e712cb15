"""The servers under test and how each is started."""

import os
import shutil
import signal
import subprocess
import time

from .common import BENCH, BUILD, CEILING, HOST, PROJECT, REFERENCE, ROOT, free_port, tornado_python, wait_for_port


# ---------------------------------------------------------------------------
# Targets


class Target:
    def __init__(self, name, command, http, ws, note=None, tls_args=None, tls_http=None):
        self.name = name
        self.command = command  # a function of the port
        self.http = http
        self.ws = ws
        self.note = note  # why it is skipped, or None
        # The arguments that add a TLS port (a function of the port, the
        # certificate and the key), or None; and whether HTTPS answers there.
        self.tls_args = tls_args
        self.tls_http = http if tls_http is None else tls_http

    def supports(self, case):
        if "only" in case.extra and self.name not in case.extra["only"]:
            return False
        if case.kind in ("https", "handshake"):
            return self.tls_args is not None and self.tls_http
        if case.kind == "wss" or case.extra.get("tls"):
            return self.tls_args is not None and self.ws
        if case.kind == "http":
            return self.http
        return self.ws


def make_targets(build_notes):
    targets = []
    echo_server = os.path.join(BUILD, "apps", "echo", "echo_server")
    note = None
    if not os.access(echo_server, os.X_OK):
        note = build_notes.get(PROJECT) or "build-release/apps/echo/echo_server not built"
    targets.append(Target(PROJECT, lambda port: [echo_server, "--port", str(port), "--address",
                                                 HOST, "--logging", "warning"],
                          True, True, note,
                          tls_args=lambda port, cert, key: ["--tls_port", str(port),
                                                            "--certfile", cert, "--keyfile", key]))
    dashed_tls_args = lambda port, cert, key: ["--tls-port", str(port), "--certfile", cert,
                                               "--keyfile", key]

    python = tornado_python()
    targets.append(Target(REFERENCE, lambda port: [python, os.path.join(BENCH, "tornado_echo.py"),
                                                   "--port", str(port), "--address", HOST,
                                                   "--logging", "warning"],
                          True, True, None if python else "python3-tornado is not installed",
                          tls_args=dashed_tls_args))

    ceiling = os.path.join(BUILD, "tools", "bench", "ceiling", "bench_ceiling")
    targets.append(Target(CEILING, lambda port: [ceiling, "--port", str(port), "--address", HOST],
                          True, True, None if os.access(ceiling, os.X_OK) else "not built",
                          tls_args=dashed_tls_args))

    node = shutil.which("node")
    ws_ok = os.path.isdir(os.path.join(BENCH, "node_modules", "ws"))
    targets.append(Target("Node ws", lambda port: [node, os.path.join(BENCH, "node_ws_echo.js"),
                                                   "--port", str(port), "--address", HOST],
                          False, True,
                          None if node and ws_ok else "node or tools/bench/node_modules missing",
                          tls_args=dashed_tls_args, tls_http=True))
    return targets


class Server:
    """One target process, pinned to the server core; always stopped on exit."""

    def __init__(self, target, args, logdir, cpus=None):
        self.target = target
        self.cpus = str(args.server_cpu) if cpus is None else cpus
        self.port = free_port()
        self.tls_port = None
        if target.tls_args is not None and getattr(args, "tls_cert", None):
            self.tls_port = free_port()
        self.log_path = os.path.join(logdir, f"{target.name.replace(' ', '_')}.log")
        self.args = args
        self.proc = None

    def __enter__(self):
        logf = open(self.log_path, "a")
        logf.write(f"--- {time.strftime('%H:%M:%S')} port {self.port}\n")
        logf.flush()
        cmd = ["taskset", "-c", self.cpus, *self.target.command(self.port)]
        if self.tls_port is not None:
            cmd += self.target.tls_args(self.tls_port, self.args.tls_cert, self.args.tls_key)
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                     cwd=ROOT, start_new_session=True)
        logf.close()
        if not all(wait_for_port(p, self.proc, 20) for p in (self.port, self.tls_port)
                   if p is not None):
            self.stop()
            raise RuntimeError(f"{self.target.name} did not start (see {self.log_path})")
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def alive(self):
        return self.proc.poll() is None
