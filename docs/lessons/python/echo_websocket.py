#!/usr/bin/python3
"""The lesson's first server in Python Tornado: a page at / and a WebSocket at
/websocket answering "You said: <message>". Twin of docs/examples/echo_websocket.cc.

Run from the repository root, then open http://localhost:8888/:

    python3 docs/lessons/python/echo_websocket.py
"""

import logging

import tornado.ioloop
import tornado.web
import tornado.websocket


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
    logging.basicConfig(level=logging.INFO)
    app = tornado.web.Application(
        [
            (r"/", MainHandler),
            (r"/websocket", EchoWebSocket),
        ],
        template_path="templates/lesson5",
        static_path="apps/lesson5/static",
    )
    app.listen(8888)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
