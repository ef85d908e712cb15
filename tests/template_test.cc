// Tests for tornado::template_. The data-file cases under
// tests/data/template/ hold expected output produced by Tornado's own engine
// (tests/data/template/generate_expected.py), so they check byte-for-byte
// agreement with Python; the tests below check each form on its own.
#include "tornado/template.h"

#include "tornado/escape.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tornado::template_::Arguments;
using tornado::template_::Functions;
using tornado::template_::Loader;
using tornado::template_::LoaderOptions;
using tornado::template_::ParseError;
using tornado::template_::Template;
using tornado::template_::TemplateError;
using tornado::template_::TemplateOptions;
using tornado::template_::Value;

std::string render(const std::string& source, const json& values = json::object(),
                   const Functions& functions = {}) {
  return Template(source).generate(values, functions);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A scratch template directory, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() / ("tornado-template-test-" + std::to_string(random()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  void write(const std::string& name, const std::string& contents) const {
    const fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << contents;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------
// Byte-for-byte agreement with Tornado

// {"$datetime": ISO} and {"$timedelta": seconds} in a case's values become
// DateTime and TimeDelta objects, as generate_expected.py decodes them.
Value decode_case_value(const json& v) {
  if (v.is_object() && v.size() == 1 && v.contains("$datetime")) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, us = 0;
    std::sscanf(v["$datetime"].get<std::string>().c_str(), "%d-%d-%dT%d:%d:%d.%d", &y, &mo, &d, &h,
                &mi, &s, &us);
    using namespace std::chrono;
    return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} +
           hours{h} + minutes{mi} + seconds{s} + microseconds{us};
  }
  if (v.is_object() && v.size() == 1 && v.contains("$timedelta")) {
    return std::chrono::seconds(v["$timedelta"].get<std::int64_t>());
  }
  if (v.is_array()) {
    std::vector<Value> items;
    bool objects = false;
    for (const auto& item : v) {
      items.push_back(decode_case_value(item));
      objects = objects || !items.back().json();
    }
    if (objects) return Value::list(std::move(items));
  }
  return v;
}

TEST(TemplateDataFiles, MatchTornadoOutput) {
  const fs::path root = fs::path(TORNADO_TEST_DATA) / "template";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!fs::exists(entry.path() / "case.json")) continue;
    SCOPED_TRACE(entry.path().filename().string());
    const json spec = json::parse(read_file(entry.path() / "case.json"));
    Loader loader(entry.path());
    tornado::template_::Namespace values;
    for (const auto& [name, value] : spec.at("values").items()) {
      values.set(name, decode_case_value(value));
    }
    const std::string output =
        loader.load(spec.at("template").get<std::string>())->generate(values);
    EXPECT_EQ(output, read_file(entry.path() / "expected.out"));
    ++cases;
  }
  EXPECT_GE(cases, 15);
}

// ---------------------------------------------------------------------------
// Expressions

struct Case {
  const char* source;
  const char* expected;
};

TEST(TemplateExpressions, EachForm) {
  const json values = {{"n", 7},
                       {"f", 2.5},
                       {"s", "abc"},
                       {"xs", {1, 2, 3}},
                       {"d", {{"k", "v"}, {"n", 1}}},
                       {"user", {{"name", "Ann"}, {"tags", {"a", "b"}}}},
                       {"nothing", nullptr},
                       {"yes", true}};
  const Case cases[] = {
      {"{{ n }}", "7"},
      {"{{ user.name }}", "Ann"},
      {"{{ user['name'] }}", "Ann"},
      {"{{ user.tags[1] }}", "b"},
      {"{{ xs[-1] }}", "3"},
      {"{{ d[\"k\"] }}", "v"},
      {"{{ 'str' }}{{ \"dq\" }}{{ 'a' 'b' }}", "strdqab"},
      {"{{ 1 }} {{ 1.5 }} {{ 1e3 }} {{ 0x10 }} {{ 1_000 }}", "1 1.5 1000.0 16 1000"},
      {"{{ True }} {{ False }} {{ None }}", "True False None"},
      {"{{ [1, 'a', None] }}", "[1, &#39;a&#39;, None]"},
      {"{% raw [1, 'a', None] %}", "[1, 'a', None]"},
      {"{% raw {'b': 1, 'a': [True]} %}", "{'b': 1, 'a': [True]}"},
      {"{{ n > 5 }} {{ n <= 5 }} {{ n == 7.0 }} {{ n != 7 }} {{ 1 < n < 10 }}",
       "True False True False True"},
      {"{{ yes and n }} {{ nothing or 'x' }} {{ not yes }} {{ not nothing }}", "7 x False True"},
      {"{{ 2 in xs }} {{ 5 not in xs }} {{ 'b' in s }} {{ 'k' in d }}", "True True True True"},
      {"{{ nothing is None }} {{ yes is not None }}", "True True"},
      {"{{ n + 1 }} {{ n - 10 }} {{ n * 3 }} {{ n / 2 }} {{ n // 2 }} {{ n % 3 }} {{ n ** 2 }}",
       "8 -3 21 3.5 3 1 49"},
      {"{{ -n // 2 }} {{ -n % 3 }} {{ f * 2 }} {{ -f }} {{ +n }} {{ ~n }}", "-4 2 5.0 -2.5 7 -8"},
      {"{{ s + 'd' }} {{ s * 2 }} {{ xs + [4] }}", "abcd abcabc [1, 2, 3, 4]"},
      {"{{ 'big' if n > 5 else 'small' }}", "big"},
      {"{{ len(xs) }} {{ len(s) }} {{ len(d) }}", "3 3 2"},
      {"{{ list(range(3)) }} {{ str(n) + '!' }} {{ int('12') * 2 }}", "[0, 1, 2] 7! 24"},
      {"{% for k, v in d.items() %}{{ k }}={{ v }} {% end %}", "k=v n=1 "},
      {"{{ [x * 2 for x in xs if x != 2] }}", "[2, 6]"},
      {"{{ s.upper() }} {{ ', '.join(user.tags) }} {{ s[1:] }}", "ABC a, b bc"},
      {"{{ '%s-%03d' % (s, n) }} {{ '{}!'.format(n) }} {{ f'{n:>3}' }}", "abc-007 7!   7"},
      {"{{ d.get('missing', 'fallback') }}", "fallback"},
      {"{{ (1, 'x') }}", "(1, &#39;x&#39;)"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(render(c.source, values), c.expected) << c.source;
  }
}

// ---------------------------------------------------------------------------
// Statements

TEST(TemplateStatements, IfElifElse) {
  const std::string t = "{% if n > 10 %}big{% elif n > 5 %}medium{% else %}small{% end %}";
  EXPECT_EQ(render(t, {{"n", 11}}), "big");
  EXPECT_EQ(render(t, {{"n", 7}}), "medium");
  EXPECT_EQ(render(t, {{"n", 1}}), "small");
}

TEST(TemplateStatements, ForLoops) {
  EXPECT_EQ(render("{% for x in xs %}[{{ x }}]{% end %}", {{"xs", {1, 2}}}), "[1][2]");
  EXPECT_EQ(render("{% for i, x in enumerate(xs) %}{{ i }}{{ x }} {% end %}", {{"xs", {"a", "b"}}}),
            "0a 1b ");
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 1 %}{% continue %}{% end %}"
                   "{% if x == 4 %}{% break %}{% end %}{{ x }}{% end %}"),
            "023");
  // Python's for-else: the else runs unless the loop was broken.
  EXPECT_EQ(render("{% for x in [] %}x{% else %}done{% end %}"), "done");
  EXPECT_EQ(render("{% for x in [1] %}{% break %}{% else %}done{% end %}"), "");
  // The loop variable outlives the loop, as in Python.
  EXPECT_EQ(render("{% for x in [1, 2] %}{% end %}{{ x }}"), "2");
}

