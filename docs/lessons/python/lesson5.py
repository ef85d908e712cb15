#!/usr/bin/python3
"""Lesson 5 in Python Tornado: the same server as tornado-cpp's apps/lesson5.

This is the "Python Tornado" side of the lesson (docs/lessons/05-websockets.*.md)
and the reference the browser tests in tests/e2e/ were first written against.
It renders the same templates (templates/lesson5/) and serves the same static
files (apps/lesson5/static/) as the C++ app. Run it from anywhere:

    python3 docs/lessons/python/lesson5.py --port 8888
    python3 docs/lessons/python/lesson5.py --certfile cert.pem --keyfile key.pem

Routes:
    GET /            the echo page; its script opens ws://<host>/websocket
    WS  /websocket   answers every message with "You said: <message>"
    GET /chat        the chat page; its script opens ws://<host>/chatsocket
    WS  /chatsocket  a chat room: JSON messages, broadcast, join/leave, history

The pages speak Czech or English: the templates' strings are English and go
through _(); apps/lesson5/locale/cs.po makes them Czech. A request gets
?lang=cs|en (remembered in a cookie), else the browser's Accept-Language,
else English. Python has no build step, so the script compiles the catalogue
with gettext's msgfmt when it starts (the C++ build does it in CMake).

The chat's wire format is described in docs/lessons/05-websockets.en.md and at
the top of apps/lesson5/static/chat.js.
"""

import asyncio
import atexit
import collections
import glob
import json
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

import tornado.ioloop
import tornado.locale
import tornado.options
import tornado.web
import tornado.websocket
from tornado.options import define, options

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MAX_NICK = 32
MAX_BODY = 2000

define("port", default=8888, type=int, help="TCP port for HTTP and WebSocket")
define("address", default="127.0.0.1", help="address to bind")
define("certfile", default="", help="certificate (PEM): serve https and wss instead")
define("keyfile", default="", help="private key (PEM) of --certfile")
define("history", default=100, type=int, help="chat messages kept for newcomers")
define("locale_path", default="",
       help="folder of compiled translations (LANG/LC_MESSAGES/lesson5.mo); "
            "default: apps/lesson5/locale/*.po, compiled at start")

log = logging.getLogger("tornado.application")

# Every open WebSocket, so that a graceful stop can close them with 1001.
open_sockets = set()


def chosen_locale(handler):
    """The language the visitor chose: ?lang=cs or ?lang=en, else the one
    remembered in the lang cookie. None lets Tornado ask the browser:
    get_browser_locale() reads Accept-Language, and a language without a
    catalogue gets the strings as written, in English."""
    lang = handler.get_argument("lang", "") or handler.get_cookie("lang", "")
    if lang not in ("cs", "en"):
        return None
    return tornado.locale.get(lang)


class LessonPage(tornado.web.RequestHandler):
    """A page of the lesson, in the visitor's language."""

    def get_user_locale(self):
        return chosen_locale(self)

    def render_page(self, name, **values):
        # A language picked with ?lang= stays for the next pages (and the
        # chat's socket, whose messages to this visitor are translated too).
        lang = self.get_argument("lang", "")
        if lang in ("cs", "en"):
            self.set_cookie("lang", lang)
        # The same URL answers in several languages: caches must keep them apart.
        self.set_header("Vary", "Accept-Language, Cookie")
        self.render(name, **values)


class MainHandler(LessonPage):
    def get(self):
        self.render_page("index.html")


class ChatPageHandler(LessonPage):
    def get(self):
        self.render_page("chat.html", history=options.history)


class EchoWebSocket(tornado.websocket.WebSocketHandler):
    """The classic: every message comes back as "You said: <message>"."""

    def open(self):
        open_sockets.add(self)
        log.info("WebSocket opened")

    def on_message(self, message):
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        self.write_message("You said: " + message)

    def on_close(self):
        open_sockets.discard(self)
        log.info("WebSocket closed")


def clean_nick(nick):
    """One line, at most MAX_NICK characters (code points), never empty."""
    return " ".join(nick.split())[:MAX_NICK].rstrip() or "anonym"


def now_ms():
    return int(time.time() * 1000)


class ChatRoom:
    """Who is connected, and the most recent messages for newcomers."""

    def __init__(self, history):
        self.clients = set()
        self.history = collections.deque(maxlen=history)
        self.last_id = 0

    def broadcast(self, frame):
        text = json.dumps(frame, ensure_ascii=False)
        for client in list(self.clients):
            try:
                client.write_message(text)
            except tornado.websocket.WebSocketClosedError:
                pass  # on_close removes it in a moment

    def join(self, client):
        client.write_message(
            json.dumps({"type": "history", "messages": list(self.history)}, ensure_ascii=False)
        )
        self.clients.add(client)
        self.broadcast(
            {"type": "join", "nick": client.nick, "users": len(self.clients), "time": now_ms()}
        )

    def leave(self, client):
        if client in self.clients:
            self.clients.remove(client)
            self.broadcast(
                {"type": "leave", "nick": client.nick, "users": len(self.clients), "time": now_ms()}
            )

    def say(self, nick, body):
        self.last_id += 1
        message = {"type": "message", "id": self.last_id, "nick": nick, "body": body,
                   "time": now_ms()}
        self.history.append(message)
        self.broadcast(message)


