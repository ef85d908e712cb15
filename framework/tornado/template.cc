#include "tornado/template.h"

#include <algorithm>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "tornado/detail/template/expr.h"
#include "tornado/detail/template/text.h"
#include "tornado/escape.h"

namespace tornado::template_ {

namespace {

std::string describe(const std::string& filename, int line, const std::string& reason,
                     const std::string& source, const std::string& error_type) {
  std::string message;
  if (!filename.empty()) {
    message = filename;
    if (line > 0) message += ":" + std::to_string(line);
    message += ": ";
  }
  if (error_type != "TemplateError" && error_type != "ParseError") message += error_type + ": ";
  message += reason;
  if (!source.empty()) message += " in " + source;
  return message;
}

}  // namespace

TemplateError::TemplateError(std::string filename, int line, std::string reason, std::string source,
                             std::string error_type, std::exception_ptr cause)
    : std::runtime_error(describe(filename, line, reason, source, error_type)),
      filename_(std::move(filename)),
      line_(line),
      reason_(std::move(reason)),
      source_(std::move(source)),
      error_type_(std::move(error_type)),
      cause_(std::move(cause)) {}

}  // namespace tornado::template_

namespace tornado::detail {

using template_::Functions;
using template_::ParseError;
using template_::TemplateError;

namespace {

constexpr int kMaxNesting = 100;  // block nesting while parsing, blocks while rendering

}  // namespace

enum class NodeKind : std::uint8_t {
  text,
  expression,
  module,
  if_block,
  for_block,
  while_block,
  set,
  try_block,
  break_loop,
  continue_loop,
  named_block,
  include,
  apply,
  extends,
  intermediate,  // else / elif / except / finally, only while parsing
};

struct Node;
using Body = std::vector<Node>;

struct Branch {
  ExprPtr condition;
  Body body;
};

struct Handler {
  ExceptHeader header;
  Body body;
};

struct Node {
  NodeKind kind = NodeKind::text;
  int line = 0;
  bool raw = false;
  bool has_finally = false;
  std::string text;    // text; block name; include/extends name; intermediate operator
  std::string source;  // the directive as written, for error messages
  ExprPtr expr;        // expression, module call, condition, iterable, value, apply function
  Target target;
  std::optional<BinaryOp> augmented;
  ExceptHeader except;  // intermediate "except"
  std::vector<Branch> branches;
  Body body;
  Body orelse;
  std::vector<Handler> handlers;
  Body finally_body;
  std::shared_ptr<const template_::Template> included;
};

struct BlockRef {
  const Body* body;
  const CompiledTemplate* owner;
};

struct CompiledTemplate {
  std::string name;
  std::string autoescape;  // "" for none; the value at the end of the file, as Tornado
  std::size_t max_value_size = template_::kDefaultMaxValueSize;
  Body body;
  std::shared_ptr<const Functions> loader_functions;
  // What rendering needs: the files this template extends (itself first,
  // as Tornado's _get_ancestors), the one whose body is rendered, and the
  // most derived definition of each named block.
  std::vector<std::shared_ptr<const template_::Template>> keep_alive;
  std::vector<const CompiledTemplate*> ancestors;
  const CompiledTemplate* root = nullptr;
  std::unordered_map<std::string, BlockRef> named_blocks;

  static const CompiledTemplate& of(const template_::Template& t) { return *t.impl_; }
};

struct LoaderState {
  struct Dependency {
    std::string name;
    std::string version;
  };
  struct Entry {
    std::shared_ptr<const template_::Template> compiled;
    std::vector<Dependency> dependencies;
  };
  struct Frame {
    std::string name;
    std::vector<Dependency> dependencies;
  };

  template_::LoaderOptions options;
  std::shared_ptr<const Functions> functions;
  std::recursive_mutex mutex;
  std::unordered_map<std::string, Entry> cache;
  std::vector<Frame> loading;  // templates being compiled, outermost first
};

namespace {

// ---------------------------------------------------------------------------
// Whitespace

bool valid_whitespace_mode(std::string_view mode) {
  return mode == "all" || mode == "single" || mode == "oneline";
}

// Calls `visit(run_start, run_end, has_newline)` for each maximal run of
// Python whitespace in `text`, copying the rest to `out`.
template <class Visit>
std::string rewrite_space_runs(std::string_view text, Visit visit) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = decode_utf8(text, i);
    if (!c.valid || !is_python_space(c.code_point)) {
      out.append(text.substr(i, c.size));
      i += c.size;
      continue;
    }
    const std::size_t start = i;
    bool newline = false;
    while (i < text.size()) {
      const auto s = decode_utf8(text, i);
      if (!s.valid || !is_python_space(s.code_point)) break;
      newline = newline || s.code_point == '\n';
      i += s.size;
    }
    visit(out, text.substr(start, i - start), newline);
  }
  return out;
}

// Tornado's filter_whitespace.
std::string filter_whitespace(std::string_view mode, std::string_view text) {
  if (mode == "all") return std::string(text);
  if (mode == "oneline") {
    return rewrite_space_runs(text, [](std::string& out, std::string_view, bool) { out += ' '; });
  }
  // single: runs of spaces and tabs become one space, then any whitespace
  // run containing a newline becomes that newline.
  std::string collapsed;
  collapsed.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ' ' || text[i] == '\t') {
      collapsed += ' ';
      while (i + 1 < text.size() && (text[i + 1] == ' ' || text[i + 1] == '\t')) ++i;
    } else {
      collapsed += text[i];
    }
  }
  return rewrite_space_runs(collapsed, [](std::string& out, std::string_view run, bool newline) {
    if (newline) {
      out += '\n';
    } else {
      out.append(run);
    }
  });
}