TEST(TemplateStatements, WhileAndSet) {
  EXPECT_EQ(render("{% set i = 0 %}{% while i < 3 %}{{ i }}{% set i += 1 %}{% end %}"), "012");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a + b }}"), "3");
  EXPECT_EQ(render("{% set name = 'x' %}{{ name }}", {{"name", "from values"}}), "x");
}

TEST(TemplateStatements, TryExceptFinally) {
  EXPECT_EQ(
      render("{% try %}{{ d['x'] }}{% except KeyError %}missing{% end %}", {{"d", json::object()}}),
      "missing");
  EXPECT_EQ(render("{% try %}ok{% except %}no{% else %} else{% finally %} finally{% end %}"),
            "ok else finally");
  EXPECT_EQ(render("{% try %}{{ 1 / 0 }}{% except ZeroDivisionError as e %}{{ e }}{% end %}"),
            "division by zero");
  // An unmatched exception still runs finally, then propagates.
  std::string out;
  EXPECT_THROW(Template("{% try %}{{ nope }}{% except KeyError %}x{% finally %}f{% end %}")
                   .generate_to(out, json::object()),
               TemplateError);
  EXPECT_EQ(out, "f");
}

TEST(TemplateStatements, ApplyRawCommentAndAutoescape) {
  EXPECT_EQ(render("{% apply linkify %}see http://x.org/{% end %}"),
            "see <a href=\"http://x.org/\">http://x.org/</a>");
  EXPECT_EQ(render("{% apply upper %}a{{ 'b' }}{% end %}", json::object(),
                   {{"upper",
                     [](const std::vector<json>& args) {
                       std::string s = args.at(0).get<std::string>();
                       for (char& c : s) c = static_cast<char>(std::toupper(c));
                       return json(s);
                     }}}),
            "AB");
  EXPECT_EQ(render("a{# {{ ignored }} #}b{% comment also ignored %}c"), "abc");
  EXPECT_EQ(render("{% raw '<b>' %}"), "<b>");
  EXPECT_EQ(render("{% autoescape None %}{{ '<b>' }}"), "<b>");
  // The autoescape directive applies to the whole file, as in Tornado.
  EXPECT_EQ(render("{{ '<b>' }}{% autoescape None %}"), "<b>");
  EXPECT_EQ(Template("{{ '<b>' }}", "x.html", nullptr, {.autoescape = "None"}).generate(), "<b>");
  EXPECT_EQ(render("{% autoescape url_escape %}{{ 'a b' }}"), "a+b");
}

TEST(TemplateStatements, LiteralBraces) {
  EXPECT_EQ(render("{{! x }} {%! y %} {#! z #}"), "{{ x }} {% y %} {# z #}");
  EXPECT_EQ(render("{{{ n }}}", {{"n", 1}}), "{1}");
  EXPECT_EQ(render("a { b } {"), "a { b } {");
}

TEST(TemplateStatements, Modules) {
  const Functions functions = {{"Entry", [](const std::vector<json>& args) {
                                  return json("<div>" + args.at(0).get<std::string>() +
                                              args.at(1).at("suffix").get<std::string>() +
                                              "</div>");
                                }}};
  EXPECT_EQ(render("{% module Entry('<x>', suffix='!') %}", json::object(), functions),
            "<div><x>!</div>");
  EXPECT_THROW(render("{% module Missing() %}"), TemplateError);
}

// ---------------------------------------------------------------------------
// Autoescaping

TEST(TemplateAutoescape, EscapesXssPayloads) {
  const char* payloads[] = {
      "<script>alert(1)</script>",    "\" onmouseover=\"alert(1)",        "' onfocus='alert(1)",
      "<img src=x onerror=alert(1)>", "</textarea><svg/onload=alert(1)>",
  };
  for (const char* payload : payloads) {
    const std::string out = render("<p title=\"{{ v }}\">{{ v }}</p>", {{"v", payload}});
    EXPECT_EQ(out.find('<', 1), out.find("</p>")) << out;
    EXPECT_EQ(out.find("\" on"), std::string::npos) << out;
    EXPECT_EQ(out.find("' on"), std::string::npos) << out;
  }
  EXPECT_EQ(render("{{ v }}", {{"v", "<&>\"'"}}), "&lt;&amp;&gt;&quot;&#39;");
  EXPECT_EQ(render("{% raw v %}", {{"v", "<b>"}}), "<b>");
  EXPECT_EQ(render("{{ v }}", {{"v", {"<b>"}}}), "[&#39;&lt;b&gt;&#39;]");
}

TEST(TemplateAutoescape, JsonEncodeCannotCloseAScript) {
  EXPECT_EQ(render("{% raw json_encode(v) %}", {{"v", "</script><script>"}}),
            "\"<\\/script><script>\"");
}

// ---------------------------------------------------------------------------
// Inheritance and includes

