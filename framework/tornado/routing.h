// tornado::routing: choosing who answers a request, mirroring tornado.routing.
//
// A Router is an HTTP server delegate that hands each request to another
// delegate: a whole Application, another Router, or any
// HTTPServerConnectionDelegate. Rules pair a Matcher (by host, by path, or
// anything) with that target, so several applications can share one server:
//
//   auto api = std::make_shared<tornado::web::Application>(api_routes);
//   auto site = std::make_shared<tornado::web::Application>(site_routes);
//   auto router = std::make_shared<tornado::routing::ReversibleRuleRouter>(
//       std::vector<tornado::routing::Rule>{
//           {std::make_shared<tornado::routing::HostMatches>("api\\.example\\.com"), api},
//           {std::make_shared<tornado::routing::PathMatches>("/admin/.*"), admin, "admin"},
//           {std::make_shared<tornado::routing::AnyMatches>(), site},
//       });
//   tornado::httpserver::HTTPServer server(router);
//   server.listen(8888);
//
// A nested Application sees the request unchanged (its own routes match the
// full path), as in Tornado. A rule whose target is a Router that finds
// nothing lets the next rules try, as Tornado's; a request nothing takes gets
// a 404. `web::Application` is itself a Router built on these classes
// (`add_handlers(host_pattern, handlers)`, `default_host`).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/http1connection.h"
#include "tornado/httputil.h"

namespace re2 {
class RE2;
}

namespace tornado::web {
class Application;
}

namespace tornado::routing {

/// What a matcher extracted from the request: the groups of a path pattern.
struct MatchResult {
  /// The pattern's unnamed groups, in order.
  std::vector<std::string> path_args;
  /// The pattern's named groups.
  std::map<std::string, std::string, std::less<>> path_kwargs;
};

/// Decides whether a rule applies to a request (Tornado's Matcher).
class Matcher {
 public:
  virtual ~Matcher() = default;
  /// The match's arguments, or nothing if the request does not match.
  virtual std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const = 0;
  /// The path this matcher matches with `args` in its groups, if it can build one.
  virtual std::optional<std::string> reverse(const std::vector<std::string>& args) const {
    (void)args;
    return std::nullopt;
  }
};

/// Matches every request.
class AnyMatches : public Matcher {
 public:
  std::optional<MatchResult> match(const httputil::HTTPServerRequest&) const override {
    return MatchResult{};
  }
};

/// Matches the request's host name (without port) against a regular
/// expression anchored at both ends ("(www\\.)?example\\.com", ".*").
class HostMatches : public Matcher {
 public:
  /// Matches requests whose Host (without port) matches `host_pattern`.
  explicit HostMatches(std::string host_pattern);
  ~HostMatches() override;
  std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const override;

 private:
  std::unique_ptr<re2::RE2> pattern_;
};

/// Matches when `default_host` fits `host_pattern` and the request did not
/// come through a proxy that names the client (no X-Real-Ip), as Tornado's
/// DefaultHostMatches with the application's `default_host`.
class DefaultHostMatches : public Matcher {
 public:
  /// Matches when the request has no X-Real-Ip and its host is `default_host`.
  DefaultHostMatches(std::string default_host, std::string host_pattern);
  ~DefaultHostMatches() override;
  std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const override;

 private:
  std::string default_host_;
  std::unique_ptr<re2::RE2> pattern_;
};

/// Matches the request path against a regular expression anchored at both
/// ends; its groups become the match's arguments (named groups also by
/// name), URL-unescaped. Throws std::invalid_argument for a bad pattern.
/// A pattern without regular-expression syntax is compared as plain text.
class PathMatches : public Matcher {
 public:
  /// Matches paths against `path_pattern`, anchored at both ends.
  explicit PathMatches(std::string path_pattern);
  ~PathMatches() override;
  std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const override;
  std::optional<std::string> reverse(const std::vector<std::string>& args) const override;
  /// The pattern as given.
  const std::string& pattern() const noexcept { return source_; }
  /// How many groups the pattern captures.
  std::size_t group_count() const noexcept { return group_names_.size(); }

