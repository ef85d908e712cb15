# User's Guide, chapter 8 (docs/guide/08-running.*.md): a main() as it runs
# in production: options from the command line or a config file, static
# files, X-Real-IP from a proxy, and several processes sharing one port.
# Its C++ twin is docs/examples/guide_running.cc. Run it from the
# repository root:
#
#   python3 docs/guide/python/running.py --port=8888 --processes=0
import asyncio
import logging

import tornado.httpserver
import tornado.netutil
import tornado.options
import tornado.process
import tornado.web

tornado.options.define("port", default=8888, help="port to listen on (0: any free port)")
tornado.options.define("processes", default=1, help="processes to fork (0: one per CPU)")
tornado.options.define("config", default="", help="a file of name = value lines")


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello from process %d to %s\n"
                   % (tornado.process.task_id() or 0, self.request.remote_ip))
        self.write("A file: %s\n" % self.static_url("hello.txt"))


async def post_fork_main(sockets):
    app = tornado.web.Application(
        [(r"/", MainHandler)],
        static_path="docs/guide/static",
    )
    # xheaders: behind nginx, take the client's address from X-Real-IP.
    server = tornado.httpserver.HTTPServer(app, xheaders=True)
    server.add_sockets(sockets)
    await asyncio.Event().wait()


def main():
    tornado.options.parse_command_line()
    if tornado.options.options.config:
        tornado.options.parse_config_file(tornado.options.options.config)
    sockets = tornado.netutil.bind_sockets(tornado.options.options.port, "127.0.0.1")
    logging.info("Listening on http://127.0.0.1:%d/", sockets[0].getsockname()[1])
    # Forks here when processes is not 1; every child goes on below and
    # starts its own event loop. No event loop may exist before this line.
    if tornado.options.options.processes != 1:
        tornado.process.fork_processes(tornado.options.options.processes)
    asyncio.run(post_fork_main(sockets))


if __name__ == "__main__":
    main()