TEST(TemplateLoader, InheritanceThreeLevelsDeep) {
  TempDir dir;
  dir.write("base.html",
            "<title>{% block title %}base{% end %}</title>"
            "{% block body %}base body{% end %}");
  dir.write("layout.html",
            "{% extends \"base.html\" %}ignored"
            "{% block body %}<main>{% block content %}layout{% end %}</main>{% end %}");
  dir.write("page.html",
            "{% extends 'layout.html' %}"
            "{% block title %}{{ t }}{% end %}"
            "{% block content %}page {% include 'part.html' %}{% end %}");
  dir.write("part.html", "[part {{ t }}]");
  Loader loader(dir.path());
  EXPECT_EQ(loader.load("page.html")->generate({{"t", "T"}}),
            "<title>T</title><main>page [part T]</main>");
  EXPECT_EQ(loader.load("layout.html")->generate(), "<title>base</title><main>layout</main>");
}

TEST(TemplateLoader, IncludesResolveRelativeToTheIncludingFile) {
  TempDir dir;
  dir.write("index.html", "{% include 'sub/a.html' %}|{{ set_in_include }}");
  dir.write("sub/a.html",
            "A{% include 'b.html' %}{% include '../c.html' %}"
            "{% set set_in_include = 'shared locals' %}");
  dir.write("sub/b.html", "B");
  dir.write("c.html", "C");
  Loader loader(dir.path());
  EXPECT_EQ(loader.load("index.html")->generate(), "ABC|shared locals");
}

TEST(TemplateLoader, CachesAndReloadsOnlyInDebug) {
  TempDir dir;
  dir.write("a.html", "one");
  Loader cached(dir.path());
  Loader debug(dir.path(), {.debug = true});
  const auto first = cached.load("a.html");
  EXPECT_EQ(first, cached.load("a.html"));
  EXPECT_EQ(debug.load("a.html")->generate(), "one");
  dir.write("a.html", "two, longer");
  EXPECT_EQ(cached.load("a.html")->generate(), "one");
  EXPECT_EQ(debug.load("a.html")->generate(), "two, longer");
  cached.reset();
  EXPECT_EQ(cached.load("a.html")->generate(), "two, longer");
}

TEST(TemplateLoader, DebugReloadFollowsParents) {
  TempDir dir;
  dir.write("base.html", "[{% block b %}{% end %}]");
  dir.write("child.html", "{% extends 'base.html' %}{% block b %}x{% end %}");
  Loader loader(dir.path(), {.debug = true});
  EXPECT_EQ(loader.load("child.html")->generate(), "[x]");
  dir.write("base.html", "(({% block b %}{% end %}))");
  EXPECT_EQ(loader.load("child.html")->generate(), "((x))");
}

TEST(TemplateLoader, WhitespaceDefaultsByExtension) {
  TempDir dir;
  const std::string text = "a   b\n\n  c";
  dir.write("a.html", text);
  dir.write("a.js", text);
  dir.write("a.txt", text);
  Loader loader(dir.path());
  EXPECT_EQ(loader.load("a.html")->generate(), "a b\nc");
  EXPECT_EQ(loader.load("a.js")->generate(), "a b\nc");
  EXPECT_EQ(loader.load("a.txt")->generate(), text);
  Loader oneline(dir.path(), {.whitespace = "oneline"});
  EXPECT_EQ(oneline.load("a.txt")->generate(), "a b c");
  EXPECT_EQ(render("{% whitespace oneline %}a \n b{% whitespace all %} \n "), "a b \n ");
  EXPECT_EQ(Template("x  <pre>  y  </pre>", "t.html").generate(), "x  <pre>  y  </pre>");
}

TEST(TemplateLoader, LoaderFunctionsAndAutoescapeSetting) {
  TempDir dir;
  dir.write("a.html", "{{ shout('hi') }} {{ '<b>' }}");
  Functions functions = {{"shout", [](const std::vector<json>& args) {
                            return json(args.at(0).get<std::string>() + "!");
                          }}};
  Loader loader(dir.path(), {.autoescape = "", .functions = functions});
  EXPECT_EQ(loader.load("a.html")->generate(), "hi! <b>");
}

TEST(TemplateLoader, RefusesNamesOutsideTheRoot) {
  TempDir dir;
  dir.write("root/ok.html", "ok");
  dir.write("secret.txt", "secret");
  dir.write("root/bad_include.html", "line one\n{% include '../secret.txt' %}");
  dir.write("root/sub/bad_extends.html", "{% extends '../../secret.txt' %}");
  fs::create_symlink(dir.path() / "secret.txt", dir.path() / "root" / "link.html");
  Loader loader(dir.path() / "root");
  EXPECT_EQ(loader.load("ok.html")->generate(), "ok");
  EXPECT_EQ(loader.load("./sub/../ok.html")->generate(), "ok");
  for (const std::string& name :
       std::initializer_list<std::string>{"../secret.txt", "/etc/passwd", "sub/../../secret.txt",
                                          "link.html", std::string("ok.html\0x", 9), "", "."}) {
    EXPECT_THROW(loader.load(name), TemplateError) << name;
  }
  try {
    loader.load("bad_include.html");
    FAIL() << "include outside the root was accepted";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.filename(), "bad_include.html");
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(std::string(e.what()).find("leaves the template root"), std::string::npos);
  }
  EXPECT_THROW(loader.load("sub/bad_extends.html"), ParseError);
  EXPECT_THROW(loader.load("missing.html"), TemplateError);
}

TEST(TemplateLoader, RefusesCycles) {
  TempDir dir;
  dir.write("a.html", "{% include 'b.html' %}");
  dir.write("b.html", "{% include 'a.html' %}");
  dir.write("self.html", "{% extends 'self.html' %}");
  Loader loader(dir.path());
  EXPECT_THROW(loader.load("a.html"), ParseError);
  EXPECT_THROW(loader.load("self.html"), ParseError);
}

TEST(TemplateLoader, RendersFromManyThreads) {
  TempDir dir;
  dir.write("base.html", "<{% block b %}{% end %}>");
  dir.write(
      "page.html",
      "{% extends 'base.html' %}{% block b %}{% for i in range(n) %}{{ i }}{% end %}{% end %}");
  Loader loader(dir.path());
  std::atomic<int> failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (i % 50 == 0 && t == 0) loader.reset();
        if (loader.load("page.html")->generate({{"n", 3}}) != "<012>") ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
}

// ---------------------------------------------------------------------------
// Errors

void expect_parse_error(const std::string& source, const std::string& message, int line) {
  try {
    Template(source, "t.html");
    ADD_FAILURE() << "no ParseError for " << source;
  } catch (const ParseError& e) {
    EXPECT_EQ(e.filename(), "t.html") << source;
    EXPECT_EQ(e.line(), line) << source;
    EXPECT_EQ(std::string(e.what()), "t.html:" + std::to_string(line) + ": " + message) << source;
  }
}

