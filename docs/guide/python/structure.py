# User's Guide, chapter 5 (docs/guide/05-structure.*.md): an Application's
# parts: routes with groups and names, a handler given its database through
# initialize(), arguments from forms, errors, redirects and a handler base
# class. Its C++ twin is docs/examples/guide_structure.cc.
#
#   python3 docs/guide/python/structure.py --port=8888
import asyncio
import logging

import tornado.gen
import tornado.httpserver
import tornado.netutil
import tornado.options
import tornado.web

tornado.options.define("port", default=8888, help="port to listen on (0: any free port)")


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write('<a href="%s">The first story</a>' % self.reverse_url("story", "1"))


# A base class for the JSON handlers: errors are answered in JSON too.
class JsonHandler(tornado.web.RequestHandler):
    def write_error(self, status_code, **kwargs):
        self.write({"error": status_code})


class StoryHandler(JsonHandler):
    # Called for every request with the route's extra arguments.
    def initialize(self, db):
        self.db = db

    # The route's group ([0-9]+) arrives as an argument.
    def get(self, story_id):
        if story_id not in self.db:
            raise tornado.web.HTTPError(404)
        self.write({"id": story_id, "title": self.db[story_id]})


# An asynchronous handler: while it waits, the loop serves other requests.
class SlowHandler(tornado.web.RequestHandler):
    async def get(self):
        await tornado.gen.sleep(0.05)
        self.write("Sorry to keep you waiting")


class FormHandler(tornado.web.RequestHandler):
    def get(self):
        self.write(
            '<form action="/form" method="post">'
            '<input type="text" name="message"><input type="submit" value="Send">'
            "</form>"
        )

    def post(self):
        self.set_header("Content-Type", "text/plain")
        self.write("You wrote " + self.get_argument("message"))  # 400 when it is missing


async def main():
    tornado.options.parse_command_line()
    db = {"1": "Tornado in C++"}
    app = tornado.web.Application([
        (r"/", MainHandler),
        tornado.web.url(r"/story/([0-9]+)", StoryHandler, dict(db=db), name="story"),
        (r"/slow", SlowHandler),
        (r"/form", FormHandler),
        (r"/old", tornado.web.RedirectHandler, dict(url="/")),
    ])
    sockets = tornado.netutil.bind_sockets(tornado.options.options.port, "127.0.0.1")
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    logging.info("Listening on http://127.0.0.1:%d/", sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
