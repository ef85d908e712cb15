// apps/webspider: Tornado's webspider demo (shared/CONTRACT.md,
// "apps/<demo>"). Crawls --base with --concurrency workers taking URLs from
// a tornado::queues::Queue, follows the links (<a href>) that lead under the
// base, prints every URL it fetches and the time taken.
#include <chrono>
#include <cstdio>
#include <set>

#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/queues.h"

namespace options = tornado::options;

namespace {

std::string remove_fragment(std::string url) {
  auto hash = url.find('#');
  if (hash != std::string::npos) url.erase(hash);
  return url;
}

// Resolves `ref` against `base` as a browser does (RFC 3986 section 5.2),
// for the http(s) URLs a crawl meets.
std::string urljoin(const std::string& base, const std::string& ref) {
  if (ref.empty()) return base;
  auto scheme_end = ref.find("://");
  if (scheme_end != std::string::npos && ref.find_first_of("/?#") > scheme_end) return ref;
  auto base_scheme = base.find("://");
  if (base_scheme == std::string::npos) return ref;
  std::string scheme = base.substr(0, base_scheme);
  if (ref.starts_with("//")) return scheme + ":" + ref;
  auto path_at = base.find('/', base_scheme + 3);
  std::string origin = path_at == std::string::npos ? base : base.substr(0, path_at);
  std::string base_path = path_at == std::string::npos ? "/" : base.substr(path_at);
  base_path = base_path.substr(0, base_path.find_first_of("?#"));
  std::string path;
  std::string query;
  if (ref.starts_with('?')) {
    path = base_path;
    query = ref;
  } else {
    auto query_at = ref.find('?');
    std::string ref_path = ref.substr(0, query_at);
    if (query_at != std::string::npos) query = ref.substr(query_at);
    path = ref_path.starts_with('/') ? ref_path
                                     : base_path.substr(0, base_path.rfind('/') + 1) + ref_path;
  }
  // Remove "." and ".." segments.
  std::vector<std::string> segments;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    std::string segment =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    bool last = slash == std::string::npos;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      if (last) segments.emplace_back();
    } else if (segment == ".") {
      if (last) segments.emplace_back();
    } else {
      segments.push_back(segment);
    }
    if (last) break;
    start = slash + 1;
  }
  std::string out = origin;
  for (const auto& segment : segments) out += "/" + segment;
  if (segments.empty()) out += "/";
  return out + query;
}

// The href of every <a> tag in `html`.
std::vector<std::string> get_links(std::string_view html) {
  std::vector<std::string> urls;
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  for (std::size_t at = html.find('<'); at != std::string_view::npos; at = html.find('<', at + 1)) {
    if (at + 2 >= html.size() || lower(html[at + 1]) != 'a' ||
        !std::isspace(static_cast<unsigned char>(html[at + 2]))) {
      continue;
    }
    auto end = html.find('>', at);
    std::string tag(
        html.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
    std::string folded = tag;
    for (char& c : folded) c = lower(c);
    auto href = folded.find("href");
    while (href != std::string::npos) {
      std::size_t p = href + 4;
      while (p < tag.size() && std::isspace(static_cast<unsigned char>(tag[p]))) ++p;
      if (p < tag.size() && tag[p] == '=') {
        ++p;
        while (p < tag.size() && std::isspace(static_cast<unsigned char>(tag[p]))) ++p;
        std::string value;
        if (p < tag.size() && (tag[p] == '"' || tag[p] == '\'')) {
          auto close = tag.find(tag[p], p + 1);
          value = tag.substr(p + 1, close == std::string::npos ? std::string::npos : close - p - 1);
        } else {
          auto stop = tag.find_first_of(" \t\r\n", p);
          value = tag.substr(p, stop == std::string::npos ? std::string::npos : stop - p);
        }
        if (!value.empty()) urls.push_back(value);
        break;
      }
      href = folded.find("href", href + 4);
    }
  }
  return urls;
}

tornado::Task<std::vector<std::string>> get_links_from_url(std::string url) {
  std::vector<std::string> urls;
  try {
    tornado::httpclient::AsyncHTTPClient client;
    auto response = co_await client.fetch(url);
    std::printf("fetched %s\n", url.c_str());
    for (const auto& link : get_links(response.body)) {
      urls.push_back(urljoin(url, remove_fragment(link)));
    }
  } catch (const std::exception& e) {
    std::printf("Exception: %s %s\n", e.what(), url.c_str());
  }
  co_return urls;
}

struct Crawl {
  std::string base_url;
  tornado::queues::Queue<std::string> q;
  std::set<std::string> fetching;
  std::set<std::string> fetched;

  tornado::Task<> fetch_url() {
    std::string current_url = co_await q.get();
    if (!fetching.contains(current_url)) {
      std::printf("fetching %s\n", current_url.c_str());
      fetching.insert(current_url);
      auto urls = co_await get_links_from_url(current_url);
      fetched.insert(current_url);
      for (auto& new_url : urls) {
        // Only follow links beneath the base URL.
        if (new_url.starts_with(base_url)) co_await q.put(std::move(new_url));
      }
    }
    q.task_done();
  }

  tornado::Task<> worker() {
    while (true) co_await fetch_url();
  }
};

tornado::Task<> crawl(Crawl& c) {
  auto start = std::chrono::steady_clock::now();
  c.q.put_nowait(c.base_url);
  for (int i = 0; i < options::get<int>("concurrency"); ++i) tornado::spawn(c.worker());
  co_await c.q.join(std::chrono::seconds(300));
  if (c.fetching != c.fetched) throw std::logic_error("fetching and fetched differ");
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("Done in %.0f seconds, fetched %zu URLs.\n", seconds, c.fetched.size());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  options::define("base", std::string("http://www.tornadoweb.org/en/stable/"),
                  "the URL to crawl from; links under it are followed");
  options::define("concurrency", 10, "workers fetching at once");
  options::define("port", 8888, "unused (common flag)");
  options::define("address", std::string(), "unused (common flag)");
  options::define("debug", false, "unused (common flag)");
  options::parse_command_line(argc, argv);
  // The workers still wait on the queue when the crawl is done: the crawl
  // outlives the loop's run.
  Crawl c;
  c.base_url = options::get<std::string>("base");
  try {
    tornado::ioloop::IOLoop::current().run_sync([&] { return crawl(c); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webspider: %s\n", e.what());
    return 1;
  }
}