// Python's str.strip(chars) for one quote character.
std::string_view strip_char(std::string_view s, char c) {
  while (!s.empty() && s.front() == c) s.remove_prefix(1);
  while (!s.empty() && s.back() == c) s.remove_suffix(1);
  return s;
}

// ---------------------------------------------------------------------------
// Parsing, following Tornado's _parse

struct Reader {
  std::string_view text;
  std::string_view name;
  std::string whitespace;
  std::size_t pos = 0;
  int line = 1;

  std::size_t remaining() const { return text.size() - pos; }
  char at(std::size_t i) const { return text[pos + i]; }
  std::size_t find(std::string_view needle, std::size_t start = 0) const {
    const std::size_t index = text.find(needle, pos + start);
    return index == std::string_view::npos ? index : index - pos;
  }
  std::string_view consume(std::size_t count) {
    const std::string_view s = text.substr(pos, count);
    line += static_cast<int>(std::count(s.begin(), s.end(), '\n'));
    pos += s.size();
    return s;
  }
  [[noreturn]] void fail(const std::string& reason, int at_line = 0) const {
    throw ParseError(std::string(name), at_line > 0 ? at_line : line, reason);
  }
};

struct OpenBlock {
  std::string_view op;  // "" at top level
  int line = 0;
  bool in_loop = false;
  int depth = 0;
};

class TemplateParser {
 public:
  TemplateParser(CompiledTemplate& compiled, const template_::BaseLoader* loader, Reader reader)
      : compiled_(compiled), loader_(loader), reader_(std::move(reader)) {}

  Body parse_file() { return parse({}); }

 private:
  void append_text(Body& body, std::string_view text) {
    // Tornado leaves text containing <pre> alone, as a crude guard for
    // preformatted blocks.
    std::string value = text.find("<pre>") == std::string_view::npos
                            ? filter_whitespace(reader_.whitespace, text)
                            : std::string(text);
    if (value.empty()) return;
    if (!body.empty() && body.back().kind == NodeKind::text) {
      body.back().text += value;  // adjacent chunks render the same joined
      return;
    }
    Node node;
    node.kind = NodeKind::text;
    node.line = reader_.line;
    node.text = std::move(value);
    body.push_back(std::move(node));
  }

  ExprPtr expression(std::string_view text, const std::string& source, int line,
                     bool allow_tuple = true) {
    try {
      return parse_expression(text, allow_tuple);
    } catch (const SyntaxError& e) {
      reader_.fail("invalid expression in " + source + ": " + e.what(), line);
    }
  }

  std::shared_ptr<const template_::Template> load(std::string_view name, std::string_view what,
                                                  int line) {
    if (!loader_) {
      reader_.fail("{% " + std::string(what) + " %} block found, but no template loader", line);
    }
    try {
      return loader_->load(name, compiled_.name);
    } catch (const ParseError&) {
      throw;
    } catch (const TemplateError& e) {
      reader_.fail(e.reason(), line);
    }
  }

  Body parse(const OpenBlock& open) {
    if (open.depth > kMaxNesting) reader_.fail("blocks nested too deeply");
    Body body;
    while (true) {
      // Find the next template directive.
      std::size_t curly = 0;
      while (true) {
        curly = reader_.find("{", curly);
        if (curly == std::string_view::npos || curly + 1 == reader_.remaining()) {
          if (!open.op.empty()) {
            reader_.consume(reader_.remaining());  // report the end of the file
            reader_.fail("expected {% end %} for {% " + std::string(open.op) +
                         " %} opened at line " + std::to_string(open.line));
          }
          append_text(body, reader_.consume(reader_.remaining()));
          return body;
        }
        const char next = reader_.at(curly + 1);
        if (next != '{' && next != '%' && next != '#') {
          ++curly;
          continue;
        }
        // With more than two curlies in a row, the innermost ones count.
        if (curly + 2 < reader_.remaining() && next == '{' && reader_.at(curly + 2) == '{') {
          ++curly;
          continue;
        }
        break;
      }
      if (curly > 0) append_text(body, reader_.consume(curly));
      const std::string_view start_brace = reader_.consume(2);
      const int line = reader_.line;

      // "{{!", "{%!" and "{#!" output the braces literally.
      if (reader_.remaining() && reader_.at(0) == '!') {
        reader_.consume(1);
        append_text(body, start_brace);
        continue;
      }
      if (start_brace == "{#") {
        const std::size_t end = reader_.find("#}");
        if (end == std::string_view::npos) reader_.fail("expected #} to close {#", line);
        reader_.consume(end + 2);
        continue;
      }
      if (start_brace == "{{") {
        const std::size_t end = reader_.find("}}");
        if (end == std::string_view::npos) reader_.fail("expected }} to close {{", line);
        const std::string_view contents = python_strip(reader_.consume(end));
        reader_.consume(2);
        if (contents.empty()) reader_.fail("empty expression {{ }}", line);
        Node node;
        node.kind = NodeKind::expression;
        node.line = line;
        node.source = "{{ " + std::string(contents) + " }}";
        node.expr = expression(contents, node.source, line);
        body.push_back(std::move(node));
        continue;
      }
      const std::size_t end = reader_.find("%}");
      if (end == std::string_view::npos) reader_.fail("expected %} to close {%", line);
      const std::string_view contents = python_strip(reader_.consume(end));
      reader_.consume(2);
      if (contents.empty()) reader_.fail("empty block tag {% %}", line);
      if (directive(body, open, contents, line)) return body;
    }
  }

