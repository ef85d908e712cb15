#!/usr/bin/env python3
"""Serves the pages under templates/ with Tornado's own Application, UI
modules and ui_methods, and writes each page's body to expected/<page>.out,
which tests/web_template_test.cc compares with tornado-cpp's output byte for
byte (its C++ modules and values mirror the ones below).

Run with Debian's python3-tornado:  /usr/bin/python3 generate_expected.py
"""
import datetime
import os
import sys

import tornado.escape
import tornado.httpclient
import tornado.httpserver
import tornado.ioloop
import tornado.testing
import tornado.web
from tornado.util import ObjectDict

HERE = os.path.dirname(os.path.abspath(__file__))
PAGES = ["home", "chat"]

ENTRIES = [
    ObjectDict(id=1, slug="first", title="First <post>", html="<p>one</p>",
               published=datetime.datetime(2024, 3, 9, 14, 5, 7)),
    ObjectDict(id=2, slug="second", title="Second & last", html="<p>two</p>",
               published=datetime.datetime(2023, 12, 31, 23, 59, 0)),
]
MESSAGES = [
    {"id": "a1", "from": "ann", "body": "see http://example.com/x?a=1&b=2 <now>"},
    {"id": "b2", "from": "bob", "body": "plain text"},
]


class EntryModule(tornado.web.UIModule):
    def render(self, entry):
        return self.render_string("modules/entry.html", entry=entry)

    def embedded_css(self):
        return ".entry { margin: 0 }"

    def javascript_files(self):
        return ["entry.js", "https://cdn.example.com/lib.js"]


class BoxModule(tornado.web.UIModule):
    def render(self, title):
        return "<aside>" + tornado.escape.xhtml_escape(title) + "</aside>"

    def embedded_javascript(self):
        return "box();"

    def css_files(self):
        return "box.css"

    def html_head(self):
        return '<meta name="box">'

    def html_body(self):
        return "<footer>box</footer>"


def shout(handler, text):
    return text.upper() + "!" + handler.request.path


class PageHandler(tornado.web.RequestHandler):
    def get_current_user(self):
        return "ann"

    def get(self, page):
        self.render(page + ".html", entries=ENTRIES, messages=MESSAGES, count=3)


def make_app():
    return tornado.web.Application(
        [(r"/page/(.*)", PageHandler)],
        template_path=os.path.join(HERE, "templates"),
        static_path=os.path.join(HERE, "static"),
        ui_modules={"Entry": EntryModule, "Box": BoxModule},
        ui_methods={"shout": shout},
        blog_title="Tornado's <blog>",
    )


async def fetch_all():
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(make_app())
    server.add_sockets([sock])
    client = tornado.httpclient.AsyncHTTPClient()
    for page in PAGES:
        response = await client.fetch(
            "http://127.0.0.1:%d/page/%s?q=x" % (port, page),
            headers={"Host": "example.com"})
        with open(os.path.join(HERE, "expected", page + ".out"), "wb") as f:
            f.write(response.body)
        print("%-12s %6d bytes" % (page, len(response.body)))
    server.stop()


def main():
    tornado.ioloop.IOLoop.current().run_sync(fetch_all)
    return 0


if __name__ == "__main__":
    sys.exit(main())