TEST(TemplateErrors, ParseErrorsNameFileLineAndWhatWasExpected) {
  expect_parse_error("a\n{% if x %}\nb\n\n", "expected {% end %} for {% if %} opened at line 2", 5);
  expect_parse_error("{% for x in y %}{% if x %}{% end %}",
                     "expected {% end %} for {% for %} opened at line 1", 1);
  expect_parse_error("\n{{ x", "expected }} to close {{", 2);
  expect_parse_error("{% if", "expected %} to close {%", 1);
  expect_parse_error("{# x", "expected #} to close {#", 1);
  expect_parse_error("{{ }}", "empty expression {{ }}", 1);
  expect_parse_error("{% %}", "empty block tag {% %}", 1);
  expect_parse_error("{% end %}", "unexpected {% end %}: no block is open", 1);
  expect_parse_error("{% else %}", "{% else %} outside a block", 1);
  expect_parse_error("{% for x in y %}{% elif z %}{% end %}",
                     "{% elif %} block cannot be attached to {% for %} block", 1);
  expect_parse_error("{% break %}", "{% break %} outside {% for %} or {% while %}", 1);
  expect_parse_error("{% bogus %}", "unknown operator: 'bogus'", 1);
  expect_parse_error("\n\n{{ a + }}",
                     "invalid expression in {{ a + }}: unexpected end of expression", 3);
  expect_parse_error("{{ a b }}", "invalid expression in {{ a b }}: unexpected 'b' at column 3", 1);
  expect_parse_error("{% set 1 = x %}",
                     "invalid statement in {% set 1 = x %}: cannot assign to '1': only names can "
                     "be assigned in templates",
                     1);
  expect_parse_error("{% include 'x.html' %}", "{% include %} block found, but no template loader",
                     1);
  expect_parse_error("{% extends 'x.html' %}", "{% extends %} block found, but no template loader",
                     1);
  expect_parse_error("{% whitespace bogus %}", "invalid whitespace mode bogus", 1);
  expect_parse_error("{% if x %}{% else %}{% elif y %}{% end %}", "{% elif %} after {% else %}", 1);
  expect_parse_error("{% try %}x{% end %}", "{% try %} needs an {% except %} or a {% finally %}",
                     1);
  expect_parse_error(
      "{% import os %}",
      "{% import os %} imports a Python module, which a tornado-cpp template cannot: "
      "pass what it needs as a value, a function (LoaderOptions::functions, the "
      "ui_methods setting) or a bound object instead (docs/template.md)",
      1);
  expect_parse_error("\n{% from datetime import date %}",
                     "{% from datetime import date %} imports a Python module, which a tornado-cpp "
                     "template cannot: pass what it needs as a value, a function "
                     "(LoaderOptions::functions, the ui_methods setting) or a bound object instead "
                     "(docs/template.md)",
                     2);
  expect_parse_error("{% apply f %}{% for x in y %}{% end %}{% break %}{% end %}",
                     "{% break %} outside {% for %} or {% while %}", 1);
}

void expect_render_error(const std::string& source, const json& values, const std::string& what,
                         const std::string& type) {
  try {
    Template(source, "page.html").generate(values);
    ADD_FAILURE() << "no TemplateError for " << source;
  } catch (const ParseError& e) {
    ADD_FAILURE() << "unexpected ParseError " << e.what();
  } catch (const TemplateError& e) {
    EXPECT_EQ(std::string(e.what()), what);
    EXPECT_EQ(e.error_type(), type);
  }
}

TEST(TemplateErrors, EvaluationErrorsNameFileLineAndExpression) {
  expect_render_error("line 1\n{{ user.nmae }}", {{"user", {{"name", "x"}}}},
                      "page.html:2: AttributeError: 'dict' object has no attribute 'nmae' in "
                      "{{ user.nmae }}",
                      "AttributeError");
  expect_render_error("{{ missing }}", json::object(),
                      "page.html:1: NameError: name 'missing' is not defined in {{ missing }}",
                      "NameError");
  expect_render_error("\n\n{% for x in xs %}{{ xs[9] }}{% end %}", {{"xs", {1}}},
                      "page.html:3: IndexError: list index out of range in {{ xs[9] }}",
                      "IndexError");
  expect_render_error("{{ d['k'] }}", {{"d", json::object()}},
                      "page.html:1: KeyError: 'k' in {{ d['k'] }}", "KeyError");
  expect_render_error("{{ n() }}", {{"n", 1}},
                      "page.html:1: TypeError: 'int' object is not callable in {{ n() }}",
                      "TypeError");
  expect_render_error("{{ len(1) }}", json::object(),
                      "page.html:1: TypeError: object of type 'int' has no len() in {{ len(1) }}",
                      "TypeError");
  expect_render_error("{% if 1 + 'a' %}{% end %}", json::object(),
                      "page.html:1: TypeError: unsupported operand type(s) for +: 'int' and "
                      "'str' in {% if 1 + 'a' %}",
                      "TypeError");
  expect_render_error("{% for x in 5 %}{% end %}", json::object(),
                      "page.html:1: TypeError: 'int' object is not iterable in {% for x in 5 %}",
                      "TypeError");
}

TEST(TemplateErrors, FunctionsWhereValuesBelongAreTypeErrors) {
  // Found by the fuzzer: a function passed where None or a value is allowed.
  for (const char* source : {"{{ 'x'.strip(len) }}", "{{ round(1.5, len) }}",
                             "{{ 'a b'.split(len) }}", "{{ [1, 2][len:] }}", "{{ '%d' % len }}",
                             "{{ format(len, 'd') }}", "{{ len + 1 }}", "{{ len[0] }}"}) {
    EXPECT_THROW(render(source), TemplateError) << source;
  }
}

TEST(TemplateErrors, ErrorsInIncludesNameTheIncludedFile) {
  TempDir dir;
  dir.write("index.html", "{% include 'part.html' %}");
  dir.write("part.html", "\n\n{{ nope }}");
  Loader loader(dir.path());
  try {
    loader.load("index.html")->generate();
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.filename(), "part.html");
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.source(), "{{ nope }}");
  }
}

TEST(TemplateErrors, FunctionExceptionsKeepTheirCause) {
  const Functions functions = {
      {"boom", [](const std::vector<json>&) -> json { throw std::out_of_range("deep failure"); }}};
  try {
    render("{{ boom() }}", json::object(), functions);
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(std::string(e.what()), "<string>:1: Exception: deep failure in {{ boom() }}");
    EXPECT_THROW(std::rethrow_exception(e.cause()), std::out_of_range);
  }
}

