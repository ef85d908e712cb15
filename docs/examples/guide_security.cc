// User's Guide, chapter 7 (docs/guide/07-security.*.md): a plain cookie, a
// signed cookie that remembers who signed in, a page only for signed-in
// users, and XSRF protection of the login form. Its Python twin is
// docs/guide/python/security.py.
//
//   ./guide_security --port=8888        then open http://127.0.0.1:8888/
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

// Every handler that needs to know the user derives from this one.
class BaseHandler : public tornado::web::RequestHandler {
 public:
  std::optional<nlohmann::json> get_current_user() override {
    auto name = get_signed_cookie("user");
    if (!name) return std::nullopt;  // no cookie, or a forged or expired one
    return nlohmann::json(*name);
  }
};

class MainHandler : public BaseHandler {
 public:
  void get() {
    if (!authenticated()) return;  // redirected to /login?next=%2F
    auto name = current_user()->get<std::string>();
    write("Hello, " + tornado::escape::xhtml_escape(name));
  }
};

class LoginHandler : public BaseHandler {
 public:
  void get() {
    write("<form action=\"/login\" method=\"post\">" + xsrf_form_html() +
          "Name: <input type=\"text\" name=\"name\">"
          "<input type=\"submit\" value=\"Sign in\"></form>");
  }

  // Reached only with a valid _xsrf field: xsrf_cookies checks every POST.
  void post() {
    set_signed_cookie("user", get_argument("name"));
    redirect(get_argument("next", "/"));
  }
};

// A plain cookie: the browser may change it at will, so never trust it.
class VisitsHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    int visits = std::stoi(get_cookie("visits").value_or("0")) + 1;
    set_cookie("visits", std::to_string(visits));
    write("Visits: " + std::to_string(visits));
  }
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on (0: any free port)");
  tornado::options::define("cookie_secret", "change me: a long random string",
                           "the key that signs cookies");
  tornado::options::parse_command_line(argc, argv);

  tornado::web::Application app(
      {
          {"/", tornado::web::handler<MainHandler>()},
          {"/login", tornado::web::handler<LoginHandler>()},
          {"/visits", tornado::web::handler<VisitsHandler>()},
      },
      {
          .cookie_secret = tornado::options::get<std::string>("cookie_secret"),
          .xsrf_cookies = true,
          .login_url = "/login",
      });
  auto& server = app.listen(tornado::options::get<int>("port"), "127.0.0.1");
  tornado::log::app.info("Listening on http://127.0.0.1:{}/", server.port());
  tornado::ioloop::IOLoop::current().start();
}
