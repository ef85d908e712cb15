#!/usr/bin/python3
"""Solution to the lesson's chat exercise (docs/lessons/05-websockets.*.md):
the message /kdo ("who") sends only the asker the list of connected nicks, as
{"type": "who", "nicks": [...]}; everything else is the chat of
chat_websocket.py. The C++ twin is docs/examples/chat_solutions.cc.

    python3 docs/lessons/python/chat_solutions.py    then open http://localhost:8888/chat
"""

import json
import os
import sys

import tornado.ioloop
import tornado.options
import tornado.web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_websocket import ROOT, ChatPageHandler, ChatSocket  # noqa: E402


class WhoChatSocket(ChatSocket):
    def on_message(self, message):
        try:
            frame = json.loads(message)
        except ValueError:
            frame = None
        body = frame.get("body") if isinstance(frame, dict) else message
        if body == "/kdo":
            # To the asker alone: write_message, not broadcast.
            nicks = sorted(client.nick for client in self.clients)
            self.write_message(json.dumps({"type": "who", "nicks": nicks}, ensure_ascii=False))
            return
        super().on_message(message)


def main():
    tornado.options.parse_command_line()
    app = tornado.web.Application(
        [
            (r"/chat", ChatPageHandler),
            (r"/chatsocket", WhoChatSocket),
        ],
        template_path=os.path.join(ROOT, "templates", "lesson5"),
        static_path=os.path.join(ROOT, "apps", "lesson5", "static"),
    )
    app.listen(tornado.options.options.port)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
