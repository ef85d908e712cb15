// apps/lesson5 in Czech or English: the built app, started on a free port,
// answers each page in the language the request asks for: `?lang=cs|en`
// first (remembered in the `lang` cookie), then the browser's
// Accept-Language (q-values count), else English, the language the
// templates are written in. The translations are apps/lesson5/locale/cs.po,
// compiled by the build.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>

#include "lesson5_process.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/websocket.h"

using json = nlohmann::json;
using lesson5_testing::kLesson5;
using lesson5_testing::Lesson5;

namespace {

constexpr std::string_view kCzechTitle =
    "<title>Lekce 5: Interakce skrze websockets v Tornadu</title>";
constexpr std::string_view kEnglishTitle =
    "<title>Lesson 5: Interaction through WebSockets in Tornado</title>";

class Lesson5LocaleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat info {};
    if (::stat(kLesson5.c_str(), &info) != 0) GTEST_SKIP() << kLesson5 << " is not built";
    server_ = std::make_unique<Lesson5>("locale", std::vector<std::string>{"--history", "3"});
    ASSERT_TRUE(server_->wait_listening()) << server_->log();
  }

  // GET `path` with the given request headers ({name, value} pairs).
  tornado::httpclient::HTTPResponse get(
      std::string_view path, std::vector<std::pair<std::string, std::string>> headers = {}) {
    tornado::httpclient::HTTPRequest request;
    for (const auto& [name, value] : headers) request.headers.add(name, value);
    return client_.fetch(server_->url(path), request);
  }

  // The JSON block with this id that the page gives its script.
  static json strings(const std::string& page, const std::string& id) {
    std::smatch match;
    std::regex block("<script type=\"application/json\" id=\"" + id + "\">([^<]*)</script>");
    if (!std::regex_search(page, match, block)) return nullptr;
    return json::parse(match[1].str(), nullptr, false);
  }

  std::unique_ptr<Lesson5> server_;
  tornado::httpclient::HTTPClient client_;
};

TEST_F(Lesson5LocaleTest, AcceptLanguageCzechGetsTheCzechPage) {
  auto response = get("/", {{"Accept-Language", "cs-CZ,cs;q=0.9,en;q=0.8"}});
  EXPECT_EQ(response.code, 200);
  EXPECT_NE(response.body.find("<html lang=\"cs\">"), std::string::npos);
  EXPECT_NE(response.body.find(kCzechTitle), std::string::npos);
  EXPECT_NE(response.body.find(">Odeslat</button>"), std::string::npos);
  EXPECT_NE(response.body.find("placeholder=\"Napište zprávu…\""), std::string::npos);
  // The script's texts come translated from the server, not from the script.
  EXPECT_EQ(strings(response.body, "socket-strings")["connected"], "Připojeno");
  EXPECT_EQ(strings(response.body, "page-strings")["closeCodes"]["1001"],
            "server nebo stránka odchází");
  EXPECT_EQ(response.body.find("Send"), std::string::npos);
  // One URL, two languages: a cache must key on what picks the language.
  EXPECT_EQ(response.headers.get("Vary"), "Accept-Language, Cookie");
}

TEST_F(Lesson5LocaleTest, AcceptLanguageEnglishGetsTheEnglishPage) {
  for (std::string_view header : {"en-US,en;q=0.9", "en", "en-GB"}) {
    auto response = get("/", {{"Accept-Language", std::string(header)}});
    EXPECT_NE(response.body.find("<html lang=\"en\">"), std::string::npos) << header;
    EXPECT_NE(response.body.find(kEnglishTitle), std::string::npos) << header;
    EXPECT_NE(response.body.find(">Send</button>"), std::string::npos) << header;
    EXPECT_EQ(strings(response.body, "socket-strings")["connected"], "Connected") << header;
  }
}

TEST_F(Lesson5LocaleTest, QualityValuesOrderTheLanguages) {
  auto czech = get("/", {{"Accept-Language", "en;q=0.5, cs;q=0.8, de"}});
  EXPECT_NE(czech.body.find(kCzechTitle), std::string::npos);
  // Any English matches the templates' own language, before a second choice.
  for (std::string_view header : {"cs;q=0.1, en;q=0.2", "en-GB, cs;q=0.5", "en-US, cs"}) {
    auto english = get("/", {{"Accept-Language", std::string(header)}});
    EXPECT_NE(english.body.find(kEnglishTitle), std::string::npos) << header;
  }
}

TEST_F(Lesson5LocaleTest, QueryLangWinsOverAcceptLanguageAndIsRemembered) {
  auto english = get("/?lang=en", {{"Accept-Language", "cs"}});
  EXPECT_NE(english.body.find(kEnglishTitle), std::string::npos);
  EXPECT_EQ(english.headers.get("Set-Cookie").substr(0, 8), "lang=en;");
  auto czech = get("/chat?lang=cs", {{"Accept-Language", "en-US"}});
  EXPECT_NE(czech.body.find(kCzechTitle), std::string::npos);
  EXPECT_EQ(czech.headers.get("Set-Cookie").substr(0, 8), "lang=cs;");
  // The next page, without ?lang=, keeps the language the cookie remembers.
  auto next = get("/", {{"Accept-Language", "en-US"}, {"Cookie", "lang=cs"}});
  EXPECT_NE(next.body.find(kCzechTitle), std::string::npos);
  EXPECT_TRUE(next.headers.get("Set-Cookie").empty());
  // The language switcher marks the current language.
  EXPECT_NE(
      next.body.find("<a href=\"?lang=cs\" hreflang=\"cs\" lang=\"cs\" aria-current=\"true\">"),
      std::string::npos);
}

