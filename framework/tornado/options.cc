#include "tornado/options.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "tornado/detail/ascii.h"
#include "tornado/log.h"

namespace tornado::options {
namespace {

constexpr char fold(char c) noexcept {
  return c == '_' ? '-' : c;
}

std::string normalize_name(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// Shows a value the user typed, shortened so an error stays one line.
std::string quote(std::string_view text) {
  std::string shown(text.substr(0, 60));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  if (text.size() > 60) shown += "...";
  return fmt::format("'{}'", shown);
}

template <class Int>
Int parse_integer(std::string_view text, std::string_view what) {
  std::string_view digits = trim(text);
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  Int value{};
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    throw OptionError(fmt::format("{} is out of range for {}", quote(text), what));
  }
  if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty()) {
    throw OptionError(fmt::format("{} is not an integer", quote(text)));
  }
  return value;
}

bool parse_bool(std::string_view text) {
  std::string word = tornado::detail::ascii_lower(trim(text));
  if (word == "true" || word == "t" || word == "1" || word == "yes" || word == "y" ||
      word == "on") {
    return true;
  }
  if (word == "false" || word == "f" || word == "0" || word == "no" || word == "n" ||
      word == "off") {
    return false;
  }
  throw OptionError(fmt::format("{} is not a boolean (true or false)", quote(text)));
}

double parse_double(std::string_view text) {
  std::string_view digits = trim(text);
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty() ||
      !std::isfinite(value)) {
    throw OptionError(fmt::format("{} is not a number", quote(text)));
  }
  return value;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    items.emplace_back(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return items;
}

// Parses `text` as a value of the same type as `like`.
Value parse_as(const Value& like, std::string_view text) {
  return std::visit(
      [&](const auto& current) -> Value {
        using T = std::decay_t<decltype(current)>;
        if constexpr (std::is_same_v<T, bool>) {
          return parse_bool(text);
        } else if constexpr (std::is_same_v<T, int>) {
          return parse_integer<int>(text, "an integer");
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return parse_integer<std::int64_t>(text, "a 64-bit integer");
        } else if constexpr (std::is_same_v<T, double>) {
          return parse_double(text);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return std::string(text);
        } else {
          return split_list(text);
        }
      },
      like);
}

std::string format_value(const Value& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          return fmt::format("{}", fmt::join(v, ","));
        } else {
          return fmt::format("{}", v);
        }
      },
      value);
}

std::vector<std::string> wrap(std::string_view text, std::size_t width) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size()) break;
    std::size_t end = text.find(' ', pos);
    std::string_view word = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? text.size() : end;
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(std::move(line));
      line.clear();
    }
    if (!line.empty()) line.push_back(' ');
    line.append(word);
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

// Reads a Python-style string literal starting at text[pos] (a quote);
// advances pos past the closing quote.
std::string read_string_literal(std::string_view text, std::size_t& pos) {
  char quote_char = text[pos++];
  std::string out;
  while (pos < text.size() && text[pos] != quote_char) {
    char c = text[pos++];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (pos >= text.size()) break;
    char escaped = text[pos++];
    switch (escaped) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case '0':
        out.push_back('\0');
        break;
      case '\\':
      case '\'':
      case '"':
        out.push_back(escaped);
        break;
      default:
        // Python keeps unknown escapes as they are.
        out.push_back('\\');
        out.push_back(escaped);
    }
  }
  if (pos >= text.size()) throw OptionError("unterminated string");
  ++pos;
  return out;
}

// What follows a value on a config line: whitespace and perhaps a comment.
void expect_line_end(std::string_view text, std::size_t pos) {
  std::string_view rest = trim(text.substr(pos));
  if (!rest.empty() && rest.front() != '#') {
    throw OptionError(fmt::format("unexpected text after the value: {}", quote(rest)));
  }
}

}  // namespace

bool detail::NameLess::operator()(std::string_view a, std::string_view b) const noexcept {
  std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    char x = fold(a[i]);
    char y = fold(b[i]);
    if (x != y) return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
  }
  return a.size() < b.size();
}

std::string_view Option::type_name() const noexcept {
  switch (value.index()) {
    case 0:
      return "bool";
    case 1:
      return "int";
    case 2:
      return "int64";
    case 3:
      return "float";
    case 4:
      return "string";
    default:
      return "list";
  }
}

OptionParser::OptionParser() {
  define_value("help", false, "show this help information", "", "", [](const Value& value) {
    if (std::get<bool>(value)) throw HelpRequested();
  });
}

