// tornado::options: a global registry of command-line and config-file
// options, mirroring tornado.options.
//
// Every module may `define` the options it needs; `main` parses the command
// line (and perhaps a config file) once, and code reads the values by name.
// Option names treat '-' and '_' alike: `--max-body-size` and `max_body_size`
// are the same option.
//
//   tornado::options::define("port", 8888, "run on the given port");
//   tornado::options::define("address", "127.0.0.1", "bind to this address");
//   tornado::options::define("debug", false, "debug mode", "application");
//
//   int main(int argc, char** argv) {
//     auto rest = tornado::options::parse_command_line(argc, argv);  // --port=9000 or --port 9000
//     int port = tornado::options::get<int>("port");
//   }
//
// Command line: `--name=value` and `--name value` both work; a bool option
// alone (`--debug`) means true, `--debug=false` turns it off; parsing stops
// at the first argument that does not start with '-' (or after `--`), and
// the rest is returned. `--help` prints every option with its help text and
// default, grouped, and exits 0. An unknown option or a bad value prints one
// line to stderr (`error: --port: 'abc' is not an integer`) and exits 2.
//
// Config file (`parse_config_file`): one `name = value` per line; blank
// lines and lines starting with '#' are ignored, as is a `#` comment after an
// unquoted value. A value may be written bare (`port = 8000`,
// `address = 0.0.0.0`, `debug = True`) or as a Python-style string literal in
// single or double quotes with backslash escapes (`\n \t \\ \' \"`); a
// multiple option takes a bracketed list (`hosts = ["a", "b"]`) or a
// comma-separated bare value. Unlike Tornado's config files (Python code),
// an unknown name is an error, so a misspelt option cannot pass unnoticed.
//
// Types: bool, int, int64_t, double, std::string and std::vector<std::string>
// (a "multiple" option: comma-separated on the command line).
//
// Threads: the default parser is process-wide configuration. Define and
// parse options once at start-up, before any IOLoop thread starts; after that
// it is read-only, and reading it from several threads is safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace tornado::options {

/// A bad definition, an unknown option or a value that does not parse.
/// The message is one line, without a leading "error: ".
class OptionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown by OptionParser::parse_command_line when `--help` is given; the
/// exiting `parse_command_line` prints the help and exits 0 instead.
class HelpRequested : public std::exception {
 public:
  /// Always "help requested".
  const char* what() const noexcept override { return "help requested"; }
};

/// An option's value: one of the supported types.
using Value = std::variant<bool, int, std::int64_t, double, std::string, std::vector<std::string>>;

namespace detail {
// Maps a default value's type to the stored option type.
template <class T>
struct stored_type {
  using type = void;
};
template <>
struct stored_type<bool> {
  using type = bool;
};
template <>
struct stored_type<int> {
  using type = int;
};
template <>
struct stored_type<std::int64_t> {
  using type = std::int64_t;
};
template <>
struct stored_type<double> {
  using type = double;
};
template <>
struct stored_type<std::string> {
  using type = std::string;
};
template <>
struct stored_type<std::string_view> {
  using type = std::string;
};
template <>
struct stored_type<const char*> {
  using type = std::string;
};
template <>
struct stored_type<char*> {
  using type = std::string;
};
template <>
struct stored_type<std::vector<std::string>> {
  using type = std::vector<std::string>;
};
template <class T>
using stored_type_t = typename stored_type<std::decay_t<T>>::type;

// Compares option names with '-' and '_' equal, without allocating.
struct NameLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept;
};
}  // namespace detail

/// One defined option.
struct Option {
  std::string name;     ///< normalized: '_' written as '-'
  std::string help;     ///< one-line description for --help
  std::string group;    ///< heading in --help ("" for the general options)
  std::string metavar;  ///< placeholder shown in --help ("PORT" in --port=PORT)
  /// The value before any parsing.
  Value default_value;
  /// The current value.
  Value value;
  /// Called with the new value whenever the option is set by parsing (not
  /// by `set`); may throw OptionError to refuse the value.
  std::function<void(const Value&)> callback;

  /// "bool", "int", "int64", "float", "string" or "list".
  std::string_view type_name() const noexcept;
  /// True for a list option (comma-separated on the command line).
  bool multiple() const noexcept { return std::holds_alternative<std::vector<std::string>>(value); }
};

/// A collection of options, as Tornado's `OptionParser`. The free functions
/// below use one process-wide instance; tests make their own.
class OptionParser {
 public:
  /// Defines the built-in `help` option.
  OptionParser();

  /// Defines an option. T is bool, int, int64_t, double, std::string (a
  /// string literal default makes a string option) or
  /// std::vector<std::string> (a multiple option). Throws OptionError if the
  /// name is already defined.
  template <class T>
  void define(std::string_view name, T default_value, std::string_view help = {},
              std::string_view group = {}, std::string_view metavar = {}) {
    using Stored = detail::stored_type_t<T>;
    static_assert(!std::is_void_v<Stored>,
                  "option type must be bool, int, int64_t, double, std::string or "
                  "std::vector<std::string>");
    define_value(name, Value(std::in_place_type<Stored>, Stored(std::move(default_value))), help,
                 group, metavar, {});
  }

