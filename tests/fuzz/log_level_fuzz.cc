// Fuzz target for tornado::log::parse_level, the parser behind --logging.
//
// Whatever bytes arrive, parse_level accepts exactly the five level names and
// nothing else, and what it accepts round-trips through level_name.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tornado/log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto level = tornado::log::parse_level(input);
  bool known = input == "debug" || input == "info" || input == "warning" || input == "error" ||
               input == "none";
  if (level.has_value() != known) __builtin_trap();
  if (level) {
    if (tornado::log::level_name(*level) != input) __builtin_trap();
    if (tornado::log::parse_level(tornado::log::level_name(*level)) != level) __builtin_trap();
  }
  return 0;
}