void OptionParser::define_value(std::string_view name, Value default_value, std::string_view help,
                                std::string_view group, std::string_view metavar,
                                std::function<void(const Value&)> callback) {
  if (name.empty() || name.front() == '-' || name.find('=') != std::string_view::npos) {
    throw OptionError(fmt::format("invalid option name {}", quote(name)));
  }
  if (options_.find(name) != options_.end()) {
    throw OptionError(fmt::format("option --{} already defined", normalize_name(name)));
  }
  Option option;
  option.name = normalize_name(name);
  option.help = help;
  option.group = group;
  option.metavar = metavar;
  option.value = default_value;
  option.default_value = std::move(default_value);
  option.callback = std::move(callback);
  std::string key = option.name;
  options_.emplace(std::move(key), std::move(option));
}

bool OptionParser::contains(std::string_view name) const {
  return options_.find(name) != options_.end();
}

const Option& OptionParser::option(std::string_view name) const {
  auto it = options_.find(name);
  if (it == options_.end()) {
    throw OptionError(fmt::format("unrecognized option {}", quote("--" + normalize_name(name))));
  }
  return it->second;
}

Option& OptionParser::mutable_option(std::string_view name) {
  auto it = options_.find(name);
  if (it == options_.end()) option(name);  // throws the unrecognized-option error
  return it->second;
}

void OptionParser::throw_wrong_type(const Option& option, const Value& wanted) {
  Option probe;
  probe.value = wanted;
  throw OptionError(fmt::format("option --{} is of type {}, not {}", option.name,
                                option.type_name(), probe.type_name()));
}

void OptionParser::set_value(std::string_view name, Value value) {
  Option& opt = mutable_option(name);
  if (opt.value.index() != value.index()) throw_wrong_type(opt, value);
  opt.value = std::move(value);
}

std::vector<std::string> OptionParser::group_names(std::string_view group) const {
  std::vector<std::string> names;
  for (const auto& [name, opt] : options_) {
    if (opt.group == group) names.push_back(name);
  }
  return names;
}

void OptionParser::parse_value(std::string_view name, std::string_view text) {
  Option& opt = mutable_option(name);
  try {
    Value value = parse_as(opt.value, text);
    if (opt.callback) opt.callback(value);
    opt.value = std::move(value);
  } catch (const OptionError& e) {
    throw OptionError(fmt::format("--{}: {}", opt.name, e.what()));
  }
}

std::vector<std::string> OptionParser::parse_command_line(int argc, const char* const* argv,
                                                          bool final) {
  std::vector<std::string> args;
  args.reserve(static_cast<std::size_t>(std::max(argc, 0)));
  for (int i = 0; i < argc; ++i) args.emplace_back(argv[i] != nullptr ? argv[i] : "");
  return parse_command_line(args, final);
}

std::vector<std::string> OptionParser::parse_command_line(const std::vector<std::string>& args,
                                                          bool final) {
  if (!args.empty()) {
    std::string_view program = args[0];
    std::size_t slash = program.rfind('/');
    program_ = program.substr(slash == std::string_view::npos ? 0 : slash + 1);
  }
  std::vector<std::string> remaining;
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string_view arg = args[i];
    // Everything from the first non-option argument on is positional.
    if (!arg.starts_with("-")) {
      remaining.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (arg == "--") {
      remaining.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    std::string_view body = arg.substr(arg.find_first_not_of('-') == std::string_view::npos
                                           ? arg.size()
                                           : arg.find_first_not_of('-'));
    std::size_t eq = body.find('=');
    std::string_view name = body.substr(0, eq);
    auto it = options_.find(name);
    if (it == options_.end()) {
      throw OptionError(
          fmt::format("unrecognized option {} (see --help)", quote("--" + normalize_name(name))));
    }
    Option& opt = it->second;
    if (eq != std::string_view::npos) {
      parse_value(opt.name, body.substr(eq + 1));
    } else if (std::holds_alternative<bool>(opt.value)) {
      parse_value(opt.name, "true");
    } else if (i + 1 < args.size()) {
      // `--port 8888`: the next argument is the value, whatever it looks like.
      parse_value(opt.name, args[++i]);
    } else {
      throw OptionError(fmt::format("--{}: option requires a value", opt.name));
    }
  }
  if (final) run_parse_callbacks();
  return remaining;
}

void OptionParser::parse_config_file(const std::filesystem::path& path, bool final) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw OptionError(fmt::format("cannot read config file {}", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  parse_config_text(text.str(), path.string(), final);
}

void OptionParser::parse_config_text(std::string_view text, std::string_view source, bool final) {
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    ++line_number;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto fail = [&](std::string_view message) -> OptionError {
      return OptionError(fmt::format("{}:{}: {}", source, line_number, message));
    };
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) throw fail("expected 'name = value'");
    std::string_view name = trim(line.substr(0, eq));
    std::string_view raw = trim(line.substr(eq + 1));
    auto it = options_.find(name);
    if (it == options_.end()) throw fail(fmt::format("unknown option {}", quote(name)));
    Option& opt = it->second;
    try {
      std::string value_text;
      if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
        std::size_t pos = 0;
        value_text = read_string_literal(raw, pos);
        expect_line_end(raw, pos);
      } else if (!raw.empty() && raw.front() == '[') {
        if (!opt.multiple()) throw OptionError("a list is only allowed for a multiple option");
        std::vector<std::string> items;
        std::size_t pos = 1;
        while (true) {
          while (pos < raw.size() && (raw[pos] == ' ' || raw[pos] == '\t')) ++pos;
          if (pos >= raw.size()) throw OptionError("unterminated list");
          if (raw[pos] == ']') {
            ++pos;
            break;
          }
          if (raw[pos] == '"' || raw[pos] == '\'') {
            items.push_back(read_string_literal(raw, pos));
          } else {
            std::size_t item_end = raw.find_first_of(",]", pos);
            if (item_end == std::string_view::npos) throw OptionError("unterminated list");
            items.emplace_back(trim(raw.substr(pos, item_end - pos)));
            pos = item_end;
          }
          while (pos < raw.size() && (raw[pos] == ' ' || raw[pos] == '\t')) ++pos;
          if (pos < raw.size() && raw[pos] == ',') ++pos;
        }
        expect_line_end(raw, pos);
        if (opt.callback) opt.callback(items);
        opt.value = std::move(items);
        continue;
      } else {
        std::size_t comment = raw.find('#');
        value_text = trim(raw.substr(0, comment));
      }
      Value value = parse_as(opt.value, value_text);
      if (opt.callback) opt.callback(value);
      opt.value = std::move(value);
    } catch (const OptionError& e) {
      throw fail(fmt::format("{}: {}", opt.name, e.what()));
    }
  }
  if (final) run_parse_callbacks();
}

