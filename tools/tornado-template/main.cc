// tornado-template: renders one template with a JSON object as its namespace.
//
//   tornado-template --path templates index.html --json values.json
//
// Prints the rendered text on stdout. A syntax or evaluation error prints
// "file:line: reason" on stderr and exits 1; bad usage exits 2.
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "tornado/template.h"

namespace {

constexpr std::string_view kUsage =
    "usage: tornado-template [--path DIR] NAME [--json FILE]\n"
    "\n"
    "Renders the template NAME found under DIR (default: the current directory)\n"
    "with the JSON object in FILE (default: none) as its namespace.\n"
    "\n"
    "  --path DIR          template root; NAME cannot leave it\n"
    "  --json FILE         values for the template, a JSON object ('-' for stdin)\n"
    "  --autoescape NAME   escaping function, or None (default xhtml_escape)\n"
    "  --whitespace MODE   all, single or oneline (default: by file extension)\n"
    "  --help              show this help\n";

int usage_error(const std::string& message) {
  std::cerr << "tornado-template: " << message << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = ".";
  std::optional<std::string> name, json_file;
  tornado::template_::LoaderOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::optional<std::string> inline_value;
    if (arg.starts_with("--") && arg.find('=') != std::string_view::npos) {
      inline_value = std::string(arg.substr(arg.find('=') + 1));
      arg = arg.substr(0, arg.find('='));
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--path" || arg == "--json" || arg == "--autoescape" || arg == "--whitespace") {
      const auto v = value();
      if (!v) return usage_error(std::string(arg) + " needs a value");
      if (arg == "--path") path = *v;
      if (arg == "--json") json_file = *v;
      if (arg == "--autoescape") options.autoescape = *v == "None" ? "" : *v;
      if (arg == "--whitespace") {
        if (*v != "all" && *v != "single" && *v != "oneline") {
          return usage_error("--whitespace must be all, single or oneline");
        }
        options.whitespace = *v;
      }
      continue;
    }
    if (arg.starts_with("-") && arg != "-")
      return usage_error("unknown option " + std::string(arg));
    if (name) return usage_error("only one template NAME may be given");
    name = std::string(arg);
  }
  if (!name) return usage_error("missing template NAME");

  nlohmann::json values = nlohmann::json::object();
  if (json_file) {
    std::ostringstream text;
    if (*json_file == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(*json_file, std::ios::binary);
      if (!in) {
        std::cerr << *json_file << ": cannot open\n";
        return 1;
      }
      text << in.rdbuf();
    }
    try {
      values = nlohmann::json::parse(text.str());
    } catch (const nlohmann::json::parse_error& e) {
      std::cerr << *json_file << ": invalid JSON: " << e.what() << "\n";
      return 1;
    }
    if (!values.is_object()) {
      std::cerr << *json_file << ": the values must be a JSON object\n";
      return 1;
    }
  }

  try {
    tornado::template_::Loader loader(path, options);
    std::cout << loader.load(*name)->generate(values);
    std::cout.flush();
  } catch (const tornado::template_::TemplateError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return std::cout ? 0 : 1;
}
