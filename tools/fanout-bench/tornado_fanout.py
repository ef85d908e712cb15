"""The fan-out benchmark's Python Tornado twin: a set of handlers and a loop.

    python3 tornado_fanout.py SUBSCRIBERS [BURST] [SIZE]    prints its port

Once SUBSCRIBERS are connected it writes BURST messages of SIZE bytes to every
handler per turn of the loop, and waits (as tornado-cpp's `wait` policy) while
a connection has more than 256 KiB buffered.
"""

import asyncio
import socket
import sys

import tornado.ioloop
import tornado.web
import tornado.websocket

SUBSCRIBERS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
BURST = int(sys.argv[2]) if len(sys.argv) > 2 else 32
MESSAGE = "x" * (int(sys.argv[3]) if len(sys.argv) > 3 else 20)
clients = set()


class Subscriber(tornado.websocket.WebSocketHandler):
    def open(self):
        clients.add(self)
        if len(clients) == SUBSCRIBERS:
            asyncio.ensure_future(publish())

    def on_close(self):
        clients.discard(self)


def buffered(handler):
    stream = handler.ws_connection.stream if handler.ws_connection else None
    return len(stream._write_buffer) if stream else 0  # private: Tornado has no public count


async def publish():
    while True:
        if any(buffered(c) > 256 * 1024 for c in clients):
            await asyncio.sleep(0)
            continue
        for _ in range(BURST):
            for client in list(clients):
                try:
                    client.write_message(MESSAGE)
                except tornado.websocket.WebSocketClosedError:
                    pass
        await asyncio.sleep(0)


async def main():
    app = tornado.web.Application([(r"/sub", Subscriber)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    app.listen(port, "127.0.0.1")
    print(port, flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
