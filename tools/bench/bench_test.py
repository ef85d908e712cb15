#!/usr/bin/python3
"""Tests of the bench's targets and of tools/bench/run's regression check.

Each target must really do the work it is timed for: the ceiling, the Tornado
app and the Node ws server are checked with independent clients (raw sockets
and python3-websockets), then with wsload; `run --compare` is checked on
hand-made result files.

    bench_test.py build/tools/bench/ceiling/bench_ceiling build/tools/wsload/wsload \
        build/tools/bench/tlsload
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
CEILING = None
WSLOAD = None
TLSLOAD = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, cmd):
        self.port = free_port()
        self.cmd = [*cmd, "--port", str(self.port)]

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"{self.cmd} did not start: {self.proc.stderr.read()}")

    def __exit__(self, exc_type, *exc):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stderr.close()
        # A clean stop is part of the contract, and how sanitizer reports show.
        if exc_type is None:
            if self.rc != 0 or "Sanitizer" in err or "runtime error:" in err:
                raise AssertionError(f"{self.cmd[0]} exited {self.rc}: {err[-2000:]}")


def raw_exchange(port, chunks, expect_responses, pause=0.0):
    """Sends chunks (with a pause between them), reads until that many
    HTTP/1.1 responses have arrived; returns the bytes read."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for chunk in chunks:
            s.sendall(chunk)
            if pause:
                time.sleep(pause)
        data = b""
        while data.count(b"HTTP/1.1 ") < expect_responses or not data.endswith(b"!\"}") and \
                not data.endswith(b"World!"):
            more = s.recv(65536)
            if not more:
                break
            data += more
        return data


def masked(opcode, payload, mask=b"\x01\x02\x03\x04", fin=True):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


