#include "tornado/detail/http1_client/url.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "tornado/detail/ascii.h"
#include "tornado/httputil.h"

namespace tornado::detail {
namespace {

// The five components of RFC 3986 appendix B; an absent component differs
// from an empty one ("http://a?" has an empty query).
struct UriParts {
  std::optional<std::string_view> scheme;
  std::optional<std::string_view> authority;
  std::string_view path;
  std::optional<std::string_view> query;
  std::optional<std::string_view> fragment;
};

bool is_scheme_char(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (first) return alpha;
  return alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

UriParts split_uri(std::string_view uri) {
  UriParts parts;
  std::size_t colon = uri.find_first_of(":/?#");
  if (colon != std::string_view::npos && colon > 0 && uri[colon] == ':') {
    std::string_view scheme = uri.substr(0, colon);
    bool valid = true;
    for (std::size_t i = 0; i < scheme.size(); ++i)
      valid = valid && is_scheme_char(scheme[i], i == 0);
    if (valid) {
      parts.scheme = scheme;
      uri.remove_prefix(colon + 1);
    }
  }
  if (uri.starts_with("//")) {
    uri.remove_prefix(2);
    std::size_t end = uri.find_first_of("/?#");
    parts.authority = uri.substr(0, end);
    uri.remove_prefix(end == std::string_view::npos ? uri.size() : end);
  }
  std::size_t hash = uri.find('#');
  if (hash != std::string_view::npos) {
    parts.fragment = uri.substr(hash + 1);
    uri = uri.substr(0, hash);
  }
  std::size_t question = uri.find('?');
  if (question != std::string_view::npos) {
    parts.query = uri.substr(question + 1);
    uri = uri.substr(0, question);
  }
  parts.path = uri;
  return parts;
}

// RFC 3986 section 5.2.4.
std::string remove_dot_segments(std::string_view input) {
  std::string output;
  while (!input.empty()) {
    if (input.starts_with("../")) {
      input.remove_prefix(3);
    } else if (input.starts_with("./")) {
      input.remove_prefix(2);
    } else if (input.starts_with("/./")) {
      input.remove_prefix(2);
    } else if (input == "/.") {
      input = "/";
    } else if (input.starts_with("/../") || input == "/..") {
      input = input.size() == 3 ? std::string_view("/") : input.substr(3);
      std::size_t last = output.rfind('/');
      output.erase(last == std::string::npos ? 0 : last);
    } else if (input == "." || input == "..") {
      input = {};
    } else {
      std::size_t next = input.find('/', 1);
      std::size_t take = next == std::string_view::npos ? input.size() : next;
      output.append(input.substr(0, take));
      input.remove_prefix(take);
    }
  }
  return output;
}

// RFC 3986 section 5.2.3.
std::string merge_paths(const UriParts& base, std::string_view reference_path) {
  if (base.authority && base.path.empty()) return "/" + std::string(reference_path);
  std::size_t last = base.path.rfind('/');
  if (last == std::string_view::npos) return std::string(reference_path);
  return std::string(base.path.substr(0, last + 1)) + std::string(reference_path);
}

std::string recompose(const UriParts& parts, std::string_view path) {
  std::string result;
  if (parts.scheme) result.append(*parts.scheme).append(":");
  if (parts.authority) result.append("//").append(*parts.authority);
  result.append(path);
  if (parts.query) result.append("?").append(*parts.query);
  if (parts.fragment) result.append("#").append(*parts.fragment);
  return result;
}

}  // namespace

ClientUrl split_client_url(std::string_view url) {
  UriParts parts = split_uri(url);
  if (!parts.scheme) throw std::invalid_argument("URL has no scheme: " + std::string(url));
  ClientUrl result;
  result.scheme = ascii_lower(*parts.scheme);
  if (result.scheme != "http" && result.scheme != "https") {
    throw std::invalid_argument("Unsupported url scheme: " + std::string(url));
  }
  if (!parts.authority || parts.authority->empty()) {
    throw std::invalid_argument("URL has no host: " + std::string(url));
  }
  std::string_view netloc = *parts.authority;
  std::size_t at = netloc.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = netloc.substr(0, at);
    netloc.remove_prefix(at + 1);
    std::size_t colon = userinfo.find(':');
    result.has_userinfo = true;
    result.username = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) result.password = std::string(userinfo.substr(colon + 1));
  }
  result.netloc = std::string(netloc);
  auto [host, port] = httputil::split_host_and_port(netloc);
  if (!port && !netloc.empty() && netloc.back() == ':') host = netloc.substr(0, netloc.size() - 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    throw std::invalid_argument("Invalid port in URL: " + std::string(url));
  }
  if (host.empty()) throw std::invalid_argument("URL has no host: " + std::string(url));
  if (port && (*port <= 0 || *port > 65535)) {
    throw std::invalid_argument("Invalid port in URL: " + std::string(url));
  }
  result.host = std::string(host);
  result.port = port ? *port : (result.scheme == "https" ? 443 : 80);
  result.target = parts.path.empty() ? "/" : std::string(parts.path);
  if (parts.query) result.target.append("?").append(*parts.query);
  return result;
}

std::string resolve_url(std::string_view base, std::string_view reference) {
  UriParts ref = split_uri(reference);
  UriParts b = split_uri(base);
  UriParts target;
  std::string path;
  if (ref.scheme) {
    target = ref;
    path = remove_dot_segments(ref.path);
  } else {
    target.scheme = b.scheme;
    if (ref.authority) {
      target.authority = ref.authority;
      target.query = ref.query;
      path = remove_dot_segments(ref.path);
    } else {
      target.authority = b.authority;
      if (ref.path.empty()) {
        path = std::string(b.path);
        target.query = ref.query ? ref.query : b.query;
      } else {
        path = ref.path.front() == '/' ? remove_dot_segments(ref.path)
                                       : remove_dot_segments(merge_paths(b, ref.path));
        target.query = ref.query;
      }
    }
  }
  target.fragment = ref.fragment;
  return recompose(target, path);
}

}  // namespace tornado::detail
