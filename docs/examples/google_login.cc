// The handler docs/auth.md shows: "Sign in with Google" through
// tornado::auth::GoogleOAuth2Mixin.
#include "tornado/auth.h"
#include "tornado/ioloop.h"
#include "tornado/web.h"

class GoogleOAuth2LoginHandler : public tornado::auth::GoogleOAuth2Mixin {
 public:
  tornado::Task<> get() {
    const std::string redirect_uri = "http://localhost:8888/auth/google";
    if (get_argument("code", "").empty()) {
      authorize_redirect({.redirect_uri = redirect_uri,
                          .client_id = settings()["google_oauth"]["key"],
                          .scope = {"profile", "email"}});
      co_return;
    }
    auto token = co_await get_authenticated_user(redirect_uri, get_argument("code"));
    auto user =
        co_await oauth2_request(oauth_userinfo_url, token["access_token"].get<std::string>());
    set_signed_cookie("user", user["email"].get<std::string>());
    redirect("/");
  }
};

int main() {
  tornado::web::Settings settings;
  settings.cookie_secret = "change me";
  settings["google_oauth"] = {{"key", "CLIENT_ID"}, {"secret", "CLIENT_SECRET"}};
  tornado::web::Application app(
      {{"/auth/google", tornado::web::handler<GoogleOAuth2LoginHandler>()}}, settings);
  app.listen(8888);
  tornado::ioloop::IOLoop::current().start();
}
