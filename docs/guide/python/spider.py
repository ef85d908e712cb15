# User's Guide, chapter 4 (docs/guide/04-queues.*.md): a web spider that
# fetches every page under a base URL with a few concurrent workers fed by a
# tornado.queues.Queue. Its C++ twin is docs/examples/guide_spider.cc.
#
#   python3 docs/guide/python/spider.py --concurrency=3 http://127.0.0.1:8000/
import asyncio
import logging
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

import tornado.httpclient
import tornado.options
import tornado.queues

tornado.options.define("concurrency", default=10, help="how many pages to fetch at once")


class LinkParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        self.hrefs.extend(value for name, value in attrs if name == "href" and value)


# The targets of every href="..." in `html`, without their #fragment.
def get_links(page, html):
    parser = LinkParser()
    parser.feed(html)
    links = (urldefrag(urljoin(page, href)).url for href in parser.hrefs)
    return [link for link in links if link]


async def crawl(base_url, concurrency):
    queue = tornado.queues.Queue()
    fetching, fetched, dead = set(), set(), set()
    http_client = tornado.httpclient.AsyncHTTPClient()

    async def fetch_url(url):
        if url in fetching:
            return
        logging.info("fetching %s", url)
        fetching.add(url)
        response = await http_client.fetch(url)
        fetched.add(url)
        for link in get_links(url, response.body.decode(errors="replace")):
            if link.startswith(base_url) and link not in fetching:
                await queue.put(link)

    # Takes URLs until it gets None, which means "stop".
    async def worker():
        async for url in queue:
            if url is None:
                return
            try:
                await fetch_url(url)
            except Exception as e:
                logging.warning("%s: %s", url, e)
                dead.add(url)
            finally:
                queue.task_done()

    await queue.put(base_url)
    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    await queue.join(timeout=timedelta(seconds=300))  # every URL task_done()
    for _ in range(concurrency):
        await queue.put(None)
    await asyncio.gather(*workers)

    print(f"Done: fetched {len(fetched)} URLs, {len(dead)} dead.")
    for url in sorted(fetched):
        print(f"fetched {url}")
    for url in sorted(dead):
        print(f"dead {url}")


if __name__ == "__main__":
    args = tornado.options.parse_command_line()
    base_url = args[0] if args else "http://127.0.0.1:8000/"
    asyncio.run(crawl(base_url, tornado.options.options.concurrency))