// ---------------------------------------------------------------------------
// Dicts keep insertion order (tests/data/template/dicts compares with Tornado)

TEST(TemplateDicts, LiteralsKeepInsertionOrder) {
  EXPECT_EQ(render("{{ {\"b\": 1, \"a\": 2} }}"), "{&#39;b&#39;: 1, &#39;a&#39;: 2}");
  EXPECT_EQ(render("{% raw json_encode({'b': 1, 'a': {'d': 2, 'c': 3}}) %}"),
            "{\"b\": 1, \"a\": {\"d\": 2, \"c\": 3}}");
  EXPECT_EQ(render("{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}{{ v }}{% end %}"), "b1a2");
  EXPECT_EQ(render("{% raw json_encode(dict(b=1, a=2)) %}"), "{\"b\": 1, \"a\": 2}");
}

TEST(TemplateDicts, ComprehensionsAsPython) {
  // Python: a repeated key keeps its first place and its last value.
  EXPECT_EQ(render("{% raw json_encode({k: v * 2 for k, v in [('b', 1), ('a', 2)]}) %}"),
            "{\"b\": 2, \"a\": 4}");
  EXPECT_EQ(render("{% raw json_encode({('odd' if x % 2 else 'even'): x for x in range(5)}) %}"),
            "{\"even\": 4, \"odd\": 3}");
  EXPECT_EQ(render("{{ len({c: 1 for c in 'abca' if c != 'b'}) }}"), "2");
  EXPECT_EQ(render("{% raw json_encode({a + b: 1 for a in 'xy' for b in 'z'}) %}"),
            "{\"xz\": 1, \"yz\": 1}");
  // The loop variable stays inside, as Python 3's comprehension scope.
  EXPECT_EQ(render("{% set k = 'out' %}{{ len({k: 1 for k in 'ab'}) }} {{ k }}"), "2 out");
  EXPECT_THROW(render("{{ {x: 1 for x in range(3)} }}"), TemplateError);  // int keys
}

TEST(TemplateDicts, OrderedJsonFromTheApplication) {
  nlohmann::ordered_json d = nlohmann::ordered_json::object();
  d["zeta"] = 1;
  d["alpha"] = {{"y", 2}, {"x", 3}};
  d["list"] = nlohmann::ordered_json::array({nlohmann::ordered_json{{"b", 1}, {"a", 2}}});
  const tornado::template_::Namespace ns{{"d", d}};
  EXPECT_EQ(Template("{% for k, v in d.items() %}{{ k }} {% end %}").generate(ns),
            "zeta alpha list ");
  EXPECT_EQ(Template("{% raw json_encode(d) %}").generate(ns),
            "{\"zeta\": 1, \"alpha\": {\"y\": 2, \"x\": 3}, \"list\": [{\"b\": 1, \"a\": 2}]}");
  EXPECT_EQ(Template("{{ d.alpha.y }} {{ d['list'][0]['a'] }} {{ len(d) }}").generate(ns), "2 2 3");
  // nlohmann::json stays as it was: sorted keys, plain JSON.
  EXPECT_EQ(Value(json{{"b", 1}, {"a", 2}}).json()->dump(), "{\"a\":2,\"b\":1}");
  EXPECT_EQ(tornado::escape::json_encode(d),
            "{\"zeta\": 1, \"alpha\": {\"y\": 2, \"x\": 3}, "
            "\"list\": [{\"b\": 1, \"a\": 2}]}");
}

TEST(TemplateDicts, FunctionsStillReceiveJson) {
  // A dict passed to a C++ function arrives as nlohmann::json, as before.
  std::string seen;
  const Functions functions = {{"take", [&](const Arguments& args) -> Value {
                                  const json* j = args.at(0).json();
                                  seen = j ? j->dump() : "not json";
                                  return Value();
                                }}};
  render("{{ take({'b': 1, 'a': [{'d': 1}]}) }}", json::object(), functions);
  EXPECT_EQ(seen, "{\"a\":[{\"d\":1}],\"b\":1}");
}

// ---------------------------------------------------------------------------
// Size limit: max_value_size bounds what an expression builds and the output

// Renders `source` as "page.html" with max_value_size `limit` and returns the
// error, or "" when it rendered.
std::string size_error(const std::string& source, std::size_t limit,
                       const json& values = json::object()) {
  TemplateOptions options;
  options.max_value_size = limit;
  try {
    Template(source, "page.html", nullptr, options).generate(values);
    return "";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.error_type(), "MemoryError") << e.what();
    EXPECT_EQ(e.filename(), "page.html");
    return e.what();
  }
}

TEST(TemplateLimits, DefaultLimitStopsRepetitionBeforeBuilding) {
  // Found by the fuzzer: s*4000*4000 built 224 MB and timed out.
  const auto start = std::chrono::steady_clock::now();
  try {
    Template("x\n{{ s*4000*4000 }}", "page.html").generate({{"s", "str & \"quotes\""}});
    FAIL() << "no error";
  } catch (const TemplateError& e) {
    EXPECT_EQ(std::string(e.what()),
              "page.html:2: MemoryError: a value of 224000000 bytes exceeds max_value_size "
              "(67108864 bytes) in {{ s*4000*4000 }}");
    EXPECT_EQ(e.line(), 2);
  }
  EXPECT_EQ(tornado::template_::kDefaultMaxValueSize, 64u * 1024 * 1024);
  // Refused before building: far quicker than copying 224 MB (~0.1 s).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(TemplateLimits, EveryWayOfBuildingAValueIsBounded) {
  // Strings count their bytes; each list item or dict entry 16 bytes more.
  EXPECT_EQ(size_error("{{ len('ab' * 500) }}", 1000), "");
  EXPECT_EQ(size_error("\n{{ 'ab' * 501 }}", 1000),
            "page.html:2: MemoryError: a value of 1002 bytes exceeds max_value_size (1000 bytes) "
            "in {{ 'ab' * 501 }}");
  for (const char* source : {
           "{{ 501 * 'ab' }}",
           "{{ len([1] * 100) }}",
           "{{ len(100 * [1]) }}",
           "{{ len((1,) * 100) }}",
           "{{ len([('a' * 100,)] * 10) }}",
           "{% set a = 'x' * 600 %}{{ len(a + a) }}",
           "{% set a = ['x' * 600] %}{{ len(a + a) }}",
           "{% set a = ('x' * 600,) %}{{ len(a + a) }}",
           "{% set a = 'x' * 600 %}{% set a += a %}",
           "{% set a = 'x' * 600 %}{{ len(''.join([a, a])) }}",
           "{% set a = 'x' * 600 %}{{ len(','.join((a, a))) }}",
           "{% set a = 'x' * 600 %}{{ len(a.replace('x', 'yy')) }}",
           "{% set a = 'x' * 600 %}{{ len(a.replace('', 'y')) }}",
           "{% set a = 'x' * 600 %}{{ len([a, a]) }}",
           "{% set a = 'x' * 600 %}{{ len({'k': a, 'l': a}) }}",
           "{% set a = 'x' * 600 %}{{ len(dict(k=a, l=a)) }}",
           "{% set a = 'x' * 600 %}{{ len([a for i in range(2)]) }}",
           "{% set a = 'x' * 600 %}{{ len({str(i): a for i in range(2)}) }}",
           "{% set a = 'x' * 600 %}{{ len(f'{a}{a}') }}",
           "{% set a = 'x' * 600 %}{{ len('%s%s' % (a, a)) }}",
           "{% set a = 'x' * 600 %}{{ len('{}{}'.format(a, a)) }}",
           "{{ len('x'.ljust(2000)) }}",
           "{{ len('x'.center(2000, 'y')) }}",
           "{{ len('%2000s' % 'x') }}",
           "{{ len(format('x', '>2000')) }}",
           "{{ len(list(range(100))) }}",
           "{{ len(sorted(range(100))) }}",
           "{{ len(('a ' * 200).split()) }}",
           "{% set a = '<' * 300 %}{{ len(xhtml_escape(a)) }}",
           "{% set a = 'x' * 600 %}{{ len(str((a, a))) }}",
           "{% set a = 'x' * 600 %}{{ len(json_encode((a, a))) }}",
       }) {
    EXPECT_NE(size_error(source, 1000), "") << source;
  }
}

