// The program tests/autoreload_test.cc starts: an Application with the
// autoreload setting, checking its files every 50 ms. Each start prints
//   listening <port> <generation> <pid>
// on stdout; the generation counts the starts of this process (kept in the
// environment, which an exec keeps), and so does the port: the first start
// binds a free one, every restart binds it again.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tornado/autoreload.h"
#include "tornado/ioloop.h"
#include "tornado/web.h"

namespace {

int generation = 0;

class InfoHandler : public tornado::web::RequestHandler {
 public:
  void get() { write(std::to_string(generation) + " " + std::to_string(::getpid())); }
};

class PageHandler : public tornado::web::RequestHandler {
 public:
  void get() { render("page.html", {{"generation", generation}}); }
};

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string template_path, watched;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--template-path") template_path = argv[i + 1];
    if (flag == "--watch") watched = argv[i + 1];
  }
  generation = env_int("AUTORELOAD_TEST_GENERATION") + 1;
  ::setenv("AUTORELOAD_TEST_GENERATION", std::to_string(generation).c_str(), 1);

  tornado::autoreload::start(std::chrono::milliseconds(50));
  if (!watched.empty()) tornado::autoreload::watch(watched);
  tornado::autoreload::add_reload_hook([] {
    std::printf("hook %d\n", generation);
    std::fflush(stdout);
  });

  tornado::web::Settings settings;
  settings.autoreload = true;
  settings.template_path = template_path;
  tornado::web::Application app({{"/", tornado::web::handler<InfoHandler>()},
                                 {"/page", tornado::web::handler<PageHandler>()}},
                                settings);
  auto& server = app.listen(env_int("AUTORELOAD_TEST_PORT"), "127.0.0.1");
  ::setenv("AUTORELOAD_TEST_PORT", std::to_string(server.port()).c_str(), 1);
  std::printf("listening %d %d %d\n", server.port(), generation, static_cast<int>(::getpid()));
  std::fflush(stdout);
  tornado::ioloop::IOLoop::current().start();
}