  // Handles one {% %} directive; true when it closes the open block.
  bool directive(Body& body, const OpenBlock& open, std::string_view contents, int line) {
    const std::size_t space = contents.find(' ');
    const std::string_view op = contents.substr(0, space);
    const std::string_view suffix = space == std::string_view::npos
                                        ? std::string_view()
                                        : python_strip(contents.substr(space + 1));
    const std::string source = "{% " + std::string(contents) + " %}";
    Node node;
    node.line = line;
    node.source = source;

    if (op == "else" || op == "elif" || op == "except" || op == "finally") {
      const std::vector<std::string_view> parents =
          op == "else"   ? std::vector<std::string_view>{"if", "for", "while", "try"}
          : op == "elif" ? std::vector<std::string_view>{"if"}
                         : std::vector<std::string_view>{"try"};
      if (open.op.empty()) reader_.fail("{% " + std::string(op) + " %} outside a block", line);
      if (std::find(parents.begin(), parents.end(), open.op) == parents.end()) {
        reader_.fail("{% " + std::string(op) + " %} block cannot be attached to {% " +
                         std::string(open.op) + " %} block",
                     line);
      }
      node.kind = NodeKind::intermediate;
      node.text = std::string(op);
      if (op == "elif") {
        if (suffix.empty()) reader_.fail("elif missing condition", line);
        node.expr = expression(suffix, source, line, false);
      } else if (op == "except") {
        try {
          node.except = parse_except_header(suffix);
        } catch (const SyntaxError& e) {
          reader_.fail("invalid except clause " + source + ": " + e.what(), line);
        }
      } else if (!suffix.empty()) {
        reader_.fail("unexpected text after {% " + std::string(op) + " %}", line);
      }
      body.push_back(std::move(node));
      return false;
    }
    if (op == "end") {
      if (open.op.empty()) reader_.fail("unexpected {% end %}: no block is open", line);
      return true;
    }
    if (op == "comment") return false;
    if (op == "extends" || op == "include") {
      const std::string_view name = strip_char(strip_char(suffix, '"'), '\'');
      if (name.empty()) reader_.fail(std::string(op) + " missing file path", line);
      node.kind = op == "extends" ? NodeKind::extends : NodeKind::include;
      node.text = std::string(name);
      if (op == "include") node.included = load(name, op, line);
      if (op == "extends" && !loader_) {
        reader_.fail("{% extends %} block found, but no template loader", line);
      }
      body.push_back(std::move(node));
      return false;
    }
    // The modules the engine carries itself are always in the namespace;
    // importing one, as Tornado's demos do, changes nothing.
    if (op == "import" && (suffix == "tornado.escape" || suffix == "datetime")) return false;
    if (op == "import" || op == "from") {
      reader_.fail(source +
                       " imports a Python module, which a tornado-cpp template cannot: pass what "
                       "it needs as a value, a function (LoaderOptions::functions, the ui_methods "
                       "setting) or a bound object instead (docs/template.md)",
                   line);
    }
    if (op == "set") {
      if (suffix.empty()) reader_.fail("set missing statement", line);
      try {
        Assignment assignment = parse_assignment(suffix);
        node.target = std::move(assignment.target);
        node.augmented = assignment.augmented;
        node.expr = std::move(assignment.value);
      } catch (const SyntaxError& e) {
        reader_.fail("invalid statement in " + source + ": " + e.what(), line);
      }
      node.kind = NodeKind::set;
      body.push_back(std::move(node));
      return false;
    }
    if (op == "autoescape") {
      compiled_.autoescape = suffix == "None" ? std::string() : std::string(suffix);
      return false;
    }
    if (op == "whitespace") {
      if (!valid_whitespace_mode(suffix)) {
        reader_.fail("invalid whitespace mode " + std::string(suffix), line);
      }
      reader_.whitespace = std::string(suffix);
      return false;
    }
    if (op == "raw" || op == "module") {
      if (suffix.empty()) reader_.fail(std::string(op) + " missing expression", line);
      node.kind = op == "raw" ? NodeKind::expression : NodeKind::module;
      node.raw = true;
      node.expr = expression(suffix, source, line);
      if (op == "module" &&
          (node.expr->kind != ExprKind::call || node.expr->children[0]->kind != ExprKind::name)) {
        reader_.fail("module expects Name(arguments), got " + source, line);
      }
      body.push_back(std::move(node));
      return false;
    }
    if (op == "break" || op == "continue") {
      if (!open.in_loop) {
        reader_.fail("{% " + std::string(op) + " %} outside {% for %} or {% while %}", line);
      }
      node.kind = op == "break" ? NodeKind::break_loop : NodeKind::continue_loop;
      body.push_back(std::move(node));
      return false;
    }
    if (op == "apply" || op == "block" || op == "try" || op == "if" || op == "for" ||
        op == "while") {
      OpenBlock inner{op, line, open.in_loop, open.depth + 1};
      if (op == "for" || op == "while") inner.in_loop = true;
      if (op == "apply") inner.in_loop = false;  // a nested function in Tornado
      Body block_body = parse(inner);
      if (op == "apply") {
        if (suffix.empty()) reader_.fail("apply missing method name", line);
        node.kind = NodeKind::apply;
        node.expr = expression(suffix, source, line, false);
        node.body = std::move(block_body);
      } else if (op == "block") {
        if (suffix.empty()) reader_.fail("block missing name", line);
        node.kind = NodeKind::named_block;
        node.text = std::string(suffix);
        node.body = std::move(block_body);
      } else {
        control_block(node, op, suffix, std::move(block_body));
      }
      body.push_back(std::move(node));
      return false;
    }
    std::string quoted;
    append_python_string_repr(quoted, op);
    reader_.fail("unknown operator: " + quoted, line);
  }

