// User's Guide, chapter 4 (docs/guide/04-queues.*.md): a web spider that
// fetches every page under a base URL with a few concurrent workers fed by a
// tornado::queues::Queue. Its Python twin is docs/guide/python/spider.py.
//
//   ./guide_spider --concurrency=3 http://127.0.0.1:8000/
#include <fmt/core.h>

#include <chrono>
#include <exception>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/queues.h"

// Resolves `link` against the page it was found on. Enough for this spider:
// absolute URLs, "/path" and "name.html"; "../" is left as it is.
std::string urljoin(const std::string& page, const std::string& link) {
  if (link.starts_with("http://") || link.starts_with("https://")) return link;
  auto host_end = page.find('/', page.find("//") + 2);
  if (link.starts_with("/")) return page.substr(0, host_end) + link;
  return page.substr(0, page.rfind('/') + 1) + link;
}

// The targets of every href="..." in `html`, without their #fragment.
std::vector<std::string> get_links(const std::string& page, const std::string& html) {
  std::vector<std::string> links;
  for (auto at = html.find("href=\""); at != std::string::npos; at = html.find("href=\"", at)) {
    at += 6;
    auto end = html.find('"', at);
    if (end == std::string::npos) break;
    std::string link = html.substr(at, end - at);
    link = link.substr(0, link.find('#'));
    if (!link.empty()) links.push_back(urljoin(page, link));
  }
  return links;
}

// The spider's state lives in one object that outlives all its workers: a
// member coroutine holds `this`, so the object must stay put until they end.
struct Spider {
  explicit Spider(std::string base) : base_url(std::move(base)) {}

  std::string base_url;
  tornado::queues::Queue<std::string> queue;
  std::set<std::string> fetching, fetched, dead;
  tornado::httpclient::AsyncHTTPClient http_client;

  tornado::Task<> fetch_url(std::string url) {
    if (fetching.contains(url)) co_return;
    tornado::log::app.info("fetching {}", url);
    fetching.insert(url);
    auto response = co_await http_client.fetch(url);
    fetched.insert(url);
    for (const auto& link : get_links(url, response.body)) {
      if (link.starts_with(base_url) && !fetching.contains(link)) co_await queue.put(link);
    }
  }

  // Takes URLs until it gets the empty string, which means "stop".
  tornado::Task<> worker() {
    for (;;) {
      std::string url = co_await queue.get();
      if (url.empty()) co_return;
      try {
        co_await fetch_url(url);
      } catch (const std::exception& e) {
        tornado::log::app.warning("{}: {}", url, e.what());
        dead.insert(url);
      }
      queue.task_done();
    }
  }
};

tornado::Task<> crawl(std::string base_url, int concurrency) {
  Spider spider(base_url);
  co_await spider.queue.put(base_url);

  std::vector<tornado::Future<>> workers;
  for (int i = 0; i < concurrency; ++i) workers.push_back(tornado::to_future(spider.worker()));
  co_await spider.queue.join(std::chrono::seconds(300));  // every URL task_done()
  for (int i = 0; i < concurrency; ++i) co_await spider.queue.put("");
  for (auto& worker : workers) co_await worker;

  fmt::print("Done: fetched {} URLs, {} dead.\n", spider.fetched.size(), spider.dead.size());
  for (const auto& url : spider.fetched) fmt::print("fetched {}\n", url);
  for (const auto& url : spider.dead) fmt::print("dead {}\n", url);
}

int main(int argc, char** argv) {
  tornado::options::define("concurrency", 10, "how many pages to fetch at once");
  auto args = tornado::options::parse_command_line(argc, argv);
  std::string base_url = args.empty() ? "http://127.0.0.1:8000/" : args[0];
  int concurrency = tornado::options::get<int>("concurrency");
  tornado::ioloop::IOLoop::current().run_sync([&] { return crawl(base_url, concurrency); });
}
