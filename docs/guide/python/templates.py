# User's Guide, chapter 6 (docs/guide/06-templates.*.md): a page rendered
# from templates (docs/guide/templates/), with inheritance, a loop, escaping,
# a function of our own and an XSRF-protected form. Its C++ twin is
# docs/examples/guide_templates.cc. Run it from the repository root:
#
#   python3 docs/guide/python/templates.py --port=8888
import asyncio
import logging

import tornado.httpserver
import tornado.netutil
import tornado.options
import tornado.web

tornado.options.define("port", default=8888, help="port to listen on (0: any free port)")


class ItemsHandler(tornado.web.RequestHandler):
    def initialize(self, items):
        self.items = items

    def get(self):
        self.render("items.html", title="My list", items=self.items)

    def post(self):
        self.items.append(self.get_argument("item"))  # kept as typed: the template escapes it
        self.redirect("/")


# A function templates may call: {{ shout(title) }}. Tornado passes the
# handler first.
def shout(handler, text):
    return text.upper() + "!"


async def main():
    tornado.options.parse_command_line()
    items = []
    app = tornado.web.Application(
        [
            (r"/", ItemsHandler, dict(items=items)),
        ],
        template_path="docs/guide/templates",
        cookie_secret="a long random string, kept secret",
        xsrf_cookies=True,
        ui_methods={"shout": shout},
    )
    sockets = tornado.netutil.bind_sockets(tornado.options.options.port, "127.0.0.1")
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    logging.info("Listening on http://127.0.0.1:%d/", sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
