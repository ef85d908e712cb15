// tornado::auth: logging in with a third-party provider (OAuth 2 and
// OAuth 1.0a), mirroring tornado.auth.
//
// Tornado's "mixins" are classes a handler inherits next to RequestHandler;
// here each mixin *is* a RequestHandler, so a login handler derives from it:
//
//   class GoogleLogin : public tornado::auth::GoogleOAuth2Mixin {
//    public:
//     tornado::Task<> get() {
//       if (get_argument("code", "").empty()) {
//         authorize_redirect({.redirect_uri = "https://example.com/auth/google",
//                             .client_id = google_key(),
//                             .scope = {"profile", "email"}});
//         co_return;
//       }
//       auto token = co_await get_authenticated_user("https://example.com/auth/google",
//                                                    get_argument("code"));
//       auto user = co_await oauth2_request(userinfo_url,
//                                           token["access_token"].get<std::string>());
//       set_signed_cookie("user", user["email"].get<std::string>());
//       redirect("/");
//     }
//   };
//
// Beyond Tornado, `authorize_redirect` puts a random `state` in the
// provider URL and in a cookie, and the callback refuses (403) a `state`
// that does not match: a login forged by another site fails. Provider URLs
// are members, so an app (and its tests) can point them at another server.
// Credentials come from the application's own settings (`settings["..."]`),
// under Tornado's names: "google_oauth" {"key", "secret"}, "twitter_consumer_key",
// "twitter_consumer_secret" (Facebook's are arguments, as in Tornado).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/httpclient.h"
#include "tornado/web.h"

namespace tornado::auth {

/// A login that failed: the provider refused or answered nonsense (502), or
/// the callback's state or token does not match this browser's (403).
class AuthError : public web::HTTPError {
 public:
  /// An authentication failure, answered with `status_code` (502: the provider failed).
  explicit AuthError(std::string message, int status_code = 502)
      : web::HTTPError(status_code, message), message(std::move(message)) {}
  /// What went wrong, for the log and the error page.
  std::string message;
};

/// Ordered name/value pairs, as the query strings and forms they become.
using Params = std::vector<std::pair<std::string, std::string>>;

/// Arguments of `OAuth2Mixin::authorize_redirect`, Tornado's keywords.
struct AuthorizeOptions {
  /// Where the provider sends the browser back.
  std::string redirect_uri;
  /// The application's id at the provider.
  std::string client_id;
  std::string client_secret;  ///< unused, as in Tornado
  /// More query arguments for the authorization URL.
  Params extra_params;
  /// The permissions asked for.
  std::vector<std::string> scope;
  /// The OAuth 2 response type ("code").
  std::string response_type = "code";
};

/// The OAuth 2 authorization-code flow (RFC 6749), as Tornado's OAuth2Mixin.
class OAuth2Mixin : public web::RequestHandler {
 public:
  /// Redirects the browser to the provider's authorization page, with a
  /// fresh `state` (also kept in the `_oauth2_state` cookie).
  void authorize_redirect(const AuthorizeOptions& options);
  /// On the callback: checks `state`, exchanges `code` for a token at the
  /// token URL (a form POST with grant_type=authorization_code and the
  /// client credentials) and returns the provider's JSON answer.
  Task<nlohmann::json> get_authenticated_user(std::string redirect_uri, std::string code,
                                              std::string client_id, std::string client_secret);
  /// Fetches `url` with `access_token` and `args` in the query (a form POST
  /// of `post_args` if given) and returns the decoded JSON; AuthError if the
  /// provider answers an error.
  Task<nlohmann::json> oauth2_request(std::string url, std::string access_token = {},
                                      std::optional<Params> post_args = std::nullopt,
                                      Params args = {});
  /// The client the mixin fetches with; override to share or configure one.
  virtual httpclient::AsyncHTTPClient& get_auth_http_client();

  /// The provider's endpoints (Tornado's _OAUTH_AUTHORIZE_URL and
  /// _OAUTH_ACCESS_TOKEN_URL), set by a subclass or an `initialize()`.
  std::string oauth_authorize_url;
  /// The provider's token endpoint.
  std::string oauth_access_token_url;

 protected:
  /// The token URL with these arguments in its query (Tornado's
  /// `_oauth_request_token_url`).
  std::string oauth_request_token_url(std::string_view redirect_uri, std::string_view client_id,
                                      std::string_view client_secret, std::string_view code,
                                      const Params& extra_params = {}) const;
  /// Throws AuthError(403) unless the request's `state` argument matches the
  /// `_oauth2_state` cookie; clears the cookie.
  void check_oauth2_state();

