#include "tornado/routing.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "tornado/escape.h"
#include "tornado/web.h"

namespace tornado::routing {

namespace {

std::string_view strip_anchors(std::string_view p) {
  if (p.starts_with('^')) p.remove_prefix(1);
  if (p.ends_with('$') && !p.ends_with("\\$")) p.remove_suffix(1);
  return p;
}

std::unique_ptr<re2::RE2> compile(const std::string& pattern, std::string_view what) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  // Tornado appends "$" and matches at the start: the whole string must match.
  std::string_view p = strip_anchors(pattern);
  auto re = std::make_unique<re2::RE2>(std::string(p), options);
  if (!re->ok()) {
    throw std::invalid_argument(
        fmt::format("{} '{}': invalid pattern: {}", what, pattern, re->error()));
  }
  return re;
}

}  // namespace

// ---------------------------------------------------------------------------
// Matchers

HostMatches::HostMatches(std::string host_pattern)
    : pattern_(compile(host_pattern, "HostMatches")) {}
HostMatches::~HostMatches() = default;

std::optional<MatchResult> HostMatches::match(const httputil::HTTPServerRequest& request) const {
  if (re2::RE2::FullMatch(request.host_name, *pattern_)) return MatchResult{};
  return std::nullopt;
}

DefaultHostMatches::DefaultHostMatches(std::string default_host, std::string host_pattern)
    : default_host_(std::move(default_host)),
      pattern_(compile(host_pattern, "DefaultHostMatches")) {}
DefaultHostMatches::~DefaultHostMatches() = default;

std::optional<MatchResult> DefaultHostMatches::match(
    const httputil::HTTPServerRequest& request) const {
  // Behind a proxy (X-Real-Ip) the Host header names the real host.
  if (!request.headers.contains("X-Real-Ip") && re2::RE2::FullMatch(default_host_, *pattern_)) {
    return MatchResult{};
  }
  return std::nullopt;
}

PathMatches::PathMatches(std::string path_pattern) : source_(std::move(path_pattern)) {
  // Most routes are plain paths: compared as text they cost no regex match.
  std::string_view p = strip_anchors(source_);
  literal_ =
      p.size() == source_.size() && p.find_first_of("\\.^$|?*+()[]{}") == std::string_view::npos;
  if (literal_) return;
  regex_ = compile(source_, "PathMatches");
  group_names_.assign(static_cast<std::size_t>(regex_->NumberOfCapturingGroups()), "");
  for (const auto& [name, index] : regex_->NamedCapturingGroups()) {
    group_names_[static_cast<std::size_t>(index - 1)] = name;
  }
  // An application checks its routes in order for every request, so a path
  // is tried against each pattern before its own: a byte range rules most
  // of them out without a regex match (for "/static/(.*)" every path below
  // "/static/" or above "/static0").
  has_range_ = regex_->PossibleMatchRange(&range_min_, &range_max_, 64);
}
PathMatches::~PathMatches() = default;

std::optional<MatchResult> PathMatches::match(const httputil::HTTPServerRequest& request) const {
  if (literal_) {
    if (request.path == source_) return MatchResult{};
    return std::nullopt;
  }
  if (has_range_ && (request.path < range_min_ || request.path > range_max_)) {
    return std::nullopt;
  }
  const std::size_t n = group_names_.size();
  // Routes capture a few groups (handlers take at most kMaxPathArgs): no
  // allocation for them unless the path matches.
  constexpr std::size_t kInline = 8;
  std::array<std::string, kInline> inline_groups;
  std::array<re2::RE2::Arg, kInline> inline_storage;
  std::array<const re2::RE2::Arg*, kInline> inline_pointers{};
  std::vector<std::string> heap_groups;
  std::vector<re2::RE2::Arg> heap_storage;
  std::vector<const re2::RE2::Arg*> heap_pointers;
  std::string* groups = inline_groups.data();
  re2::RE2::Arg* storage = inline_storage.data();
  const re2::RE2::Arg** pointers = inline_pointers.data();
  if (n > kInline) {
    heap_groups.resize(n);
    heap_storage.resize(n);
    heap_pointers.resize(n);
    groups = heap_groups.data();
    storage = heap_storage.data();
    pointers = heap_pointers.data();
  }
  for (std::size_t i = 0; i < n; ++i) {
    storage[i] = &groups[i];
    pointers[i] = &storage[i];
  }
  if (!re2::RE2::FullMatchN(request.path, *regex_, pointers, static_cast<int>(n))) {
    return std::nullopt;
  }
  MatchResult result;
  for (std::size_t i = 0; i < n; ++i) {
    std::string value = escape::url_unescape(groups[i], false);
    if (!group_names_[i].empty()) result.path_kwargs[group_names_[i]] = value;
    result.path_args.push_back(std::move(value));
  }
  return result;
}