std::string OptionParser::help_text(std::string_view program) const {
  if (program.empty()) program = program_.empty() ? std::string_view("program") : program_;
  std::string out = fmt::format("Usage: {} [OPTIONS]\n\nOptions:\n\n", program);
  std::map<std::string_view, std::vector<const Option*>> by_group;
  for (const auto& [name, opt] : options_) by_group[opt.group].push_back(&opt);
  for (const auto& [group, list] : by_group) {
    if (!group.empty()) out += fmt::format("\n{} options:\n\n", group);
    for (const Option* opt : list) {
      std::string prefix = opt->name;
      if (!opt->metavar.empty()) prefix += "=" + opt->metavar;
      std::string description = opt->help;
      std::string shown = format_value(opt->default_value);
      if (!shown.empty()) {
        if (!description.empty()) description += ' ';
        description += fmt::format("(default {})", shown);
      }
      std::vector<std::string> lines = wrap(description, 44);
      if (prefix.size() > 30 || lines.empty()) lines.insert(lines.begin(), "");
      std::string first = fmt::format("  --{:<30} {}", prefix, lines[0]);
      while (first.back() == ' ') first.pop_back();
      out += first + '\n';
      for (std::size_t i = 1; i < lines.size(); ++i)
        out += fmt::format("{:<34} {}\n", "", lines[i]);
    }
  }
  return out;
}

void OptionParser::print_help(std::FILE* out) const {
  std::string text = help_text();
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

void OptionParser::add_parse_callback(std::function<void()> callback) {
  parse_callbacks_.push_back(std::move(callback));
}

void OptionParser::run_parse_callbacks() {
  for (const auto& callback : parse_callbacks_) callback();
}

void define_logging_options(OptionParser& parser) {
  parser.define<std::string>(
      "logging", "info",
      "Set the log level. If 'none', tornado won't touch the logging configuration.", "",
      "debug|info|warning|error|none", [](const std::string& value) {
        auto level = log::parse_level(value);
        if (!level) {
          throw OptionError(
              fmt::format("{} is not one of debug, info, warning, error, none", quote(value)));
        }
        log::set_level(*level);
      });
}

OptionParser& options() {
  // Process-wide configuration, written once at start-up (see the header).
  static OptionParser parser = [] {
    OptionParser p;
    define_logging_options(p);
    return p;
  }();
  return parser;
}

namespace {
template <class Fn>
auto exit_on_error(Fn&& fn) {
  try {
    return fn();
  } catch (const HelpRequested&) {
    options().print_help(stdout);
    std::exit(0);
  } catch (const OptionError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    std::exit(2);
  }
}
}  // namespace

std::vector<std::string> parse_command_line(int argc, const char* const* argv, bool final) {
  return exit_on_error([&] { return options().parse_command_line(argc, argv, final); });
}

void parse_config_file(const std::filesystem::path& path, bool final) {
  exit_on_error([&] { options().parse_config_file(path, final); });
}

void print_help(std::FILE* out) {
  options().print_help(out);
}

void add_parse_callback(std::function<void()> callback) {
  options().add_parse_callback(std::move(callback));
}

}  // namespace tornado::options
