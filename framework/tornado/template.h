// tornado::template_: Tornado's template language, mirroring tornado.template.
//
// (`template` is a C++ keyword, hence the trailing underscore.)
//
// A template is text with `{{ expression }}` substitutions and `{% statement %}`
// directives, exactly as in Tornado:
//
//   <ul>
//   {% for item in items %}
//     <li>{{ item.name }}{% if item.price > 10 %} (expensive){% end %}</li>
//   {% end %}
//   </ul>
//
// Expressions are a safe subset of Python evaluated over nlohmann::json values:
// names, `a.b`, `a[0]`, `d["k"]`, literals, comparisons, `and`/`or`/`not`,
// `in`, arithmetic, `x if c else y`, list comprehensions and calls of built-in
// or registered functions. Nothing can reach the file system or the process.
// Every `{{ }}` is HTML-escaped unless `{% raw %}` or `{% autoescape None %}`.
// The output is the same, byte for byte, as Tornado's for the same template
// and values; docs/template.md lists the syntax with both calls side by side.
//
// A template is compiled once (at construction) into a tree; `generate` only
// walks it, and may be called from several threads at once.
//
//   tornado::template_::Template t("<b>{{ name }}</b>");
//   t.generate({{"name", "<Tom>"}});                        // "<b>&lt;Tom&gt;</b>"
//
//   tornado::template_::Loader loader("templates");          // caches compiled files
//   auto page = loader.load("index.html");
//   std::string html = page->generate({{"title", "Home"}},
//       {{"static_url", [](const std::vector<nlohmann::json>& a) {
//          return nlohmann::json("/static/" + a.at(0).get<std::string>()); }}});
#pragma once

#include <nlohmann/json.hpp>

#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tornado::detail {
struct CompiledTemplate;
struct LoaderState;
struct LoaderAccess;
}  // namespace tornado::detail

namespace tornado::template_ {

/// A function callable from templates. Positional arguments arrive in order;
/// keyword arguments (`f(x, plus=False)`) arrive as one trailing JSON object.
using Function = std::function<nlohmann::json(const std::vector<nlohmann::json>& args)>;

/// Functions by name: application helpers (the Loader's), per-request helpers
/// (static_url, reverse_url, xsrf_form_html) and UI modules for
/// `{% module Name(args) %}`, whose string result is inserted unescaped.
using Functions = std::map<std::string, Function, std::less<>>;

/// An error while rendering: unknown name, bad index, bad call... what()
/// reads "file:line: reason in {{ expression }}".
class TemplateError : public std::runtime_error {
 public:
  /// An error at `filename`:`line`; `error_type` names the Python exception Tornado would raise.
  TemplateError(std::string filename, int line, std::string reason, std::string source = {},
                std::string error_type = "TemplateError", std::exception_ptr cause = nullptr);

  /// The template's name as the Loader knows it ("<string>" for strings).
  const std::string& filename() const noexcept { return filename_; }
  /// 1-based line of the directive; 0 when not tied to a line.
  int line() const noexcept { return line_; }
  /// What went wrong, without the location.
  const std::string& reason() const noexcept { return reason_; }
  /// The directive as written, e.g. "{{ user.name }}"; may be empty.
  const std::string& source() const noexcept { return source_; }
  /// The Python exception class Tornado would raise (KeyError, NameError...).
  const std::string& error_type() const noexcept { return error_type_; }
  /// The exception a registered function threw, if that was the cause.
  std::exception_ptr cause() const noexcept { return cause_; }

 private:
  std::string filename_;
  int line_;
  std::string reason_;
  std::string source_;
  std::string error_type_;
  std::exception_ptr cause_;
};

/// A syntax error, raised when a template is compiled; what() reads e.g.
/// "index.html:12: expected {% end %} for {% if %} opened at line 3".
class ParseError : public TemplateError {
 public:
  /// A syntax error at `filename`:`line`.
  ParseError(std::string filename, int line, std::string reason)
      : TemplateError(std::move(filename), line, std::move(reason), {}, "ParseError") {}
};

/// Options of a Template, as Tornado's Template keyword arguments.
struct TemplateOptions {
  /// Function applied to every `{{ }}`: "xhtml_escape" (the default when no
  /// loader), another function name, or "" / "None" for no escaping. Unset:
  /// the loader's setting.
  std::optional<std::string> autoescape;
  /// "all", "single" or "oneline". Unset: the loader's, else "single" for
  /// .html and .js files and "all" for others.
  std::optional<std::string> whitespace;
};

/// Options of a Loader, as Tornado's Loader keyword arguments.
struct LoaderOptions {
  /// Default autoescape function for the templates it loads ("" for none).
  std::string autoescape = "xhtml_escape";
  /// Default whitespace mode; unset: by file name, as TemplateOptions.
  std::optional<std::string> whitespace;
  /// Functions every template loaded here can call (Tornado's `namespace`).
  Functions functions;
  /// Recompile a template when its file, or a file it extends or includes,
  /// changed on disk (Tornado's debug / compiled_template_cache=False).
  bool debug = false;
};

class Loader;

/// A compiled template.
class Template {
 public:
  /// Compiles `source`; `name` is used in error messages and to resolve
  /// relative `{% extends %}` / `{% include %}` names through `loader`.
  /// Throws ParseError on a syntax error.
  explicit Template(std::string source, std::string name = "<string>",
                    const Loader* loader = nullptr, TemplateOptions options = {});
  ~Template();
  /// Moves the compiled template.
  Template(Template&&) noexcept;
  /// Replaces this template with `other`'s compiled one.
  Template& operator=(Template&&) noexcept;

  /// Renders the template with `values` (a JSON object) as its namespace and
  /// `functions` as callable helpers. Throws TemplateError.
  std::string generate(const nlohmann::json& values = nlohmann::json::object(),
                       const Functions& functions = {}) const;
  /// As generate(), appending to `out`.
  void generate_to(std::string& out, const nlohmann::json& values,
                   const Functions& functions = {}) const;

  /// The name given to the constructor.
  const std::string& name() const noexcept;

 private:
  friend struct detail::CompiledTemplate;
  std::unique_ptr<detail::CompiledTemplate> impl_;
};

/// Loads templates from a root directory and caches them compiled. Safe to
/// share between threads. Names are relative to the root; a name that would
/// leave it ("..", an absolute path, a symlink pointing out, a NUL byte) is
/// refused with a TemplateError.
class Loader {
 public:
  /// Loads templates from under `root` (Tornado's `Loader(root_directory, ...)`).
  explicit Loader(std::filesystem::path root, LoaderOptions options = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// Returns the compiled template `name`, compiling it on first use.
  /// `parent_path` is the name of the template that refers to it, against
  /// which a relative name is resolved. Throws ParseError or TemplateError.
  std::shared_ptr<const Template> load(std::string_view name,
                                       std::string_view parent_path = "") const;
  /// Resolves `name` relative to `parent_path` into a name under the root.
  /// Throws TemplateError if it would leave the root.
  std::string resolve_path(std::string_view name, std::string_view parent_path = "") const;
  /// Forgets every compiled template.
  void reset();
  /// The files of every template compiled so far, with those they extend or
  /// include (what autoreload watches).
  std::vector<std::filesystem::path> loaded_files() const;

  /// The root directory.
  const std::filesystem::path& root() const noexcept;
  /// The options every template loaded here gets.
  const LoaderOptions& options() const noexcept;

 private:
  friend struct detail::LoaderAccess;
  std::unique_ptr<detail::LoaderState> state_;
};

}  // namespace tornado::template_
