#!/usr/bin/python3
"""The lesson's first server in Python Tornado: a page at / and a WebSocket at
/websocket answering "You said: <message>". Twin of docs/examples/echo_websocket.cc.

Run it from any folder, then open http://localhost:8888/:

    python3 docs/lessons/python/echo_websocket.py
    python3 docs/lessons/python/echo_websocket.py --port=8000   # another port
"""

import logging
import os

import tornado.ioloop
import tornado.options
import tornado.web
import tornado.websocket

# The repository's folder, found from this file's own path, so that the
# templates and static files are found whichever folder the script runs from.
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
tornado.options.define("port", default=8888, type=int, help="port to listen on")


# GET / : the page whose script opens the WebSocket.
class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.render("index.html", title="Lekce 5: Interakce skrze websockets v Tornadu")


# WebSocket /websocket : one object per connected browser.
class EchoWebSocket(tornado.websocket.WebSocketHandler):
    # Called once the handshake is done: the socket is open.
    def open(self):
        logging.info("WebSocket opened")

    # Called for every message the browser sends.
    def on_message(self, message):
        self.write_message("You said: " + message)

    # Called once the socket is closed, by either side.
    def on_close(self):
        logging.info("WebSocket closed")


def main():
    tornado.options.parse_command_line()  # --port=N, and logging at level info
    app = tornado.web.Application(
        [
            (r"/", MainHandler),
            (r"/websocket", EchoWebSocket),
        ],
        template_path=os.path.join(ROOT, "templates", "lesson5"),
        static_path=os.path.join(ROOT, "apps", "lesson5", "static"),
    )
    app.listen(tornado.options.options.port)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