TEST(TemplateLimits, OutputIsBounded) {
  EXPECT_EQ(size_error("{% for i in range(10) %}{{ 'x' * 100 }}{% end %}", 1000), "");
  EXPECT_EQ(size_error("{% for i in range(10) %}\n{{ 'x' * 100 }}{% end %}", 1000),
            "page.html:2: MemoryError: the output exceeds max_value_size (1000 bytes) in "
            "{{ 'x' * 100 }}");
  EXPECT_NE(size_error("{% for i in range(20) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% end %}",
                       1000),
            "");
  EXPECT_NE(size_error("{% apply xhtml_escape %}{% for i in range(20) %}{{ '<' * 99 }}{% end %}"
                       "{% end %}",
                       1000),
            "");
  // A value given to the template counts when it is written out.
  EXPECT_NE(size_error("{{ big }}", 1000, {{"big", std::string(2000, 'x')}}), "");
  EXPECT_EQ(size_error("{{ len(big) }}", 1000, {{"big", std::string(2000, 'x')}}), "");
}

TEST(TemplateLimits, DeeplyNestedValuesAreARecursionError) {
  // A dict, list or tuple built around itself in a loop nests as deep as the
  // loop runs; walking it (repr, ==, json_encode) recursed until the stack
  // overflowed. Past kMaxValueNesting (1000, Python's recursion limit) it is
  // a RecursionError naming the line, as in Python. (Freeing such a chain
  // still recurses once per level, so the loops stay at 1500: deep enough
  // to pass the limit, shallow enough for a sanitizer build's stack.)
  for (const char* source : {
           "{% set d = {} %}{% for i in range(1500) %}{% set d = {'a': d} %}{% end %}",
           "{% set t = () %}{% for i in range(1500) %}{% set t = (t,) %}{% end %}\n{{ t }}",
           "{% set t = () %}{% for i in range(1500) %}{% set t = (t,) %}{% end %}\n{{ t == t }}",
           "{% set t = () %}{% for i in range(1500) %}{% set t = [t, len] %}{% end %}",
           "{% set t = () %}{% for i in range(1500) %}{% set t = (t,) %}{% end %}\n"
           "{{ json_encode(t) }}",
       }) {
    try {
      Template(source, "page.html").generate();
      ADD_FAILURE() << "no error for " << source;
    } catch (const TemplateError& e) {
      EXPECT_EQ(e.error_type(), "RecursionError") << e.what();
      EXPECT_EQ(e.filename(), "page.html");
      EXPECT_GE(e.line(), 1);
    }
  }
  // Nesting within the limit works as before.
  EXPECT_EQ(render("{% set d = {} %}{% for i in range(500) %}{% set d = {'a': d} %}{% end %}"
                   "{{ len(str(d)) }}"),
            "3502");
}

TEST(TemplateLimits, LoaderSettingAndTemplateOverride) {
  TempDir dir;
  dir.write("page.html", "{{ 'x' * 200 }}");
  dir.write("outer.html", "{% include 'page.html' %}");
  LoaderOptions options;
  options.max_value_size = 100;
  Loader loader(dir.path(), options);
  try {
    loader.load("outer.html")->generate();
    FAIL() << "no error";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.filename(), "page.html");
    EXPECT_EQ(e.line(), 1);
    EXPECT_EQ(e.error_type(), "MemoryError");
  }
  Loader roomy(dir.path());
  EXPECT_EQ(roomy.load("outer.html")->generate().size(), 200u);
  TemplateOptions wider;
  wider.max_value_size = 1000;
  EXPECT_EQ(Template("{{ 'x' * 200 }}", "t.html", &loader, wider).generate().size(), 200u);
}

// ---------------------------------------------------------------------------
// Functions

TEST(TemplateFunctions, PerRequestFunctionsAndKeywordArguments) {
  const Functions functions = {
      {"static_url",
       [](const std::vector<json>& args) {
         std::string url = "/static/" + args.at(0).get<std::string>();
         if (args.size() < 2 || args[1].value("include_version", true)) url += "?v=abc";
         return json(url);
       }},
      {"xsrf_form_html", [](const std::vector<json>&) {
         return json("<input type=\"hidden\" name=\"_xsrf\" value=\"t\"/>");
       }}};
  EXPECT_EQ(render("{{ static_url('a.css') }} {{ static_url('b.js', include_version=False) }}",
                   json::object(), functions),
            "/static/a.css?v=abc /static/b.js");
  EXPECT_EQ(render("{% raw xsrf_form_html() %}", json::object(), functions),
            "<input type=\"hidden\" name=\"_xsrf\" value=\"t\"/>");
  // Values shadow functions, functions shadow built-ins, as Python's namespace.
  EXPECT_EQ(render("{{ len }}", {{"len", 3}}), "3");
  EXPECT_EQ(render("{{ len('abc') }}", json::object(),
                   {{"len", [](const std::vector<json>&) { return json(99); }}}),
            "99");
}