  // Splits a control block's body at its else / elif / except / finally.
  void control_block(Node& node, std::string_view op, std::string_view suffix, Body body) {
    const int line = node.line;
    const std::string& source = node.source;
    std::vector<std::pair<Node*, Body>> clauses;  // (marker or null, body)
    clauses.emplace_back(nullptr, Body());
    for (Node& child : body) {
      if (child.kind == NodeKind::intermediate) {
        clauses.emplace_back(&child, Body());
      } else {
        clauses.back().second.push_back(std::move(child));
      }
    }
    auto marker_fail = [&](const Node& marker, const std::string& reason) {
      reader_.fail(reason, marker.line);
    };
    if (op == "if") {
      if (suffix.empty()) reader_.fail("if missing condition", line);
      node.kind = NodeKind::if_block;
      node.branches.push_back(
          {expression(suffix, source, line, false), std::move(clauses[0].second)});
      bool seen_else = false;
      for (std::size_t i = 1; i < clauses.size(); ++i) {
        Node& marker = *clauses[i].first;
        if (seen_else) marker_fail(marker, "{% " + marker.text + " %} after {% else %}");
        if (marker.text == "elif") {
          node.branches.push_back({std::move(marker.expr), std::move(clauses[i].second)});
        } else {
          seen_else = true;
          node.orelse = std::move(clauses[i].second);
        }
      }
      return;
    }
    if (op == "for" || op == "while") {
      if (op == "for") {
        node.kind = NodeKind::for_block;
        try {
          ForHeader header = parse_for_header(suffix);
          node.target = std::move(header.target);
          node.expr = std::move(header.iterable);
        } catch (const SyntaxError& e) {
          reader_.fail("invalid statement in " + source + ": " + e.what(), line);
        }
      } else {
        if (suffix.empty()) reader_.fail("while missing condition", line);
        node.kind = NodeKind::while_block;
        node.expr = expression(suffix, source, line, false);
      }
      node.body = std::move(clauses[0].second);
      if (clauses.size() > 2) marker_fail(*clauses[2].first, "{% else %} given twice");
      if (clauses.size() == 2) node.orelse = std::move(clauses[1].second);
      return;
    }
    // try
    if (!suffix.empty()) reader_.fail("unexpected text after {% try %}", line);
    node.kind = NodeKind::try_block;
    node.body = std::move(clauses[0].second);
    enum { handlers, after_else, after_finally } state = handlers;
    for (std::size_t i = 1; i < clauses.size(); ++i) {
      Node& marker = *clauses[i].first;
      if (state == after_finally)
        marker_fail(marker, "{% " + marker.text + " %} after {% finally %}");
      if (marker.text == "except") {
        if (state != handlers) marker_fail(marker, "{% except %} after {% else %}");
        if (!node.handlers.empty() && node.handlers.back().header.types.empty()) {
          marker_fail(marker, "a bare {% except %} must be the last one");
        }
        node.handlers.push_back({std::move(marker.except), std::move(clauses[i].second)});
      } else if (marker.text == "else") {
        if (node.handlers.empty())
          marker_fail(marker, "{% else %} in {% try %} needs an {% except %}");
        if (state != handlers) marker_fail(marker, "{% else %} given twice");
        node.orelse = std::move(clauses[i].second);
        state = after_else;
      } else {
        node.finally_body = std::move(clauses[i].second);
        node.has_finally = true;
        state = after_finally;
      }
    }
    if (node.handlers.empty() && !node.has_finally) {
      reader_.fail("{% try %} needs an {% except %} or a {% finally %}", line);
    }
  }

  CompiledTemplate& compiled_;
  const template_::BaseLoader* loader_;
  Reader reader_;
};

// Registers every {% block %} reachable from `body` (through includes too),
// later definitions replacing earlier ones, as Tornado's find_named_blocks.
void find_named_blocks(const Body& body, const CompiledTemplate& owner,
                       std::unordered_map<std::string, BlockRef>& blocks, int depth = 0) {
  if (depth > kMaxNesting * 4) return;
  for (const Node& node : body) {
    switch (node.kind) {
      case NodeKind::named_block:
        blocks[node.text] = BlockRef{&node.body, &owner};
        find_named_blocks(node.body, owner, blocks, depth + 1);
        break;
      case NodeKind::include: {
        const CompiledTemplate& included = CompiledTemplate::of(*node.included);
        find_named_blocks(included.body, included, blocks, depth + 1);
        break;
      }
      case NodeKind::if_block:
        for (const Branch& branch : node.branches)
          find_named_blocks(branch.body, owner, blocks, depth + 1);
        find_named_blocks(node.orelse, owner, blocks, depth + 1);
        break;
      case NodeKind::try_block:
        find_named_blocks(node.body, owner, blocks, depth + 1);
        for (const Handler& h : node.handlers) find_named_blocks(h.body, owner, blocks, depth + 1);
        find_named_blocks(node.orelse, owner, blocks, depth + 1);
        find_named_blocks(node.finally_body, owner, blocks, depth + 1);
        break;
      default:
        find_named_blocks(node.body, owner, blocks, depth + 1);
        find_named_blocks(node.orelse, owner, blocks, depth + 1);
        break;
    }
  }
}

