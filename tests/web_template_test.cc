// Tests of the template side of tornado::web: render() with objects, the
// namespace get_template_namespace builds, ui_methods, UI modules and the
// placement of their JavaScript and CSS, and the template settings. Written
// before the features: each failed (or did not compile) on the code before.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "tornado/escape.h"
#include "tornado/log.h"
#include "tornado/testing.h"
#include "tornado/web.h"

namespace {

using tornado::template_::Arguments;
using tornado::template_::DictLoader;
using tornado::template_::Value;
using tornado::web::RequestHandler;

struct Entry {
  std::string title;
  std::chrono::system_clock::time_point published;
  int id = 0;
  std::string slug;
  std::string html;
};

}  // namespace

template <>
struct tornado::template_::Binding<Entry> {
  static void bind(Class<Entry>& c) {
    c.name("Entry")
        .attribute("title", &Entry::title)
        .attribute("published", &Entry::published)
        .attribute("id", &Entry::id)
        .attribute("slug", &Entry::slug)
        .attribute("html", &Entry::html);
  }
};

namespace {

std::chrono::system_clock::time_point march_9_2024() {
  using namespace std::chrono;
  return sys_days{year{2024} / 3 / 9} + hours{14};
}

class PageHandler : public RequestHandler {
 public:
  void get(std::string_view page) {
    render(std::string(page) + ".html",
           {{"entry", Entry{"First <post>", march_9_2024()}}, {"count", 3}});
  }
  std::optional<nlohmann::json> get_current_user() override {
    return nlohmann::json{{"name", "ann"}};
  }
};

// A module with every resource hook, as the Python demos' modules are.
class BoxModule : public tornado::web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const Arguments& args) override {
    ++renders_;
    return "<div class=\"box\">" + args.str(0, "title") + " #" + std::to_string(renders_) + " " +
           request().path + "</div>";
  }
  std::string embedded_javascript() override { return "box();"; }
  std::vector<std::string> javascript_files() override { return {"box.js", "/abs.js", "box.js"}; }
  std::string embedded_css() override { return ".box{}"; }
  std::vector<std::string> css_files() override { return {"box.css"}; }
  std::string html_head() override { return "<meta name=\"box\">"; }
  std::string html_body() override { return "<p>box body</p>"; }

 private:
  int renders_ = 0;
};

class Helper : public tornado::web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const Arguments&) override { return "<i>helper</i>"; }
};

const std::map<std::string, std::string, std::less<>> kTemplates = {
    {"entry.html", "{{ entry.title }} {{ entry.published.strftime('%Y') }} {{ count * 2 }}"},
    {"namespace.html",
     "{{ handler.settings['blog_title'] }}|{{ request.full_url() }}|{{ request.path }}|"
     "{{ request.host }}|{{ request.uri }}|{{ request.arguments['q'] }}|"
     "{{ handler.get_argument('q') }}|{{ handler.get_argument('missing', 'dflt') }}|"
     "{{ current_user['name'] }}|{{ handler.current_user['name'] }}|{{ locale.code }}|"
     "{{ _('Hello') }}|{{ _('apple', 'apples', 2) }}|{{ pgettext('fruit', 'apple') }}|"
     "{{ static_url('app.js') }}|{{ handler.static_url('app.js') }}|"
     "{{ reverse_url('page', 'x') }}|{{ shout('hi') }}|{{ request.headers['X-Test'] }}|"
     "{{ request.headers.get('X-None', 'none') }}|{{ request.method }}|"
     "{{ 'xsrf' if '_xsrf' in xsrf_form_html() else 'no' }}"},
    {"modules.html",
     "<html><head><title>t</title></head><body>"
     "{% module Box('one') %}{% module Box(title='two') %}{{ modules.Helper() }}"
     "{% raw modules.Helper() %}{% module linkify('see http://x.org/ <b>') %}"
     "{% module Template('message.html', message={'body': '<hi>'}) %}"
     "{% module Template('message.html', message={'body': 'again'}) %}"
     "</body></html>"},
    {"message.html",
     "{{ set_resources(embedded_javascript='msg();', css_files=['msg.css', 'box.css']) }}"
     "<p>{{ message['body'] }}</p>"},
    {"nohead.html", "<body>{% module Box('x') %}</body>"},
    {"autoescape.html", "{{ '<b>' }}\n\n   x   \n"},
    {"missing.html", "{{ handler.get_argument('nope') }}"},
};

class WebTemplateTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  tornado::testing::ExpectLog missing_static_{tornado::log::general, "Could not open static file",
                                              false};
  std::unique_ptr<tornado::web::Application> get_app() override {
    tornado::web::Settings settings;
    settings.template_loader = std::make_shared<DictLoader>(kTemplates);
    // static_url needs a static_path, as in Tornado; the files these pages
    // name are not there, so their URLs carry no version (and the error
    // Tornado logs for them is expected below).
    settings.static_path = TORNADO_TEST_DATA "/web_template/static";
    settings.values = {{"blog_title", "My <blog>"}};
    settings.ui_methods["shout"] = [](RequestHandler& handler, const Arguments& args) -> Value {
      return args.str(0) + "!" + handler.request().path;
    };
    settings.ui_modules["Box"] = tornado::web::ui_module<BoxModule>();
    settings.ui_modules["Helper"] = tornado::web::ui_module<Helper>();
    customize(settings);
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{
            {"/page/(.*)", tornado::web::handler<PageHandler>(), "page"}},
        settings);
  }
  virtual void customize(tornado::web::Settings&) {}

  std::string body(std::string_view path) {
    auto response = fetch(path);
    EXPECT_EQ(response.code, 200) << path;
    return std::string(response.body);
  }
};

TEST_F(WebTemplateTest, RenderTakesObjectsAndJson) {
  EXPECT_EQ(body("/page/entry"), "First &lt;post&gt; 2024 6");
}

TEST_F(WebTemplateTest, TheWholeNamespace) {
  tornado::httpclient::HTTPRequest request;
  request.headers.add("X-Test", "<t>");
  auto response = fetch("/page/namespace?q=a&q=%3Cb%3E", request);
  ASSERT_EQ(response.code, 200);
  const std::string host = "127.0.0.1:" + std::to_string(port_);
  EXPECT_EQ(std::string(response.body),
            "My &lt;blog&gt;|http://" + host +
                "/page/namespace?q=a&amp;q=%3Cb%3E|/page/namespace|" + host +
                "|/page/namespace?q=a&amp;q=%3Cb%3E|[&#39;a&#39;, &#39;&lt;b&gt;&#39;]|&lt;b&gt;|"
                "dflt|ann|ann|en_US|Hello|apples|apple|/static/app.js|/static/app.js|/page/x|"
                "hi!/page/namespace|&lt;t&gt;|none|GET|xsrf");
}

TEST_F(WebTemplateTest, UIModulesAndTheirResourcesPlacedAsTornado) {
  // Resources are gathered per module in first-use order; files deduplicated
  // and relative ones through static_url; JS before </body>, CSS before </head>.
  EXPECT_EQ(body("/page/modules"),
            "<html><head><title>t</title>"
            "<link href=\"/static/box.css\" type=\"text/css\" rel=\"stylesheet\"/>"
            "<link href=\"/static/msg.css\" type=\"text/css\" rel=\"stylesheet\"/>\n"
            "<style type=\"text/css\">\n.box{}\n</style>\n"
            "<meta name=\"box\">\n"
            "</head><body>"
            "<div class=\"box\">one #1 /page/modules</div>"
            "<div class=\"box\">two #2 /page/modules</div>"
            "&lt;i&gt;helper&lt;/i&gt;<i>helper</i>"
            "see <a href=\"http://x.org/\">http://x.org/</a> &lt;b&gt;"
            "<p>&lt;hi&gt;</p><p>again</p>"
            "<script src=\"/static/box.js\" type=\"text/javascript\"></script>"
            "<script src=\"/abs.js\" type=\"text/javascript\"></script>\n"
            "<script type=\"text/javascript\">\n//<![CDATA[\nbox();\nmsg();\n//]]>\n</script>\n"
            "<p>box body</p>\n"
            "</body></html>");
}

TEST_F(WebTemplateTest, APageWithoutHeadCannotPlaceModuleCss) {
  tornado::testing::ExpectLog expected(tornado::log::app, "no </head>");
  tornado::testing::ExpectLog access(tornado::log::access, "500 GET /page/nohead");
  EXPECT_EQ(fetch("/page/nohead").code, 500);
}

TEST_F(WebTemplateTest, HTTPErrorsCrossTemplates) {
  tornado::testing::ExpectLog expected(tornado::log::general, "Missing argument", false);
  tornado::testing::ExpectLog access(tornado::log::access, "400 GET /page/missing", false);
  EXPECT_EQ(fetch("/page/missing").code, 400);
}

class AutoescapeNoneTest : public WebTemplateTest {
 protected:
  void customize(tornado::web::Settings& settings) override {
    settings.autoescape = std::nullopt;
    settings.template_whitespace = "oneline";
    settings.template_loader.reset();
    settings.template_path = TORNADO_TEST_DATA "/web_template/templates";
  }
};