TEST_F(Lesson5LocaleTest, UnknownLanguageGetsTheEnglishDefault) {
  for (std::vector<std::pair<std::string, std::string>> headers :
       {std::vector<std::pair<std::string, std::string>>{{"Accept-Language", "de-DE,fr;q=0.5"}},
        std::vector<std::pair<std::string, std::string>>{{"Accept-Language", "*"}},
        std::vector<std::pair<std::string, std::string>>{}}) {
    auto response = get("/", headers);
    EXPECT_NE(response.body.find("<html lang=\"en\">"), std::string::npos);
    EXPECT_NE(response.body.find(kEnglishTitle), std::string::npos);
  }
  // A ?lang= or cookie the app has no catalogue for is ignored, not an error.
  auto response = get("/?lang=xx", {{"Accept-Language", "cs"}, {"Cookie", "lang=de"}});
  EXPECT_EQ(response.code, 200);
  EXPECT_NE(response.body.find(kCzechTitle), std::string::npos);
  EXPECT_TRUE(response.headers.get("Set-Cookie").empty());
}

TEST_F(Lesson5LocaleTest, ChatPageUsesCzechPluralForms) {
  // --history 3: Czech says "poslední 3 zprávy" (2-4), English "the last 3 messages".
  auto czech = get("/chat", {{"Accept-Language", "cs"}});
  EXPECT_NE(czech.body.find("Nově příchozí uvidí poslední 3 zprávy."), std::string::npos);
  auto english = get("/chat", {{"Accept-Language", "en"}});
  EXPECT_NE(english.body.find("A newcomer sees the last 3 messages."), std::string::npos);
  // The script gets every plural form, by the browser's plural category.
  json users = strings(czech.body, "page-strings")["users"];
  EXPECT_EQ(users, json({{"one", "%(count)d uživatel online"},
                         {"few", "%(count)d uživatelé online"},
                         {"other", "%(count)d uživatelů online"}}));
  json english_users = strings(english.body, "page-strings")["users"];
  EXPECT_EQ(english_users["one"], "%(count)d user online");
  EXPECT_EQ(english_users["other"], "%(count)d users online");
}

// A --locale-path that is not a folder of catalogues is a bad value: one
// line on stderr naming it, exit status 2 (the contract's rule for flags).
TEST(Lesson5ChatLocaleTest, BadLocalePathIsOneClearLineAndExit2) {
  struct stat info {};
  if (::stat(kLesson5.c_str(), &info) != 0) GTEST_SKIP() << kLesson5 << " is not built";
  std::string log_path = std::string(TORNADO_BINARY_DIR) + "/lesson5_locale_bad_path.log";
  pid_t pid = tornado::testing::spawn_process(
      {kLesson5, "--port", std::to_string(tornado::testing::free_port()), "--locale-path",
       "/nonexistent/lesson5-locale"},
      log_path);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::ifstream in(log_path);
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(output.rfind("lesson5: ", 0), 0u) << output;
  EXPECT_NE(output.find("/nonexistent/lesson5-locale"), std::string::npos) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
}

// What the chat server tells one client alone is in that client's language,
// taken from its socket's handshake as for a page: here the room's Redis is
// unreachable, so each newcomer first hears that the history is unavailable.
TEST(Lesson5ChatLocaleTest, ErrorsReachEachClientInItsLanguage) {
  struct stat info {};
  if (::stat(kLesson5.c_str(), &info) != 0) GTEST_SKIP() << kLesson5 << " is not built";
  std::string nowhere = "redis://127.0.0.1:" + std::to_string(tornado::testing::free_port()) + "/0";
  Lesson5 server("locale_redis_down", {"--redis", nowhere});
  ASSERT_TRUE(server.wait_listening()) << server.log();
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
      {{"Accept-Language", "en-GB"}, "The chat history is unavailable at the moment."},
      {{"Accept-Language", "cs"}, "Historie chatu je momentálně nedostupná."},
      {{"Cookie", "lang=cs"}, "Historie chatu je momentálně nedostupná."},
      {{"Cookie", "lang=en"}, "The chat history is unavailable at the moment."},
  };
  tornado::ioloop::IOLoop loop;
  loop.run_sync(
      [&]() -> tornado::Task<> {
        for (const auto& [header, expected] : cases) {
          tornado::websocket::ConnectOptions options;
          options.headers.add(header.first, header.second);
          auto connecting = tornado::websocket::websocket_connect(
              "ws://127.0.0.1:" + std::to_string(server.port()) + "/chatsocket?nick=Eva", options);
          auto ws = co_await connecting;
          auto first = co_await ws->read_message();
          json frame = json::parse(first.value_or(""), nullptr, false);
          EXPECT_EQ(frame.value("type", ""), "error") << header.first << ": " << header.second;
          EXPECT_EQ(frame.value("message", ""), expected) << header.first << ": " << header.second;
          ws->close(1000);
        }
      },
      std::chrono::seconds(20));
}

}  // namespace