class ChatSocket(tornado.websocket.WebSocketHandler):
    """One chat client. The room lives in the Application's settings."""

    def initialize(self, room):
        self.room = room
        self.nick = "anonym"

    def open(self):
        open_sockets.add(self)
        self.nick = clean_nick(self.get_argument("nick", ""))
        self.room.join(self)

    def on_message(self, message):
        if isinstance(message, bytes):
            return  # the chat speaks text only
        body = message
        try:
            frame = json.loads(message)
        except ValueError:
            frame = None
        if isinstance(frame, dict) and isinstance(frame.get("body"), str):
            body = frame["body"]
            if isinstance(frame.get("nick"), str):
                self.nick = clean_nick(frame["nick"])
        if body.strip():
            self.room.say(self.nick, body[:MAX_BODY])

    def on_close(self):
        open_sockets.discard(self)
        self.room.leave(self)


def make_app():
    room = ChatRoom(options.history)
    return tornado.web.Application(
        [
            (r"/", MainHandler),
            (r"/websocket", EchoWebSocket),
            (r"/chat", ChatPageHandler),
            (r"/chatsocket", ChatSocket, {"room": room}),
        ],
        template_path=os.path.join(ROOT, "templates", "lesson5"),
        static_path=os.path.join(ROOT, "apps", "lesson5", "static"),
    )


def parse_args(argv):
    """Tornado's --name=value, and also --name value as the C++ app takes it."""
    args = [argv[0]]
    rest = iter(argv[1:])
    for arg in rest:
        name = arg[2:].replace("-", "_") if arg.startswith("--") else ""
        if name and "=" not in name and name != "help" and name in options:
            arg += "=" + next(rest, "")
        args.append(arg)
    try:
        extra = tornado.options.parse_command_line(args)
        if extra:
            raise tornado.options.Error("unexpected argument %r" % extra[0])
        if options.history < 0:
            raise tornado.options.Error("--history must be 0 or more")
        if bool(options.certfile) != bool(options.keyfile):
            raise tornado.options.Error("--certfile and --keyfile go together")
    except (tornado.options.Error, ValueError) as e:
        print("lesson5: %s" % e, file=sys.stderr)
        sys.exit(2)


async def shutdown(server):
    """Stop listening, close every WebSocket with 1001 (going away), stop."""
    server.stop()
    for socket in list(open_sockets):
        socket.close(1001, "server shutting down")
    deadline = time.monotonic() + 3
    while open_sockets and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    tornado.ioloop.IOLoop.current().stop()


def compile_translations():
    """apps/lesson5/locale/LANG.po -> a temporary LANG/LC_MESSAGES/lesson5.mo
    for each language, by gettext's msgfmt; returns the folder."""
    target = tempfile.mkdtemp(prefix="lesson5-locale-")
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    for po in glob.glob(os.path.join(ROOT, "apps", "lesson5", "locale", "*.po")):
        lang = os.path.splitext(os.path.basename(po))[0]
        folder = os.path.join(target, lang, "LC_MESSAGES")
        os.makedirs(folder)
        try:
            subprocess.run(["msgfmt", "--check", "-o", os.path.join(folder, "lesson5.mo"), po],
                           check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print("lesson5: cannot compile %s with gettext's msgfmt (tools/bootstrap "
                  "installs it): %s" % (po, e), file=sys.stderr)
            sys.exit(2)
    return target


def main():
    parse_args(sys.argv)
    if options.locale_path and not os.path.isdir(options.locale_path):
        print("lesson5: --locale-path %s is not a folder" % options.locale_path, file=sys.stderr)
        sys.exit(2)
    tornado.locale.load_gettext_translations(
        options.locale_path or compile_translations(), "lesson5")
    # The templates are written in English: "en" rather than Tornado's default
    # "en_US", so that every English (en-GB, en) matches it; with "en_US" a
    # browser asking for "en, cs;q=0.5" would get Czech, its second choice.
    tornado.locale.set_default_locale("en")
    ssl_options = None
    if options.certfile:
        ssl_options = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_options.load_cert_chain(options.certfile, options.keyfile)
    app = make_app()
    server = app.listen(options.port, address=options.address, ssl_options=ssl_options)
    scheme = "https" if ssl_options else "http"
    log.info("Serving the lesson on %s://%s:%d/", scheme, options.address, options.port)

    loop = tornado.ioloop.IOLoop.current()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.asyncio_loop.add_signal_handler(
            sig, lambda: asyncio.ensure_future(shutdown(server)))
    loop.start()


if __name__ == "__main__":
    main()
