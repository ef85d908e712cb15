// Tests for tornado::routing: matchers on their own, then a RuleRouter
// serving several Applications (by host and by path) on one server.
#include "tornado/routing.h"

#include <gtest/gtest.h>

#include "tornado/httpclient.h"
#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/testing.h"
#include "tornado/web.h"

namespace {

using namespace tornado::routing;
using tornado::httputil::HTTPServerRequest;

HTTPServerRequest make_request(const std::string& host, const std::string& uri) {
  tornado::httputil::HTTPHeaders headers;
  headers.add("Host", host);
  return HTTPServerRequest("GET", uri, "HTTP/1.1", headers);
}

TEST(PathMatches, GroupsBecomeArgumentsAndReverse) {
  PathMatches m("/story/([0-9]+)/(?P<part>[a-z]+)");
  auto r = m.match(make_request("a", "/story/42/intro?x=1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path_args, (std::vector<std::string>{"42", "intro"}));
  EXPECT_EQ(r->path_kwargs.at("part"), "intro");
  EXPECT_FALSE(m.match(make_request("a", "/story/42/intro/more")));
  EXPECT_EQ(m.reverse({"7", "a b"}), "/story/7/a%20b");
  EXPECT_THROW(m.reverse({"7"}), std::invalid_argument);
  EXPECT_EQ(PathMatches("/files/.*").reverse({}), std::nullopt);
  EXPECT_THROW(PathMatches("/bad/(["), std::invalid_argument);
}

TEST(HostMatches, WholeHostNameWithoutPort) {
  HostMatches m("(www\\.)?example\\.com");
  EXPECT_TRUE(m.match(make_request("www.example.com:8080", "/")));
  EXPECT_TRUE(m.match(make_request("example.com", "/")));
  EXPECT_FALSE(m.match(make_request("evil-example.com", "/")));
  EXPECT_FALSE(m.match(make_request("example.com.evil", "/")));
}

TEST(DefaultHostMatches, OnlyWithoutXRealIp) {
  DefaultHostMatches m("example.com", "example\\.com");
  auto direct = make_request("10.0.0.1", "/");
  EXPECT_TRUE(m.match(direct));
  direct.headers.add("X-Real-Ip", "1.2.3.4");
  EXPECT_FALSE(m.match(direct));
  EXPECT_FALSE(DefaultHostMatches("other.org", "example\\.com").match(make_request("x", "/")));
}

class NameHandler : public tornado::web::RequestHandler {
 public:
  void initialize(std::string name) { name_ = std::move(name); }
  void get() { write(name_ + " " + request().path); }
  void get(std::string_view id) { write(name_ + " item " + std::string(id)); }

 private:
  std::string name_;
};

std::shared_ptr<tornado::web::Application> app(const std::string& name,
                                               std::vector<tornado::web::URLSpec> extra = {}) {
  extra.emplace_back(".*", tornado::web::handler<NameHandler>(name));
  return std::make_shared<tornado::web::Application>(std::move(extra));
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_shared<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
        {"/v1/items/([0-9]+)", tornado::web::handler<NameHandler>(std::string("api")), "item"}});
    auto admin = std::make_shared<ReversibleRuleRouter>(std::vector<Rule>{
        {"/admin/users", app("admin-users"), "admin-users"},
        {"/admin/.*", app("admin")},
    });
    router_ = std::make_shared<ReversibleRuleRouter>(std::vector<Rule>{
        {std::make_shared<HostMatches>("api\\.example\\.com"), api_},
        {std::make_shared<PathMatches>("/admin/.*"), admin},
        {std::make_shared<PathMatches>("/site(/.*)?"), app("site"), "site"},
    });
    server_ = std::make_unique<tornado::httpserver::HTTPServer>(router_);
    server_->listen(0, "127.0.0.1");
  }

  std::pair<int, std::string> get(const std::string& path, const std::string& host = "") {
    auto response = loop_.run_sync([&]() -> tornado::Task<tornado::httpclient::HTTPResponse> {
      tornado::httpclient::AsyncHTTPClient client;
      tornado::httpclient::HTTPRequest request;
      if (!host.empty()) request.headers.add("Host", host);
      co_return co_await client.fetch("http://127.0.0.1:" + std::to_string(server_->port()) + path,
                                      request, false);
    });
    return {response.code, response.body};
  }

  tornado::ioloop::IOLoop loop_;
  std::shared_ptr<tornado::web::Application> api_;
  std::shared_ptr<ReversibleRuleRouter> router_;
  std::unique_ptr<tornado::httpserver::HTTPServer> server_;
};

TEST_F(RouterTest, RoutesByHostThenPathToNestedApplications) {
  EXPECT_EQ(get("/v1/items/7", "api.example.com"), std::make_pair(200, std::string("api item 7")));
  EXPECT_EQ(get("/admin/users"), std::make_pair(200, std::string("admin-users /admin/users")));
  EXPECT_EQ(get("/admin/logs"), std::make_pair(200, std::string("admin /admin/logs")));
  EXPECT_EQ(get("/site/about"), std::make_pair(200, std::string("site /site/about")));
}

TEST_F(RouterTest, UnmatchedRequestsAre404) {
  tornado::testing::ExpectLog logged(tornado::log::access, "404 GET /nowhere");
  EXPECT_EQ(get("/nowhere").first, 404);
  // The api application has no route for this path: its own 404.
  tornado::testing::ExpectLog logged_api(tornado::log::access, "404 GET /v2");
  EXPECT_EQ(get("/v2", "api.example.com").first, 404);
}

