// The table behind tornado::locale::Locale::name().
#pragma once

#include <string_view>

namespace tornado::detail {

/// The language's own name for `code` ("cs" -> "Čeština"), "Unknown" if absent.
std::string_view locale_name(std::string_view code);

}  // namespace tornado::detail