  /// Defines an option whose `callback` runs with each value parsed for it
  /// (as Tornado's `define(..., callback=)`); it may throw OptionError.
  template <class T, class Callback>
  void define(std::string_view name, T default_value, std::string_view help, std::string_view group,
              std::string_view metavar, Callback callback) {
    using Stored = detail::stored_type_t<T>;
    static_assert(!std::is_void_v<Stored>, "unsupported option type");
    define_value(name, Value(std::in_place_type<Stored>, Stored(std::move(default_value))), help,
                 group, metavar, [callback = std::move(callback)](const Value& v) {
                   callback(std::get<Stored>(v));
                 });
  }

  /// Defines an option from a ready Value (the type is the Value's).
  void define_value(std::string_view name, Value default_value, std::string_view help,
                    std::string_view group, std::string_view metavar,
                    std::function<void(const Value&)> callback);

  /// The value of `name`; throws OptionError for an unknown name or if T is
  /// not the option's type.
  template <class T>
  const T& get(std::string_view name) const {
    const Option& opt = option(name);
    if (const T* v = std::get_if<T>(&opt.value)) return *v;
    throw_wrong_type(opt, Value(std::in_place_type<T>));
  }

  /// Sets `name` to `value` (Tornado's `options.name = value`); throws
  /// OptionError for an unknown name or a value of another type. A string
  /// literal sets a string option.
  template <class T>
  void set(std::string_view name, T value) {
    using Stored = detail::stored_type_t<T>;
    static_assert(!std::is_void_v<Stored>, "unsupported option type");
    set_value(name, Value(std::in_place_type<Stored>, Stored(std::move(value))));
  }
  /// `set` with the value already wrapped; throws OptionError on a type mismatch.
  void set_value(std::string_view name, Value value);

  /// True if `name` is defined.
  bool contains(std::string_view name) const;
  /// The definition of `name`; throws OptionError if unknown.
  const Option& option(std::string_view name) const;
  /// Every option, ordered by name.
  const std::map<std::string, Option, detail::NameLess>& all() const noexcept { return options_; }
  /// The names of the options in `group` (Tornado's `group_dict` keys).
  std::vector<std::string> group_names(std::string_view group) const;

  /// Parses `--name=value` / `--name value` arguments (argv[0] is the
  /// program) and returns the arguments left after the options. Throws
  /// OptionError on an unknown option or a bad value, HelpRequested on
  /// `--help`. Runs the parse callbacks if `final`.
  std::vector<std::string> parse_command_line(int argc, const char* const* argv, bool final = true);
  /// The same for arguments already split (args[0] is the program).
  std::vector<std::string> parse_command_line(const std::vector<std::string>& args,
                                              bool final = true);

  /// Reads `name = value` lines from a config file (format in the header
  /// comment). Throws OptionError, with file and line, on an unknown name, a
  /// bad value or a malformed line. Runs the parse callbacks if `final`.
  void parse_config_file(const std::filesystem::path& path, bool final = true);
  /// The same, from text already read; `source` names it in errors.
  void parse_config_text(std::string_view text, std::string_view source = "<config>",
                         bool final = true);

  /// Parses `text` as the value of option `name` and sets it, running the
  /// option's callback; throws OptionError ("--port: 'abc' is not an integer").
  void parse_value(std::string_view name, std::string_view text);

  /// The --help text: usage line, then each group's options with their help
  /// and default.
  std::string help_text(std::string_view program = "") const;
  /// Prints `help_text` to `out` (stdout by default).
  void print_help(std::FILE* out = stdout) const;

  /// Adds a function run after a `final` parse (Tornado's add_parse_callback).
  void add_parse_callback(std::function<void()> callback);
  /// Runs the parse callbacks in the order they were added.
  void run_parse_callbacks();

 private:
  Option& mutable_option(std::string_view name);
  [[noreturn]] static void throw_wrong_type(const Option& option, const Value& wanted);

  std::map<std::string, Option, detail::NameLess> options_;
  std::vector<std::function<void()>> parse_callbacks_;
  std::string program_;
};

/// Defines `--logging=debug|info|warning|error|none` (default info) on
/// `parser`: parsing it sets tornado::log's level, as Tornado's
/// `define_logging_options`. The default parser has it already.
void define_logging_options(OptionParser& parser);

/// The process-wide parser (Tornado's `tornado.options.options`), created on
/// first use with `help` and `logging` defined.
OptionParser& options();

/// Defines an option on the process-wide parser; see OptionParser::define.
template <class T>
void define(std::string_view name, T default_value, std::string_view help = {},
            std::string_view group = {}, std::string_view metavar = {}) {
  options().define(name, std::move(default_value), help, group, metavar);
}

/// The value of an option of the process-wide parser.
template <class T>
const T& get(std::string_view name) {
  return options().get<T>(name);
}

/// Parses the command line into the process-wide parser and returns the
/// remaining arguments. `--help` prints the help and exits 0; an error
/// prints `error: <message>` to stderr and exits 2.
std::vector<std::string> parse_command_line(int argc, const char* const* argv, bool final = true);
/// Reads a config file into the process-wide parser; an error prints one
/// line to stderr and exits 2.
void parse_config_file(const std::filesystem::path& path, bool final = true);
/// Prints the process-wide parser's help to `out`.
void print_help(std::FILE* out = stdout);
/// Adds a parse callback to the process-wide parser.
void add_parse_callback(std::function<void()> callback);

}  // namespace tornado::options