// ---------------------------------------------------------------------------
// Rendering

enum class Flow : std::uint8_t { normal, break_loop, continue_loop };

struct RenderState {
  std::string* out;
  // Where this render's output starts in *out (generate_to appends; an apply
  // block renders into a buffer of its own).
  std::size_t out_start;
  const CompiledTemplate* generating;
  const CompiledTemplate* current;
  EvalContext context;
  int depth = 0;
  // Resolved autoescape functions; a deque so that references stay valid.
  std::deque<std::pair<std::string_view, Value>> escapers;
  const std::string* last_escaper_name = nullptr;
  const Value* last_escaper = nullptr;
  bool last_escaper_is_xhtml = false;
};

bool matches(const ExceptHeader& header, const std::string& type) {
  if (header.types.empty()) return true;
  for (const std::string& t : header.types) {
    if (t == type || t == "Exception" || t == "BaseException") return true;
    if (t == "LookupError" && (type == "KeyError" || type == "IndexError")) return true;
    if (t == "ArithmeticError" && (type == "ZeroDivisionError" || type == "OverflowError")) {
      return true;
    }
  }
  return false;
}

class Renderer {
 public:
  explicit Renderer(RenderState& state) : st_(state) {}

  Flow render(const Body& body) {
    for (const Node& node : body) {
      const Flow flow = render(node);
      check_output(node);
      if (flow != Flow::normal) return flow;
    }
    return Flow::normal;
  }