def handshake(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    return s, head


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        more = s.recv(n - len(data))
        if not more:
            raise ConnectionError("closed")
        data += more
    return data


async def websocket_round_trips(url):
    """Text, binary, empty, large and fragment-sized messages, a ping, a close."""
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        checks = []
        for message in ("hi", b"\x00\xff\x10", "", "é" * 40000, os.urandom(300000)):
            await ws.send(message)
            echo = await ws.recv()
            checks.append(echo == message and type(echo) is type(message))
        await asyncio.wait_for(await ws.ping(b"ping!"), 5)
        await ws.close()
        return checks, ws.close_code


async def compressed_round_trips(url):
    """1 KiB of JSON-like text, compressed both ways; returns the negotiated
    extensions' names and whether every echo matched."""
    async with websockets.connect(url, compression="deflate") as ws:
        ok = True
        for i in range(5):
            message = ('{"id":%d,"event":"price_update","bid":%d.25},' % (i, i * 7)) * 24
            await ws.send(message)
            ok = ok and await ws.recv() == message
        return [type(e).__name__ for e in ws.extensions], ok


def wsload_deflate(port):
    """wsload --deflate for half a second: its exit status and output."""
    out = subprocess.run([WSLOAD, "--url", f"ws://127.0.0.1:{port}/echo", "--deflate",
                          "--connections", "4", "--size", "1024", "--duration", "0.5"],
                         capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout + out.stderr


class CeilingTest(unittest.TestCase):
    def test_fixed_responses(self):
        with Process([CEILING]) as p:
            data = raw_exchange(p.port, [b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"], 1)
            self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"))
            self.assertIn(b"\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n", data)
            self.assertIn(b"\r\nDate: ", data)
            self.assertTrue(data.endswith(b"\r\n\r\nHello, World!"))
            data = raw_exchange(p.port, [b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"], 1)
            self.assertIn(b"Content-Type: application/json\r\nContent-Length: 27\r\n", data)
            self.assertTrue(data.endswith(b'\r\n\r\n{"message":"Hello, World!"}'))
        self.assertEqual(p.rc, 0)

    def test_pipelined_and_split_requests(self):
        with Process([CEILING]) as p:
            three = (b"GET /plaintext HTTP/1.1\r\n\r\nGET /json HTTP/1.1\r\n\r\n"
                     b"GET /plaintext HTTP/1.1\r\n\r\n")
            data = raw_exchange(p.port, [three], 3)
            self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 3)
            self.assertEqual(data.count(b"application/json"), 1)
            request = b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"
            data = raw_exchange(p.port, [request[i:i + 1] for i in range(len(request))], 1,
                                pause=0.002)
            self.assertTrue(data.endswith(b'{"message":"Hello, World!"}'))

    def test_websocket_echo_with_an_independent_client(self):
        with Process([CEILING]) as p:
            checks, code = asyncio.run(websocket_round_trips(f"ws://127.0.0.1:{p.port}/echo"))
        self.assertEqual(checks, [True] * 5)
        self.assertEqual(code, 1000)

    def test_handshake_accept_key(self):
        with Process([CEILING]) as p:
            s, head = handshake(p.port)
            s.close()
        # RFC 6455's own example key and accept value.
        self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", head)
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "))

    def test_frames_split_anywhere_are_echoed(self):
        with Process([CEILING]) as p:
            s, _ = handshake(p.port)
            stream = (masked(1, b"a" * 5) + masked(2, bytes(range(200))) +
                      masked(1, b"part", fin=False) + masked(9, b"p") + masked(0, b"rest"))
            for i in range(len(stream)):
                s.sendall(stream[i:i + 1])
            expect = (b"\x81\x05aaaaa" + b"\x82\x7e\x00\xc8" + bytes(range(200)) +
                      b"\x01\x04part" + b"\x8a\x01p" + b"\x80\x04rest")
            self.assertEqual(recv_exactly(s, len(expect)), expect)
            s.sendall(masked(8, struct.pack("!H", 1000)))
            self.assertEqual(recv_exactly(s, 4), b"\x88\x02\x03\xe8")
            self.assertEqual(s.recv(10), b"")  # and then the connection ends
            s.close()

    def test_unmasked_frame_closes_the_connection(self):
        with Process([CEILING]) as p:
            s, _ = handshake(p.port)
            s.sendall(b"\x81\x02hi")
            self.assertEqual(s.recv(10), b"")
            s.close()

    def test_wsload_against_the_ceiling(self):
        with Process([CEILING]) as p:
            for flags in (["--connections", "50", "--size", "20", "--depth", "4"],
                          ["--connections", "3", "--size", "65536", "--binary"]):
                out = subprocess.run([WSLOAD, "--url", f"ws://127.0.0.1:{p.port}/echo",
                                      "--duration", "1", *flags], capture_output=True, text=True,
                                     timeout=60)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                self.assertIn("errors      0", out.stdout)

    def test_bad_flag(self):
        out = subprocess.run([CEILING, "--bogus"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 2)


class TlsCeilingTest(unittest.TestCase):
    """bench_ceiling with a certificate: TLS on --tls-port, checked with
    Python's ssl module and python3-websockets, then with tlsload."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.cert = os.path.join(cls.dir.name, "cert.pem")
        cls.key = os.path.join(cls.dir.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", cls.key, "-out", cls.cert,
                        "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
        cls.client = ssl.create_default_context(cafile=cls.cert)
        cls.client.check_hostname = False

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def ceiling(self):
        self.tls_port = free_port()
        return Process([CEILING, "--certfile", self.cert, "--keyfile", self.key,
                        "--tls-port", str(self.tls_port)])

    def test_https_and_wss_with_independent_clients(self):
        with self.ceiling() as p:
            # The plain port stays plain.
            self.assertIn(b"Hello, World!", raw_exchange(
                p.port, [b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"], 1))
            with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as raw:
                with self.client.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
                              b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
                    data = b""
                    while not data.endswith(b'"Hello, World!"}'):
                        more = s.recv(65536)
                        if not more:
                            break
                        data += more
            self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 2)
            self.assertIn(b"\r\n\r\nHello, World!HTTP/1.1", data)

            async def round_trips():
                async with websockets.connect(f"wss://127.0.0.1:{self.tls_port}/echo",
                                              ssl=self.client, server_hostname="localhost",
                                              max_size=None, compression=None) as ws:
                    echoes = []
                    for message in ("hi", os.urandom(100000)):
                        await ws.send(message)
                        echoes.append(await ws.recv() == message)
                    return echoes
            self.assertEqual(asyncio.run(round_trips()), [True, True])

    def test_tlsload_against_the_ceiling(self):
        with self.ceiling():
            for mode in (["--mode", "wss", "--connections", "20"],
                         ["--mode", "handshake", "--connections", "5"],
                         ["--mode", "handshake", "--resume", "--connections", "5"]):
                with tempfile.NamedTemporaryFile(suffix=".json") as out:
                    r = subprocess.run([TLSLOAD, "--port", str(self.tls_port), *mode,
                                        "--duration", "0.5", "--warmup", "0.2", "--json",
                                        out.name], capture_output=True, text=True, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    with open(out.name) as f:
                        result = json.load(f)
                self.assertEqual(result["errors"], 0, result)
                self.assertGreater(result["completed"], 0, result)
                if "--resume" in mode:
                    self.assertEqual(result["resumed"], result["completed"], result)
                else:
                    self.assertEqual(result["resumed"], 0, result)


class TornadoEchoTest(unittest.TestCase):
    CMD = ["/usr/bin/python3", os.path.join(HERE, "tornado_echo.py"), "--logging", "warning"]

    def test_http_routes(self):
        import urllib.request
        with Process(self.CMD) as p:
            base = f"http://127.0.0.1:{p.port}"
            with urllib.request.urlopen(base + "/plaintext") as r:
                self.assertEqual(r.read(), b"Hello, World!")
                self.assertEqual(r.headers["Content-Type"], "text/plain")
            with urllib.request.urlopen(base + "/json") as r:
                self.assertEqual(r.read(), b'{"message":"Hello, World!"}')
                self.assertEqual(r.headers["Content-Type"], "application/json")
            request = urllib.request.Request(base + "/echo-body", data=b"\x00body",
                                             headers={"Content-Type": "application/x-test"})
            with urllib.request.urlopen(request) as r:
                self.assertEqual(r.read(), b"\x00body")
                self.assertEqual(r.headers["Content-Type"], "application/x-test")
        self.assertEqual(p.rc, 0)

    def test_websocket_routes(self):
        with Process(self.CMD) as p:
            checks, code = asyncio.run(websocket_round_trips(f"ws://127.0.0.1:{p.port}/echo"))
            self.assertEqual(checks, [True] * 5)

            async def cross_origin():
                try:
                    async with websockets.connect(f"ws://127.0.0.1:{p.port}/echo-origin",
                                                  origin="http://elsewhere.example"):
                        return "open"
                except websockets.exceptions.InvalidStatusCode as e:
                    return e.status_code
            self.assertEqual(asyncio.run(cross_origin()), 403)

    def test_close_code_on_shutdown(self):
        async def held():
            async with websockets.connect(f"ws://127.0.0.1:{p.port}/echo") as ws:
                p.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                except websockets.exceptions.ConnectionClosed:
                    pass
                return ws.close_code
        with Process(self.CMD) as p:
            self.assertEqual(asyncio.run(held()), 1001)

    def test_compression_flag_offers_permessage_deflate(self):
        with Process([*self.CMD, "--compression"]) as p:
            names, ok = asyncio.run(compressed_round_trips(f"ws://127.0.0.1:{p.port}/echo"))
            self.assertEqual(names, ["PerMessageDeflate"])
            self.assertTrue(ok)
            rc, out = wsload_deflate(p.port)
            self.assertEqual(rc, 0, out)

    def test_bad_flag_is_one_line_and_status_2(self):
        out = subprocess.run([*self.CMD, "--port", "x"], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1)


@unittest.skipUnless(shutil.which("node") and os.path.isdir(os.path.join(HERE, "node_modules")),
                     "node or tools/bench/node_modules (npm ci) missing")
class NodeWsEchoTest(unittest.TestCase):
    def test_echo(self):
        with Process(["node", os.path.join(HERE, "node_ws_echo.js")]) as p:
            checks, code = asyncio.run(websocket_round_trips(f"ws://127.0.0.1:{p.port}/echo"))
        self.assertEqual(checks, [True] * 5)

    def test_deflate_flag_turns_on_permessage_deflate(self):
        with Process(["node", os.path.join(HERE, "node_ws_echo.js"), "--deflate"]) as p:
            names, ok = asyncio.run(compressed_round_trips(f"ws://127.0.0.1:{p.port}/echo"))
            self.assertEqual(names, ["PerMessageDeflate"])
            self.assertTrue(ok)
            rc, out = wsload_deflate(p.port)
            self.assertEqual(rc, 0, out)
        # Without the flag: no compression, as in the other cases.
        with Process(["node", os.path.join(HERE, "node_ws_echo.js")]) as p:
            names, ok = asyncio.run(compressed_round_trips(f"ws://127.0.0.1:{p.port}/echo"))
            self.assertEqual(names, [])


class CompareTest(unittest.TestCase):
    """tools/bench/run --compare OLD --new NEW, on hand-made results."""

    def results(self, cpp_rps, ceiling_rps, cpp_kib=2.0):
        return {
            "date": "2026-01-01", "commit": "abc",
            "results": {
                "tornado-cpp": {
                    "http_plaintext_c100": {"value": cpp_rps, "p99_ms": 1.0},
                    "mem_idle_ws": {"value": cpp_kib},
                },
                "ceiling": {"http_plaintext_c100": {"value": ceiling_rps, "p99_ms": 1.0}},
                "Tornado": {"skipped": "not selected"},
            },
        }

    def compare(self, old, new):
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for name, data in (("old", old), ("new", new)):
                paths.append(os.path.join(tmp, f"{name}.json"))
                with open(paths[-1], "w") as f:
                    json.dump(data, f)
            return subprocess.run([sys.executable, os.path.join(HERE, "run"), "--compare",
                                   paths[0], "--new", paths[1]], capture_output=True, text=True,
                                  timeout=30)

    def test_same_figures_pass(self):
        out = self.compare(self.results(100000, 120000), self.results(99000, 120000))
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("no figure is more than 5% worse", out.stdout)

    def test_a_slower_project_is_flagged(self):
        out = self.compare(self.results(100000, 120000), self.results(90000, 120000))
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("WORSE  tornado-cpp", out.stdout)
        self.assertIn("-10.0%", out.stdout)

    def test_a_slower_machine_is_shown_but_not_failed(self):
        # Everything 10% slower, the ratio to the ceiling unchanged.
        out = self.compare(self.results(100000, 120000), self.results(90000, 108000))
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("WORSE  ceiling", out.stdout)
        self.assertIn("relative to the ceiling +0.0%", out.stdout)

    def test_more_memory_is_flagged(self):
        out = self.compare(self.results(100000, 120000), self.results(100000, 120000, 2.2))
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("memory", out.stdout)


class DeflateTableTest(unittest.TestCase):
    """docs/performance.md's compression table, from hand-made results."""

    def test_rows_per_target_and_setting(self):
        sys.path.insert(0, HERE)
        from benchkit.deflate import deflate_table
        report = {
            "date": "2026-01-01", "commit": "abc", "runs": 3,
            "cases": {"mem_idle_ws_deflate": {"connections": 1000}},
            "results": {
                "tornado-cpp": {
                    "ws_deflate_1k_c100": {"value": 20000, "server_cpu": 0.5, "per_cpu_s": 40000,
                                           "wire_bytes_per_message": 244},
                    "mem_idle_ws_deflate": {"value": 101.5},
                    "mem_idle_ws_deflate_low": {"value": 4.2},
                },
                "Tornado": {"ws_deflate_1k_c100": {"value": 5000, "server_cpu": 1.0,
                                                   "per_cpu_s": 5000}},
                "ceiling": {},
                "Node ws": {"skipped": "not selected"},
            },
        }
        lines = deflate_table(report).splitlines()
        self.assertIn("| tornado-cpp, defaults (context takeover, 15-bit windows, mem_level 8) "
                      "| 101.50 | 20,000 | 50% | 40,000 | 244 |", lines)
        self.assertIn("| Tornado, defaults (context takeover, 15-bit windows, mem_level 8) "
                      "| n/a | 5,000 | 100% | 5,000 | n/a |", lines)
        self.assertIn("| tornado-cpp, no context takeover, 9-bit windows, mem_level 1, state "
                      "released | 4.20 | n/a | n/a | n/a | n/a |", lines)
        self.assertFalse(any(line.startswith("| Node ws") for line in lines))


if __name__ == "__main__":
    CEILING = os.path.abspath(sys.argv.pop(1))
    WSLOAD = os.path.abspath(sys.argv.pop(1))
    TLSLOAD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
