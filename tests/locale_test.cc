// Tests for tornado::locale. The differential cases replay
// tests/data/locale/expected.json, which tests/data/locale/generate.py wrote
// from Tornado 6.2's tornado.locale for the same CSV files and gettext
// catalogues (the .po files there, compiled by msgfmt when the test is built).
#include "tornado/locale.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "tornado/log.h"
#include "tornado/testing.h"
#include "tornado/web.h"

#ifndef TORNADO_LOCALE_MO_DIR
#error "TORNADO_LOCALE_MO_DIR must name the compiled test catalogues"
#endif

namespace {

namespace locale = tornado::locale;
using nlohmann::json;

const std::string kData = std::string(TORNADO_TEST_DATA) + "/locale";

json load_expected() {
  std::ifstream in(kData + "/expected.json");
  EXPECT_TRUE(in) << "missing " << kData << "/expected.json";
  return json::parse(in);
}

locale::TimePoint at_micros(long long us) {
  return locale::TimePoint(std::chrono::microseconds(us));
}

// Loads the mode's catalogues with logging captured (the CSV folder holds
// deliberately bad rows and names), and returns what was logged.
std::vector<std::string> load_mode(const std::string& mode) {
  std::vector<std::string> logged;
  tornado::log::ScopedSink sink(
      [&](tornado::log::Level, std::string_view, std::string_view m) { logged.emplace_back(m); });
  locale::set_default_locale("en_US");
  if (mode == "csv") {
    locale::load_translations(kData + "/csv");
  } else {
    locale::load_gettext_translations(TORNADO_LOCALE_MO_DIR, "tornado_test");
  }
  return logged;
}

std::string run_case(const json& c) {
  const std::string op = c.at("op");
  if (op == "get") return locale::get(c.at("codes").get<std::vector<std::string>>())->code();
  if (op == "browser") {
    if (c.at("header").is_null()) return locale::get({"en_US"})->code();
    return locale::get(locale::accept_language_codes(c.at("header").get<std::string>()))->code();
  }
  std::string code = c.at("code");
  std::shared_ptr<const locale::Locale> loc;
  if (c.value("direct", false)) {
    loc = std::make_shared<locale::CSVLocale>(code, locale::CSVLocale::Table{});
  } else {
    loc = locale::Locale::get(code);
  }
  if (op == "translate") return loc->translate(c.at("message").get<std::string>());
  if (op == "translate_plural") {
    return loc->translate(c.at("message").get<std::string>(), c.at("plural").get<std::string>(),
                          c.at("count").get<long long>());
  }
  if (op == "pgettext") {
    return loc->pgettext(c.at("context").get<std::string>(), c.at("message").get<std::string>());
  }
  if (op == "pgettext_plural") {
    return loc->pgettext(c.at("context").get<std::string>(), c.at("message").get<std::string>(),
                         c.at("plural").get<std::string>(), c.at("count").get<long long>());
  }
  if (op == "list") return loc->list(c.at("parts").get<std::vector<std::string>>());
  if (op == "friendly_number") return loc->friendly_number(c.at("value").get<long long>());
  if (op == "format_date") {
    return loc->format_date(at_micros(c.at("date")), c.at("gmt_offset"), c.at("relative"),
                            c.at("shorter"), c.at("full_format"), at_micros(c.at("now")));
  }
  if (op == "format_day") {
    return loc->format_day(at_micros(c.at("date")), c.at("gmt_offset"), c.at("dow"));
  }
  ADD_FAILURE() << "unknown op " << op;
  return {};
}

TEST(LocaleDifferential, MatchesTornado62ForEveryCase) {
  json expected = load_expected();
  ASSERT_EQ(expected.at("generator"), "tornado 6.2");
  std::string mode;
  std::size_t checked = 0, failures = 0;
  tornado::log::ScopedSink quiet([](tornado::log::Level, std::string_view, std::string_view) {});
  for (const auto& c : expected.at("cases")) {
    if (c.at("mode") != mode) {
      mode = c.at("mode");
      load_mode(mode);
    }
    ++checked;
    const std::string op = c.at("op");
    if (op == "supported") {
      EXPECT_EQ(json(locale::get_supported_locales()), c.at("expected")) << mode;
      continue;
    }
    if (op == "info") {
      auto loc = c.value("direct", false)
                     ? std::make_shared<locale::CSVLocale>(c.at("code"), locale::CSVLocale::Table{})
                     : locale::Locale::get(c.at("code").get<std::string>());
      json got = {{"code", loc->code()}, {"name", loc->name()}, {"rtl", loc->rtl()}};
      EXPECT_EQ(got, c.at("expected")) << c.dump();
      continue;
    }
    std::string got = run_case(c);
    if (got != c.at("expected").get<std::string>()) {
      if (++failures <= 20) ADD_FAILURE() << c.dump() << "\n  got: " << got;
    }
  }
  EXPECT_EQ(failures, 0u);
  EXPECT_GT(checked, 5000u);
}

TEST(LoadTranslations, LogsBadNamesAndRowsAndSkipsThem) {
  auto logged = load_mode("csv");
  std::set<std::string> lines(logged.begin(), logged.end());
  EXPECT_TRUE(lines.contains("Unrecognized plural indicator 'dual' in es_LA.csv line 12"))
      << testing::PrintToString(logged);
  bool bad_name = false;
  for (const auto& l : logged) bad_name |= l.starts_with("Unrecognized locale 'Bad_name'");
  EXPECT_TRUE(bad_name) << testing::PrintToString(logged);
  EXPECT_EQ(locale::get({"es_LA"})->translate("Bad indicator"), "Bad indicator");
}

TEST(LoadTranslations, ReadsUtf16AndUtf8WithBom) {
  load_mode("csv");
  EXPECT_EQ(locale::get({"de_DE"})->translate("Grüße 😀"), "Grüße 😀 aus Wien");
  EXPECT_EQ(locale::get({"cs"})->translate("Sign out"), "Odhlásit se");
}

TEST(LoadTranslations, MissingDirectoryIsAnError) {
  EXPECT_THROW(locale::load_translations(kData + "/no-such-folder"), locale::TranslationError);
  EXPECT_THROW(locale::load_translations(kData + "/csv", "latin-1"), std::invalid_argument);
}

// Tornado globs DIR/*/LC_MESSAGES/DOMAIN.mo: a missing folder loads nothing
// and is no error (unlike load_translations, which lists the folder).
TEST(LoadGettextTranslations, MissingDirectoryLeavesTheDefaultLocale) {
  load_mode("gettext");
  ASSERT_GT(locale::get_supported_locales().size(), 1u);
  {
    tornado::testing::ExpectLog warned(tornado::log::general, "cannot list");
    locale::load_gettext_translations(kData + "/no-such-folder", "tornado_test");
  }
  EXPECT_EQ(locale::get_supported_locales(), std::vector<std::string>{"en_US"});
  EXPECT_EQ(locale::get({"cs"})->code(), "en_US");
}

TEST(LocaleGet, UnsupportedCodeThrows) {
  load_mode("csv");
  EXPECT_THROW(locale::Locale::get("xx_YY"), std::invalid_argument);
  EXPECT_EQ(locale::Locale::get("es_LA"), locale::Locale::get("es_LA"));  // cached
}

TEST(SetDefaultLocale, ChangesTheFallbackAndTheSupportedSet) {
  load_mode("csv");
  locale::set_default_locale("es_LA");
  EXPECT_EQ(locale::get({"xx"})->code(), "es_LA");
  auto supported = locale::get_supported_locales();
  EXPECT_EQ(std::count(supported.begin(), supported.end(), "en_US"), 0);
  locale::set_default_locale("en_US");
  EXPECT_EQ(locale::get({"xx"})->code(), "en_US");
}

TEST(GettextCatalog, PluralFormsFollowTheHeader) {
  load_mode("gettext");
  auto cs = locale::get({"cs"});
  EXPECT_EQ(cs->translate("%(count)d apple", "%(count)d apples", 1), "%(count)d jablko");
  EXPECT_EQ(cs->translate("%(count)d apple", "%(count)d apples", 3), "%(count)d jablka");
  EXPECT_EQ(cs->translate("%(count)d apple", "%(count)d apples", 7), "%(count)d jablek");
  EXPECT_EQ(cs->pgettext("law", "right"), "právo");
  EXPECT_EQ(cs->pgettext("direction", "right"), "vpravo");
  EXPECT_EQ(cs->pgettext("stick", "club", "clubs", 5), "clubs");
  EXPECT_TRUE(locale::get({"ar"})->rtl());
}

std::string mo_bytes(const std::string& lang) {
  std::ifstream in(std::string(TORNADO_LOCALE_MO_DIR) + "/" + lang + "/LC_MESSAGES/tornado_test.mo",
                   std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(GettextCatalog, RejectsCorruptFilesNamingThem) {
  std::string good = mo_bytes("cs");
  ASSERT_GT(good.size(), 28u);
  EXPECT_NO_THROW(locale::GettextCatalog::parse(good, "cs.mo"));
  try {
    locale::GettextCatalog::parse("not a catalogue at all", "x.mo");
    ADD_FAILURE() << "no error";
  } catch (const locale::TranslationError& e) {
    EXPECT_EQ(std::string(e.what()), "x.mo: bad magic number (not a compiled .mo catalogue)");
  }
  std::string truncated = good.substr(0, good.size() / 2);
  try {
    locale::GettextCatalog::parse(truncated, "half.mo");
    ADD_FAILURE() << "no error";
  } catch (const locale::TranslationError& e) {
    EXPECT_EQ(std::string(e.what()), "half.mo: file is corrupt");
  }
}

TEST(GettextCatalog, PluralExpressionErrorsAreClear) {
  // A hand-built little-endian catalogue holding only a header entry.
  auto catalogue = [](const std::string& header) {
    std::string out;
    auto u32 = [&](std::uint32_t v) {
      for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
    };
    u32(0x950412de);
    u32(0);
    u32(1);
    u32(28);
    u32(36);
    u32(0);
    u32(0);
    u32(0);   // original: length 0
    u32(44);  // ... at offset 44 (an empty string)
    u32(static_cast<std::uint32_t>(header.size()));
    u32(45);
    out += '\0';
    out += header;
    out += '\0';
    return out;
  };
  auto ok = locale::GettextCatalog::parse(
      catalogue("Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=3; "
                "plural=n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || "
                "n%100>=20) ? 1 : 2;\n"),
      "ru.mo");
  EXPECT_EQ(ok->plural_index(1), 0);
  EXPECT_EQ(ok->plural_index(21), 0);
  EXPECT_EQ(ok->plural_index(11), 2);
  EXPECT_EQ(ok->plural_index(22), 1);
  EXPECT_EQ(ok->plural_index(25), 2);
  EXPECT_EQ(ok->info().at("content-type"), "text/plain; charset=UTF-8");
  try {
    locale::GettextCatalog::parse(catalogue("Plural-Forms: nplurals=2; plural=(n > 1;\n"),
                                  "bad.mo");
    ADD_FAILURE() << "no error";
  } catch (const locale::TranslationError& e) {
    EXPECT_EQ(std::string(e.what()),
              "invalid plural form expression '(n > 1': unbalanced parenthesis");
  }
  EXPECT_THROW(locale::GettextCatalog::parse(
                   catalogue("Content-Type: text/plain; charset=latin-1\n"), "l.mo"),
               locale::TranslationError);
}

TEST(Format, NamedPlaceholdersAsPython) {
  EXPECT_EQ(locale::format("%(name)s has %(n)d (%(n)03d) 100%%", {{"name", "Ann"}, {"n", 7}}),
            "Ann has 7 (007) 100%");
  EXPECT_EQ(locale::format("no placeholders", json::object()), "no placeholders");
  EXPECT_THROW(locale::format("%(missing)s", json::object()), std::invalid_argument);
  EXPECT_THROW(locale::format("%s", {{"a", 1}}), std::invalid_argument);
  EXPECT_THROW(locale::format("%(a)x", {{"a", 1}}), std::invalid_argument);
}

TEST(AcceptLanguage, OrdersByQualityKeepingTies) {
  EXPECT_EQ(locale::accept_language_codes("en;q=0.5, cs, fr;q=0.9, de;q=0.5, xx;q=0"),
            (std::vector<std::string>{"cs", "fr", "en", "de"}));
  EXPECT_EQ(locale::accept_language_codes("a;q=bogus, b;q=-1, c"), std::vector<std::string>{"c"});
}

TEST(FormatDate, UsesTheClockWhenNoNowIsGiven) {
  load_mode("csv");
  auto en = locale::get({"en_US"});
  EXPECT_EQ(en->format_date(std::chrono::system_clock::now() - std::chrono::hours(3)),
            "3 hours ago");
}

// ---- RequestHandler::locale, get_browser_locale, get_user_locale ----

class GreetHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    write(locale().code() + ": " + locale().translate("Sign out") + " / " +
          locale::format(locale().translate("%(count)d apple", "%(count)d apples", 3),
                         {{"count", 3}}));
  }
};

// A user preference wins over the browser's languages, as Tornado's.
class PreferenceHandler : public GreetHandler {
 public:
  std::shared_ptr<const locale::Locale> get_user_locale() override {
    std::string lang = get_argument("lang", "");
    if (lang.empty()) return nullptr;
    return locale::get({lang});
  }
};

// `_`, `pgettext` and `locale` in templates go through the handler's locale().
class TemplateGreetHandler : public GreetHandler {
 public:
  void get() { render("greet.html"); }
};

class HandlerLocaleTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  void SetUp() override {
    load_mode("gettext");
    AsyncHTTPTestCase::SetUp();
  }
  std::unique_ptr<tornado::web::Application> get_app() override {
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{
            {"/", tornado::web::handler<GreetHandler>()},
            {"/pref", tornado::web::handler<PreferenceHandler>()},
            {"/template", tornado::web::handler<TemplateGreetHandler>()},
        },
        settings());
  }
  static tornado::web::Settings settings() {
    tornado::web::Settings s;
    s.template_loader = std::make_shared<tornado::template_::DictLoader>(
        std::map<std::string, std::string, std::less<>>{
            {"greet.html",
             "{{ locale.code }}: {{ _('Sign out') }} / "
             "{{ _('%(count)d apple', '%(count)d apples', 3) % {'count': 3} }} / "
             "{{ pgettext('law', 'right') }} {{ pgettext('direction', 'right') }} / "
             "{{ locale.list(['a', 'b', 'c']) }} / {{ locale.friendly_number(1234567) }} / "
             "{{ locale.format_day(0, dow=False) }}"}});
    return s;
  }
  std::string greet(const std::string& path, const std::string& accept_language) {
    tornado::httpclient::HTTPRequest request;
    if (!accept_language.empty()) request.headers.add("Accept-Language", accept_language);
    auto response = fetch(path, std::move(request));
    EXPECT_EQ(response.code, 200);
    return std::string(response.body);
  }
};

