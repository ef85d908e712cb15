// Tornado's demos carried over (apps/helloworld, tcpecho, file_upload,
// webspider, chat, websocket, blog): each built binary is started and driven
// from outside, over HTTP, WebSocket and TCP, as shared/CONTRACT.md
// describes them.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "redis_support.h"
#include "tornado/escape.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::ioloop::IOLoop;

namespace {

std::string app_path(const std::string& relative) {
  return std::string(TORNADO_BINARY_DIR) + "/apps/" + relative;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string log_path(const std::string& name) {
  return std::string(TORNADO_BINARY_DIR) + "/demos_test_" + name + ".log";
}

// A server process on a free port, stopped (and its log shown on failure)
// at the end.
class Server {
 public:
  Server(const std::string& binary, const std::string& name, std::vector<std::string> flags = {})
      : Server(std::vector<std::string>{app_path(binary)}, name, std::move(flags)) {}
  // Any program taking --port N (a Python twin, say).
  Server(std::vector<std::string> command, const std::string& name,
         std::vector<std::string> flags = {})
      : port_(tornado::testing::free_port()), log_(log_path(name)) {
    std::vector<std::string> argv = std::move(command);
    argv.insert(argv.end(), {"--port", std::to_string(port_)});
    argv.insert(argv.end(), flags.begin(), flags.end());
    pid_ = tornado::testing::spawn_process(argv, log_);
  }
  ~Server() {
    tornado::testing::stop_process(pid_, SIGTERM);
    if (::testing::Test::HasFailure())
      std::fprintf(stderr, "--- %s:\n%s", log_.c_str(), log().c_str());
  }
  bool ready() const { return pid_ > 0 && tornado::testing::wait_for_port(port_, 10s); }
  int port() const { return port_; }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  std::string log() const { return slurp(log_); }
  // Waits until the server's log shows `text` (it logs after answering).
  bool logged(const std::string& text) const {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  int port_;
  std::string log_;
  pid_t pid_ = -1;
};

// Runs a client program to its end; returns its exit status and output.
std::pair<int, std::string> run_program(const std::string& name, std::vector<std::string> argv) {
  std::string log = log_path(name);
  pid_t pid = tornado::testing::spawn_process(argv, log);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(log)};
}

tornado::httpclient::HTTPResponse fetch(const std::string& url,
                                        tornado::httpclient::HTTPRequest options = {}) {
  IOLoop loop;
  return loop.run_sync(
      [&]() -> Task<tornado::httpclient::HTTPResponse> {
        tornado::httpclient::AsyncHTTPClient client;
        co_return co_await client.fetch(url, options, false);
      },
      10s);
}

tornado::httpclient::HTTPResponse get(const std::string& url) {
  return fetch(url);
}

// A form POST (application/x-www-form-urlencoded), redirects not followed.
tornado::httpclient::HTTPRequest form(
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields,
    std::string cookie = {}) {
  tornado::httpclient::HTTPRequest request{.method = "POST", .follow_redirects = false};
  std::string body;
  for (const auto& [name, value] : fields) {
    if (!body.empty()) body += '&';
    body += tornado::escape::url_escape(name) + "=" + tornado::escape::url_escape(value);
  }
  request.body = body;
  if (!cookie.empty()) request.headers.add("Cookie", cookie);
  return request;
}

#ifdef TORNADO_DEBIAN_PYTHON3
// The Python Tornado twin of a demo app (tests/demos/tornado_twins.py),
// serving the same templates and data.
std::vector<std::string> twin_command(const std::string& app) {
  return {TORNADO_DEBIAN_PYTHON3, std::string(TORNADO_SOURCE_DIR) + "/tests/demos/tornado_twins.py",
          app};
}
#endif

// The pages of two servers for the same paths, compared byte for byte. The
// same Host goes to both (pages show it); the masked XSRF token differs on
// every render by design, so its value is blanked.
void expect_same_pages(const Server& cpp, const Server& python,
                       const std::vector<std::string>& paths, const std::string& cookie = {}) {
  static const std::regex xsrf_value(R"(name="_xsrf" value="[^"]*")");
  for (const auto& path : paths) {
    tornado::httpclient::HTTPRequest request{.follow_redirects = false};
    request.headers.add("Host", "demo.test");
    if (!cookie.empty()) request.headers.add("Cookie", cookie);
    auto ours = fetch(cpp.url(path), request);
    auto theirs = fetch(python.url(path), request);
    EXPECT_EQ(ours.code, theirs.code) << path;
    // Static files are served with "; charset=UTF-8" on text types, which
    // Tornado 6.2's mimetypes guess leaves out: their bodies are compared.
    if (!path.starts_with("/static/")) {
      EXPECT_EQ(ours.headers.get("Content-Type"), theirs.headers.get("Content-Type")) << path;
    }
    EXPECT_EQ(ours.headers.get("Location"), theirs.headers.get("Location")) << path;
    EXPECT_EQ(std::regex_replace(ours.body, xsrf_value, R"(name="_xsrf" value="")"),
              std::regex_replace(theirs.body, xsrf_value, R"(name="_xsrf" value="")"))
        << path << " (with cookie: " << !cookie.empty() << ")";
  }
}

// Writes `text` to a file in the temporary folder; returns its path.
std::string temp_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("tornado-demos-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

std::size_t count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

namespace {

// The cookies a browser would keep, as one Cookie header.
class CookieJar {
 public:
  void update(const tornado::httpclient::HTTPResponse& response) {
    for (auto line : response.headers.get_list("Set-Cookie")) {
      std::string_view pair = line.substr(0, line.find(';'));
      auto eq = pair.find('=');
      std::string name(pair.substr(0, eq)), value(pair.substr(eq + 1));
      // An expired cookie (clear_cookie) is gone.
      if (line.find("Max-Age=0") != std::string_view::npos ||
          line.find("expires=Thu, 01 Jan 1970") != std::string_view::npos ||
          line.find("Expires=Thu, 01 Jan 1970") != std::string_view::npos) {
        cookies_.erase(name);
      } else {
        cookies_[name] = value;
      }
    }
  }
  std::string header() const {
    std::string out;
    for (const auto& [name, value] : cookies_)
      out += (out.empty() ? "" : "; ") + name + "=" + value;
    return out;
  }
  std::string get(const std::string& name) const {
    auto it = cookies_.find(name);
    return it == cookies_.end() ? std::string() : it->second;
  }
  bool has(const std::string& name) const { return cookies_.contains(name); }

 private:
  std::map<std::string, std::string> cookies_;
};

// A browser: GETs and form POSTs with the jar's cookies and the _xsrf field,
// redirects not followed.
class Browser {
 public:
  explicit Browser(const Server& server) : server_(server) {}
  tornado::httpclient::HTTPResponse get(const std::string& path) {
    tornado::httpclient::HTTPRequest request{.follow_redirects = false};
    if (auto cookie = jar.header(); !cookie.empty()) request.headers.add("Cookie", cookie);
    auto response = fetch(server_.url(path), request);
    jar.update(response);
    return response;
  }
  tornado::httpclient::HTTPResponse post(
      const std::string& path,
      std::initializer_list<std::pair<std::string_view, std::string_view>> fields,
      bool with_xsrf = true) {
    std::string xsrf = jar.get("_xsrf");
    auto request = form(fields, jar.header());
    if (with_xsrf) request.body = *request.body + "&_xsrf=" + tornado::escape::url_escape(xsrf);
    auto response = fetch(server_.url(path), request);
    jar.update(response);
    return response;
  }
  CookieJar jar;

 private:
  const Server& server_;
};

std::string location(const tornado::httpclient::HTTPResponse& response) {
  return std::string(response.headers.get("Location"));
}

#ifdef TORNADO_DEBIAN_PYTHON3
// A failed login shows login.html with its error. The twin renders the page
// from ?error=, the blog from its check, so the POST goes to the same URI
// (base.html's links show it).
void expect_failed_logins_as_tornado(const Server& blog, const Server& twin) {
  static const std::regex xsrf_value(R"(name="_xsrf" value="[^"]*")");
  for (const auto& [email, error] : {std::pair{"nobody@example.com", "email not found"},
                                     std::pair{"ann@example.com", "incorrect password"}}) {
    Browser reader(blog);
    reader.get("/auth/create");
    std::string uri = "/auth/login?error=" + tornado::escape::url_escape(error, false);
    auto ours = reader.post(uri, {{"email", email}, {"password", "wrong"}});
    auto theirs = get(twin.url(uri));
    EXPECT_EQ(ours.code, 200) << ours.body;
    EXPECT_NE(ours.body.find(std::string("Error: ") + error), std::string::npos) << ours.body;
    EXPECT_EQ(std::regex_replace(ours.body, xsrf_value, R"(name="_xsrf" value="")"),
              std::regex_replace(theirs.body, xsrf_value, R"(name="_xsrf" value="")"))
        << uri;
  }
}
#endif

}  // namespace

TEST(DemosTest, HelloworldAnswersHelloWorld) {
  Server server("helloworld/helloworld", "helloworld", {"--debug", "--logging", "debug"});
  ASSERT_TRUE(server.ready());
  auto response = get(server.url("/"));
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "Hello, world");
  EXPECT_EQ(get(server.url("/nowhere")).code, 404);
}

TEST(DemosTest, EveryDemoTakesTheCommonFlags) {
  for (const char* binary : {"helloworld/helloworld", "tcpecho/tcpecho_server",
                             "tcpecho/tcpecho_client", "file_upload/file_receiver",
                             "file_upload/file_uploader", "webspider/webspider", "chat/chat"}) {
    auto [status, output] = run_program("help", {app_path(binary), "--help"});
    EXPECT_EQ(status, 0) << binary;
    for (const char* flag : {"--port", "--address", "--logging", "--help", "--debug"}) {
      EXPECT_NE(output.find(flag), std::string::npos) << binary << " lacks " << flag;
    }
    auto [bad_status, bad_output] = run_program("bad_flag", {app_path(binary), "--no-such-flag"});
    EXPECT_EQ(bad_status, 2) << binary << ": " << bad_output;
  }
}

TEST(DemosTest, TcpechoClientGetsItsLineBack) {
  Server server("tcpecho/tcpecho_server", "tcpecho_server");
  ASSERT_TRUE(server.ready());
  auto [status, output] = run_program(
      "tcpecho_client", {app_path("tcpecho/tcpecho_client"), "--host", "127.0.0.1", "--port",
                         std::to_string(server.port()), "--message", "hello there"});
  EXPECT_EQ(status, 0);
  EXPECT_NE(output.find("Sent to server: hello there"), std::string::npos) << output;
  EXPECT_NE(output.find("Response from server: hello there"), std::string::npos) << output;
  EXPECT_TRUE(server.logged("Received bytes: hello there"));
  EXPECT_TRUE(server.logged("Lost client at host"));
}

TEST(DemosTest, FileUploadPostsAndStreamsPuts) {
  Server server("file_upload/file_receiver", "file_receiver", {"--max_upload_size", "100000"});
  ASSERT_TRUE(server.ready());
  auto dir = std::filesystem::temp_directory_path() /
             ("tornado-demos-upload-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write_file = [&](const std::string& name, std::size_t size) {
    std::ofstream(dir / name, std::ios::binary) << std::string(size, 'u');
    return (dir / name).string();
  };
  std::string small = write_file("notes.txt", 50000);
  std::string image = write_file("picture.png", 1234);
  std::string big = write_file("big.bin", 200000);

  auto [post_status, post_output] = run_program(
      "file_uploader_post",
      {app_path("file_upload/file_uploader"), "--server", server.url(""), small, image});
  EXPECT_EQ(post_status, 0) << post_output;
  EXPECT_NE(post_output.find("200 OK"), std::string::npos) << post_output;
  EXPECT_TRUE(server.logged(fmt::format("POST \"{}\" \"text/plain\" 50000 bytes", small)));
  EXPECT_TRUE(server.logged(fmt::format("POST \"{}\" \"image/png\" 1234 bytes", image)));

  auto [put_status, put_output] = run_program(
      "file_uploader_put",
      {app_path("file_upload/file_uploader"), "--put", "--server", server.url(""), small});
  EXPECT_EQ(put_status, 0) << put_output;
  EXPECT_NE(put_output.find("200 OK OK"), std::string::npos) << put_output;
  EXPECT_TRUE(server.logged("PUT \"notes.txt\" \"text/plain\" 50000 bytes"));

  // Past the limit the PUT handler's prepare() set: refused before the body.
  auto [big_status, big_output] = run_program(
      "file_uploader_big",
      {app_path("file_upload/file_uploader"), "--put", "--server", server.url(""), big});
  EXPECT_EQ(big_status, 0) << big_output;
  EXPECT_NE(big_output.find("413 "), std::string::npos) << big_output;
  std::filesystem::remove_all(dir);
}

namespace {

// The local site the spider crawls: pages under /site/ linking each other
// (relative, absolute, with fragments and dot segments) and out of the site.
class PageHandler : public tornado::web::RequestHandler {
 public:
  void get(std::string_view page) {
    static const std::map<std::string, std::string, std::less<>> pages = {
        {"",
         R"(<a href="a.html">A</a> <A HREF='/site/b.html#part'>B</A> <a href="../outside.html">out</a>
                <a href="http://other.invalid/x">elsewhere</a>)"},
        {"a.html", R"(<p><a class="x" href="b.html">B</a> <a href="./sub/c.html">C</a></p>)"},
        {"b.html", R"(<a href="a.html#top">A</a>)"},
        {"sub/c.html", R"(<a href="../">home</a> <a href="missing.html">gone</a>)"},
    };
    auto it = pages.find(page);
    if (it == pages.end()) throw tornado::web::HTTPError(404);
    write(it->second);
  }
};

}  // namespace

TEST(DemosTest, WebspiderCrawlsALocalSite) {
  IOLoop loop;
  tornado::web::Application site({
      {"/site/(.*)", tornado::web::handler<PageHandler>()},
  });
  int port = site.listen(0, "127.0.0.1").port();
  std::string base = fmt::format("http://127.0.0.1:{}/site/", port);
  std::string log = log_path("webspider");
  pid_t pid = tornado::testing::spawn_process(
      {app_path("webspider/webspider"), "--base", base, "--concurrency", "3"}, log);
  ASSERT_GT(pid, 0);
  // The site is served by this loop while the spider runs.
  int status = loop.run_sync(
      [&]() -> Task<int> {
        int wait_status = 0;
        while (::waitpid(pid, &wait_status, WNOHANG) == 0) co_await tornado::sleep(10ms);
        co_return wait_status;
      },
      60s);
  std::string output = slurp(log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  for (const char* page : {"", "a.html", "b.html", "sub/c.html", "sub/missing.html"}) {
    EXPECT_NE(output.find("fetching " + base + page + "\n"), std::string::npos) << page << output;
  }
  EXPECT_NE(output.find("fetched " + base + "sub/c.html\n"), std::string::npos) << output;
  EXPECT_NE(output.find("Exception: HTTP 404"), std::string::npos) << output;
  EXPECT_EQ(output.find("outside.html"), std::string::npos) << output;
  EXPECT_EQ(output.find("other.invalid"), std::string::npos) << output;
  EXPECT_NE(output.find("fetched 5 URLs."), std::string::npos) << output;
}

TEST(DemosTest, ChatLongPollsPostsAndRendersTheCache) {
  Server server("chat/chat", "chat", {"--logging", "debug", "--cache-size", "3"});
  ASSERT_TRUE(server.ready());
  Browser browser(server);
  auto page = browser.get("/");
  EXPECT_EQ(page.code, 200);
  // The form carries the XSRF token (xsrf_cookies, as the Python demo).
  EXPECT_NE(page.body.find("name=\"_xsrf\" value=\"2|"), std::string::npos) << page.body;
  ASSERT_TRUE(browser.jar.has("_xsrf"));
  std::string xsrf = browser.jar.get("_xsrf");
  std::string cookie = browser.jar.header();
  EXPECT_EQ(browser.post("/a/message/new", {{"body", "no token"}}, false).code, 403);
  EXPECT_NE(page.body.find("id=\"messageform\""), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("/static/chat.js?v="), std::string::npos) << page.body;
  EXPECT_EQ(get(server.url("/static/chat.js")).code, 200);

  // A new message comes back as JSON, its html rendered from message.html
  // (escaped, links made).
  auto posted = browser.post("/a/message/new", {{"body", "see <b> http://example.com"}});
  ASSERT_EQ(posted.code, 200) << posted.body;
  auto first = nlohmann::json::parse(posted.body);
  std::string first_id = first["id"];
  EXPECT_EQ(first_id.size(), 36u);
  EXPECT_EQ(first["body"], "see <b> http://example.com");
  EXPECT_EQ(first["html"], "<div class=\"message\" id=\"m" + first_id +
                               "\">see &lt;b&gt; <a "
                               "href=\"http://example.com\">http://example.com</a></div>\n");

  // With `next`, the post redirects (the form without JavaScript).
  auto redirected = browser.post("/a/message/new", {{"body", "second"}, {"next", "/"}});
  EXPECT_EQ(redirected.code, 302);
  EXPECT_EQ(redirected.headers.get("Location"), "/");

  // A poll without a cursor answers at once with the whole cache; with the
  // first id, with what came after it.
  auto all = nlohmann::json::parse(browser.post("/a/message/updates", {}).body)["messages"];
  ASSERT_EQ(all.size(), 2u);
  auto after = nlohmann::json::parse(
      browser.post("/a/message/updates", {{"cursor", first_id}}).body)["messages"];
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]["body"], "second");
  std::string last_id = after[0]["id"];

  // A poll at the newest message waits until the next one is posted.
  IOLoop loop;
  auto answer = loop.run_sync(
      [&]() -> Task<tornado::httpclient::HTTPResponse> {
        tornado::httpclient::AsyncHTTPClient client;
        auto poll = tornado::to_future(
            client.fetch(server.url("/a/message/updates"),
                         form({{"cursor", last_id}, {"_xsrf", xsrf}}, cookie), false));
        std::string waiting = "poll waits for messages after " + last_id;
        while (server.log().find(waiting) == std::string::npos) co_await tornado::sleep(10ms);
        EXPECT_FALSE(poll.done());
        co_await client.fetch(server.url("/a/message/new"),
                              form({{"body", "third"}, {"_xsrf", xsrf}}, cookie));
        co_return co_await poll;
      },
      10s);
  ASSERT_EQ(answer.code, 200);
  auto woken = nlohmann::json::parse(answer.body)["messages"];
  ASSERT_EQ(woken.size(), 1u);
  EXPECT_EQ(woken[0]["body"], "third");

  // A client that leaves a poll has its wait cancelled at once
  // (on_connection_close), not when the next message comes.
  {
    tornado::netutil::Socket socket(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(server.port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(socket.fd(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    std::string cursor = woken[0]["id"];
    std::string body = "cursor=" + cursor + "&_xsrf=" + tornado::escape::url_escape(xsrf);
    std::string request = fmt::format(
        "POST /a/message/updates HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: "
        "application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        cookie, body.size(), body);
    ASSERT_EQ(::send(socket.fd(), request.data(), request.size(), 0),
              static_cast<ssize_t>(request.size()));
    EXPECT_TRUE(server.logged("poll waits for messages after " + cursor));
  }
  EXPECT_TRUE(server.logged("poll cancelled: the client left"));

  // The cache keeps the newest --cache-size messages, rendered on the page
  // through {% module Template("message.html", ...) %}.
  browser.post("/a/message/new", {{"body", "fourth"}});
  page = browser.get("/");
  EXPECT_EQ(count(page.body, "class=\"message\""), 3u) << page.body;
  EXPECT_EQ(page.body.find("example.com"), std::string::npos) << page.body;
  for (const char* body : {"second", "third", "fourth"}) {
    EXPECT_NE(page.body.find(std::string(body) + "</div>"), std::string::npos) << body;
  }
  EXPECT_EQ(browser.post("/a/message/new", {}).code, 400);
}

TEST(DemosTest, ChatRendersTemplatesFromTemplatePath) {
  auto dir =
      std::filesystem::temp_directory_path() / ("tornado-demos-chat-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "index.html") << "{{ len(messages) }} {{ request.path }} {{ _(\"Post\") }}";
  std::ofstream(dir / "message.html") << "[{{ message[\"body\"] }}]";
  Server server("chat/chat", "chat_template_path",
                {"--template-path", dir.string(), "--xsrf-cookies=false"});
  ASSERT_TRUE(server.ready());
  auto posted = fetch(server.url("/a/message/new"), form({{"body", "<x>"}}));
  EXPECT_EQ(nlohmann::json::parse(posted.body)["html"], "[&lt;x&gt;]");
  EXPECT_EQ(get(server.url("/")).body, "1 / Post");
  std::filesystem::remove_all(dir);
}

TEST(DemosTest, WebsocketChatBroadcastsToEveryWaiter) {
  Server server("websocket/websocket_chat", "websocket_chat", {"--cache-size", "2"});
  ASSERT_TRUE(server.ready());
  std::string ws_url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/chatsocket";
  IOLoop loop;
  auto [first, second] = loop.run_sync(
      [&]() -> Task<std::pair<nlohmann::json, nlohmann::json>> {
        // Bob's open() has run before Alice's handshake is even answered
        // (one loop, in order), so Bob is among the waiters.
        auto bob = co_await tornado::websocket::websocket_connect(ws_url);
        tornado::websocket::ConnectOptions options;
        options.compression_options = tornado::websocket::CompressionOptions{};
        auto alice = co_await tornado::websocket::websocket_connect(ws_url, options);
        // The demo's socket offers permessage-deflate.
        EXPECT_TRUE(alice->compression().has_value());
        co_await alice->write_message(R"({"body": "hi <all> http://example.com"})");
        auto to_alice = co_await alice->read_message();
        auto to_bob = co_await bob->read_message();
        if (!to_alice || !to_bob) throw std::runtime_error("a socket closed");
        co_return std::pair{nlohmann::json::parse(*to_alice), nlohmann::json::parse(*to_bob)};
      },
      10s);
  EXPECT_EQ(first, second);
  std::string id = first["id"];
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(first["body"], "hi <all> http://example.com");
  EXPECT_EQ(first["html"], "<div class=\"message\" id=\"m" + id +
                               "\">hi &lt;all&gt; <a "
                               "href=\"http://example.com\">http://example.com</a></div>\n");

  // The page lists the cache (the newest --cache-size messages) through
  // {% include "message.html" %}; a message that is not JSON closes the
  // socket with 1003.
  auto closing = loop.run_sync(
      [&]() -> Task<std::optional<std::uint16_t>> {
        auto carol = co_await tornado::websocket::websocket_connect(ws_url);
        for (const char* body : {R"({"body": "two"})", R"({"body": "three"})"}) {
          co_await carol->write_message(body);
          co_await carol->read_message();
        }
        co_await carol->write_message("not json");
        while (co_await carol->read_message()) {
        }
        co_return carol->close_code();
      },
      10s);
  EXPECT_EQ(closing, 1003);
  auto page = get(server.url("/"));
  EXPECT_EQ(page.code, 200);
  EXPECT_EQ(count(page.body, "class=\"message\""), 2u) << page.body;
  EXPECT_EQ(page.body.find("example.com"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find(">three</div>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("/static/chat.js?v="), std::string::npos) << page.body;
  EXPECT_EQ(get(server.url("/static/chat.js")).code, 200);
}

TEST(DemosTest, BlogCreatesAuthorsPostsAndRendersEveryPage) {
  auto db = std::filesystem::temp_directory_path() /
            ("tornado-demos-blog-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(db);
  auto server = std::make_unique<Server>(
      "blog/blog", "blog",
      std::vector<std::string>{"--db", db.string(), "--blog-title", "C++ <Blog>"});
  ASSERT_TRUE(server->ready());
  Browser browser(*server);

  // An empty blog sends the first visitor to compose, which needs a login,
  // which needs an author; its feed is updated now.
  EXPECT_EQ(location(browser.get("/")), "/compose");
  const std::regex updated_now(R"(<updated>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</updated>)");
  auto empty_feed = browser.get("/feed");
  EXPECT_EQ(empty_feed.code, 200) << empty_feed.body;
  EXPECT_TRUE(std::regex_search(empty_feed.body, updated_now)) << empty_feed.body;
  EXPECT_EQ(count(empty_feed.body, "<entry>"), 0u);
  EXPECT_EQ(location(browser.get("/compose")), "/auth/login?next=%2Fcompose");
  EXPECT_EQ(location(browser.get("/auth/login")), "/auth/create");
  auto create_page = browser.get("/auth/create");
  EXPECT_EQ(create_page.code, 200);
  EXPECT_NE(create_page.body.find("<title>C++ &lt;Blog&gt;</title>"), std::string::npos)
      << create_page.body;
  EXPECT_NE(create_page.body.find("name=\"_xsrf\" value=\"2|"), std::string::npos)
      << create_page.body;
  EXPECT_TRUE(browser.jar.has("_xsrf"));

  // Forms are checked against the _xsrf cookie.
  EXPECT_EQ(browser.post("/auth/create", {{"email", "ann@example.com"}}, false).code, 403);
  auto created = browser.post(
      "/auth/create", {{"email", "ann@example.com"}, {"name", "Ann"}, {"password", "s3cret"}});
  EXPECT_EQ(created.code, 302) << created.body;
  EXPECT_EQ(location(created), "/");
  EXPECT_TRUE(browser.jar.has("blogdemo_user"));
  EXPECT_EQ(
      browser.post("/auth/create", {{"email", "bob@example.com"}, {"name", "B"}, {"password", "x"}})
          .code,
      400);

  // Posting: Markdown rendered (raw HTML not passed through), the slug as
  // the Python demo makes it, unique.
  auto posted = browser.post("/compose", {{"title", "H\u00e9llo, W\u00f6rld! \u00d7 2"},
                                          {"markdown", "Some *text* <script>x</script>"}});
  EXPECT_EQ(posted.code, 302) << posted.body;
  EXPECT_EQ(location(posted), "/entry/he-llo-wo-rld-2");
  EXPECT_EQ(location(browser.post("/compose", {{"title", "Hello, world"}, {"markdown", "# One"}})),
            "/entry/hello-world");
  EXPECT_EQ(location(browser.post("/compose", {{"title", "hello  WORLD!"}, {"markdown", "Two"}})),
            "/entry/hello-world-2");

  auto entry = browser.get("/entry/he-llo-wo-rld-2");
  EXPECT_EQ(entry.code, 200);
  EXPECT_NE(entry.body.find("<p>Some <em>text</em>"), std::string::npos) << entry.body;
  EXPECT_EQ(entry.body.find("<script>"), std::string::npos) << entry.body;
  EXPECT_NE(entry.body.find("H\u00e9llo, W\u00f6rld! \u00d7 2</a></h1>"), std::string::npos)
      << entry.body;
  EXPECT_NE(entry.body.find("<a href=\"/compose?id=1\">Edit this post</a>"), std::string::npos);
  EXPECT_NE(entry.body.find("Sign out"), std::string::npos);
  EXPECT_EQ(browser.get("/entry/no-such-entry").code, 404);

  // Editing keeps the slug.
  auto edit_page = browser.get("/compose?id=2");
  EXPECT_NE(edit_page.body.find("# One</textarea>"), std::string::npos) << edit_page.body;
  EXPECT_NE(edit_page.body.find("value=\"Save changes\""), std::string::npos);
  EXPECT_EQ(location(browser.post("/compose",
                                  {{"id", "2"}, {"title", "Changed"}, {"markdown", "*edited*"}})),
            "/entry/hello-world");
  EXPECT_NE(browser.get("/entry/hello-world").body.find("<p><em>edited</em></p>"),
            std::string::npos);
  EXPECT_EQ(browser.post("/compose", {{"id", "99"}, {"title", "t"}, {"markdown", "m"}}).code, 404);

  // A reader who is not signed in sees the pages without the author's links.
  Browser reader(*server);
  auto home = reader.get("/");
  EXPECT_EQ(home.code, 200);
  EXPECT_EQ(count(home.body, "<div class=\"entry\">"), 3u) << home.body;
  EXPECT_EQ(home.body.find("Edit this post"), std::string::npos);
  EXPECT_NE(home.body.find("<a href=\"/auth/login?next=%2F\">Sign in</a> to compose/edit"),
            std::string::npos)
      << home.body;
  EXPECT_NE(home.body.find("<a href=\"/archive\">Archive</a>"), std::string::npos);
  auto archive = reader.get("/archive");
  EXPECT_EQ(count(archive.body, "<div class=\"title\">"), 3u) << archive.body;
  EXPECT_NE(archive.body.find("<a href=\"/entry/hello-world\">Changed</a>"), std::string::npos);
  auto feed = reader.get("/feed");
  EXPECT_EQ(feed.headers.get("Content-Type"), "application/atom+xml");
  EXPECT_EQ(count(feed.body, "<entry>"), 3u) << feed.body;
  EXPECT_NE(feed.body.find("<title>C++ &lt;Blog&gt;</title>"), std::string::npos) << feed.body;
  EXPECT_NE(feed.body.find("<link rel=\"self\" href=\"" + server->url("/feed") + "\""),
            std::string::npos)
      << feed.body;
  EXPECT_TRUE(std::regex_search(feed.body, updated_now)) << feed.body;
  EXPECT_EQ(reader.get("/compose").code, 302);
  EXPECT_EQ(reader.post("/compose", {{"title", "t"}, {"markdown", "m"}}).code, 403);

  // Logging in: the password is checked against its hash.
  reader.get("/auth/login");
  EXPECT_NE(reader.post("/auth/login", {{"email", "nobody@example.com"}, {"password", "x"}})
                .body.find("Error: email not found"),
            std::string::npos);
  EXPECT_NE(reader.post("/auth/login", {{"email", "ann@example.com"}, {"password", "wrong"}})
                .body.find("Error: incorrect password"),
            std::string::npos);
  EXPECT_FALSE(reader.jar.has("blogdemo_user"));
  auto login = reader.post("/auth/login?next=%2Farchive",
                           {{"email", "ann@example.com"}, {"password", "s3cret"}});
  EXPECT_EQ(location(login), "/archive");
  EXPECT_TRUE(reader.jar.has("blogdemo_user"));
  EXPECT_EQ(reader.get("/compose").code, 200);
  EXPECT_EQ(location(reader.get("/auth/logout?next=%2Farchive")), "/archive");
  EXPECT_FALSE(reader.jar.has("blogdemo_user"));
  EXPECT_EQ(reader.get("/compose").code, 302);

#ifdef TORNADO_DEBIAN_PYTHON3
  // Every page is the page Tornado renders from the same templates and data
  // (the Python twin reads this database and trusts the same login cookie).
  {
    std::string root = TORNADO_SOURCE_DIR;
    Server twin(twin_command("blog"), "blog_twin",
                {"--template-path", root + "/templates/blog", "--static-path",
                 root + "/apps/blog/static", "--db", db.string(), "--blog-title", "C++ <Blog>"});
    ASSERT_TRUE(twin.ready()) << twin.log();
    std::vector<std::string> pages = {"/",
                                      "/archive",
                                      "/feed",
                                      "/entry/hello-world",
                                      "/entry/he-llo-wo-rld-2",
                                      "/entry/nowhere",
                                      "/auth/create",
                                      "/auth/login",
                                      "/compose",
                                      "/compose?id=2"};
    expect_same_pages(*server, twin, pages);
    expect_same_pages(*server, twin, pages, browser.jar.header());
    expect_failed_logins_as_tornado(*server, twin);
  }
#endif

  // The data is in the file, in the demo's tables, readable by other
  // programs; a restarted blog serves it again.
  server.reset();
#ifdef TORNADO_DEBIAN_PYTHON3
  const std::string python = TORNADO_DEBIAN_PYTHON3;
#else
  const std::string python = "python3";
#endif
  auto [status, rows] =
      run_program("blog_sqlite",
                  {python, "-c",
                   "import sqlite3, sys\n"
                   "db = sqlite3.connect(sys.argv[1])\n"
                   "print(db.execute('SELECT email, name, substr(hashed_password, 1, 10) FROM "
                   "authors').fetchall())\n"
                   "print(db.execute(\"SELECT slug, title, markdown, published GLOB "
                   "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z' "
                   "FROM entries ORDER BY id\").fetchall())\n",
                   db.string()});
  EXPECT_EQ(status, 0) << rows;
  EXPECT_NE(rows.find("[('ann@example.com', 'Ann', '$argon2id$')]"), std::string::npos) << rows;
  // Times are ISO 8601 UTC text.
  EXPECT_NE(rows.find("('hello-world', 'Changed', '*edited*', 1)"), std::string::npos) << rows;
  Server again("blog/blog", "blog_again", {"--db", db.string()});
  ASSERT_TRUE(again.ready());
  EXPECT_EQ(count(get(again.url("/")).body, "<div class=\"entry\">"), 3u);
  std::filesystem::remove(db);
}

namespace {

#ifdef TORNADO_DEBIAN_PYTHON3
// Drives chat app `app` ("chat" or "websocket") started with `flags`: posts
// messages (markup, links, non-ASCII, spaces) and compares its page, static
// files and the html sent with each message with what Tornado renders from
// `template_path` and `static_path` and the same messages.
void expect_chat_renders_as_tornado(const std::string& app, const std::string& template_path,
                                    const std::string& static_path,
                                    const std::vector<std::string>& flags) {
  const std::vector<std::string> bodies = {
      "plain",
      "<b>bold</b> & 'single' \"double\"",
      "see http://example.com/a?b=c&d=e, www.tornadoweb.org and https://x.org/(paren)",
      "h\u00e9llo \u2713 \U0001F600",
      "  spaces kept inside  ",
  };
  SCOPED_TRACE(app + " over " + template_path);
  Server server(app == "chat" ? "chat/chat" : "websocket/websocket_chat", app + "_pages", flags);
  ASSERT_TRUE(server.ready());
  nlohmann::json messages = nlohmann::json::array();
  if (app == "chat") {
    Browser browser(server);
    browser.get("/");
    for (const auto& body : bodies) {
      // The POST's answer is the message with its html, as the updates
      // poll gives it.
      auto posted = browser.post("/a/message/new", {{"body", std::string_view(body)}});
      ASSERT_EQ(posted.code, 200) << posted.body;
      messages.push_back(nlohmann::json::parse(posted.body));
    }
    auto polled = nlohmann::json::parse(browser.post("/a/message/updates", {}).body)["messages"];
    EXPECT_EQ(polled, messages);
  } else {
    IOLoop loop;
    loop.run_sync(
        [&]() -> Task<> {
          auto socket = co_await tornado::websocket::websocket_connect(
              "ws://127.0.0.1:" + std::to_string(server.port()) + "/chatsocket");
          for (const auto& body : bodies) {
            co_await socket->write_message(nlohmann::json{{"body", body}}.dump());
            auto echoed = co_await socket->read_message();
            if (!echoed) throw std::runtime_error("the chat socket closed");
            messages.push_back(nlohmann::json::parse(*echoed));
          }
        },
        10s);
  }
  ASSERT_EQ(messages.size(), bodies.size());
  Server twin(twin_command(app), app + "_twin",
              {"--template-path", template_path, "--static-path", static_path, "--messages",
               temp_file(app + ".json", messages.dump())});
  ASSERT_TRUE(twin.ready()) << twin.log();
  expect_same_pages(server, twin, {"/", "/static/chat.js", "/static/chat.css"});
  for (std::size_t i = 0; i < messages.size(); ++i) {
    auto rendered = get(twin.url("/twin/message/" + std::to_string(i)));
    ASSERT_EQ(rendered.code, 200) << rendered.body;
    EXPECT_EQ(messages[i]["html"].get<std::string>(), rendered.body) << "message " << i;
  }
}
#endif

}  // namespace

// The chat pages the two chat apps render from their cache, and what Tornado
// renders from the same templates and messages.
TEST(DemosTest, ChatPagesAreTornadosPages) {
#ifndef TORNADO_DEBIAN_PYTHON3
  GTEST_SKIP() << "needs Debian's python3 with python3-tornado (tools/bootstrap)";
#else
  std::string root = TORNADO_SOURCE_DIR;
  for (std::string app : {"chat", "websocket"}) {
    expect_chat_renders_as_tornado(app, root + "/templates/" + app,
                                   root + "/apps/" + app + "/static", {});
  }
#endif
}

// The Python demos' own templates and static files (Debian's
// python-tornado-doc ships Tornado 6.2's demos/ there), rendered by the apps
// through --template-path and --static-path: Tornado's templates are the
// interface, so every page must be the page Tornado renders from them. ctest
// runs these as demos_tornado_templates, skipped (77) when the folder is
// missing; tests/CMakeLists.txt.
class TornadoTemplatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(examples_)) {
      GTEST_SKIP() << examples_ << " is missing (Debian's python-tornado-doc; tools/bootstrap)";
    }
#ifndef TORNADO_DEBIAN_PYTHON3
    FAIL() << "the comparison needs Debian's python3 with python3-tornado (tools/bootstrap)";
#endif
  }
  std::string demo(const std::string& name) const {
    return examples_ + "/" + name;
  }

 private:
  std::string examples_ = TORNADO_PYTHON_DEMOS;
};

TEST_F(TornadoTemplatesTest, ChatAndWebsocketRenderThePythonDemosTemplates) {
#ifdef TORNADO_DEBIAN_PYTHON3
  for (std::string app : {"chat", "websocket"}) {
    std::string templates = demo(app) + "/templates", statics = demo(app) + "/static";
    expect_chat_renders_as_tornado(app, templates, statics,
                                   {"--template-path", templates, "--static-path", statics});
  }
#endif
}

TEST_F(TornadoTemplatesTest, BlogRendersThePythonDemosTemplates) {
#ifdef TORNADO_DEBIAN_PYTHON3
  auto db = std::filesystem::temp_directory_path() /
            ("tornado-demos-blog-tornado-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(db);
  // base.html escapes the title itself inside {{ }}: twice escaped, as in
  // Tornado.
  const std::string title = "C++ <Blog> & \"friends\"";
  std::vector<std::string> flags = {"--db",
                                    db.string(),
                                    "--blog-title",
                                    title,
                                    "--template-path",
                                    demo("blog") + "/templates",
                                    "--static-path",
                                    demo("blog") + "/static"};
  Server server("blog/blog", "blog_tornado_templates", flags);
  ASSERT_TRUE(server.ready());
  Server twin(twin_command("blog"), "blog_tornado_twin",
              {"--template-path", demo("blog") + "/templates", "--static-path",
               demo("blog") + "/static", "--db", db.string(), "--blog-title", title});
  ASSERT_TRUE(twin.ready()) << twin.log();

  // The empty blog's feed: updated now (utcnow()), which both stamp
  // themselves.
  {
    static const std::regex updated(R"(<updated>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</updated>)");
    tornado::httpclient::HTTPRequest request;
    request.headers.add("Host", "demo.test");
    auto ours = fetch(server.url("/feed"), request);
    auto theirs = fetch(twin.url("/feed"), request);
    EXPECT_EQ(ours.code, 200) << ours.body;
    EXPECT_TRUE(std::regex_search(ours.body, updated)) << ours.body;
    EXPECT_EQ(std::regex_replace(ours.body, updated, "<updated/>"),
              std::regex_replace(theirs.body, updated, "<updated/>"));
  }

  // The author signs up and posts through the Python demo's forms.
  Browser author(server);
  auto create_page = author.get("/auth/create");
  ASSERT_EQ(create_page.code, 200) << create_page.body;
  EXPECT_NE(create_page.body.find("<form action=\"/auth/create\" method=\"POST\">"),
            std::string::npos)
      << create_page.body;
  ASSERT_EQ(author
                .post("/auth/create",
                      {{"email", "ann@example.com"}, {"name", "Ann"}, {"password", "s3cret"}})
                .code,
            302);
  const std::vector<std::pair<std::string, std::string>> posts = {
      {"First <post> & \"quotes\" 'too'", "Some *text*, a [link](http://example.com/?a=1&b=2)"},
      {"H\u00e9llo, W\u00f6rld! \u00d7 2", "# Heading\n\n- one\n- two\n\n`code <x>`"},
      {"Third", "Raw <script>alert(1)</script> and\n\n    indented code"},
      {"Fourth", "plain"},
      {"Fifth", "five"},
      {"Sixth", "six: the home page shows five"},
  };
  std::vector<std::string> slugs;
  for (const auto& [post_title, markdown] : posts) {
    auto posted = author.post("/compose", {{"title", post_title}, {"markdown", markdown}});
    ASSERT_EQ(posted.code, 302) << posted.body;
    slugs.push_back(location(posted));
  }
  ASSERT_EQ(author.post("/compose", {{"id", "2"}, {"title", "Edited"}, {"markdown", "*new*"}}).code,
            302);
  // Dates across months and years, published and updated out of order, so
  // that format_date and max(e.updated for e in entries) have work to do.
  auto [status, output] =
      run_program("blog_tornado_dates",
                  {TORNADO_DEBIAN_PYTHON3, "-c",
                   "import sqlite3, sys\n"
                   "db = sqlite3.connect(sys.argv[1])\n"
                   "dates = [('2009-01-03T18:15:05Z', '2024-02-29T23:59:59Z'),\n"
                   "         ('1999-12-31T23:59:59Z', '2000-01-01T00:00:00Z'),\n"
                   "         ('2024-02-29T12:00:00Z', '2024-03-01T08:30:00Z'),\n"
                   "         ('2016-07-04T09:05:00Z', '2016-07-04T09:05:00Z'),\n"
                   "         ('2021-11-11T11:11:11Z', '2022-05-01T00:00:00Z'),\n"
                   "         ('2013-09-30T00:00:00Z', '2013-10-01T00:00:00Z')]\n"
                   "for id, (published, updated) in enumerate(dates, 1):\n"
                   "    db.execute('UPDATE entries SET published = ?, updated = ? WHERE id = ?',\n"
                   "               (published, updated, id))\n"
                   "db.commit()\n",
                   db.string()});
  ASSERT_EQ(status, 0) << output;

  std::vector<std::string> pages = {
      "/",           "/archive", "/feed",         "/entry/nowhere", "/auth/create",
      "/auth/login", "/compose", "/compose?id=2", "/compose?id=3",  "/static/blog.css"};
  pages.insert(pages.end(), slugs.begin(), slugs.end());
  // What the pages must show, whoever renders them: the newest five entries (by date)
  // through {% module Entry(entry) %}, dates by locale.format_date, the
  // feed's newest update by max(), the title escaped twice.
  auto home = author.get("/");
  EXPECT_EQ(count(home.body, "<div class=\"entry\">"), 5u) << home.body;
  EXPECT_EQ(home.body.find(">Edited</a>"), std::string::npos) << home.body;  // 1999
  EXPECT_NE(home.body.find("<div class=\"date\">July 4, 2016</div>"), std::string::npos)
      << home.body;
  EXPECT_NE(home.body.find("<title>C++ &amp;lt;Blog&amp;gt; &amp;amp; &amp;quot;friends&amp;quot;"
                           "</title>"),
            std::string::npos)
      << home.body;
  auto archive = author.get("/archive");
  EXPECT_NE(archive.body.find("December 31, 1999"), std::string::npos) << archive.body;
  EXPECT_NE(archive.body.find("February 29, 2024"), std::string::npos) << archive.body;
  auto feed = author.get("/feed");
  EXPECT_NE(feed.body.find("<title>C++ &lt;Blog&gt; &amp; &quot;friends&quot;</title>\n  \n"
                           "    <updated>2024-03-01T08:30:00Z</updated>"),
            std::string::npos)
      << feed.body;
  expect_same_pages(server, twin, pages);
  expect_same_pages(server, twin, pages, author.jar.header());

  expect_failed_logins_as_tornado(server, twin);
  std::filesystem::remove(db);
#endif
}
