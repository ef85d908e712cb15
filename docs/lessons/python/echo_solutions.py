#!/usr/bin/python3
"""Solutions to the lesson's echo exercises (docs/lessons/05-websockets.*.md):
the server greets every client by itself, counts each connection's messages,
and tells every client the time every 10 seconds. It serves the same echo page
as echo_websocket.py; the C++ twin is docs/examples/echo_solutions.cc.

    python3 docs/lessons/python/echo_solutions.py    then open http://localhost:8888/
"""

import os
import time

import tornado.ioloop
import tornado.options
import tornado.web
import tornado.websocket

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
tornado.options.define("port", default=8888, type=int, help="port to listen on")


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.render("index.html", title="Lekce 5: Interakce skrze websockets v Tornadu")


class CountingEchoWebSocket(tornado.websocket.WebSocketHandler):
    # Every open connection, for the clock.
    clients = set()

    def open(self):
        self.count = 0  # an attribute of the object: every connection counts on its own
        self.clients.add(self)
        self.write_message("Hello from the server")  # nobody asked: the server speaks first

    def on_message(self, message):
        self.count += 1
        self.write_message("You said (%d): %s" % (self.count, message))

    def on_close(self):
        self.clients.discard(self)


# Started once in main(), not per connection: one clock for everybody.
def tell_the_time():
    text = "Server time: " + time.strftime("%H:%M:%S")
    for client in CountingEchoWebSocket.clients:
        client.write_message(text)


def main():
    tornado.options.parse_command_line()
    app = tornado.web.Application(
        [
            (r"/", MainHandler),
            (r"/websocket", CountingEchoWebSocket),
        ],
        template_path=os.path.join(ROOT, "templates", "lesson5"),
        static_path=os.path.join(ROOT, "apps", "lesson5", "static"),
    )
    app.listen(tornado.options.options.port)
    tornado.ioloop.PeriodicCallback(tell_the_time, 10000).start()
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