TEST_F(HandlerLocaleTest, BrowserLocaleFollowsAcceptLanguage) {
  EXPECT_EQ(greet("/", ""), "en_US: Sign out / 3 apples");
  EXPECT_EQ(greet("/", "cs-CZ,cs;q=0.9,en;q=0.8"), "cs: Odhlásit se / 3 jablka");
  EXPECT_EQ(greet("/", "en;q=0.5, fr;q=0.8"), "fr: Se déconnecter / 3 pommes");
  EXPECT_EQ(greet("/", "de, xx"), "en_US: Sign out / 3 apples");
}

TEST_F(HandlerLocaleTest, TemplatesTranslateThroughTheHandlersLocale) {
  EXPECT_EQ(greet("/template", "cs"),
            "cs: Odhlásit se / 3 jablka / právo vpravo / a, b a c / 1234567 / ledna 1");
  EXPECT_EQ(greet("/template", ""),
            "en_US: Sign out / 3 apples / right right / a, b and c / 1,234,567 / January 1");
}

TEST_F(HandlerLocaleTest, UserLocaleOverridesTheBrowser) {
  EXPECT_EQ(greet("/pref?lang=cs", "fr"), "cs: Odhlásit se / 3 jablka");
  EXPECT_EQ(greet("/pref", "fr"), "fr: Se déconnecter / 3 pommes");
}

}  // namespace
