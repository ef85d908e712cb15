# User's Guide, chapter 3 (docs/guide/03-coroutines.*.md): coroutines one
# after another and side by side, a timeout, a task in the background, and
# blocking work handed to a thread. Its C++ twin is
# docs/examples/guide_coroutines.cc; both print the same lines.
#
#   python3 docs/guide/python/coroutines.py
import asyncio
from datetime import timedelta

import tornado.gen
import tornado.ioloop
import tornado.util


# A coroutine is an `async def`; it waits with await and ends with return.
async def slow_square(x):
    await tornado.gen.sleep(x * 0.010)
    return x * x


# One after the other: the second starts when the first is done (~30 ms).
async def sequential():
    a = await slow_square(1)
    b = await slow_square(2)
    return a + b


# Side by side: multi starts both and waits for both (~20 ms).
async def parallel():
    squares = await tornado.gen.multi([slow_square(1), slow_square(2)])
    return squares[0] + squares[1]


# A deadline: with_timeout raises TimeoutError; the work itself goes on.
async def impatient():
    try:
        await tornado.gen.with_timeout(timedelta(milliseconds=5), slow_square(3))
    except tornado.util.TimeoutError:
        print("slow_square(3) took too long")


# Python keeps every object alive while anything refers to it, so a
# coroutine may use any variable it sees, even after the caller returned.
async def greet_later(name, done):
    await tornado.gen.sleep(0.001)
    print(f"hello, {name}")
    done.set_result(None)


async def background():
    done = asyncio.get_running_loop().create_future()
    name = "world"
    tornado.ioloop.IOLoop.current().spawn_callback(greet_later, name, done)
    await done


async def lambda_right():
    # Python's lambda cannot contain await; a nested async def plays its part.
    name = "lambda"

    async def greet():
        await tornado.gen.sleep(0.001)
        print(f"hello, {name}")

    await greet()


# Blocking work belongs on another thread; run_in_executor hands it to a
# thread pool and brings the result back to the loop.
def blocking_sum(n):
    return sum(range(1, n + 1))


async def sum_on_thread(n):
    return await tornado.ioloop.IOLoop.current().run_in_executor(None, blocking_sum, n)


async def main_coroutine():
    print(f"sequential: {await sequential()}")
    print(f"parallel: {await parallel()}")
    await impatient()
    await background()
    await lambda_right()
    print(f"sum on a thread: {await sum_on_thread(1000000)}")


if __name__ == "__main__":
    asyncio.run(main_coroutine())
