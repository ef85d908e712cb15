#!/usr/bin/python3
"""Tests of tools/wsload against a scripted WebSocket echo server.

The server here is written on asyncio and the standard library only, so that
wsload is checked against an implementation it shares nothing with. Its modes
misbehave on purpose (a wrong byte, a wrong opcode, a wrong accept key) and
wsload must notice; others are legal but awkward (fragmented echoes with pings
in between, slow echoes) and wsload must cope and measure them.

    wsload_test.py build/tools/wsload/wsload
"""

import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

WSLOAD = None
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    if not b1 & 0x80:
        raise ValueError("unmasked client frame")
    mask = await reader.readexactly(4)
    data = bytearray(await reader.readexactly(n))
    for i in range(n):
        data[i] ^= mask[i & 3]
    return b0 & 0xF0, b0 & 0x0F, bytes(data)


class ScriptedServer:
    """An echo server on 127.0.0.1 in a thread; `mode` picks its behaviour."""

    def __init__(self, mode="echo"):
        self.mode = mode
        self.messages = 0
        self.pongs = 0
        self.connections = 0
        self.uncompressed = 0  # deflate modes: client messages without RSV1
        self.offers = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    async def _serve(self):
        self.stop_event = asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        await self.stop_event.wait()
        server.close()
        clients = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)

    async def _client(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = None
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"sec-websocket-key:"):
                    key = line.split(b":", 1)[1].strip()
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            if self.mode == "bad-accept":
                accept = base64.b64encode(hashlib.sha1(b"wrong").digest())
            if self.mode == "refuse":
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                writer.close()
                return
            extensions = b""
            inflater = deflater = None
            if self.mode.startswith("deflate"):
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"sec-websocket-extensions:"):
                        self.offers.append(line.split(b":", 1)[1].strip().decode())
                # The client's window limited to 10 bits: wsload must honour it.
                extensions = (b"Sec-WebSocket-Extensions: permessage-deflate; "
                              b"client_max_window_bits=10\r\n")
                inflater = zlib.decompressobj(-10)
                deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
            self.connections += 1  # before the client can see the 101
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n" +
                         extensions + b"\r\n")
            while True:
                fin, opcode, data = await read_frame(reader)
                if opcode == 8:
                    writer.write(frame(8, data[:2]))
                    await writer.drain()
                    break
                if opcode == 0xA:
                    self.pongs += 1
                    continue
                self.messages += 1
                if inflater is not None:
                    await self._deflate_echo(writer, opcode, data, fin, inflater, deflater)
                    continue
                await self._echo(writer, opcode, data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _deflate_echo(self, writer, opcode, data, bits, inflater, deflater):
        if not bits & 0x40:
            self.uncompressed += 1
            message = data
        else:
            message = inflater.decompress(data + b"\x00\x00\xff\xff")
        if self.mode == "deflate-corrupt" and self.messages == 50:
            message = bytes([message[0] ^ 1]) + message[1:]
        out = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
        writer.write(bytes([0xC0 | opcode]) + frame(opcode, out[:-4])[1:])
        await writer.drain()

    async def _echo(self, writer, opcode, data):
        n = self.messages
        if self.mode == "corrupt" and n == 50:
            data = bytes([data[0] ^ 1]) + data[1:]
        if self.mode == "short" and n == 50:
            data = data[:-1]
        if self.mode == "swap-opcode" and n == 50:
            opcode = 2 if opcode == 1 else 1
        if self.mode == "slow":
            await asyncio.sleep(0.02)
        if self.mode == "fragment" and len(data) >= 3:
            # Three fragments with a ping between them, each its own write.
            third = len(data) // 3
            writer.write(frame(opcode, data[:third], fin=False))
            await writer.drain()
            writer.write(frame(9, b"are you there"))
            writer.write(frame(0, data[third:2 * third], fin=False))
            await writer.drain()
            writer.write(frame(0, data[2 * third:]))
        elif self.mode == "dribble":
            # The echo one byte per write, header included.
            for b in frame(opcode, data):
                writer.write(bytes([b]))
                await writer.drain()
        else:
            writer.write(frame(opcode, data))
        await writer.drain()


def wsload(port, *flags, timeout=60):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        path = tmp.name
    try:
        out = subprocess.run([WSLOAD, "--url", f"ws://127.0.0.1:{port}/echo", "--json", path,
                              *flags], capture_output=True, text=True, timeout=timeout)
        try:
            with open(path) as f:
                report = json.load(f)
        except ValueError:
            report = None
        return out, report
    finally:
        os.unlink(path)


class WsloadTest(unittest.TestCase):
    def test_echoes_are_counted_and_verified(self):
        with ScriptedServer() as server:
            out, r = wsload(server.port, "--connections", "4", "--depth", "3", "--size", "300",
                            "--duration", "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(r["connected"], 4)
        self.assertEqual(r["errors"], 0)
        self.assertGreater(r["messages"], 100)
        self.assertGreater(r["messages_per_s"], 100)
        self.assertLessEqual(r["latency_us"]["p50"], r["latency_us"]["p99"])

    def test_binary_and_large_messages(self):
        with ScriptedServer() as server:
            out, r = wsload(server.port, "--connections", "2", "--size", "70000", "--binary",
                            "--duration", "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(r["binary"])
        self.assertGreater(r["messages"], 2)

    def test_empty_messages(self):
        with ScriptedServer() as server:
            out, r = wsload(server.port, "--size", "0", "--duration", "0.5")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertGreater(r["messages"], 10)

    def test_fragmented_echo_with_pings_is_accepted(self):
        with ScriptedServer("fragment") as server:
            out, r = wsload(server.port, "--connections", "2", "--size", "1000", "--duration",
                            "1")
            pongs = server.pongs
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertGreater(r["messages"], 10)
        self.assertGreater(pongs, 10)  # every ping was answered

    def test_echo_split_into_single_bytes(self):
        with ScriptedServer("dribble") as server:
            out, r = wsload(server.port, "--size", "200", "--duration", "0.5")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertGreater(r["messages"], 2)

    def test_a_wrong_byte_is_an_error(self):
        with ScriptedServer("corrupt") as server:
            out, r = wsload(server.port, "--size", "20", "--duration", "2")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(r["error_kinds"]["mismatch"], 1)
        self.assertIn("message 49 differs at byte 0", out.stderr)

    def test_a_short_echo_is_an_error(self):
        with ScriptedServer("short") as server:
            out, r = wsload(server.port, "--size", "20", "--duration", "2")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(r["error_kinds"]["mismatch"], 1)

    def test_a_text_echo_of_binary_is_an_error(self):
        with ScriptedServer("swap-opcode") as server:
            out, r = wsload(server.port, "--binary", "--duration", "2")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(r["error_kinds"]["mismatch"], 1)

    def test_wrong_accept_key_fails_the_handshake(self):
        with ScriptedServer("bad-accept") as server:
            out, r = wsload(server.port, "--connections", "3", "--duration", "0.5")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(r["error_kinds"]["handshake"], 3)
        self.assertEqual(r["connected"], 0)

    def test_refused_upgrade_fails_the_handshake(self):
        with ScriptedServer("refuse") as server:
            out, r = wsload(server.port, "--duration", "0.5")
        self.assertEqual(out.returncode, 1)
        self.assertIn("403", out.stderr)

    def test_nothing_listening_is_a_connect_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        out, r = wsload(port, "--connections", "2", "--duration", "0.5")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(r["error_kinds"]["connect"], 2)

    def test_latency_percentiles_measure_a_slow_server(self):
        with ScriptedServer("slow") as server:
            out, r = wsload(server.port, "--connections", "5", "--duration", "1.5")
        self.assertEqual(out.returncode, 0, out.stderr)
        p50 = r["latency_us"]["p50"]
        self.assertGreater(p50, 19000)
        self.assertLess(p50, 40000)
        # One message in flight per connection: 5 connections / 20 ms.
        self.assertLess(r["messages_per_s"], 260)

    def test_warmup_is_not_counted(self):
        with ScriptedServer("slow") as server:
            out, r = wsload(server.port, "--warmup", "0.5", "--duration", "0.5")
            sent = server.messages
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertLess(r["messages"], sent * 0.7)
        self.assertAlmostEqual(r["duration_s"], 0.5, delta=0.1)

    def test_idle_holds_connections_until_interrupted(self):
        with ScriptedServer() as server:
            proc = subprocess.Popen([WSLOAD, "--url", f"ws://127.0.0.1:{server.port}/echo",
                                     "--idle", "--connections", "300", "--duration", "30",
                                     "--source-addresses", "127.0.0.1,127.0.0.2,127.0.0.3"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = proc.stdout.readline()
            self.assertEqual(line.strip(), "wsload: ready, 300 connections open")
            self.assertEqual(server.connections, 300)
            self.assertEqual(server.messages, 0)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            rest, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("errors      0", rest)

    def test_deflate_echoes_are_inflated_and_verified(self):
        with ScriptedServer("deflate") as server:
            out, r = wsload(server.port, "--deflate", "--connections", "3", "--size", "1024",
                            "--duration", "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(r["errors"], 0)
        self.assertGreater(r["messages"], 20)
        self.assertEqual(server.uncompressed, 0)
        self.assertEqual(set(server.offers), {"permessage-deflate; client_max_window_bits"})
        # JSON-like text, every message different: compressed, not to nothing.
        self.assertLess(r["compressed_bytes_per_message"], 700)
        self.assertGreater(r["compressed_bytes_per_message"], 100)

    def test_deflate_wrong_byte_is_an_error(self):
        with ScriptedServer("deflate-corrupt") as server:
            out, r = wsload(server.port, "--deflate", "--size", "1024", "--duration", "2")
        self.assertEqual(out.returncode, 1)
        self.assertGreaterEqual(r["error_kinds"]["mismatch"], 1)
        self.assertIn("differs at byte 0", out.stderr)

    def test_deflate_not_accepted_fails_the_handshake(self):
        with ScriptedServer() as server:
            out, r = wsload(server.port, "--deflate", "--duration", "1")
        self.assertEqual(out.returncode, 1)
        self.assertGreaterEqual(r["error_kinds"]["handshake"], 1)
        self.assertIn("permessage-deflate was not accepted", out.stderr)

    def test_idle_deflate_is_ready_after_one_echo_each(self):
        with ScriptedServer("deflate") as server:
            proc = subprocess.Popen([WSLOAD, "--url", f"ws://127.0.0.1:{server.port}/echo",
                                     "--idle", "--deflate", "--size", "1024", "--connections",
                                     "20", "--duration", "30"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = proc.stdout.readline()
            self.assertEqual(line.strip(), "wsload: ready, 20 connections open")
            self.assertEqual(server.messages, 20)
            self.assertEqual(server.uncompressed, 0)
            proc.send_signal(signal.SIGINT)
            rest, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("errors      0", rest)

    def test_only_loopback_targets(self):
        out = subprocess.run([WSLOAD, "--url", "ws://192.0.2.1:80/echo", "--duration", "1"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 2)
        self.assertIn("loopback", out.stderr)
        out = subprocess.run([WSLOAD, "--url", "ws://127.0.0.1:80/echo", "--source-addresses",
                              "10.0.0.1"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 2)

    def test_bad_usage(self):
        for flags in (["--connections", "0"], ["--bogus", "1"], ["--url", "http://x"], []):
            out = subprocess.run([WSLOAD, *flags], capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, flags)
            self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)


if __name__ == "__main__":
    WSLOAD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
