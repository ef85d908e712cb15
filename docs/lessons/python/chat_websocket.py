#!/usr/bin/python3
"""The lesson's chat in Python Tornado: every message goes to every connected
browser, and the server itself tells everyone when someone comes or goes.
Twin of docs/examples/chat_websocket.cc.

Run it from any folder, then open http://localhost:8888/chat:

    python3 docs/lessons/python/chat_websocket.py
    python3 docs/lessons/python/chat_websocket.py --port=8000   # another port
"""

import collections
import json
import os
import time

import tornado.ioloop
import tornado.options
import tornado.web
import tornado.websocket

# The repository's folder, found from this file's own path (see echo_websocket.py).
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
tornado.options.define("port", default=8888, type=int, help="port to listen on")

HISTORY = 100


def now_ms():
    return int(time.time() * 1000)


class ChatSocket(tornado.websocket.WebSocketHandler):
    # Who is connected, and the last messages for newcomers: class attributes,
    # shared by every ChatSocket (all of them run on the one IOLoop).
    clients = set()
    history = collections.deque(maxlen=HISTORY)
    last_id = 0

    @classmethod
    def broadcast(cls, frame):
        text = json.dumps(frame, ensure_ascii=False)
        for client in cls.clients:
            try:
                client.write_message(text)
            except tornado.websocket.WebSocketClosedError:
                pass  # closing right now: its on_close() removes it

    def open(self):
        self.nick = self.get_argument("nick", "anonym")
        # The newcomer first gets the history, then everyone hears of the join.
        self.write_message(json.dumps({"type": "history", "messages": list(self.history)},
                                      ensure_ascii=False))
        self.clients.add(self)
        self.broadcast({"type": "join", "nick": self.nick, "users": len(self.clients),
                        "time": now_ms()})

    def on_message(self, message):
        body = message  # plain text is a body too
        try:
            frame = json.loads(message)
        except ValueError:
            frame = None
        if isinstance(frame, dict) and isinstance(frame.get("body"), str):
            body = frame["body"]
            if isinstance(frame.get("nick"), str):
                self.nick = frame["nick"]
        if not body.strip():
            return  # blank
        ChatSocket.last_id += 1
        chat = {"type": "message", "id": ChatSocket.last_id, "nick": self.nick,
                "body": body, "time": now_ms()}
        self.history.append(chat)
        self.broadcast(chat)

    def on_close(self):
        self.clients.remove(self)
        self.broadcast({"type": "leave", "nick": self.nick, "users": len(self.clients),
                        "time": now_ms()})


class ChatPageHandler(tornado.web.RequestHandler):
    def get(self):
        self.render("chat.html", title="Lekce 5: Interakce skrze websockets v Tornadu",
                    history=HISTORY)


def main():
    tornado.options.parse_command_line()
    app = tornado.web.Application(
        [
            (r"/chat", ChatPageHandler),
            (r"/chatsocket", ChatSocket),
        ],
        template_path=os.path.join(ROOT, "templates", "lesson5"),
        static_path=os.path.join(ROOT, "apps", "lesson5", "static"),
    )
    app.listen(tornado.options.options.port)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
