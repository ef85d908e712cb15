// A fake login provider for tests/auth_test.cc and tests/auth_demo_test.cc:
// OAuth 2 (authorize, token, userinfo, as Google's), Facebook's Graph
// variant and OAuth 1.0a (as Twitter's), served by tornado-cpp on loopback.
// It checks what a real provider checks (client credentials, single-use
// codes, redirect URIs, HMAC-SHA1 signatures, appsecret_proof) and answers
// errors the way providers do (400/401 with a JSON "error").
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tornado/auth.h"
#include "tornado/escape.h"
#include "tornado/web.h"

namespace fake_oauth {

inline const std::string kClientId = "test-client";
inline const std::string kClientSecret = "test-secret";
inline const std::string kConsumerKey = "dpf43f3p2l4k3l03";
inline const std::string kConsumerSecret = "kd94hf93k423kf44";

/// What the provider remembers between requests.
struct State {
  std::map<std::string, std::string> codes;  // code -> redirect_uri
  std::set<std::string> access_tokens;
  std::map<std::string, std::string> oauth1_request_tokens;  // key -> callback
  int issued = 0;
  int token_requests = 0;
};

inline std::string hmac_sha256_hex(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &len);
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

class ProviderHandler : public tornado::web::RequestHandler {
 public:
  void initialize(std::shared_ptr<State> state) { state_ = std::move(state); }

 protected:
  void fail(int status, const std::string& error) {
    set_status(status);
    write(nlohmann::json{{"error", error}});
    finish();
  }
  std::shared_ptr<State> state_;
};

/// GET /o/authorize: the user "consents" at once and is sent back.
class AuthorizeHandler : public ProviderHandler {
 public:
  void get() {
    if (get_argument("client_id", "") != kClientId) return fail(400, "invalid_client");
    if (get_argument("response_type", "") != "code") return fail(400, "unsupported_response_type");
    std::string redirect_uri = get_argument("redirect_uri");
    std::string code = "code-" + std::to_string(++state_->issued);
    state_->codes[code] = redirect_uri;
    std::vector<std::pair<std::string, std::string>> back{{"code", code}};
    if (auto state = get_argument("state", ""); !state.empty()) back.emplace_back("state", state);
    redirect(tornado::httputil::url_concat(redirect_uri, back));
  }
};

/// POST /o/token (form) as Google; GET /fb/oauth/access_token as Facebook.
class TokenHandler : public ProviderHandler {
 public:
  void post() { exchange(true); }
  void get() { exchange(false); }

 private:
  void exchange(bool form) {
    ++state_->token_requests;
    if (form && get_argument("grant_type", "") != "authorization_code") {
      return fail(400, "unsupported_grant_type");
    }
    if (get_argument("client_id", "") != kClientId ||
        get_argument("client_secret", "") != kClientSecret) {
      return fail(401, "invalid_client");
    }
    auto it = state_->codes.find(get_argument("code", ""));
    if (it == state_->codes.end() || it->second != get_argument("redirect_uri", "")) {
      return fail(400, "invalid_grant");
    }
    state_->codes.erase(it);  // single use
    std::string token = "token-" + std::to_string(++state_->issued);
    state_->access_tokens.insert(token);
    write(nlohmann::json{{"access_token", token}, {"token_type", "Bearer"}, {"expires_in", 3600}});
  }
};

/// GET /o/userinfo and /fb/me: the profile for a valid access token.
class UserinfoHandler : public ProviderHandler {
 public:
  void get() {
    std::string token = get_argument("access_token", "");
    if (!state_->access_tokens.contains(token)) return fail(401, "invalid_token");
    if (request().path.ends_with("/me") &&
        get_argument("appsecret_proof", "") != hmac_sha256_hex(kClientSecret, token)) {
      return fail(400, "invalid appsecret_proof");
    }
    write(nlohmann::json{{"id", "42"},
                         {"email", "ada@example.com"},
                         {"name", "Ada Lovelace"},
                         {"first_name", "Ada"},
                         {"last_name", "Lovelace"}});
  }
};

/// OAuth 1.0a endpoints under /tw/, each checking the request's signature.
class OAuth1Handler : public ProviderHandler {
 protected:
  // True if the request is signed with the consumer secret and `token_secret`.
  bool signed_ok(const std::string& token_secret) {
    tornado::auth::Params params;
    for (const auto& [name, values] : request().query_arguments) {
      if (name == "oauth_signature") continue;
      for (const auto& v : values) params.emplace_back(name, v);
    }
    std::string url = request().protocol + "://" + request().host + request().path;
    return get_argument("oauth_consumer_key", "") == kConsumerKey &&
           get_argument("oauth_signature", "") ==
               tornado::auth::oauth10a_signature(kConsumerSecret, request().method, url, params,
                                                 token_secret);
  }
};

class RequestTokenHandler : public OAuth1Handler {
 public:
  void get() {
    if (!signed_ok("")) return fail(401, "bad signature");
    std::string key = "rt-" + std::to_string(++state_->issued);
    state_->oauth1_request_tokens[key] = get_argument("oauth_callback", "");
    write("oauth_token=" + key + "&oauth_token_secret=rts-" + key +
          "&oauth_callback_confirmed=true");
  }
};

class OAuth1AuthorizeHandler : public OAuth1Handler {
 public:
  void get() {
    std::string key = get_argument("oauth_token");
    auto it = state_->oauth1_request_tokens.find(key);
    if (it == state_->oauth1_request_tokens.end()) return fail(400, "unknown token");
    redirect(tornado::httputil::url_concat(it->second,
                                           {{"oauth_token", key}, {"oauth_verifier", "v-" + key}}));
  }
};

class AccessTokenHandler : public OAuth1Handler {
 public:
  void get() {
    std::string key = get_argument("oauth_token", "");
    if (!state_->oauth1_request_tokens.contains(key)) return fail(401, "unknown token");
    if (!signed_ok("rts-" + key)) return fail(401, "bad signature");
    if (get_argument("oauth_verifier", "") != "v-" + key) return fail(401, "bad verifier");
    state_->oauth1_request_tokens.erase(key);
    write("oauth_token=at-1&oauth_token_secret=ats-1&user_id=7&screen_name=ada");
  }
};

class VerifyCredentialsHandler : public OAuth1Handler {
 public:
  void get() {
    if (get_argument("oauth_token", "") != "at-1" || !signed_ok("ats-1")) {
      return fail(401, "bad signature");
    }
    write(nlohmann::json{{"id", 7}, {"screen_name", "ada"}, {"name", "Ada"}});
  }
};

/// The provider's routes, to add to an Application.
inline std::vector<tornado::web::URLSpec> routes(const std::shared_ptr<State>& state) {
  using tornado::web::handler;
  return {
      {"/o/authorize", handler<AuthorizeHandler>(state)},
      {"/o/token", handler<TokenHandler>(state)},
      {"/o/userinfo", handler<UserinfoHandler>(state)},
      {"/fb/oauth/access_token", handler<TokenHandler>(state)},
      {"/fb/dialog/oauth", handler<AuthorizeHandler>(state)},
      {"/fb/me", handler<UserinfoHandler>(state)},
      {"/tw/request_token", handler<RequestTokenHandler>(state)},
      {"/tw/authorize", handler<OAuth1AuthorizeHandler>(state)},
      {"/tw/access_token", handler<AccessTokenHandler>(state)},
      {"/tw/1.1/account/verify_credentials.json", handler<VerifyCredentialsHandler>(state)},
  };
}

}  // namespace fake_oauth
