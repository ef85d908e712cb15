// Digests, HMAC and random tokens in lowercase hex, and the constant-time
// comparison that checks them: what web (signed cookies, XSRF tokens, Etags,
// static file versions) and auth (OAuth signatures and state) both need, as
// Python's hashlib/hmac hexdigest and hmac.compare_digest.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tornado::detail {

/// `bytes` as lowercase hex, two digits a byte.
std::string hex_encode(std::string_view bytes);

/// The bytes two hex digits each stand for (either case), or nothing when
/// `hex` has an odd length or a character that is not a hex digit.
std::optional<std::string> hex_decode(std::string_view hex);

/// The `md` digest of `data`, in hex (hashlib's hexdigest()).
std::string digest_hex(const EVP_MD* md, std::string_view data);

/// The HMAC of `message` under `key` with `md`, in hex (hmac's hexdigest()).
std::string hmac_hex(const EVP_MD* md, std::string_view key, std::string_view message);

/// `count` bytes from OpenSSL's generator; throws std::runtime_error if it
/// has no entropy.
std::string random_bytes(std::size_t count);

/// Equal, in a time that depends on the lengths only (hmac.compare_digest).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace tornado::detail
