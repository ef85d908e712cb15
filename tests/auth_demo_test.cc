// apps/auth_demo against the fake provider of fake_oauth_provider.h: the
// provider is served by this test, the app is the built binary pointed at
// it by its flags, and the test is the browser.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>

#include "fake_oauth_provider.h"
#include "redis_support.h"
#include "tornado/testing.h"

namespace {

const std::string kAuthDemo = std::string(TORNADO_BINARY_DIR) + "/apps/auth_demo/auth_demo";

class AuthDemoTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  std::unique_ptr<tornado::web::Application> get_app() override {
    return std::make_unique<tornado::web::Application>(fake_oauth::routes(provider_));
  }
  void SetUp() override {
    if (::access(kAuthDemo.c_str(), X_OK) != 0) {
      GTEST_SKIP() << kAuthDemo << " is not built (configured with TORNADO_BUILD_APPS=OFF)";
    }
    AsyncHTTPTestCase::SetUp();
    serving_ = true;
    app_port_ = tornado::testing::free_port();
    pid_ = tornado::testing::spawn_process(
        {kAuthDemo, "--port", std::to_string(app_port_), "--client-id", fake_oauth::kClientId,
         "--client-secret", fake_oauth::kClientSecret, "--cookie-secret", "not-so-secret",
         "--authorize-url", get_url("/o/authorize"), "--token-url", get_url("/o/token"),
         "--userinfo-url", get_url("/o/userinfo"), "--logging", "warning"});
    ASSERT_GT(pid_, 0);
    ASSERT_TRUE(tornado::testing::wait_for_port(app_port_, std::chrono::seconds(10)));
  }
  void TearDown() override {
    tornado::testing::stop_process(pid_, SIGTERM);
    if (serving_) AsyncHTTPTestCase::TearDown();
  }

  // A browser step (to the app or to the provider), cookies kept per host.
  tornado::httpclient::HTTPResponse browse(const std::string& url) {
    tornado::httpclient::HTTPRequest request;
    request.follow_redirects = false;
    std::string cookie_header;
    for (const auto& [k, v] : cookies_) {
      cookie_header += (cookie_header.empty() ? "" : "; ") + k + "=" + v;
    }
    bool to_app = url.find(":" + std::to_string(app_port_) + "/") != std::string::npos;
    if (to_app && !cookie_header.empty()) request.headers.add("Cookie", cookie_header);
    auto response = run([&]() -> tornado::Task<tornado::httpclient::HTTPResponse> {
      tornado::httpclient::AsyncHTTPClient client;
      co_return co_await client.fetch(url, request, false);
    });
    if (to_app) {
      for (auto set : response.headers.get_list("Set-Cookie")) {
        std::string_view pair = set.substr(0, set.find(';'));
        auto eq = pair.find('=');
        std::string value(pair.substr(eq + 1));
        if (value.starts_with('"')) value = value.substr(1, value.size() - 2);
        if (value.empty()) {
          cookies_.erase(std::string(pair.substr(0, eq)));
        } else {
          cookies_[std::string(pair.substr(0, eq))] = value;
        }
      }
    }
    return response;
  }
  std::string app_url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(app_port_) + path;
  }

  std::shared_ptr<fake_oauth::State> provider_ = std::make_shared<fake_oauth::State>();
  std::map<std::string, std::string> cookies_;
  bool serving_ = false;
  int app_port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(AuthDemoTest, SignsInThroughTheProviderAndOut) {
  EXPECT_NE(browse(app_url("/")).body.find("Not signed in"), std::string::npos);

  auto to_provider = browse(app_url("/login"));
  ASSERT_EQ(to_provider.code, 302);
  std::string authorize(to_provider.headers.get("Location"));
  ASSERT_TRUE(authorize.starts_with(get_url("/o/authorize?"))) << authorize;

  auto back = browse(authorize);
  ASSERT_EQ(back.code, 302);
  std::string callback(back.headers.get("Location"));
  ASSERT_TRUE(callback.starts_with(app_url("/login?code="))) << callback;

  auto signed_in = browse(callback);
  ASSERT_EQ(signed_in.code, 302) << signed_in.body;
  EXPECT_EQ(signed_in.headers.get("Location"), "/");
  EXPECT_NE(browse(app_url("/")).body.find("Hello, Ada Lovelace"), std::string::npos);

  EXPECT_EQ(browse(app_url("/logout")).code, 302);
  EXPECT_NE(browse(app_url("/")).body.find("Not signed in"), std::string::npos);
}

TEST_F(AuthDemoTest, ForgedCallbackIsRefused) {
  auto to_provider = browse(app_url("/login"));
  std::string callback(
      browse(std::string(to_provider.headers.get("Location"))).headers.get("Location"));
  cookies_.clear();  // the callback arrives in a browser that never started a login
  EXPECT_EQ(browse(callback).code, 403);
  EXPECT_EQ(provider_->token_requests, 0);
}

}  // namespace
