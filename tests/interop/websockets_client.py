#!/usr/bin/python3
"""WebSocket interop client on Python's `websockets` (Debian's python3-websockets).

Echo round trips against a server speaking the apps/echo contract (WebSocket
/echo echoes every message unchanged, text as text, binary as binary):

    ECHO_URL=ws://127.0.0.1:8888/echo /usr/bin/python3 tests/interop/websockets_client.py
    ECHO_URL=... ECHO_COMPRESSION=1 /usr/bin/python3 tests/interop/websockets_client.py

ECHO_COMPRESSION=1 says the server was started with --compression: every
connection offers permessage-deflate and must get it. Otherwise the server
must decline an offer, and the round trips run uncompressed. ECHO_TODO lists
case ids (comma-separated) known to fail against the server under test; they
are reported as TAP TODO and do not fail the run. Prints TAP and exits 1 if
any other check failed (2 on bad usage).
"""

import asyncio
import os
import random
import sys

import websockets
from websockets.extensions import permessage_deflate

URL = os.environ.get("ECHO_URL", "")
COMPRESSION = os.environ.get("ECHO_COMPRESSION") == "1"
TIMEOUT = float(os.environ.get("ECHO_TIMEOUT_MS", "15000")) / 1000
MIB = 1024 * 1024
# Case ids expected to fail against this server: reported as TAP TODO.
TODO = set(filter(None, os.environ.get("ECHO_TODO", "").split(",")))
NON_ASCII = "Příliš žluťoučký kůň úpěl ďábelské ódy — 日本語 — 🐎🎉"


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def describe(data):
    return f"{len(data)} {'bytes' if isinstance(data, bytes) else 'characters'}" if len(
        data) > 40 else repr(data)


def connect(offer_deflate):
    # ping_interval=None: the client's own keepalive pings would interleave
    # with the ones the checks send.
    return websockets.connect(URL, compression="deflate" if offer_deflate else None,
                              max_size=64 * MIB, ping_interval=None, open_timeout=TIMEOUT,
                              close_timeout=TIMEOUT)


def negotiated(ws):
    return [extension.name for extension in ws.extensions]


async def expect_echo(ws, sent):
    received = await asyncio.wait_for(ws.recv(), TIMEOUT)
    check(type(received) is type(sent),
          f"expected a {'binary' if isinstance(sent, bytes) else 'text'} message, "
          f"got {'binary' if isinstance(received, bytes) else 'text'}")
    check(received == sent, f"echo differs: sent {describe(sent)}, got {describe(received)}")


async def ping(ws, payload):
    # The waiter resolves only for a pong carrying the same payload.
    waiter = await ws.ping(payload)
    await asyncio.wait_for(waiter, TIMEOUT)


def with_connection(body):
    """Runs `body(ws)` on a fresh connection, then closes it cleanly."""

    async def run():
        async with connect(COMPRESSION) as ws:
            names = negotiated(ws)
            if COMPRESSION:
                check("permessage-deflate" in names,
                      f"permessage-deflate not negotiated (extensions: {names})")
            else:
                check(names == [], f"no extension expected, got {names}")
            await body(ws)
            await ws.close()
            check(ws.close_code == 1000, f"close answered with {ws.close_code}, expected 1000")

    return run


async def text(ws):
    await ws.send("Hello, world")
    await expect_echo(ws, "Hello, world")


async def binary(ws):
    data = bytes(range(256))
    await ws.send(data)
    await expect_echo(ws, data)


async def empty(ws):
    await ws.send("")
    await expect_echo(ws, "")
    await ws.send(b"")
    await expect_echo(ws, b"")


async def non_ascii(ws):
    await ws.send(NON_ASCII)
    await expect_echo(ws, NON_ASCII)


async def mebibyte_binary(ws):
    data = random.randbytes(MIB)
    await ws.send(data)
    await expect_echo(ws, data)