TEST_F(RouterTest, ReverseUrlLooksIntoNestedRoutersAndApplications) {
  EXPECT_EQ(router_->reverse_url("site"), std::nullopt);  // "(/.*)?" has no single URL
  EXPECT_EQ(router_->reverse_url("admin-users"), "/admin/users");
  EXPECT_EQ(router_->reverse_url("item", {"12"}), "/v1/items/12");
  EXPECT_EQ(router_->reverse_url("nothing"), std::nullopt);
}

// As Tornado's: a rule whose target is a router that finds nothing lets the
// next rules try (an Application target always answers, 404 included).
TEST_F(RouterTest, ANestedRouterThatFindsNothingLetsTheNextRulesTry) {
  auto docs = std::make_shared<RuleRouter>(std::vector<Rule>{{"/docs/intro", app("intro")}});
  router_->add_rules({{std::make_shared<PathMatches>("/docs/.*"), docs},
                      {std::make_shared<AnyMatches>(), app("any")}});
  EXPECT_EQ(get("/docs/intro"), std::make_pair(200, std::string("intro /docs/intro")));
  EXPECT_EQ(get("/docs/other"), std::make_pair(200, std::string("any /docs/other")));
  EXPECT_EQ(get("/elsewhere"), std::make_pair(200, std::string("any /elsewhere")));
  tornado::testing::ExpectLog logged_api(tornado::log::access, "404 GET /v2");
  EXPECT_EQ(get("/v2", "api.example.com").first, 404);
}

// A router of one's own: find_handler picks the delegate, null is a 404.
class EvenLengthRouter : public Router {
 public:
  explicit EvenLengthRouter(std::shared_ptr<tornado::web::Application> target)
      : target_(std::move(target)) {}
  MessageDelegate find_handler(const Connection& connection, const Request& request) override {
    if (request->path.size() % 2 != 0) return nullptr;
    return target_->start_request(connection, request);
  }

 private:
  std::shared_ptr<tornado::web::Application> target_;
};

TEST(Router, FindHandlerOfOnesOwn) {
  tornado::ioloop::IOLoop loop;
  auto router = std::make_shared<EvenLengthRouter>(app("even"));
  tornado::httpserver::HTTPServer server(router);
  server.listen(0, "127.0.0.1");
  auto fetch = [&](const std::string& path) {
    auto response = loop.run_sync([&]() -> tornado::Task<tornado::httpclient::HTTPResponse> {
      tornado::httpclient::AsyncHTTPClient client;
      co_return co_await client.fetch("http://127.0.0.1:" + std::to_string(server.port()) + path,
                                      tornado::httpclient::HTTPRequest(), false);
    });
    return std::make_pair(response.code, response.body);
  };
  EXPECT_EQ(fetch("/abc"), std::make_pair(200, std::string("even /abc")));
  tornado::testing::ExpectLog logged(tornado::log::access, "404 GET /ab");
  EXPECT_EQ(fetch("/ab").first, 404);
}

TEST(PathMatches, PlainPathsAreComparedAsText) {
  PathMatches m("/about");
  EXPECT_TRUE(m.match(make_request("a", "/about?x=1")));
  EXPECT_FALSE(m.match(make_request("a", "/about/")));
  EXPECT_EQ(m.group_count(), 0u);
  EXPECT_EQ(m.reverse({}), "/about");
  EXPECT_THROW(m.reverse({"x"}), std::invalid_argument);
  // A dot is a regex: any character.
  EXPECT_TRUE(PathMatches("/a.b").match(make_request("a", "/axb")));
}

// A pattern is tried only on paths within the byte range it can match
// (a shortcut for speed): the range must never leave out a path it matches.
TEST(PathMatches, ByteRangeShortcutKeepsEveryMatch) {
  auto matches = [](const std::string& pattern, const std::string& path) {
    return PathMatches(pattern).match(make_request("a", path)).has_value();
  };
  EXPECT_TRUE(matches("/static/(.*)", "/static/"));
  EXPECT_TRUE(matches("/static/(.*)", "/static/\xc3\xa9"));
  EXPECT_FALSE(matches("/static/(.*)", "/stati"));
  EXPECT_FALSE(matches("/static/(.*)", "/static0"));
  EXPECT_TRUE(matches("(?i)/Static/(.*)", "/sTATIC/x"));
  EXPECT_TRUE(matches("/(favicon\\.ico)", "/favicon.ico"));
  EXPECT_FALSE(matches("/(favicon\\.ico)", "/favicon.icon"));
  EXPECT_TRUE(matches("/(a|zz+)", "/zzzzzz"));
  EXPECT_TRUE(matches("/x+(y)", "/xxxxxxxxy"));
  EXPECT_TRUE(matches("(.*)/end", "/anything/end"));
  EXPECT_TRUE(matches("/caf\xc3\xa9/(.*)", "/caf\xc3\xa9/x"));
  // A prefix longer than the range keeps (64 bytes).
  std::string long_prefix = "/" + std::string(100, 'p');
  EXPECT_TRUE(matches(long_prefix + "/(.*)", long_prefix + "/q"));
  EXPECT_FALSE(matches(long_prefix + "/(.*)", long_prefix.substr(0, 80) + "q/q"));
  // More groups than the matcher keeps on the stack.
  PathMatches many("/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)");
  auto r = many.match(make_request("a", "/abcdefghij"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path_args.size(), 10u);
  EXPECT_EQ(r->path_args.back(), "j");
}

TEST(RuleRouter, RuleNeedsMatcherAndTarget) {
  EXPECT_THROW(RuleRouter({Rule(std::shared_ptr<const Matcher>(), app("x"))}),
               std::invalid_argument);
}

}  // namespace
