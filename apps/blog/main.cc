// apps/blog: Tornado's blog demo (shared/CONTRACT.md, "apps/<demo>").
// Authors and entries live in SQLite (--db), entries are written in Markdown
// (cmark) and passwords hashed with Argon2id (libsodium). Every database call
// and every hash runs off the event loop, through run_in_executor; the
// database has one thread of its own so that its calls never overlap.
#include <fmt/format.h>

#include "store.h"
#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

namespace options = tornado::options;
using nlohmann::json;
using tornado::Task;
using tornado::template_::Value;

namespace {

// The database and the one thread it is used from.
struct Blog {
  explicit Blog(const std::string& path) : db(path) {}
  blog::Database db;
  tornado::ThreadPoolExecutor db_thread{1};
};

class BaseHandler : public tornado::web::RequestHandler {
 public:
  void initialize(Blog* blog) { blog_ = blog; }

 protected:
  // Runs `fn(database)` on the database thread.
  template <class Fn>
  auto query(Fn fn) {
    return tornado::ioloop::run_on_executor(
        blog_->db_thread, [fn = std::move(fn), blog = blog_] { return fn(blog->db); });
  }

  Task<bool> any_author_exists() {
    return query([](blog::Database& db) { return db.any_author_exists(); });
  }

  void sign_in(std::int64_t author_id) {
    set_signed_cookie("blogdemo_user", std::to_string(author_id));
    redirect(get_argument("next", "/"));
  }

 public:
  // The signed-in author, looked up in prepare() because get_current_user
  // cannot wait for the database (as in the Python demo).
  Task<> prepare() {
    auto user_id = get_signed_cookie("blogdemo_user");
    if (!user_id) co_return;
    std::int64_t id = 0;
    try {
      id = std::stoll(*user_id);
    } catch (const std::exception&) {
      co_return;
    }
    auto author = co_await query([id](blog::Database& db) { return db.author_by_id(id); });
    if (author) {
      set_current_user(json{{"id", author->id}, {"email", author->email}, {"name", author->name}});
    }
  }

 private:
  Blog* blog_ = nullptr;
};

class HomeHandler : public BaseHandler {
 public:
  Task<> get() {
    auto entries = co_await query([](blog::Database& db) { return db.entries(5); });
    if (entries.empty()) {
      redirect("/compose");
      co_return;
    }
    render("home.html", {{"entries", entries}});
  }
};

class EntryHandler : public BaseHandler {
 public:
  Task<> get(std::string_view slug) {
    auto entry = co_await query(
        [slug = std::string(slug)](blog::Database& db) { return db.entry_by_slug(slug); });
    if (!entry) throw tornado::web::HTTPError(404);
    render("entry.html", {{"entry", *entry}});
  }
};

class ArchiveHandler : public BaseHandler {
 public:
  Task<> get() {
    auto entries = co_await query([](blog::Database& db) { return db.entries(); });
    render("archive.html", {{"entries", entries}});
  }
};

class FeedHandler : public BaseHandler {
 public:
  Task<> get() {
    auto entries = co_await query([](blog::Database& db) { return db.entries(10); });
    set_header("Content-Type", "application/atom+xml");
    render("feed.xml", {{"entries", entries}});
  }
};

std::optional<std::int64_t> entry_id(const std::optional<std::string>& id) {
  if (!id || id->empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    std::int64_t value = std::stoll(*id, &used);
    if (used == id->size()) return value;
  } catch (const std::exception&) {
  }
  throw tornado::web::HTTPError(400, fmt::format("bad entry id {:?}", *id));
}

class ComposeHandler : public BaseHandler {
 public:
  Task<> get() {
    if (!authenticated()) co_return;
    std::optional<blog::Entry> entry;
    if (auto id = entry_id(get_argument("id", std::nullopt))) {
      entry = co_await query([id = *id](blog::Database& db) { return db.entry_by_id(id); });
      if (!entry) throw tornado::web::HTTPError(404);
    }
    render("compose.html", {{"entry", entry ? Value(*entry) : Value(nullptr)}});
  }

  Task<> post() {
    if (!authenticated()) co_return;
    auto id = entry_id(get_argument("id", std::nullopt));
    std::string title = get_argument("title");
    std::string text = get_argument("markdown");
    std::int64_t author_id = (*current_user())["id"];
    // Markdown rendering and the writes, in one trip to the database thread.
    auto slug = co_await query([=](blog::Database& db) -> std::optional<std::string> {
      std::string html = blog::markdown_to_html(text);
      if (!id) return db.create_entry(author_id, title, text, html);
      auto entry = db.entry_by_id(*id);
      if (!entry) return std::nullopt;
      db.update_entry(*id, title, text, html);
      return entry->slug;
    });
    if (!slug) throw tornado::web::HTTPError(404);
    redirect("/entry/" + *slug);
  }
};

class AuthCreateHandler : public BaseHandler {
 public:
  void get() { render("create_author.html"); }