 private:
  std::string source_;
  bool literal_ = false;  // no regex syntax: compared as text, no regex_
  std::unique_ptr<re2::RE2> regex_;
  std::vector<std::string> group_names_;
  // Every path the regex matches lies between these (RE2's
  // PossibleMatchRange): most requests are told apart without running it.
  bool has_range_ = false;
  std::string range_min_;
  std::string range_max_;
};

using Target = std::shared_ptr<http1connection::HTTPServerConnectionDelegate>;

/// A matcher, the delegate it sends requests to, and an optional name for
/// `reverse_url`. A string instead of a matcher is a PathMatches pattern.
struct Rule {
  /// A rule with its own matcher.
  Rule(std::shared_ptr<const Matcher> matcher, Target target, std::string name = {})
      : matcher(std::move(matcher)), target(std::move(target)), name(std::move(name)) {}
  /// A rule matching paths against `path_pattern`.
  Rule(std::string path_pattern, Target target, std::string name = {});
  /// What the request must match.
  std::shared_ptr<const Matcher> matcher;
  /// Where a matching request goes.
  Target target;
  /// The name `reverse_url` finds the rule by.
  std::string name;
};

/// The connection a request arrived on, as routers pass it along.
using Connection = std::shared_ptr<http1connection::HTTP1ServerConnection>;
/// The request being routed.
using Request = std::shared_ptr<httputil::HTTPServerRequest>;
/// What answers one request.
using MessageDelegate = std::unique_ptr<http1connection::HTTPMessageDelegate>;

/// A delegate that picks another delegate per request.
class Router : public http1connection::HTTPServerConnectionDelegate {
 public:
  Router();
  ~Router() override;
  /// The delegate that answers `request`, or null when this router has no
  /// route for it, as Tornado's `find_handler`: override for your own
  /// routing.
  virtual MessageDelegate find_handler(const Connection& connection, const Request& request) = 0;
  /// `find_handler`'s delegate, or a 404 answer when it finds none.
  std::unique_ptr<http1connection::HTTPMessageDelegate> start_request(
      std::shared_ptr<http1connection::HTTP1ServerConnection> connection,
      std::shared_ptr<httputil::HTTPServerRequest> request) override;

 private:
  std::once_flag not_found_once_;
  std::shared_ptr<web::Application> not_found_;  // answers what no rule takes
};

/// A router that can also build URLs for named rules.
class ReversibleRouter : public virtual Router {
 public:
  /// The URL of the rule named `name`, or nothing.
  virtual std::optional<std::string> reverse_url(std::string_view name,
                                                 const std::vector<std::string>& args = {}) = 0;
};

/// Tries its rules in order; the first whose matcher matches gets the request.
class RuleRouter : public virtual Router {
 public:
  /// A router trying `rules` in order.
  explicit RuleRouter(std::vector<Rule> rules = {});
  /// Appends rules (checked: each needs a matcher and a target).
  void add_rules(std::vector<Rule> rules);
  /// Inserts rules before the rule at `position` (appends past the end).
  void insert_rules(std::size_t position, std::vector<Rule> rules);
  /// The first delegate a matching rule's target gives; null if none does.
  MessageDelegate find_handler(const Connection& connection, const Request& request) override;
  /// The delegate of `target` for a request its rule matched with `match`,
  /// as Tornado's `get_target_delegate`: a Router's `find_handler` (null
  /// lets the next rules try), any other delegate's `start_request`.
  virtual MessageDelegate get_target_delegate(const Target& target, const Connection& connection,
                                              const Request& request, MatchResult& match);
  /// The rules, in order.
  const std::vector<Rule>& rules() const noexcept { return rules_; }

 private:
  std::vector<Rule> rules_;
};

/// A RuleRouter whose `reverse_url` looks at its named rules first, then
/// asks the routers and applications it routes to, as Tornado's.
class ReversibleRuleRouter : public ReversibleRouter, public RuleRouter {
 public:
  /// A router trying `rules` in order, able to build URLs from their names.
  explicit ReversibleRuleRouter(std::vector<Rule> rules = {}) : RuleRouter(std::move(rules)) {}
  std::optional<std::string> reverse_url(std::string_view name,
                                         const std::vector<std::string>& args = {}) override;
};

}  // namespace tornado::routing