 private:
  std::optional<httpclient::AsyncHTTPClient> client_;
};

/// Google's OAuth 2 endpoints; credentials from the "google_oauth" setting.
class GoogleOAuth2Mixin : public OAuth2Mixin {
 public:
  GoogleOAuth2Mixin();
  /// Checks state and exchanges `code` for Google's token answer
  /// (access_token, id_token, expires_in...), as Tornado's.
  Task<nlohmann::json> get_authenticated_user(std::string redirect_uri, std::string code);
  /// Where the user's profile is read with the access token.
  std::string oauth_userinfo_url = "https://www.googleapis.com/oauth2/v1/userinfo";
};

/// Facebook's Graph API login.
class FacebookGraphMixin : public OAuth2Mixin {
 public:
  FacebookGraphMixin();
  /// Checks state, exchanges `code`, reads /me (with the appsecret_proof)
  /// and returns its fields plus access_token and session_expires.
  Task<nlohmann::json> get_authenticated_user(std::string redirect_uri, std::string client_id,
                                              std::string client_secret, std::string code,
                                              std::vector<std::string> extra_fields = {});
  /// A Graph API call: `path` ("/me/feed") under facebook_base_url.
  Task<nlohmann::json> facebook_request(std::string path, std::string access_token = {},
                                        std::optional<Params> post_args = std::nullopt,
                                        Params args = {});
  /// Where Graph API paths are resolved (a setting, so tests can point it at a fake).
  std::string facebook_base_url = "https://graph.facebook.com";
};

/// An OAuth 1.0a token: key and secret, plus whatever else the provider
/// returned (user_id, screen_name...).
struct OAuthToken {
  /// The token.
  std::string key;
  /// The token's secret.
  std::string secret;
  /// Any other fields the provider returned with the token.
  std::map<std::string, std::string> extra;
};

/// The OAuth 1.0a flow with HMAC-SHA1 signatures (RFC 5849), as Tornado's
/// OAuthMixin: request token, authorization, access token.
class OAuthMixin : public web::RequestHandler {
 public:
  /// Gets a request token, keeps it in the `_oauth_request_token` cookie and
  /// redirects to the authorization URL ("oob": writes the URL instead).
  Task<> authorize_redirect(std::string callback_uri = {}, Params extra_params = {});
  /// On the callback: checks that `oauth_token` is the one in the cookie
  /// (403 otherwise), trades it for an access token and returns the user
  /// (`oauth_get_user`), with "access_token" added.
  Task<nlohmann::json> get_authenticated_user();
  /// The HTTP client used to talk to the provider (override to share one).
  virtual httpclient::AsyncHTTPClient& get_auth_http_client();

  /// The provider's request-token endpoint.
  std::string oauth_request_token_url;
  /// The provider's token endpoint.
  std::string oauth_access_token_url;
  /// The provider's authorization page.
  std::string oauth_authorize_url;

 protected:
  /// The application's consumer key and secret.
  virtual OAuthToken oauth_consumer_token() = 0;
  /// Reads the user with an access token.
  virtual Task<nlohmann::json> oauth_get_user(const OAuthToken& access_token) = 0;
  /// The oauth_* parameters (signature included) that authorize a request
  /// for `url` with `access_token`; `parameters` are the request's own.
  Params oauth_request_parameters(std::string_view url, const OAuthToken& access_token,
                                  const Params& parameters, std::string_view method = "GET");
  /// Redirects to `authorize_url` with the request token from `response`.
  void on_request_token(std::string_view authorize_url, std::string_view callback_uri,
                        const httpclient::HTTPResponse& response);
  /// Overridable for tests: the nonce and the time stamped on requests.
  virtual std::string oauth_nonce();
  /// The oauth_timestamp of a signature (seconds since the epoch; override in tests).
  virtual std::string oauth_timestamp();
  /// The signed request-token and access-token URLs.
  std::string request_token_url(std::string_view callback_uri, const Params& extra_params);
  /// The URL that exchanges an authorized request token for an access token.
  std::string access_token_url(const OAuthToken& request_token);

 private:
  std::optional<httpclient::AsyncHTTPClient> client_;
};

/// Twitter's OAuth 1.0a login and API; credentials from the
/// "twitter_consumer_key" and "twitter_consumer_secret" settings.
class TwitterMixin : public OAuthMixin {
 public:
  TwitterMixin();
  /// As authorize_redirect, but to the "authenticate" URL: a user who has
  /// authorized the app before is sent straight back.
  Task<> authenticate_redirect(std::string callback_uri = {});
  /// A signed API call: `path` ("/statuses/update") under twitter_base_url
  /// with ".json" appended, or a full URL.
  Task<nlohmann::json> twitter_request(std::string path, const OAuthToken& access_token,
                                       std::optional<Params> post_args = std::nullopt,
                                       Params args = {});
  /// Twitter's sign-in page.
  std::string oauth_authenticate_url = "https://api.twitter.com/oauth/authenticate";
  /// Where API paths are resolved (a setting, so tests can point it at a fake).
  std::string twitter_base_url = "https://api.twitter.com/1.1";

 protected:
  OAuthToken oauth_consumer_token() override;
  Task<nlohmann::json> oauth_get_user(const OAuthToken& access_token) override;
};

/// RFC 5849 section 3.6 percent-encoding (unreserved characters kept).
std::string oauth_escape(std::string_view value);
/// The signature base string (RFC 5849 section 3.4.1): the method, the URL
/// without its query, and every parameter (the URL's query included)
/// encoded and sorted.
std::string oauth_signature_base_string(std::string_view method, std::string_view url,
                                        const Params& parameters);
/// The HMAC-SHA1 signature (RFC 5849 section 3.4.2), base64.
std::string oauth10a_signature(std::string_view consumer_secret, std::string_view method,
                               std::string_view url, const Params& parameters,
                               std::string_view token_secret = {});

}  // namespace tornado::auth
