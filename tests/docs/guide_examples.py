#!/usr/bin/python3
"""Runs one User's Guide example (C++ or Python) and checks what it does.

    guide_examples.py CHAPTER -- COMMAND...

The same checks run against the C++ program (docs/examples/guide_*.cc) and its
Python twin (docs/guide/python/*.py), so the two cannot drift apart. A server
example is started with --port=0, its "Listening on http://127.0.0.1:PORT/"
log line tells the port, the checks talk to it over loopback, and its process
group is stopped at the end. Only the standard library is used here.
"""
import http.client
import http.server
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse

STARTUP_TIMEOUT = 60
RUN_TIMEOUT = 120


class Failure(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


class Server:
    """An example server, started in its own process group."""

    def __init__(self, command):
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines = []
        found = queue.Queue()

        def drain():
            for line in self.proc.stdout:
                self.lines.append(line)
                match = re.search(r"Listening on http://127\.0\.0\.1:(\d+)/", line)
                if match:
                    found.put(int(match.group(1)))
            found.put(None)

        threading.Thread(target=drain, daemon=True).start()
        try:
            self.port = found.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            self.port = None
        if not self.port:
            self.stop()
            raise Failure("the server never said where it listens:\n" + "".join(self.lines))
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";")[0].strip('"')
            return response.status, response.headers, text
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def run(command):
    """Runs a program that ends by itself; returns its stdout."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    expect(result.returncode == 0,
           f"exit status {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result.stdout


class Site:
    """A few static pages on a loopback port, for the examples that fetch."""

    def __init__(self, pages):
        self.dir = tempfile.TemporaryDirectory()
        for name, text in pages.items():
            path = os.path.join(self.dir.name, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        directory = self.dir.name

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=directory, **kwargs)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.dir.cleanup()


def xsrf_field(html):
    match = re.search(r'name="_xsrf" value="([^"]+)"', html)
    expect(match, f"no _xsrf field in:\n{html}")
    return match.group(1)


# ---- the checks, one per chapter ----------------------------------------

def check_hello(command):
    server = Server(command + ["--port=0"])
    try:
        status, _, body = server.request("GET", "/")
        expect((status, body) == (200, "Hello, world"), f"GET / gave {status} {body!r}")
        status, _, _ = server.request("GET", "/nowhere")
        expect(status == 404, f"GET /nowhere gave {status}")
    finally:
        server.stop()


def check_async(command):
    site = Site({"index.html": "x" * 1234})
    try:
        out = run(command + [site.url])
        expected = "synchronous: 1234 bytes\ncallback: 1234 bytes\ncoroutine: 1234 bytes\n"
        expect(out == expected, f"printed:\n{out}")
    finally:
        site.close()


def check_coroutines(command):
    out = run(command)
    expected = ("sequential: 5\nparallel: 5\nslow_square(3) took too long\nhello, world\n"
                "hello, lambda\nsum on a thread: 500000500000\n")
    expect(out == expected, f"printed:\n{out}")


def check_spider(command):
    site = Site({
        "index.html": '<a href="a.html">a</a> <a href="/b/c.html#top">c</a>'
                      ' <a href="http://example.invalid/">away</a> <a href="missing.html">x</a>',
        "a.html": '<a href="index.html">home</a> <a href="b/c.html">c</a>',
        "b/c.html": '<a href="d.html">d</a> <a href="/a.html">a</a>',
        "b/d.html": "the end",
    })
    try:
        out = run(command + ["--concurrency=3", site.url])
        u = site.url
        expected = (f"Done: fetched 5 URLs, 1 dead.\nfetched {u}\nfetched {u}a.html\n"
                    f"fetched {u}b/c.html\nfetched {u}b/d.html\nfetched {u}index.html\n"
                    f"dead {u}missing.html\n")
        expect(out == expected, f"printed:\n{out}\nexpected:\n{expected}")
    finally:
        site.close()


def check_structure(command):
    server = Server(command + ["--port=0"])
    try:
        status, _, body = server.request("GET", "/")
        expect(status == 200 and 'href="/story/1"' in body, f"GET / gave {status} {body!r}")
        status, headers, body = server.request("GET", "/story/1")
        expect(status == 200 and __import__("json").loads(body) ==
               {"id": "1", "title": "Tornado in C++"}, f"GET /story/1 gave {status} {body!r}")
        expect(headers["Content-Type"].startswith("application/json"), "story is not JSON")
        status, _, body = server.request("GET", "/story/9")
        expect(status == 404 and __import__("json").loads(body) == {"error": 404},
               f"GET /story/9 gave {status} {body!r}")
        status, _, body = server.request("GET", "/slow")
        expect((status, body) == (200, "Sorry to keep you waiting"), f"GET /slow gave {body!r}")
        status, _, body = server.request("POST", "/form", {"message": "hi there"})
        expect((status, body) == (200, "You wrote hi there"), f"POST /form gave {status} {body!r}")
        status, _, _ = server.request("POST", "/form", {"other": "x"})
        expect(status == 400, f"POST /form without message gave {status}")
        status, headers, _ = server.request("GET", "/old")
        expect(status == 301 and headers["Location"] == "/", f"GET /old gave {status}")
    finally:
        server.stop()


def check_templates(command):
    server = Server(command + ["--port=0"])
    try:
        status, _, body = server.request("GET", "/")
        expect(status == 200 and "<h1>MY LIST!</h1>" in body and "Nothing yet." in body,
               f"GET / gave {status}:\n{body}")
        token = xsrf_field(body)
        status, _, _ = server.request("POST", "/", {"item": "<b>milk</b>"})
        expect(status == 403, f"POST without _xsrf gave {status}")
        status, headers, _ = server.request("POST", "/", {"item": "<b>milk</b>", "_xsrf": token})
        expect(status == 302 and headers["Location"] == "/", f"POST / gave {status}")
        status, _, body = server.request("GET", "/")
        expect("<li>&lt;b&gt;milk&lt;/b&gt;</li>" in body and "<b>milk</b>" not in body,
               f"the item is not escaped:\n{body}")
        expect("Nothing yet." not in body, "the list is still empty")
    finally:
        server.stop()


def check_security(command):
    server = Server(command + ["--port=0"])
    try:
        status, headers, _ = server.request("GET", "/")
        expect(status == 302 and headers["Location"] == "/login?next=%2F",
               f"GET / without a user gave {status} {headers.get('Location')}")
        status, _, body = server.request("GET", "/login")
        token = xsrf_field(body)
        status, _, _ = server.request("POST", "/login", {"name": "Eva"})
        expect(status == 403, f"POST /login without _xsrf gave {status}")
        status, headers, _ = server.request("POST", "/login", {"name": "Eva", "_xsrf": token})
        expect(status == 302 and headers["Location"] == "/", f"POST /login gave {status}")
        expect(server.cookies.get("user", "").count("|") >= 4, f"user cookie {server.cookies}")
        status, _, body = server.request("GET", "/")
        expect((status, body) == (200, "Hello, Eva"), f"GET / signed in gave {status} {body!r}")
        server.cookies["user"] = "Mallory"
        status, _, _ = server.request("GET", "/")
        expect(status == 302, f"a forged user cookie gave {status}")
        for n in (1, 2):
            status, _, body = server.request("GET", "/visits")
            expect(body == f"Visits: {n}", f"GET /visits gave {body!r}")
    finally:
        server.stop()


def check_running(command):
    server = Server(command + ["--port=0", "--processes=2"])
    try:
        status, _, body = server.request("GET", "/")
        expect(status == 200 and re.match(r"Hello from process [01] to 127\.0\.0\.1\n", body),
               f"GET / gave {status} {body!r}")
        status, _, body = server.request("GET", "/", headers={"X-Real-IP": "10.0.0.7"})
        expect(" to 10.0.0.7\n" in body, f"X-Real-IP ignored: {body!r}")
        match = re.search(r"A file: (/static/hello\.txt\?v=\w+)", body)
        expect(match, f"no versioned static URL in {body!r}")
        status, _, text = server.request("GET", match.group(1))
        expect(status == 200 and text.startswith("A static file"), f"static file gave {status}")
    finally:
        server.stop()


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    chapter, command = sys.argv[1], sys.argv[3:]
    try:
        globals()["check_" + chapter](command)
    except Failure as failure:
        print(f"FAIL {chapter} ({' '.join(command)}): {failure}")
        sys.exit(1)
    print(f"ok {chapter} ({' '.join(command)})")


if __name__ == "__main__":
    main()
