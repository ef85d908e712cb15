// Tests for tornado::auth: RFC 5849's signature examples, then each login
// flow end to end against the fake provider of fake_oauth_provider.h, served
// by the same test server on loopback.
#include "tornado/auth.h"

#include <gtest/gtest.h>

#include "fake_oauth_provider.h"
#include "tornado/testing.h"

namespace {

using nlohmann::json;
using tornado::auth::Params;

// ---- RFC 5849 ----

// Section 1.2: the temporary-credentials request of the photo example.
TEST(OAuthSignature, Rfc5849TemporaryCredentialsExample) {
  Params params{{"oauth_consumer_key", "dpf43f3p2l4k3l03"},
                {"oauth_signature_method", "HMAC-SHA1"},
                {"oauth_timestamp", "137131200"},
                {"oauth_nonce", "wIjqoS"},
                {"oauth_callback", "http://printer.example.com/ready"}};
  EXPECT_EQ(tornado::auth::oauth10a_signature("kd94hf93k423kf44", "POST",
                                              "https://photos.example.net/initiate", params),
            "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
}

// Section 1.2: the protected-resource request, with its query parameters.
TEST(OAuthSignature, Rfc5849ProtectedResourceExample) {
  Params params{{"oauth_consumer_key", "dpf43f3p2l4k3l03"},
                {"oauth_token", "nnch734d00sl2jdk"},
                {"oauth_signature_method", "HMAC-SHA1"},
                {"oauth_timestamp", "137131202"},
                {"oauth_nonce", "chapoH"}};
  const std::string url = "http://photos.example.net/photos?file=vacation.jpg&size=original";
  EXPECT_EQ(tornado::auth::oauth_signature_base_string("GET", url, params),
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_"
            "key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-"
            "SHA1%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%"
            "3Doriginal");
  EXPECT_EQ(
      tornado::auth::oauth10a_signature("kd94hf93k423kf44", "GET", url, params, "pfkkdhi9sl3r4s00"),
      "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
}

// Section 3.4.1.1: repeated names, encoded names and values, body and
// query parameters together, sorted by encoded name then value.
TEST(OAuthSignature, Rfc5849BaseStringExample) {
  Params params{{"oauth_consumer_key", "9djdj82h48djs9d2"},
                {"oauth_token", "kkk9d7dh3k39sjv7"},
                {"oauth_signature_method", "HMAC-SHA1"},
                {"oauth_timestamp", "137131201"},
                {"oauth_nonce", "7d8f3e4a"},
                {"c2", ""},
                {"a3", "2 q"}};
  EXPECT_EQ(tornado::auth::oauth_signature_base_string(
                "POST", "http://EXAMPLE.COM:80/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%"
            "3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_"
            "nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%"
            "3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7");
}

TEST(OAuthEscape, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(tornado::auth::oauth_escape("a-._~ b+/=é"), "a-._~%20b%2B%2F%3D%C3%A9");
}

// ---- login flows against the fake provider ----

std::string origin(tornado::web::RequestHandler& h) {
  return h.request().protocol + "://" + h.request().host;
}

class GoogleLogin : public tornado::auth::GoogleOAuth2Mixin {
 public:
  void prepare() {
    oauth_authorize_url = origin(*this) + "/o/authorize";
    oauth_access_token_url = origin(*this) + "/o/token";
    oauth_userinfo_url = origin(*this) + "/o/userinfo";
  }
  tornado::Task<> get() {
    std::string redirect_uri = origin(*this) + "/google";
    if (get_argument("code", "").empty()) {
      authorize_redirect({.redirect_uri = redirect_uri,
                          .client_id = fake_oauth::kClientId,
                          .scope = {"profile", "email"}});
      co_return;
    }
    json token = co_await get_authenticated_user(redirect_uri, get_argument("code"));
    json user =
        co_await oauth2_request(oauth_userinfo_url, token["access_token"].get<std::string>());
    write(json{{"email", user["email"]}, {"expires_in", token["expires_in"]}});
  }
};

class FacebookLogin : public tornado::auth::FacebookGraphMixin {
 public:
  void prepare() {
    oauth_authorize_url = origin(*this) + "/fb/dialog/oauth?";
    oauth_access_token_url = origin(*this) + "/fb/oauth/access_token?";
    facebook_base_url = origin(*this) + "/fb";
  }
  tornado::Task<> get() {
    std::string redirect_uri = origin(*this) + "/facebook";
    if (get_argument("code", "").empty()) {
      authorize_redirect({.redirect_uri = redirect_uri,
                          .client_id = fake_oauth::kClientId,
                          .extra_params = {{"scope", "email"}}});
      co_return;
    }
    json user =
        co_await get_authenticated_user(redirect_uri, fake_oauth::kClientId,
                                        fake_oauth::kClientSecret, get_argument("code"), {"email"});
    write(user);
  }
};

class TwitterLogin : public tornado::auth::TwitterMixin {
 public:
  void prepare() {
    oauth_request_token_url = origin(*this) + "/tw/request_token";
    oauth_access_token_url = origin(*this) + "/tw/access_token";
    oauth_authorize_url = origin(*this) + "/tw/authorize";
    twitter_base_url = origin(*this) + "/tw/1.1";
  }
  tornado::Task<> get() {
    if (get_argument("oauth_token", "").empty()) {
      co_await authorize_redirect("/twitter");
      co_return;
    }
    json user = co_await get_authenticated_user();
    write(user);
  }
};

class AuthTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  std::unique_ptr<tornado::web::Application> get_app() override {
    auto routes = fake_oauth::routes(provider_);
    routes.emplace_back("/google", tornado::web::handler<GoogleLogin>());
    routes.emplace_back("/facebook", tornado::web::handler<FacebookLogin>());
    routes.emplace_back("/twitter", tornado::web::handler<TwitterLogin>());
    tornado::web::Settings settings;
    settings.values = {
        {"google_oauth", {{"key", fake_oauth::kClientId}, {"secret", fake_oauth::kClientSecret}}},
        {"twitter_consumer_key", fake_oauth::kConsumerKey},
        {"twitter_consumer_secret", fake_oauth::kConsumerSecret}};
    return std::make_unique<tornado::web::Application>(std::move(routes), settings);
  }

  // One browser step: no redirects followed, cookies kept.
  tornado::httpclient::HTTPResponse step(const std::string& url_or_path) {
    std::string path = url_or_path;
    std::string prefix = get_url("");
    if (path.starts_with(prefix)) path.erase(0, prefix.size());
    tornado::httpclient::HTTPRequest request;
    request.follow_redirects = false;
    std::string cookie_header;
    for (const auto& [k, v] : cookies_)
      cookie_header += (cookie_header.empty() ? "" : "; ") + k + "=" + v;
    if (!cookie_header.empty()) request.headers.add("Cookie", cookie_header);
    auto response = fetch(path, std::move(request));
    for (auto set : response.headers.get_list("Set-Cookie")) {
      std::string_view pair = set.substr(0, set.find(';'));
      auto eq = pair.find('=');
      std::string name(pair.substr(0, eq)), value(pair.substr(eq + 1));
      value = value.starts_with('"') ? value.substr(1, value.size() - 2) : value;
      if (value.empty() || set.find("Max-Age=0") != std::string_view::npos ||
          set.find("expires=Thu, 01 Jan 1970") != std::string_view::npos ||
          set.find("1970") != std::string_view::npos) {
        cookies_.erase(name);
      } else {
        cookies_[name] = value;
      }
    }
    return response;
  }
  static std::string location(const tornado::httpclient::HTTPResponse& r) {
    return std::string(r.headers.get("Location"));
  }
  static std::string query_value(const std::string& url, const std::string& name) {
    auto q = url.find('?');
    auto args = tornado::httputil::parse_qs_bytes(url.substr(q + 1));
    auto it = args.find(name);
    return it == args.end() ? std::string() : it->second.front();
  }

  std::shared_ptr<fake_oauth::State> provider_ = std::make_shared<fake_oauth::State>();
  std::map<std::string, std::string> cookies_;
};

TEST_F(AuthTest, GoogleLoginEndToEnd) {
  auto start = step("/google");
  ASSERT_EQ(start.code, 302);
  std::string to_provider = location(start);
  EXPECT_EQ(query_value(to_provider, "scope"), "profile email");
  EXPECT_EQ(query_value(to_provider, "client_id"), fake_oauth::kClientId);
  std::string state = query_value(to_provider, "state");
  ASSERT_EQ(state.size(), 32u);
  EXPECT_EQ(cookies_["_oauth2_state"], state);

  auto consent = step(to_provider);
  ASSERT_EQ(consent.code, 302);
  EXPECT_EQ(query_value(location(consent), "state"), state);

  auto done = step(location(consent));
  ASSERT_EQ(done.code, 200) << done.body;
  EXPECT_EQ(json::parse(done.body), (json{{"email", "ada@example.com"}, {"expires_in", 3600}}));
  EXPECT_FALSE(cookies_.contains("_oauth2_state"));  // used once
}

TEST_F(AuthTest, TamperedStateIsRefused) {
  std::string to_provider = location(step("/google"));
  std::string back = location(step(to_provider));
  std::string state = query_value(back, "state");
  std::string tampered = back.substr(0, back.find("state=")) + "state=" + std::string(32, 'a');
  tornado::testing::ExpectLog refused(tornado::log::general, "403");
  auto response = step(tampered);
  EXPECT_EQ(response.code, 403);
  EXPECT_EQ(provider_->token_requests, 0);  // the code was never exchanged
}

TEST_F(AuthTest, CallbackWithoutTheStateCookieIsRefused) {
  std::string back = location(step(location(step("/google"))));
  cookies_.clear();  // another browser, as in a login CSRF
  tornado::testing::ExpectLog refused(tornado::log::general, "403");
  EXPECT_EQ(step(back).code, 403);
}

TEST_F(AuthTest, ProviderErrorAnswerIsAnAuthError) {
  std::string back = location(step(location(step("/google"))));
  std::string state = query_value(back, "state");
  cookies_["_oauth2_state"] = state;
  tornado::testing::ExpectLog failed(tornado::log::general, "invalid_grant");
  tornado::testing::ExpectLog logged_502(tornado::log::access, "502 GET /google");
  auto response = step("/google?code=forged&state=" + state);
  EXPECT_EQ(response.code, 502);
  EXPECT_EQ(provider_->token_requests, 1);
}

TEST_F(AuthTest, CodeIsSingleUse) {
  std::string back = location(step(location(step("/google"))));
  std::string state_cookie = cookies_["_oauth2_state"];
  EXPECT_EQ(step(back).code, 200);
  cookies_["_oauth2_state"] = state_cookie;  // replay with the old cookie
  tornado::testing::ExpectLog failed(tornado::log::general, "invalid_grant");
  tornado::testing::ExpectLog logged_502(tornado::log::access, "502 GET /google");
  EXPECT_EQ(step(back).code, 502);
}

TEST_F(AuthTest, FacebookLoginEndToEnd) {
  auto start = step("/facebook");
  ASSERT_EQ(start.code, 302);
  auto consent = step(location(start));
  ASSERT_EQ(consent.code, 302) << consent.body;
  auto done = step(location(consent));
  ASSERT_EQ(done.code, 200) << done.body;
  json user = json::parse(done.body);
  EXPECT_EQ(user["name"], "Ada Lovelace");
  EXPECT_EQ(user["email"], "ada@example.com");
  EXPECT_EQ(user["first_name"], "Ada");
  EXPECT_TRUE(user["link"].is_null());
  EXPECT_TRUE(user["access_token"].get<std::string>().starts_with("token-"));
  EXPECT_EQ(user["session_expires"], "3600");
}

TEST_F(AuthTest, TwitterLoginEndToEnd) {
  auto start = step("/twitter");
  ASSERT_EQ(start.code, 302) << start.body;
  ASSERT_TRUE(cookies_.contains("_oauth_request_token"));
  auto consent = step(location(start));
  ASSERT_EQ(consent.code, 302) << consent.body;
  auto done = step(location(consent));
  ASSERT_EQ(done.code, 200) << done.body;
  json user = json::parse(done.body);
  EXPECT_EQ(user["username"], "ada");
  EXPECT_EQ(user["access_token"]["key"], "at-1");
  EXPECT_EQ(user["access_token"]["secret"], "ats-1");
  EXPECT_EQ(user["access_token"]["screen_name"], "ada");
}

TEST_F(AuthTest, TwitterTokenNotMatchingTheCookieIsRefused) {
  auto start = step("/twitter");
  std::string back = location(step(location(start)));
  std::string verifier = query_value(back, "oauth_verifier");
  tornado::testing::ExpectLog refused(tornado::log::general, "403");
  auto response = step("/twitter?oauth_token=rt-999&oauth_verifier=" + verifier);
  EXPECT_EQ(response.code, 403);
}

}  // namespace
