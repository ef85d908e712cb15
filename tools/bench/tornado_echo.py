#!/usr/bin/python3
"""The apps/echo contract served by Tornado itself: the "Tornado" column of the bench.

Runs on Debian's python3-tornado (hence the interpreter path above) and answers
the routes of /work/shared/CONTRACT.md's apps/echo the way an ordinary Tornado
application would, so that tools/bench/run measures Tornado doing the same work
as tornado-cpp's build/apps/echo/echo_server:

    /usr/bin/python3 tools/bench/tornado_echo.py --port 8888 --logging warning

GET /plaintext, GET /json, POST /echo-body, GET /static/<path>, WebSocket /echo
(any Origin), WebSocket /echo-origin (Tornado's same-origin check) and
WebSocket /echo-auth (a 403 before the upgrade without the `user` cookie).
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys

import tornado.httpserver
import tornado.ioloop
import tornado.log
import tornado.netutil
import tornado.process
import tornado.web
import tornado.websocket

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_STATIC = os.path.normpath(os.path.join(HERE, "..", "..", "apps", "echo", "static"))

open_sockets = set()


class PlaintextHandler(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("Hello, World!")


class JsonHandler(tornado.web.RequestHandler):
    def get(self):
        # Serialised per request, as a handler returning data would do.
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"message": "Hello, World!"}, separators=(",", ":")))


class EchoBodyHandler(tornado.web.RequestHandler):
    def post(self):
        content_type = self.request.headers.get("Content-Type", "application/octet-stream")
        self.set_header("Content-Type", content_type)
        self.write(self.request.body)


class EchoWebSocket(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def open(self):
        # As every other target does; without it Nagle's algorithm holds back
        # the second of two echoes in flight until the client's delayed ACK.
        self.set_nodelay(True)
        open_sockets.add(self)

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self):
        open_sockets.discard(self)


class EchoOriginWebSocket(EchoWebSocket):
    check_origin = tornado.websocket.WebSocketHandler.check_origin


class EchoAuthWebSocket(EchoWebSocket):
    def prepare(self):
        # Runs before the upgrade: without the cookie the answer is a 403.
        if not self.get_cookie("user"):
            raise tornado.web.HTTPError(403)


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"tornado_echo: {message}\n")
        sys.exit(2)


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def parse_args(argv):
    p = OneLineErrorParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8888, help="TCP port (default 8888)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--certfile", help="serve HTTPS and WSS with this certificate")
    p.add_argument("--keyfile", help="private key for --certfile")
    p.add_argument("--tls-port", type=int, help="also serve HTTPS/WSS on this port")
    p.add_argument("--workers", type=positive_int, default=1, help="processes sharing the port")
    p.add_argument("--logging", default="info",
                   choices=["debug", "info", "warning", "error", "none"])
    p.add_argument("--max-body-size", type=positive_int, default=1 << 20)
    p.add_argument("--max-header-size", type=positive_int, default=64 << 10)
    p.add_argument("--idle-connection-timeout", type=float, default=3600.0)
    p.add_argument("--body-timeout", type=float, default=3600.0)
    p.add_argument("--max-message-size", type=positive_int, default=64 << 20)
    p.add_argument("--static-path", default=DEFAULT_STATIC)
    p.add_argument("--compression", action="store_true",
                   help="offer permessage-deflate on the WebSocket routes")
    args = p.parse_args(argv)
    if bool(args.certfile) != bool(args.keyfile):
        p.error("--certfile and --keyfile go together")
    if args.tls_port and not args.certfile:
        p.error("--tls-port needs --certfile and --keyfile")
    return args


def make_app(args):
    return tornado.web.Application(
        [
            (r"/plaintext", PlaintextHandler),
            (r"/json", JsonHandler),
            (r"/echo-body", EchoBodyHandler),
            (r"/echo", EchoWebSocket),
            (r"/echo-origin", EchoOriginWebSocket),
            (r"/echo-auth", EchoAuthWebSocket),
        ],
        static_path=args.static_path,
        websocket_max_message_size=args.max_message_size,
        websocket_ping_interval=None,
        compress_response=False,
    )


def main(argv):
    args = parse_args(argv)
    if args.logging == "none":
        logging.disable(logging.CRITICAL)
    else:
        logging.basicConfig(level=getattr(logging, args.logging.upper()))
        tornado.log.enable_pretty_logging()
        logging.getLogger().setLevel(getattr(logging, args.logging.upper()))

    if args.compression:
        EchoWebSocket.get_compression_options = lambda self: {}

    tls = None
    if args.certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.certfile, args.keyfile)

    # Sockets are bound before forking so that every worker shares them.
    plain_sockets = tornado.netutil.bind_sockets(args.port, args.address, backlog=4096)
    tls_sockets = []
    if args.tls_port:
        tls_sockets = tornado.netutil.bind_sockets(args.tls_port, args.address, backlog=4096)
    if args.workers > 1:
        tornado.process.fork_processes(args.workers)

    async def serve():
        app = make_app(args)
        settings = dict(
            max_body_size=args.max_body_size,
            max_header_size=args.max_header_size,
            idle_connection_timeout=args.idle_connection_timeout,
            body_timeout=args.body_timeout,
        )
        servers = []
        # With --certfile alone the main port speaks TLS; with --tls-port too,
        # the main port stays plain and the extra one speaks TLS.
        main_tls = tls if (tls and not args.tls_port) else None
        server = tornado.httpserver.HTTPServer(app, ssl_options=main_tls, **settings)
        server.add_sockets(plain_sockets)
        servers.append(server)
        if tls_sockets:
            tls_server = tornado.httpserver.HTTPServer(app, ssl_options=tls, **settings)
            tls_server.add_sockets(tls_sockets)
            servers.append(tls_server)

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()

        for s in servers:
            s.stop()
        for ws in list(open_sockets):
            ws.close(1001, "server shutting down")
        # In-flight responses and close handshakes get a moment to finish.
        await asyncio.sleep(0.2)
        for s in servers:
            await asyncio.wait_for(s.close_all_connections(), timeout=2)

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
