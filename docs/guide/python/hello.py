# User's Guide, chapter 1 (docs/guide/01-introduction.*.md): the smallest
# Tornado application. Its C++ twin is docs/examples/guide_hello.cc.
#
#   python3 docs/guide/python/hello.py --port=8888
import asyncio
import logging

import tornado.httpserver
import tornado.netutil
import tornado.options
import tornado.web

tornado.options.define("port", default=8888, help="port to listen on (0: any free port)")


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")


async def main():
    tornado.options.parse_command_line()
    app = tornado.web.Application([
        (r"/", MainHandler),
    ])
    # app.listen(port) is enough; binding first tells us the port when it is 0.
    sockets = tornado.netutil.bind_sockets(tornado.options.options.port, "127.0.0.1")
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    logging.info("Listening on http://127.0.0.1:%d/", sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
