# User's Guide, chapter 7 (docs/guide/07-security.*.md): a plain cookie, a
# signed cookie that remembers who signed in, a page only for signed-in
# users, and XSRF protection of the login form. Its C++ twin is
# docs/examples/guide_security.cc.
#
#   python3 docs/guide/python/security.py --port=8888
import asyncio
import logging

import tornado.escape
import tornado.httpserver
import tornado.netutil
import tornado.options
import tornado.web

tornado.options.define("port", default=8888, help="port to listen on (0: any free port)")
tornado.options.define("cookie_secret", default="change me: a long random string",
                       help="the key that signs cookies")


# Every handler that needs to know the user derives from this one.
class BaseHandler(tornado.web.RequestHandler):
    def get_current_user(self):
        name = self.get_secure_cookie("user")  # get_signed_cookie from Tornado 6.3
        if not name:
            return None  # no cookie, or a forged or expired one
        return name.decode()


class MainHandler(BaseHandler):
    @tornado.web.authenticated  # redirects to /login?next=%2F
    def get(self):
        self.write("Hello, " + tornado.escape.xhtml_escape(self.current_user))


class LoginHandler(BaseHandler):
    def get(self):
        self.write('<form action="/login" method="post">' + self.xsrf_form_html() +
                   'Name: <input type="text" name="name">'
                   '<input type="submit" value="Sign in"></form>')

    # Reached only with a valid _xsrf field: xsrf_cookies checks every POST.
    def post(self):
        self.set_secure_cookie("user", self.get_argument("name"))
        self.redirect(self.get_argument("next", "/"))


# A plain cookie: the browser may change it at will, so never trust it.
class VisitsHandler(tornado.web.RequestHandler):
    def get(self):
        visits = int(self.get_cookie("visits", "0")) + 1
        self.set_cookie("visits", str(visits))
        self.write("Visits: " + str(visits))


async def main():
    tornado.options.parse_command_line()
    app = tornado.web.Application(
        [
            (r"/", MainHandler),
            (r"/login", LoginHandler),
            (r"/visits", VisitsHandler),
        ],
        cookie_secret=tornado.options.options.cookie_secret,
        xsrf_cookies=True,
        login_url="/login",
    )
    sockets = tornado.netutil.bind_sockets(tornado.options.options.port, "127.0.0.1")
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    logging.info("Listening on http://127.0.0.1:%d/", sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
