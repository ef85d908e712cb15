// Base64 (RFC 4648 section 4, the standard alphabet with padding), as
// Python's base64.b64encode / b64decode: signed cookies, Basic credentials,
// the WebSocket handshake keys.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tornado::detail {

/// `data` encoded, padded with '=' to a multiple of four characters.
std::string base64_encode(std::string_view data);

/// The bytes `text` encodes, or nothing when it is not padded base64 (a
/// length that is not a multiple of four, or a character outside the
/// alphabet).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace tornado::detail