 private:
  // Evaluation failures get the file, line and directive they happened in.
  template <class F>
  auto guarded(const Node& node, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const EvalError& e) {
      throw TemplateError(st_.current->name, node.line, e.what(), node.source, e.type());
    } catch (const TemplateError& e) {
      if (!e.filename().empty()) throw;
      throw TemplateError(st_.current->name, node.line, e.reason(), node.source, e.error_type(),
                          e.cause());
    }
  }

  // The output counts against max_value_size as a value does; checked after
  // each node, so a loop stops at the limit and the error names the node.
  void check_output(const Node& node) const {
    if (st_.out->size() - st_.out_start > max_value_size) {
      throw TemplateError(
          st_.current->name, node.line,
          "the output exceeds max_value_size (" + std::to_string(max_value_size) + " bytes)",
          node.source, "MemoryError");
    }
  }

  const Value& escaper(const std::string& name) {
    // Most expressions use the same function: remember the last one by address.
    if (&name == st_.last_escaper_name) return *st_.last_escaper;
    for (const auto& [n, v] : st_.escapers) {
      if (n == name) {
        st_.last_escaper_name = &name;
        st_.last_escaper = &v;
        st_.last_escaper_is_xhtml = is_xhtml_escape(v);
        return v;
      }
    }
    EvalContext globals = st_.context;
    globals.scope = nullptr;
    st_.escapers.emplace_back(name, lookup_name(name, globals));
    st_.last_escaper_name = &name;
    st_.last_escaper = &st_.escapers.back().second;
    st_.last_escaper_is_xhtml = is_xhtml_escape(*st_.last_escaper);
    return st_.escapers.back().second;
  }

  // Appends str(value), escaped by the current template's autoescape function.
  void output(const Json& value, bool raw) {
    std::string& out = *st_.out;
    // Escaping only lengthens a string: refuse one too long before copying it.
    if (const std::size_t used = out.size() - st_.out_start;
        value.is_string() && (used > max_value_size ||
                              value.get_ref<const std::string&>().size() > max_value_size - used)) {
      throw EvalError("MemoryError", "the output exceeds max_value_size (" +
                                         std::to_string(max_value_size) + " bytes)");
    }
    const std::string& autoescape = st_.current->autoescape;
    if (raw || autoescape.empty()) {
      append_python_str(out, value);
      return;
    }
    const Value& function = escaper(autoescape);
    if (st_.last_escaper_is_xhtml) {
      if (value.is_string()) {
        append_escaped(out, value.get_ref<const std::string&>());
      } else if (value.is_number_integer() || value.is_boolean() || value.is_null()) {
        append_python_str(out, value);  // nothing to escape
      } else {
        std::string text;
        append_python_str(text, value);
        append_escaped(out, text);
      }
      return;
    }
    std::string text;
    append_python_str(text, value);
    append_str(out, call_value(function, {Value(Json(std::move(text)))}, st_.context));
  }

  void output(const Value& value, bool raw) {
    if (const Json* j = value.json()) {
      output(*j, raw);
      return;
    }
    output(Json(to_str(value)), raw);
  }

  void output(const Expr& expr, bool raw) {
    if (const Json* j = resolve_json(expr, st_.context)) {
      output(*j, raw);
    } else {
      output(evaluate(expr, st_.context), raw);
    }
  }

  bool condition(const Expr& expr) {
    if (const Json* j = resolve_json(expr, st_.context)) return truthy(*j);
    return truthy(evaluate(expr, st_.context));
  }

  static void append_escaped(std::string& out, std::string_view text) {
    append_xhtml_escaped(out, text);
  }

  Flow render(const Node& node) {
    EvalContext& ctx = st_.context;
    guarded(node, [] { charge_render_budget(); });
    switch (node.kind) {
      case NodeKind::text:
        st_.out->append(node.text);
        return Flow::normal;
      case NodeKind::expression:
        guarded(node, [&] { output(*node.expr, node.raw); });
        return Flow::normal;
      case NodeKind::module:
        guarded(node, [&] {
          const std::string& name = node.expr->children[0]->name;
          const template_::Function* module = nullptr;
          for (const Functions* functions : {ctx.functions, ctx.loader_functions}) {
            if (!module && functions) {
              const auto it = functions->find(name);
              if (it != functions->end()) module = &it->second;
            }
          }
          if (module) {
            const Value function = Value::of(FunctionValue{nullptr, module, name});
            append_str(*st_.out, call_expression_with(function, *node.expr, ctx));
            return;
          }
          // As Tornado's `_tt_modules.Name(args)`: the handler's UI modules.
          Value modules;
          try {
            modules = lookup_name("_tt_modules", ctx);
          } catch (const EvalError&) {
            throw EvalError("NameError", "no UI module named '" + name + "'");
          }
          append_str(*st_.out, call_method_expression(std::move(modules), *node.expr, ctx));
        });
        return Flow::normal;
      case NodeKind::if_block:
        for (const Branch& branch : node.branches) {
          if (guarded(node, [&] { return condition(*branch.condition); })) {
            return render(branch.body);
          }
        }
        return render(node.orelse);
      case NodeKind::for_block: {
        Iterator it = guarded(node, [&] { return Iterator(evaluate(*node.expr, ctx)); });
        Value item;
        while (guarded(node, [&] { return it.next(item); })) {
          guarded(node, [&] { assign(node.target, std::move(item), ctx); });
          if (render(node.body) == Flow::break_loop) return Flow::normal;
        }
        return render(node.orelse);
      }
      case NodeKind::while_block:
        while (guarded(node, [&] {
          charge_render_budget();
          return condition(*node.expr);
        })) {
          if (render(node.body) == Flow::break_loop) return Flow::normal;
        }
        return render(node.orelse);
      case NodeKind::set:
        guarded(node, [&] {
          Value value = evaluate(*node.expr, ctx);
          if (node.augmented) {
            value = binary_operation(*node.augmented, lookup_name(node.target.name, ctx), value);
          }
          assign(node.target, std::move(value), ctx);
        });
        return Flow::normal;
      case NodeKind::try_block:
        return render_try(node);
      case NodeKind::break_loop:
        return Flow::break_loop;
      case NodeKind::continue_loop:
        return Flow::continue_loop;
      case NodeKind::named_block: {
        const auto it = st_.generating->named_blocks.find(node.text);
        if (it == st_.generating->named_blocks.end()) return Flow::normal;
        return nested(node, it->second.owner, *it->second.body);
      }
      case NodeKind::include: {
        const CompiledTemplate& included = CompiledTemplate::of(*node.included);
        return nested(node, &included, included.body);
      }
      case NodeKind::apply: {
        const Value function = guarded(node, [&] { return evaluate(*node.expr, ctx); });
        std::string buffer;
        Scope scope{ctx.scope, {}};
        std::string* saved_out = st_.out;
        const std::size_t saved_start = st_.out_start;
        Scope* saved_scope = ctx.scope;
        st_.out = &buffer;
        st_.out_start = 0;
        ctx.scope = &scope;
        try {
          render(node.body);
        } catch (...) {
          st_.out = saved_out;
          st_.out_start = saved_start;
          ctx.scope = saved_scope;
          throw;
        }
        st_.out = saved_out;
        st_.out_start = saved_start;
        ctx.scope = saved_scope;
        guarded(node, [&] {
          append_str(*st_.out, call_value(function, {Value(Json(std::move(buffer)))}, ctx));
        });
        return Flow::normal;
      }
      case NodeKind::extends:
      case NodeKind::intermediate:
        return Flow::normal;
    }
    return Flow::normal;
  }

  Flow nested(const Node& node, const CompiledTemplate* owner, const Body& body) {
    if (st_.depth >= kMaxNesting) {
      throw TemplateError(st_.current->name, node.line, "blocks and includes nested too deeply",
                          node.source, "RecursionError");
    }
    const CompiledTemplate* saved = st_.current;
    st_.current = owner;
    ++st_.depth;
    Flow flow;
    try {
      flow = render(body);
    } catch (...) {
      st_.current = saved;
      --st_.depth;
      throw;
    }
    st_.current = saved;
    --st_.depth;
    return flow;
  }

  Flow render_try(const Node& node) {
    Flow result = Flow::normal;
    std::exception_ptr pending;
    bool raised = false;
    const CompiledTemplate* current = st_.current;
    const int depth = st_.depth;
    try {
      result = render(node.body);
    } catch (const TemplateError& e) {
      st_.current = current;
      st_.depth = depth;
      raised = true;
      const Handler* handler = nullptr;
      for (const Handler& h : node.handlers) {
        if (matches(h.header, e.error_type())) {
          handler = &h;
          break;
        }
      }
      if (!handler) {
        pending = std::current_exception();
      } else {
        try {
          if (!handler->header.bind.empty()) {
            st_.context.scope->set(handler->header.bind, Value(Json(e.reason())));
          }
          result = render(handler->body);
        } catch (...) {
          pending = std::current_exception();
        }
      }
    }
    if (!raised && result == Flow::normal) {
      try {
        result = render(node.orelse);
      } catch (...) {
        pending = std::current_exception();
      }
    }
    if (node.has_finally) {
      const Flow flow = render(node.finally_body);
      if (flow != Flow::normal) {
        result = flow;
        pending = nullptr;  // a break in finally discards the exception, as Python
      }
    }
    if (pending) std::rethrow_exception(pending);
    return result;
  }

  RenderState& st_;
};

