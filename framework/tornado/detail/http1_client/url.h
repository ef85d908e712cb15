// URL splitting and joining for the HTTP client: just what a client needs
// to open a connection (scheme, host, port, request target) and to follow a
// relative Location header (RFC 3986 section 5.2).
#pragma once

#include <string>
#include <string_view>

namespace tornado::detail {

/// An absolute http(s) URL, split as the client uses it.
struct ClientUrl {
  std::string scheme;  ///< lower-cased: "http" or "https"
  std::string netloc;  ///< host[:port] as written, without userinfo (the Host header)
  std::string host;    ///< without IPv6 brackets, ready for the resolver
  int port = 0;        ///< explicit or the scheme's default
  std::string target;  ///< path (at least "/") plus "?query"; no fragment
  bool has_userinfo = false;
  std::string username;  ///< from "user:password@", as written (not unquoted)
  std::string password;
};

/// Splits an absolute URL. Throws std::invalid_argument for a URL without
/// scheme or host, a scheme other than http/https, or a bad port.
ClientUrl split_client_url(std::string_view url);

/// Resolves `reference` (e.g. a Location header) against `base`, as
/// RFC 3986 section 5.2 (Python's `urljoin` for http URLs).
std::string resolve_url(std::string_view base, std::string_view reference);

}  // namespace tornado::detail