TEST(TemplateFunctions, GenerateIsRepeatable) {
  const Template t("{% set total = 0 %}{% for x in xs %}{% set total += x %}{% end %}{{ total }}");
  EXPECT_EQ(t.generate({{"xs", {1, 2}}}), "3");
  EXPECT_EQ(t.generate({{"xs", {5}}}), "5");
  EXPECT_THROW(t.generate(json::array()), TemplateError);
}

}  // namespace

// ---------------------------------------------------------------------------
// The command-line renderer

namespace {

struct CommandResult {
  int status;
  std::string output;  // stdout and stderr together
};

CommandResult run_command(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, ""};
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(TornadoTemplateTool, RendersAndReportsErrors) {
  const fs::path tool =
      fs::path(TORNADO_BINARY_DIR) / "tools" / "tornado-template" / "tornado-template";
  if (!fs::exists(tool)) GTEST_SKIP() << "tornado-template is not built";
  TempDir dir;
  dir.write("ok.html", "<b>{{ name }}</b>");
  dir.write("syntax.html", "\n{% if x %}");
  dir.write("eval.html", "\n\n{{ missing }}");
  dir.write("values.json", R"({"name": "<Ann>"})");
  const std::string base = tool.string() + " --path " + dir.path().string() + " ";
  const std::string json = " --json " + (dir.path() / "values.json").string();

  CommandResult ok = run_command(base + "ok.html" + json);
  EXPECT_EQ(ok.status, 0);
  EXPECT_EQ(ok.output, "<b>&lt;Ann&gt;</b>");

  CommandResult syntax = run_command(base + "syntax.html");
  EXPECT_EQ(syntax.status, 1);
  EXPECT_EQ(syntax.output, "syntax.html:2: expected {% end %} for {% if %} opened at line 2\n");

  CommandResult eval = run_command(base + "eval.html" + json);
  EXPECT_EQ(eval.status, 1);
  EXPECT_EQ(eval.output,
            "eval.html:3: NameError: name 'missing' is not defined in {{ missing }}\n");

  EXPECT_EQ(run_command(base + "../escape.html").status, 1);
  EXPECT_EQ(run_command(base).status, 2);
  EXPECT_EQ(run_command(base + "ok.html --bogus").status, 2);
  EXPECT_EQ(run_command(tool.string() + " --help").status, 0);
}

// ---------------------------------------------------------------------------
// Objects: application types through a Binding, datetimes, Object subclasses

struct Author {
  std::string name;
};
struct Entry {
  std::string title;
  std::chrono::system_clock::time_point published;
  Author author;
  std::vector<std::string> tags;
};

}  // namespace

template <>
struct tornado::template_::Binding<Entry> {
  static void bind(Class<Entry>& c) {
    c.name("Entry")
        .attribute("title", &Entry::title)
        .attribute("published", &Entry::published)
        .attribute("author", &Entry::author)
        .attribute("tags", &Entry::tags)
        .attribute("slug", [](const Entry& e) { return e.title + "-slug"; })
        .method("shout",
                [](const Entry& e, const Arguments& args) -> Value {
                  const Value* times = args.get(0, "times");
                  std::string out;
                  for (int i = 0; i < (times ? times->json()->get<int>() : 1); ++i)
                    out += e.title + "!";
                  return out;
                })
        .str([](const Entry& e) { return "Entry(" + e.title + ")"; });
  }
};
template <>
struct tornado::template_::Binding<Author> {
  static void bind(Class<Author>& c) { c.name("Author").attribute("name", &Author::name); }
};

namespace {

using tornado::template_::Namespace;

std::chrono::system_clock::time_point at(int y, unsigned m, unsigned d, int hh = 0, int mm = 0,
                                         int ss = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss};
}

// Written before objects existed: a template saw only JSON, so none of these
// could be expressed (render() took nlohmann::json).
TEST(TemplateObjects, BoundApplicationTypeNextToJson) {
  const Entry entry{"Hello <world>", at(2024, 3, 9, 14, 5, 7), {"Ann"}, {"a", "b"}};
  const Template t(
      "{{ entry.title }}|{{ entry.published.strftime('%Y-%m-%d') }}|{{ entry.author.name }}|"
      "{{ ', '.join(entry.tags) }}|{{ entry.slug }}|{{ entry.shout(times=2) }}|{{ entry }}|"
      "{{ count + 1 }}");
  EXPECT_EQ(t.generate({{"entry", entry}, {"count", 3}}),
            "Hello &lt;world&gt;|2024-03-09|Ann|a, b|Hello &lt;world&gt;-slug|"
            "Hello &lt;world&gt;!Hello &lt;world&gt;!|Entry(Hello &lt;world&gt;)|4");
}

TEST(TemplateObjects, ListsOfObjectsAndErrors) {
  std::vector<Entry> entries = {{"one", at(2020, 1, 1), {"A"}, {}},
                                {"two", at(2021, 1, 1), {"B"}, {}}};
  const Template t(
      "{% for e in entries %}{{ e.title }}/{{ e.published.year }} {% end %}"
      "{{ len(entries) }}");
  EXPECT_EQ(t.generate({{"entries", entries}}), "one/2020 two/2021 2");
  try {
    Template("{{ e.missing }}").generate({{"e", entries[0]}});
    FAIL() << "expected an AttributeError";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.error_type(), "AttributeError");
    EXPECT_EQ(e.reason(), "'Entry' object has no attribute 'missing'");
  }
  EXPECT_EQ(Template("{% try %}{{ e.missing }}{% except AttributeError %}none{% end %}")
                .generate({{"e", entries[0]}}),
            "none");
  EXPECT_THROW(Template("{{ e + 1 }}").generate({{"e", entries[0]}}), TemplateError);
  EXPECT_THROW(Template("{{ json_encode(e) }}").generate({{"e", entries[0]}}), TemplateError);
}