async def mebibyte_text(ws):
    data = ("tornado-cpp says hello. " * (MIB // 24 + 1))[:MIB]
    await ws.send(data)
    await expect_echo(ws, data)


async def fragmented_text(ws):
    fragments = ["start ", NON_ASCII[:20], NON_ASCII[20:], " end"]
    await ws.send(fragments)  # an iterable: one frame per item
    await expect_echo(ws, "".join(fragments))


async def fragmented_binary(ws):
    data = random.randbytes(64 * 4096)
    await ws.send([data[i:i + 4096] for i in range(0, len(data), 4096)])
    await expect_echo(ws, data)


async def message_after_ping(ws):
    await ping(ws, b"ping payload")
    await ws.send("after the ping")
    await expect_echo(ws, "after the ping")


async def ping_between_fragments(ws):
    pong = None

    async def fragments():
        nonlocal pong
        yield "first half, "
        pong = await ws.ping(b"mid-message")  # sent before the next fragment
        yield "second half"

    await ws.send(fragments())
    await asyncio.wait_for(pong, TIMEOUT)
    await expect_echo(ws, "first half, second half")


async def hundred_in_order(ws):
    sent = [f"message {i}" if i % 2 else f"binary {i}".encode() for i in range(100)]
    for message in sent:
        await ws.send(message)
    for message in sent:
        await expect_echo(ws, message)


async def compressed_on_the_wire(ws):
    """The server's frames really are deflated: RSV1 set, payload smaller."""
    frames = []
    original = permessage_deflate.PerMessageDeflate.decode

    def recording_decode(self, frame, *, max_size=None):
        frames.append((frame.rsv1, len(frame.data)))
        return original(self, frame, max_size=max_size)

    permessage_deflate.PerMessageDeflate.decode = recording_decode
    try:
        data = "a compressible line of text\n" * 2000
        await ws.send(data)
        await expect_echo(ws, data)
    finally:
        permessage_deflate.PerMessageDeflate.decode = original
    check(frames, "no frame went through permessage-deflate")
    rsv1, size = frames[-1]
    check(rsv1, "the echo arrived with RSV1 clear: not compressed")
    check(size < len(data) // 10, f"the echo's payload is {size} bytes for {len(data)} of text")


def auth_url():
    return URL.rsplit("/", 1)[0] + "/echo-auth"


async def auth_refused_before_upgrade():
    """/echo-auth: prepare() answers 403 before the handshake without the cookie."""
    try:
        async with websockets.connect(auth_url(), open_timeout=TIMEOUT, ping_interval=None):
            pass
    except websockets.exceptions.InvalidStatusCode as error:
        check(error.status_code == 403, f"refused with {error.status_code}, expected 403")
    else:
        raise CheckFailed("the handshake succeeded without the cookie")
    async with websockets.connect(auth_url(), open_timeout=TIMEOUT, ping_interval=None,
                                  extra_headers={"Cookie": "user=ada"}) as ws:
        await ws.send("let in")
        await expect_echo(ws, "let in")


async def offer_declined():
    async with connect(True) as ws:
        check(negotiated(ws) == [], f"extensions negotiated: {negotiated(ws)}")
        await ws.send("still works")
        await expect_echo(ws, "still works")


CASES = [
    ("text", "text round trip", with_connection(text)),
    ("binary", "binary round trip (all 256 byte values)", with_connection(binary)),
    ("empty", "empty text and empty binary messages", with_connection(empty)),
    ("non-ascii", "non-ASCII text round trip", with_connection(non_ascii)),
    ("mebibyte-binary", "1 MiB binary message (random bytes)", with_connection(mebibyte_binary)),
    ("mebibyte-text", "1 MiB text message (repetitive, compresses well)",
     with_connection(mebibyte_text)),
    ("fragmented-text", "fragmented text message (sent as an iterable)",
     with_connection(fragmented_text)),
    ("fragmented-binary", "fragmented binary message (64 fragments of 4 KiB)",
     with_connection(fragmented_binary)),
    ("ping", "ping answered with the same payload, then a message",
     with_connection(message_after_ping)),
    ("ping-between-fragments", "ping between the fragments of a message",
     with_connection(ping_between_fragments)),
    ("in-order", "100 messages in a row come back in order", with_connection(hundred_in_order)),
]
if COMPRESSION:
    CASES.append(("compressed-on-the-wire", "the server's frames are deflated on the wire (RSV1)",
                  with_connection(compressed_on_the_wire)))
else:
    CASES.append(("auth-before-upgrade", "/echo-auth refuses with 403 before the upgrade, "
                  "lets a client with the cookie in", auth_refused_before_upgrade))
if not COMPRESSION:
    CASES.insert(0, ("offer-declined", "a server without --compression declines permessage-deflate",
                     offer_declined))


async def main():
    mode = "permessage-deflate" if COMPRESSION else "uncompressed"
    print("TAP version 13")
    print(f"# websockets {websockets.version.version} against {URL} ({mode})")
    print(f"1..{len(CASES)}")
    passed = failed = todo = 0
    for number, (case_id, name, run) in enumerate(CASES, 1):
        label = f"{number} - {name} [{mode}]"
        try:
            await asyncio.wait_for(run(), 4 * TIMEOUT)
        except Exception as error:  # every failure is reported, none stops the run
            if case_id in TODO:
                todo += 1
                print(f"not ok {label} # TODO known to fail (ECHO_TODO={case_id})")
            else:
                failed += 1
                print(f"not ok {label}")
            reason = str(error) or type(error).__name__
            print(f"  ---\n  message: {reason!r}\n  ...")
        else:
            passed += 1
            print(f"ok {label}{' # TODO passes now' if case_id in TODO else ''}")
        sys.stdout.flush()
    known = f", {todo} known failures (TODO)" if todo else ""
    print(f"# websockets client: {passed} passed, {failed} failed{known}")
    return 1 if failed else 0


if __name__ == "__main__":
    if not URL:
        print("ECHO_URL is not set (e.g. ws://127.0.0.1:8888/echo)", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main()))
