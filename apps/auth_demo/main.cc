// auth_demo: "Sign in with Google" (or any OAuth 2 provider), as Tornado's
// demos/google_auth. The provider's URLs are flags, so the same program runs
// against Google, another provider, or the fake one tests/auth_demo_test.cc
// starts on loopback:
//
//   auth_demo --client-id ID --client-secret SECRET --cookie-secret RANDOM
//   auth_demo --authorize-url http://127.0.0.1:9000/o/authorize \
//             --token-url http://127.0.0.1:9000/o/token \
//             --userinfo-url http://127.0.0.1:9000/o/userinfo ...
//
// GET /        the signed-in user's name, or a link to /login
// GET /login   off to the provider, and back here with a code (state checked)
// GET /logout  forgets the user
#include <csignal>
#include <cstdio>

#include "tornado/auth.h"
#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

namespace {

namespace options = tornado::options;
using nlohmann::json;

class BaseHandler : public tornado::web::RequestHandler {
 public:
  std::optional<json> get_current_user() override {
    auto user = get_signed_cookie("auth_demo_user");
    if (!user) return std::nullopt;
    return json::parse(*user, nullptr, false);
  }
};

class MainHandler : public BaseHandler {
 public:
  void get() {
    const auto& user = current_user();
    if (!user) {
      write("<p>Not signed in. <a href=\"/login\">Sign in</a></p>");
      return;
    }
    write("<p>Hello, " + tornado::escape::xhtml_escape(user->value("name", "")) +
          "</p><p><a href=\"/logout\">Sign out</a></p>");
  }
};

// The provider's URLs come from the flags; Google's are the defaults.
class LoginHandler : public tornado::auth::GoogleOAuth2Mixin {
 public:
  void prepare() {
    if (auto url = options::get<std::string>("authorize_url"); !url.empty()) {
      oauth_authorize_url = url;
    }
    if (auto url = options::get<std::string>("token_url"); !url.empty()) {
      oauth_access_token_url = url;
    }
    if (auto url = options::get<std::string>("userinfo_url"); !url.empty()) {
      oauth_userinfo_url = url;
    }
  }

  tornado::Task<> get() {
    std::string redirect_uri = request().protocol + "://" + request().host + "/login";
    if (get_argument("code", "").empty()) {
      authorize_redirect({.redirect_uri = redirect_uri,
                          .client_id = options::get<std::string>("client_id"),
                          .scope = {"profile", "email"}});
      co_return;
    }
    json token = co_await get_authenticated_user(redirect_uri, get_argument("code"));
    json user =
        co_await oauth2_request(oauth_userinfo_url, token["access_token"].get<std::string>());
    json kept = {{"name", user.value("name", "")}, {"email", user.value("email", "")}};
    set_signed_cookie("auth_demo_user", kept.dump());
    redirect("/");
  }
};

class LogoutHandler : public BaseHandler {
 public:
  void get() {
    clear_cookie("auth_demo_user");
    redirect("/");
  }
};

}  // namespace

int main(int argc, char** argv) {
  options::define("port", 8888, "TCP port");
  options::define("address", std::string("127.0.0.1"), "address to bind");
  options::define("debug", false, "debug mode (restarts itself when rebuilt)");
  options::define("client_id", std::string(), "OAuth 2 client id");
  options::define("client_secret", std::string(), "OAuth 2 client secret");
  options::define("cookie_secret", std::string(), "secret signing the login cookie (required)");
  options::define("authorize_url", std::string(), "provider's authorization URL (Google's)");
  options::define("token_url", std::string(), "provider's token URL (Google's)");
  options::define("userinfo_url", std::string(), "provider's user-info URL (Google's)");
  options::parse_command_line(argc, argv);
  if (options::get<std::string>("cookie_secret").empty() ||
      options::get<std::string>("client_id").empty()) {
    std::fprintf(stderr, "auth_demo: --client-id and --cookie-secret are required\n");
    return 2;
  }

  tornado::web::Settings settings;
  settings.debug = options::get<bool>("debug");
  settings.cookie_secret = options::get<std::string>("cookie_secret");
  settings.login_url = "/login";
  settings["google_oauth"] = {{"key", options::get<std::string>("client_id")},
                              {"secret", options::get<std::string>("client_secret")}};
  tornado::web::Application app({{"/", tornado::web::handler<MainHandler>()},
                                 {"/login", tornado::web::handler<LoginHandler>()},
                                 {"/logout", tornado::web::handler<LogoutHandler>()}},
                                settings);
  try {
    app.listen(options::get<int>("port"), options::get<std::string>("address"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "auth_demo: %s\n", e.what());
    return 2;
  }
  tornado::log::app.info("auth_demo on http://{}:{}/", options::get<std::string>("address"),
                         options::get<int>("port"));
  auto& loop = tornado::ioloop::IOLoop::current();
  auto shutdown = [&] {
    app.stop_listening();
    loop.stop();
  };
  loop.add_signal_handler(SIGINT, shutdown);
  loop.add_signal_handler(SIGTERM, shutdown);
  loop.start();
  return 0;
}
