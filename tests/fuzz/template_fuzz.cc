// Fuzz target for the template compiler and renderer: any input is compiled
// as a template and, if it compiles, rendered with a small namespace. Syntax
// and evaluation errors are expected; crashes, hangs, leaks and undefined
// behaviour are not. A work budget stops templates such as
// `{% while True %}` so that every input terminates, and a small
// max_value_size keeps `s * 4000 * 4000` and its kin from building gigabytes
// (the setting itself is tested in template_test's TemplateLimits).
#include <cstddef>
#include <cstdint>
#include <string>

#include "tornado/detail/template/expr.h"
#include "tornado/template.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nlohmann::json values = {
      {"xs", {1, 2, 3}},
      {"d", {{"a", 1}, {"b", "<b>"}, {"c", {true, nullptr, 2.5}}}},
      {"s", "str & \"quotes\""},
      {"n", 5},
      {"f", 1.5},
      {"none", nullptr},
      {"t", true},
      {"rows", {{{"id", 1}, {"name", "x"}}, {{"id", 2}, {"name", "y"}}}}};
  static const tornado::template_::Functions functions = {
      {"echo", [](const std::vector<nlohmann::json>& args) {
         return args.empty() ? nlohmann::json() : args[0];
       }}};
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    tornado::template_::TemplateOptions options;
    options.max_value_size = 1 << 20;
    const tornado::template_::Template compiled(source, "fuzz.html", nullptr, options);
    tornado::detail::set_render_budget(20000);
    std::string out;
    compiled.generate_to(out, values, functions);
  } catch (const tornado::template_::TemplateError&) {
    // Syntax and evaluation errors are the expected outcome for most inputs.
  }
  tornado::detail::set_render_budget(0);
  return 0;
}