std::string by_extension_whitespace(std::string_view name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  return ends_with(".html") || ends_with(".js") ? "single" : "all";
}

}  // namespace

struct LoaderAccess {
  static LoaderState& state(const template_::BaseLoader& loader) { return *loader.state_; }
};

}  // namespace tornado::detail

namespace tornado::template_ {

using detail::CompiledTemplate;

Template::Template(std::string source, std::string name, const BaseLoader* loader,
                   TemplateOptions options)
    : impl_(std::make_unique<CompiledTemplate>()) {
  CompiledTemplate& c = *impl_;
  c.name = std::move(name);
  std::string whitespace;
  if (options.whitespace) {
    whitespace = *options.whitespace;
  } else if (loader && loader->options().whitespace) {
    whitespace = *loader->options().whitespace;
  } else {
    whitespace = detail::by_extension_whitespace(c.name);
  }
  if (!detail::valid_whitespace_mode(whitespace)) {
    throw ParseError(c.name, 0, "invalid whitespace mode " + whitespace);
  }
  if (options.autoescape) {
    c.autoescape = *options.autoescape;
  } else if (loader) {
    c.autoescape = loader->options().autoescape;
  } else {
    c.autoescape = "xhtml_escape";
  }
  if (c.autoescape == "None") c.autoescape.clear();
  if (options.max_value_size) {
    c.max_value_size = *options.max_value_size;
  } else if (loader) {
    c.max_value_size = loader->options().max_value_size;
  }
  if (loader) c.loader_functions = detail::LoaderAccess::state(*loader).functions;

  detail::Reader reader{source, c.name, whitespace};
  c.body = detail::TemplateParser(c, loader, std::move(reader)).parse_file();

  // Ancestors: this file, then for each top-level {% extends %} the parent's.
  c.ancestors.push_back(&c);
  for (const detail::Node& node : c.body) {
    if (node.kind != detail::NodeKind::extends) continue;
    std::shared_ptr<const Template> parent;
    try {
      parent = loader->load(node.text, c.name);
    } catch (const ParseError&) {
      throw;
    } catch (const TemplateError& e) {
      throw ParseError(c.name, node.line, e.reason());
    }
    const CompiledTemplate& p = *parent->impl_;
    c.ancestors.insert(c.ancestors.end(), p.ancestors.begin(), p.ancestors.end());
    c.keep_alive.push_back(std::move(parent));
  }
  for (auto it = c.ancestors.rbegin(); it != c.ancestors.rend(); ++it) {
    detail::find_named_blocks((*it)->body, **it, c.named_blocks);
  }
  c.root = c.ancestors.back();
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

const std::string& Template::name() const noexcept {
  return impl_->name;
}

std::string Template::generate(const Namespace& ns, const Functions& functions) const {
  std::string out;
  generate_to(out, ns, functions);
  return out;
}

void Template::generate_to(std::string& out, const Namespace& ns,
                           const Functions& functions) const {
  const nlohmann::json& values = ns.json();
  if (!values.is_object() && !values.is_null()) {
    throw TemplateError(impl_->name, 0, "the values of a template must be a JSON object", {},
                        "TypeError");
  }
  detail::Scope scope;
  detail::RenderState state{&out, out.size(), impl_.get(), impl_->root, {},
                            0,    {},         nullptr,     nullptr,     false};
  state.context.values = values.is_object() ? &values : nullptr;
  state.context.objects = ns.objects().empty() ? nullptr : &ns.objects();
  state.context.functions = &functions;
  state.context.loader_functions = impl_->loader_functions.get();
  state.context.scope = &scope;
  const detail::MaxValueSizeScope limit(impl_->max_value_size);
  detail::Renderer(state).render(impl_->root->body);
}

// ---------------------------------------------------------------------------
// Loader

namespace {

[[noreturn]] void refuse(std::string_view name, const std::string& reason) {
  std::string quoted;
  detail::append_python_string_repr(quoted, name);
  throw TemplateError(std::string(name), 0, "template name " + quoted + " " + reason, {},
                      "PermissionError");
}

bool is_within(const std::filesystem::path& path, const std::filesystem::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

}  // namespace

BaseLoader::BaseLoader(LoaderOptions options) : state_(std::make_unique<detail::LoaderState>()) {
  state_->functions = std::make_shared<const Functions>(options.functions);
  state_->options = std::move(options);
}

BaseLoader::~BaseLoader() = default;

const LoaderOptions& BaseLoader::options() const noexcept {
  return state_->options;
}

void BaseLoader::reset() {
  std::lock_guard lock(state_->mutex);
  state_->cache.clear();
}

std::string BaseLoader::version(const std::string&) const {
  return {};
}

std::string BaseLoader::resolve_path(std::string_view name, std::string_view parent_path) const {
  if (name.find('\0') != std::string_view::npos) refuse("<NUL>", "contains a NUL byte");
  if (name.empty()) refuse(name, "is empty");
  if (name.front() == '/' || name.front() == '\\') refuse(name, "is absolute");
  std::filesystem::path path(name);
  if (!parent_path.empty() && parent_path.front() != '<' && parent_path.front() != '/') {
    path = std::filesystem::path(parent_path).parent_path() / path;
  }
  path = path.lexically_normal();
  if (path.empty() || path.is_absolute() || path.has_root_name() || *path.begin() == "..") {
    refuse(name, "leaves the template root");
  }
  std::string resolved = path.generic_string();
  if (resolved == "." || resolved.empty() || resolved.back() == '/') {
    refuse(name, "does not name a file");
  }
  return resolved;
}

std::shared_ptr<const Template> BaseLoader::load(std::string_view name,
                                                 std::string_view parent_path) const {
  detail::LoaderState& s = *state_;
  const std::string key = resolve_path(name, parent_path);
  std::lock_guard lock(s.mutex);

  auto record = [&s](const std::vector<detail::LoaderState::Dependency>& dependencies) {
    if (!s.loading.empty()) {
      auto& deps = s.loading.back().dependencies;
      deps.insert(deps.end(), dependencies.begin(), dependencies.end());
    }
  };

  if (const auto it = s.cache.find(key); it != s.cache.end()) {
    bool fresh = true;
    if (s.options.debug) {
      for (const auto& dep : it->second.dependencies) {
        if (version(dep.name) != dep.version) {
          fresh = false;
          break;
        }
      }
    }
    if (fresh) {
      record(it->second.dependencies);
      return it->second.compiled;
    }
    s.cache.erase(it);
  }

  for (const auto& frame : s.loading) {
    if (frame.name == key) {
      std::string chain;
      for (const auto& f : s.loading) chain += f.name + " -> ";
      throw TemplateError(key, 0, "template cycle: " + chain + key, {}, "RecursionError");
    }
  }
  if (s.loading.size() > 64) {
    throw TemplateError(key, 0, "templates extend or include each other too deeply", {},
                        "RecursionError");
  }

  detail::LoaderState::Dependency self{key, version(key)};
  std::string source = load_source(key);
  s.loading.push_back({key, {self}});
  std::shared_ptr<const Template> compiled;
  try {
    compiled = std::make_shared<const Template>(std::move(source), key, this);
  } catch (...) {
    s.loading.pop_back();
    throw;
  }
  detail::LoaderState::Entry entry{std::move(compiled), std::move(s.loading.back().dependencies)};
  s.loading.pop_back();
  record(entry.dependencies);
  auto result = entry.compiled;
  s.cache[key] = std::move(entry);
  return result;
}

Loader::Loader(std::filesystem::path root, LoaderOptions options)
    : BaseLoader(std::move(options)), root_(std::filesystem::absolute(root).lexically_normal()) {}

std::string Loader::version(const std::string& name) const {
  namespace fs = std::filesystem;
  std::error_code ec1, ec2;
  const fs::path path = root_ / name;
  const auto mtime = fs::last_write_time(path, ec1);
  const auto size = fs::file_size(path, ec2);
  if (ec1 || ec2) return "missing";
  return std::to_string(mtime.time_since_epoch().count()) + ":" + std::to_string(size);
}

std::string Loader::load_source(const std::string& key) const {
  namespace fs = std::filesystem;
  // Read the file, refusing anything that resolves outside the root.
  std::error_code ec;
  const fs::path root = fs::canonical(root_, ec);
  if (ec) {
    throw TemplateError(key, 0, "template root " + root_.string() + " not found", {},
                        "FileNotFoundError");
  }
  const fs::path path = fs::canonical(root_ / key, ec);
  if (ec || !fs::is_regular_file(path)) {
    throw TemplateError(key, 0, "template not found", {}, "FileNotFoundError");
  }
  if (!is_within(path, root)) refuse(key, "leaves the template root through a symbolic link");
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  if (!file) throw TemplateError(key, 0, "template could not be read", {}, "OSError");
  return contents.str();
}

std::vector<std::string> BaseLoader::loaded_names() const {
  std::lock_guard lock(state_->mutex);
  std::vector<std::string> names;
  for (const auto& [key, entry] : state_->cache) {
    names.push_back(key);
    for (const auto& dep : entry.dependencies) names.push_back(dep.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<std::filesystem::path> Loader::loaded_files() const {
  std::vector<std::filesystem::path> files;
  for (const auto& name : loaded_names()) files.push_back(root_ / name);
  return files;
}

DictLoader::DictLoader(std::map<std::string, std::string, std::less<>> templates,
                       LoaderOptions options)
    : BaseLoader(std::move(options)), templates_(std::move(templates)) {}

std::string DictLoader::load_source(const std::string& name) const {
  const auto it = templates_.find(name);
  if (it == templates_.end()) {
    throw TemplateError(name, 0, "template not found", {}, "FileNotFoundError");
  }
  return it->second;
}

}  // namespace tornado::template_