  Task<> post() {
    if (co_await any_author_exists()) {
      throw tornado::web::HTTPError(400, "author already created");
    }
    std::string email = get_argument("email");
    std::string name = get_argument("name");
    std::string hashed = co_await tornado::ioloop::IOLoop::current().run_in_executor(
        nullptr, [password = get_argument("password")] { return blog::hash_password(password); });
    auto author_id =
        co_await query([=](blog::Database& db) { return db.create_author(email, name, hashed); });
    sign_in(author_id);
  }
};

class AuthLoginHandler : public BaseHandler {
 public:
  Task<> get() {
    // With no author yet, the first visitor creates one.
    if (!co_await any_author_exists()) {
      redirect("/auth/create");
    } else {
      render("login.html", {{"error", nullptr}});
    }
  }

  Task<> post() {
    auto author = co_await query(
        [email = get_argument("email")](blog::Database& db) { return db.author_by_email(email); });
    if (!author) {
      render("login.html", {{"error", "email not found"}});
      co_return;
    }
    bool matches = co_await tornado::ioloop::IOLoop::current().run_in_executor(
        nullptr, [password = get_argument("password"), hashed = author->hashed_password] {
          return blog::check_password(password, hashed);
        });
    if (matches) {
      sign_in(author->id);
    } else {
      render("login.html", {{"error", "incorrect password"}});
    }
  }
};

class AuthLogoutHandler : public BaseHandler {
 public:
  void get() {
    clear_cookie("blogdemo_user");
    redirect(get_argument("next", "/"));
  }
};

// {% module Entry(entry) %}
class EntryModule : public tornado::web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const tornado::template_::Arguments& args) override {
    return render_string("modules/entry.html", {{"entry", args.at(0, "entry")}});
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string root = TORNADO_SOURCE_DIR;
  options::define("port", 8888, "run on the given port");
  options::define("address", std::string("127.0.0.1"), "bind to this address");
  options::define("debug", false, "run in debug mode");
  options::define("db", std::string("blog.db"), "the SQLite database file (created if missing)");
  options::define("template_path", root + "/templates/blog", "folder of the page templates");
  options::define("static_path", root + "/apps/blog/static", "folder of the static files");
  options::define("cookie_secret", std::string("__TODO:_GENERATE_YOUR_OWN_RANDOM_VALUE_HERE__"),
                  "the key that signs the login cookie");
  options::define("blog_title", std::string("Tornado Blog"), "the blog's name");
  options::parse_command_line(argc, argv);

  std::optional<Blog> blog;
  try {
    blog.emplace(options::get<std::string>("db"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "blog: %s\n", e.what());
    return 2;
  }

  tornado::web::Settings settings;
  settings["blog_title"] = options::get<std::string>("blog_title");
  settings.template_path = options::get<std::string>("template_path");
  settings.static_path = options::get<std::string>("static_path");
  settings.ui_modules["Entry"] = tornado::web::ui_module<EntryModule>();
  settings.xsrf_cookies = true;
  settings.cookie_secret = options::get<std::string>("cookie_secret");
  settings.login_url = "/auth/login";
  settings.debug = options::get<bool>("debug");
  Blog* b = &*blog;
  tornado::web::Application app(
      {
          {"/", tornado::web::handler<HomeHandler>(b)},
          {"/archive", tornado::web::handler<ArchiveHandler>(b)},
          {"/feed", tornado::web::handler<FeedHandler>(b)},
          {"/entry/([^/]+)", tornado::web::handler<EntryHandler>(b)},
          {"/compose", tornado::web::handler<ComposeHandler>(b)},
          {"/auth/create", tornado::web::handler<AuthCreateHandler>(b)},
          {"/auth/login", tornado::web::handler<AuthLoginHandler>(b)},
          {"/auth/logout", tornado::web::handler<AuthLogoutHandler>(b)},
      },
      settings);
  auto& server = app.listen(options::get<int>("port"), options::get<std::string>("address"));
  tornado::log::app.info("blog listening on {}:{} with {}", options::get<std::string>("address"),
                         server.port(), options::get<std::string>("db"));
  tornado::ioloop::IOLoop::current().start();
}