TEST(TemplateObjects, DateTimesAndDurations) {
  using namespace std::chrono;
  const auto t0 = at(2024, 2, 28, 23, 30) + microseconds(250);
  const Namespace ns{{"t", t0}, {"u", at(2024, 3, 1)}, {"d", hours(25) + seconds(3)}};
  const Case cases[] = {
      {"{{ t }}", "2024-02-28 23:30:00.000250"},
      {"{{ t.isoformat() }} {{ u.isoformat(' ') }}",
       "2024-02-28T23:30:00.000250 2024-03-01 00:00:00"},
      {"{{ t.strftime('%a %d %b %Y %H:%M:%S.%f %j %%') }}",
       "Wed 28 Feb 2024 23:30:00.000250 059 %"},
      {"{{ t < u }} {{ t > u }} {{ t == t }} {{ t != u }} {{ u >= t }}",
       "True False True True True"},
      {"{{ d }} {{ d.days }} {{ d.seconds }} {{ d.total_seconds() }}",
       "1 day, 1:00:03 1 3603 90003.0"},
      {"{{ (t + d).isoformat() }}", "2024-03-01T00:30:03.000250"},
      {"{{ u - t }}", "1 day, 0:29:59.999750"},
      {"{{ t - u }}", "-2 days, 23:30:00.000250"},
      {"{{ d * 2 }} {{ 2 * d }} {{ d / 3 }} {{ d - d }}",
       "2 days, 2:00:06 2 days, 2:00:06 8:20:01 0:00:00"},
      {"{{ u.year }}-{{ u.month }}-{{ u.day }} {{ u.weekday() }} {{ u.isoweekday() }}",
       "2024-3-1 4 5"},
      {"{% raw repr(u) %} {% raw repr(d) %}",
       "datetime.datetime(2024, 3, 1, 0, 0) datetime.timedelta(days=1, seconds=3603)"},
      {"{{ json_encode(u) }}", "&quot;2024-03-01T00:00:00&quot;"},
  };
  for (const Case& c : cases) EXPECT_EQ(Template(c.source).generate(ns), c.expected) << c.source;
  EXPECT_THROW(Template("{{ t < 3 }}").generate(ns), TemplateError);
}

// An Object subclass, as the handler and request bindings are written.
class Counter : public tornado::template_::Object {
 public:
  std::string type_name() const override { return "Counter"; }
  std::optional<Value> attribute(std::string_view name) const override {
    if (name == "limit") return Value(3);
    return std::nullopt;
  }
  std::optional<Value> item(const Value& key) const override {
    if (key.json() && key.json()->is_string())
      return Value("item " + key.json()->get<std::string>());
    return std::nullopt;
  }
  std::optional<std::vector<Value>> iterate() const override {
    return std::vector<Value>{Value(1), Value(2), Value(3)};
  }
  Value call(const tornado::template_::Arguments& args) const override {
    return Value("called with " + args.str(0, "word"));
  }
  std::optional<std::int64_t> length() const override { return 3; }
};

TEST(TemplateObjects, ObjectProtocol) {
  const Namespace ns{{"c", std::make_shared<const Counter>()}};
  EXPECT_EQ(
      Template("{{ c.limit }} {{ c['k'] }} {% for i in c %}{{ i }}{% end %} {{ c(word='x') }} "
               "{{ len(c) }} {{ 2 in c }} {{ [i * 2 for i in c] }}")
          .generate(ns),
      "3 item k 123 called with x 3 True [2, 4, 6]");
  EXPECT_THROW(Template("{{ c[1] }}").generate(ns), TemplateError);
  // A function taking Arguments receives objects as they are.
  const Functions functions = {{"title_of", [](const tornado::template_::Arguments& args) -> Value {
                                  const Entry* e = args.at(0).as<Entry>();
                                  return e ? Value(e->title) : Value();
                                }}};
  const Entry entry{"T", at(2020, 1, 1), {"A"}, {}};
  EXPECT_EQ(Template("{{ title_of(e) }}").generate({{"e", entry}}, functions), "T");
}

TEST(TemplateObjects, ModuleStatementReachesTheModulesObject) {
  class Modules : public tornado::template_::Object {
   public:
    std::string type_name() const override { return "_UIModuleNamespace"; }
    std::optional<Value> call_method(std::string_view name,
                                     const tornado::template_::Arguments& args) const override {
      if (name == "Box") return Value("<div>" + args.str(0) + "</div>");
      return std::nullopt;
    }
  };
  const Namespace ns{{"_tt_modules", std::make_shared<const Modules>()}};
  EXPECT_EQ(Template("{% module Box('<b>') %}").generate(ns), "<div><b></div>");
  EXPECT_THROW(Template("{% module Nope() %}").generate(ns), TemplateError);
}

// Tornado puts Python's datetime module in every template's namespace; the
// blog demo's feed uses it for an empty blog. Datetimes are naive UTC here.
TEST(TemplateObjects, ImportOfTheModulesTheEngineCarries) {
  // Tornado's websocket demo writes {% import tornado.escape %}; the output
  // is what Tornado 6.2 renders for the same template.
  EXPECT_EQ(Template("{% import tornado.escape %}"
                     "{{ tornado.escape.linkify(\"see http://a.example/ <i>\") }}|"
                     "{% raw tornado.escape.url_escape(\"a b\") %}|"
                     "{{ tornado.escape.squeeze(\"a   b\") }}")
                .generate(),
            "see &lt;a href=&quot;http://a.example/&quot;&gt;http://a.example/&lt;/a&gt; "
            "&amp;lt;i&amp;gt;|a+b|a b");
  EXPECT_EQ(Template("{% import datetime %}{{ repr(datetime.datetime) }}").generate(),
            "&lt;class &#39;datetime.datetime&#39;&gt;");
  EXPECT_THROW(Template("{{ tornado.escape.system(1) }}").generate(), TemplateError);
}

TEST(TemplateObjects, DatetimeModuleIsInTheNamespace) {
  auto seconds_now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const double before = seconds_now();
  const std::string now =
      Template(
          "{{ datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).timestamp() }} "
          "{{ datetime.datetime.utcnow().timestamp() }} {{ datetime.datetime.now().timestamp() }}")
          .generate();
  const double after = seconds_now();
  std::istringstream numbers(now);
  for (int i = 0; i < 3; ++i) {
    double t = 0;
    ASSERT_TRUE(numbers >> t) << now;
    EXPECT_GE(t, before - 1e-6) << now;
    EXPECT_LE(t, after + 1e-6) << now;
  }
  EXPECT_EQ(Template("{{ datetime.timezone.utc }} {{ repr(datetime.datetime) }}").generate(),
            "UTC &lt;class &#39;datetime.datetime&#39;&gt;");
  // Only what keeps a datetime naive UTC is there.
  EXPECT_THROW(Template("{{ datetime.datetime.utcnow().replace(year=1) }}").generate(),
               TemplateError);
  EXPECT_THROW(Template("{{ datetime.datetime.now(1) }}").generate(), TemplateError);
  // A value of the same name wins, as any namespace entry over a built-in.
  EXPECT_EQ(Template("{{ datetime }}").generate({{"datetime", "mine"}}), "mine");
}

}  // namespace
