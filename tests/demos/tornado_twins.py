#!/usr/bin/python3
"""Python Tornado twins of the demo apps' pages, for tests/demos_test.cc.

    tornado_twins.py APP --port N --template-path DIR --static-path DIR [options]

APP is chat, websocket or blog. Each twin is a small Tornado (Debian's
python3-tornado) application that serves the GET pages of the C++ app from
the same templates, static files and data, so that the test can compare the
pages byte for byte: the C++ template engine and handler namespace must
render what Tornado renders. The templates are either the apps' own
(templates/<app>/) or the Python demos' own, from Debian's python-tornado-doc.
The chat twins also serve /twin/message/N: message.html rendered for message
N, to compare with the html the app sent with it.

The data comes from the C++ app itself: the chat twins read the messages
(with their ids and html) from a JSON file, the blog twin reads the SQLite
database the C++ blog wrote (and trusts the same signed login cookie).
Prints "listening PORT" once it accepts connections.
"""
import argparse
import asyncio
import datetime
import json
import sqlite3

import tornado.ioloop
import tornado.web


def chat_app(args, settings):
    with open(args.messages) as f:
        messages = json.load(f)

    class MainHandler(tornado.web.RequestHandler):
        def get(self):
            self.render("index.html", messages=messages)

    class MessageHandler(tornado.web.RequestHandler):
        # The html the app sends with message N (chat's POST answer, the
        # websocket broadcast), rendered as the Python demos render it.
        def get(self, index):
            self.write(self.render_string("message.html", message=messages[int(index)]))

    return tornado.web.Application(
        [(r"/", MainHandler), (r"/twin/message/(\d+)", MessageHandler)],
        xsrf_cookies=True,
        **settings,
    )


def blog_app(args, settings):
    db = sqlite3.connect(args.db)
    db.row_factory = sqlite3.Row

    def parse_time(text):
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")

    def row_to_obj(row):
        obj = tornado.util.ObjectDict(dict(row))
        for key in ("published", "updated"):
            if key in obj:
                obj[key] = parse_time(obj[key])
        return obj

    def query(sql, *params):
        return [row_to_obj(row) for row in db.execute(sql, params).fetchall()]

    class BaseHandler(tornado.web.RequestHandler):
        def get_current_user(self):
            user_id = self.get_secure_cookie("blogdemo_user")
            if not user_id:
                return None
            authors = query("SELECT * FROM authors WHERE id = ?", int(user_id))
            return authors[0] if authors else None

    class HomeHandler(BaseHandler):
        def get(self):
            entries = query("SELECT * FROM entries ORDER BY published DESC, id DESC LIMIT 5")
            self.render("home.html", entries=entries)

    class EntryHandler(BaseHandler):
        def get(self, slug):
            entries = query("SELECT * FROM entries WHERE slug = ?", slug)
            if not entries:
                raise tornado.web.HTTPError(404)
            self.render("entry.html", entry=entries[0])

    class ArchiveHandler(BaseHandler):
        def get(self):
            entries = query("SELECT * FROM entries ORDER BY published DESC, id DESC")
            self.render("archive.html", entries=entries)

    class FeedHandler(BaseHandler):
        def get(self):
            entries = query("SELECT * FROM entries ORDER BY published DESC, id DESC LIMIT 10")
            self.set_header("Content-Type", "application/atom+xml")
            self.render("feed.xml", entries=entries)

    class ComposeHandler(BaseHandler):
        @tornado.web.authenticated
        def get(self):
            id = self.get_argument("id", None)
            entry = None
            if id:
                entry = query("SELECT * FROM entries WHERE id = ?", int(id))[0]
            self.render("compose.html", entry=entry)

    class AuthCreateHandler(BaseHandler):
        def get(self):
            self.render("create_author.html")

    class AuthLoginHandler(BaseHandler):
        def get(self):
            self.render("login.html", error=self.get_argument("error", None))

    class EntryModule(tornado.web.UIModule):
        def render(self, entry):
            return self.render_string("modules/entry.html", entry=entry)

    settings.update(
        blog_title=args.blog_title,
        ui_modules={"Entry": EntryModule},
        xsrf_cookies=True,
        cookie_secret=args.cookie_secret,
        login_url="/auth/login",
    )
    return tornado.web.Application(
        [
            (r"/", HomeHandler),
            (r"/archive", ArchiveHandler),
            (r"/feed", FeedHandler),
            (r"/entry/([^/]+)", EntryHandler),
            (r"/compose", ComposeHandler),
            (r"/auth/create", AuthCreateHandler),
            (r"/auth/login", AuthLoginHandler),
        ],
        **settings,
    )


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=["chat", "websocket", "blog"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--template-path", required=True)
    parser.add_argument("--static-path", required=True)
    parser.add_argument("--messages")
    parser.add_argument("--db")
    parser.add_argument("--blog-title", default="Tornado Blog")
    parser.add_argument(
        "--cookie-secret", default="__TODO:_GENERATE_YOUR_OWN_RANDOM_VALUE_HERE__"
    )
    args = parser.parse_args()
    settings = dict(template_path=args.template_path, static_path=args.static_path)
    if args.app == "blog":
        app = blog_app(args, settings)
    else:
        app = chat_app(args, settings)
    app.listen(args.port, address="127.0.0.1")
    print("listening", args.port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
