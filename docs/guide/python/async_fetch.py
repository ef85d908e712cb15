# User's Guide, chapter 2 (docs/guide/02-async.*.md): one HTTP fetch written
# three ways: blocking, with a callback, and as a coroutine. Its C++ twin is
# docs/examples/guide_async.cc.
#
#   python3 docs/guide/python/async_fetch.py http://127.0.0.1:8888/
import asyncio

import tornado.httpclient
import tornado.options


# Blocking: the calling thread waits for the answer and does nothing else.
def synchronous_fetch(url):
    http_client = tornado.httpclient.HTTPClient()
    response = http_client.fetch(url)
    return response.body


# A callback: the fetch starts, the function returns at once, and `callback`
# runs on the IOLoop once the answer is there.
def callback_fetch(url, callback):
    http_client = tornado.httpclient.AsyncHTTPClient()
    future = http_client.fetch(url)
    future.add_done_callback(lambda f: callback(f.result().body))


# A coroutine: reads like the blocking version, yet the loop serves others
# while it waits at `await`.
async def asynchronous_fetch(url):
    http_client = tornado.httpclient.AsyncHTTPClient()
    response = await http_client.fetch(url)
    return response.body


async def demo(url):
    # A Future turns the callback back into something a coroutine can await.
    got = asyncio.get_running_loop().create_future()
    callback_fetch(url, got.set_result)
    print(f"callback: {len(await got)} bytes")
    print(f"coroutine: {len(await asynchronous_fetch(url))} bytes")


if __name__ == "__main__":
    args = tornado.options.parse_command_line()
    url = args[0] if args else "http://127.0.0.1:8888/"
    print(f"synchronous: {len(synchronous_fetch(url))} bytes")
    asyncio.run(demo(url))