std::optional<std::string> PathMatches::reverse(const std::vector<std::string>& args) const {
  if (literal_) {
    if (!args.empty()) {
      throw std::invalid_argument(
          fmt::format("reverse of '{}': {} argument(s) for 0 group(s)", source_, args.size()));
    }
    return source_;
  }
  std::string_view p = source_;
  if (p.starts_with('^')) p.remove_prefix(1);
  if (p.ends_with('$')) p.remove_suffix(1);
  // First the literal text around the top-level groups; any regex syntax
  // there (a wildcard, an optional group) means no single URL.
  std::vector<std::string> pieces(1);
  int depth = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      if (depth == 0) pieces.back().push_back(p[i + 1]);
      ++i;
    } else if (c == '(') {
      if (depth++ == 0) pieces.emplace_back();
    } else if (c == ')') {
      --depth;
    } else if (depth == 0) {
      if (std::string_view(".*+?[]{}|").find(c) != std::string_view::npos) return std::nullopt;
      pieces.back().push_back(c);
    }
  }
  const std::size_t groups = pieces.size() - 1;
  if (args.size() != groups) {
    throw std::invalid_argument(fmt::format("reverse of '{}': {} argument(s) for {} group(s)",
                                            source_, args.size(), groups));
  }
  std::string out = pieces[0];
  for (std::size_t i = 0; i < groups; ++i) {
    out += escape::url_escape(args[i], false);
    out += pieces[i + 1];
  }
  return out;
}

Rule::Rule(std::string path_pattern, Target target, std::string name)
    : matcher(std::make_shared<PathMatches>(std::move(path_pattern))),
      target(std::move(target)),
      name(std::move(name)) {}

// ---------------------------------------------------------------------------
// Routers

Router::Router() = default;
Router::~Router() = default;

std::unique_ptr<http1connection::HTTPMessageDelegate> Router::start_request(
    std::shared_ptr<http1connection::HTTP1ServerConnection> connection,
    std::shared_ptr<httputil::HTTPServerRequest> request) {
  if (auto delegate = find_handler(connection, request)) return delegate;
  // Made on first use: an Application is itself a Router, and never comes here.
  std::call_once(not_found_once_, [this] {
    not_found_ = std::make_shared<web::Application>(std::vector<web::URLSpec>{});
  });
  return not_found_->start_request(std::move(connection), std::move(request));
}

RuleRouter::RuleRouter(std::vector<Rule> rules) {
  add_rules(std::move(rules));
}

void RuleRouter::add_rules(std::vector<Rule> rules) {
  insert_rules(rules_.size(), std::move(rules));
}

void RuleRouter::insert_rules(std::size_t position, std::vector<Rule> rules) {
  for (const auto& rule : rules) {
    if (!rule.matcher || !rule.target) {
      throw std::invalid_argument(
          fmt::format("routing rule '{}' needs a matcher and a target", rule.name));
    }
  }
  auto at = rules_.begin() + static_cast<std::ptrdiff_t>(std::min(position, rules_.size()));
  rules_.insert(at, std::make_move_iterator(rules.begin()), std::make_move_iterator(rules.end()));
}

MessageDelegate RuleRouter::find_handler(const Connection& connection, const Request& request) {
  for (const auto& rule : rules_) {
    if (auto match = rule.matcher->match(*request)) {
      if (auto delegate = get_target_delegate(rule.target, connection, request, *match)) {
        return delegate;
      }
    }
  }
  return nullptr;
}

MessageDelegate RuleRouter::get_target_delegate(const Target& target, const Connection& connection,
                                                const Request& request, MatchResult&) {
  if (auto* router = dynamic_cast<Router*>(target.get())) {
    return router->find_handler(connection, request);
  }
  return target->start_request(connection, request);
}

std::optional<std::string> ReversibleRuleRouter::reverse_url(std::string_view name,
                                                             const std::vector<std::string>& args) {
  for (const auto& rule : rules()) {
    if (rule.name == name) return rule.matcher->reverse(args);
  }
  for (const auto& rule : rules()) {
    if (auto router = std::dynamic_pointer_cast<ReversibleRouter>(rule.target)) {
      if (auto url = router->reverse_url(name, args)) return url;
    } else if (auto app = std::dynamic_pointer_cast<web::Application>(rule.target)) {
      try {
        return app->reverse_url(name, args);
      } catch (const std::invalid_argument&) {
        // Not one of this application's names; try the next target.
      }
    }
  }
  return std::nullopt;
}

}  // namespace tornado::routing