TEST_F(AutoescapeNoneTest, AutoescapeAndWhitespaceSettings) {
  EXPECT_EQ(body("/page/autoescape"), "<b> x ");
}

class MaxValueSizeTest : public AutoescapeNoneTest {
  void customize(tornado::web::Settings& settings) override {
    AutoescapeNoneTest::customize(settings);
    settings.template_max_value_size = 4;  // autoescape.html writes "<b> x "
  }
};

TEST_F(MaxValueSizeTest, TemplateMaxValueSizeSetting) {
  tornado::testing::ExpectLog error(tornado::log::app,
                                    "autoescape.html:4: MemoryError: the output exceeds "
                                    "max_value_size (4 bytes)",
                                    true);
  tornado::testing::ExpectLog access(tornado::log::access, "500 GET /page/autoescape", false);
  EXPECT_EQ(fetch("/page/autoescape").code, 500);
}

// ---------------------------------------------------------------------------
// Byte-for-byte agreement with Tornado: tests/data/web_template/generate_expected.py
// serves the same pages with Tornado's Application; the modules, ui_methods
// and values below mirror the script's.

class EntryModule : public tornado::web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const Arguments& args) override {
    return render_string("modules/entry.html", {{"entry", args.at(0, "entry")}});
  }
  std::string embedded_css() override { return ".entry { margin: 0 }"; }
  std::vector<std::string> javascript_files() override {
    return {"entry.js", "https://cdn.example.com/lib.js"};
  }
};

class AsideModule : public tornado::web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const Arguments& args) override {
    return "<aside>" + tornado::escape::xhtml_escape(args.str(0, "title")) + "</aside>";
  }
  std::string embedded_javascript() override { return "box();"; }
  std::vector<std::string> css_files() override { return {"box.css"}; }
  std::string html_head() override { return "<meta name=\"box\">"; }
  std::string html_body() override { return "<footer>box</footer>"; }
};

class DemoHandler : public RequestHandler {
 public:
  void get(std::string_view page) {
    using namespace std::chrono;
    const std::vector<Entry> entries = {
        {"First <post>", sys_days{year{2024} / 3 / 9} + hours{14} + minutes{5} + seconds{7}, 1,
         "first", "<p>one</p>"},
        {"Second & last", sys_days{year{2023} / 12 / 31} + hours{23} + minutes{59}, 2, "second",
         "<p>two</p>"}};
    const nlohmann::json messages = {
        {{"id", "a1"}, {"from", "ann"}, {"body", "see http://example.com/x?a=1&b=2 <now>"}},
        {{"id", "b2"}, {"from", "bob"}, {"body", "plain text"}}};
    render(std::string(page) + ".html",
           {{"entries", entries}, {"messages", messages}, {"count", 3}});
  }
  std::optional<nlohmann::json> get_current_user() override { return "ann"; }
};

class TornadoPagesTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  // The pages name static files that are not there: unversioned URLs, and
  // the error Tornado logs for each, as Tornado's own run of them did.
  tornado::testing::ExpectLog missing_static_{tornado::log::general, "Could not open static file",
                                              false};
  std::unique_ptr<tornado::web::Application> get_app() override {
    tornado::web::Settings settings;
    settings.template_path = TORNADO_TEST_DATA "/web_template/templates";
    settings.static_path = TORNADO_TEST_DATA "/web_template/static";
    settings.ui_modules["Entry"] = tornado::web::ui_module<EntryModule>();
    settings.ui_modules["Box"] = tornado::web::ui_module<AsideModule>();
    settings.ui_methods["shout"] = [](RequestHandler& handler, const Arguments& args) -> Value {
      std::string text = args.str(0, "text");
      for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return text + "!" + handler.request().path;
    };
    settings.values = {{"blog_title", "Tornado's <blog>"}};
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{{"/page/(.*)", tornado::web::handler<DemoHandler>()}},
        settings);
  }
};

TEST_F(TornadoPagesTest, MatchTornadoOutput) {
  for (const char* page : {"home", "chat"}) {
    SCOPED_TRACE(page);
    tornado::httpclient::HTTPRequest request;
    request.headers.add("Host", "example.com");
    auto response = fetch(std::string("/page/") + page + "?q=x", request);
    ASSERT_EQ(response.code, 200);
    std::ifstream in(std::string(TORNADO_TEST_DATA "/web_template/expected/") + page + ".out",
                     std::ios::binary);
    std::ostringstream expected;
    expected << in.rdbuf();
    EXPECT_EQ(std::string(response.body), expected.str());
  }
}

}  // namespace
