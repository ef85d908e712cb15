// Lexer and recursive-descent parser for template expressions, following
// Python's expression grammar and operator precedence.
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "tornado/detail/template/expr.h"
#include "tornado/detail/template/text.h"

namespace tornado::detail {

namespace {

// Deep nesting is refused rather than overflowing the stack.
constexpr int kMaxDepth = 100;

enum class Tok : std::uint8_t { end, name, number, string, op };

struct Token {
  Tok type = Tok::end;
  std::string_view text;  // as written
  std::size_t pos = 0;
};

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_keyword(std::string_view word) {
  static constexpr std::string_view kKeywords[] = {
      "and",    "as",   "assert", "async",  "await",  "break",   "class",    "continue",
      "def",    "del",  "elif",   "else",   "except", "finally", "for",      "from",
      "global", "if",   "import", "in",     "is",     "lambda",  "nonlocal", "not",
      "or",     "pass", "raise",  "return", "try",    "while",   "with",     "yield"};
  for (auto k : kKeywords) {
    if (k == word) return true;
  }
  return false;
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::vector<Token> tokenize() {
    std::vector<Token> tokens;
    std::size_t i = 0;
    while (true) {
      while (i < text_.size() &&
             (text_[i] == ' ' || text_[i] == '\t' || text_[i] == '\n' || text_[i] == '\r' ||
              text_[i] == '\f' || text_[i] == '\v' ||
              (text_[i] == '\\' && i + 1 < text_.size() && text_[i + 1] == '\n'))) {
        i += text_[i] == '\\' ? 2 : 1;
      }
      if (i >= text_.size()) break;
      const std::size_t start = i;
      const char c = text_[i];
      if (c == '#') throw SyntaxError("comments are not allowed in expressions");
      if (is_name_start(c)) {
        while (i < text_.size() && is_name_char(text_[i])) ++i;
        // String prefixes: r, b, u, f and their pairs.
        if (i < text_.size() && (text_[i] == '\'' || text_[i] == '"') && i - start <= 2) {
          bool prefix = true;
          for (std::size_t k = start; k < i; ++k) {
            const char p = static_cast<char>(text_[k] | 0x20);
            if (p != 'r' && p != 'b' && p != 'u' && p != 'f') prefix = false;
          }
          if (prefix) {
            i = scan_string(i);
            tokens.push_back({Tok::string, text_.substr(start, i - start), start});
            continue;
          }
        }
        tokens.push_back({Tok::name, text_.substr(start, i - start), start});
        continue;
      }
      if (is_digit(c) || (c == '.' && i + 1 < text_.size() && is_digit(text_[i + 1]))) {
        while (i < text_.size() &&
               (is_name_char(text_[i]) || text_[i] == '.' ||
                ((text_[i] == '+' || text_[i] == '-') &&
                 (text_[i - 1] == 'e' || text_[i - 1] == 'E') && !is_hex_literal(start)))) {
          ++i;
        }
        tokens.push_back({Tok::number, text_.substr(start, i - start), start});
        continue;
      }
      if (c == '\'' || c == '"') {
        i = scan_string(i);
        tokens.push_back({Tok::string, text_.substr(start, i - start), start});
        continue;
      }
      static constexpr std::string_view kOps[] = {
          "**=", "//=", ">>=", "<<=", "**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=",
          "%=",  "<<",  ">>",  "->",  "+",  "-",  "*",  "/",  "%",  "<",  ">",  "(",  ")",  "[",
          "]",   "{",   "}",   ",",   ":",  ".",  "=",  "~",  "|",  "&",  "^",  "@",  "!",  ";"};
      bool matched = false;
      for (auto op : kOps) {
        if (text_.substr(i, op.size()) == op) {
          tokens.push_back({Tok::op, op, start});
          i += op.size();
          matched = true;
          break;
        }
      }
      if (!matched) {
        throw SyntaxError("unexpected character '" + std::string(1, c) + "'");
      }
    }
    tokens.push_back({Tok::end, {}, text_.size()});
    return tokens;
  }

 private:
  bool is_hex_literal(std::size_t start) const {
    return text_[start] == '0' && start + 1 < text_.size() &&
           (text_[start + 1] == 'x' || text_[start + 1] == 'X');
  }

  std::size_t scan_string(std::size_t i) {
    const char quote = text_[i];
    const bool triple = text_.substr(i, 3) == std::string(3, quote);
    i += triple ? 3 : 1;
    while (i < text_.size()) {
      if (text_[i] == '\\') {
        i += 2;
        continue;
      }
      if (triple) {
        if (text_.substr(i, 3) == std::string(3, quote)) return i + 3;
      } else {
        if (text_[i] == quote) return i + 1;
        if (text_[i] == '\n') break;
      }
      ++i;
    }
    throw SyntaxError("unterminated string literal");
  }

  std::string_view text_;
};

// Decodes the body of a string literal (between the quotes).
std::string decode_string_body(std::string_view body, bool raw) {
  std::string out;
  out.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    if (raw) {
      out += c;
      out += body[++i];
      continue;
    }
    const char e = body[++i];
    auto hex_escape = [&](std::size_t digits) {
      std::uint32_t value = 0;
      for (std::size_t k = 1; k <= digits; ++k) {
        if (i + k >= body.size()) throw SyntaxError("truncated \\x, \\u or \\U escape");
        const char h = body[i + k];
        int d = -1;
        if (h >= '0' && h <= '9') d = h - '0';
        if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
        if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
        if (d < 0) throw SyntaxError("truncated \\x, \\u or \\U escape");
        value = value * 16 + static_cast<std::uint32_t>(d);
      }
      i += digits;
      if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        throw SyntaxError("illegal Unicode character in string escape");
      }
      append_utf8(out, value);
    };
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        hex_escape(2);
        break;
      case 'u':
        hex_escape(4);
        break;
      case 'U':
        hex_escape(8);
        break;
      case 'N':
        throw SyntaxError("\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          std::uint32_t value = static_cast<std::uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7';
               ++k) {
            value = value * 8 + static_cast<std::uint32_t>(body[++i] - '0');
          }
          append_utf8(out, value);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

struct StringToken {
  std::string_view prefix;
  std::string_view body;
};

StringToken split_string_token(std::string_view token) {
  std::size_t q = 0;
  while (token[q] != '\'' && token[q] != '"') ++q;
  const char quote = token[q];
  const bool triple = token.substr(q, 3) == std::string(3, quote) && token.size() - q >= 6;
  const std::size_t open = triple ? 3 : 1;
  return {token.substr(0, q), token.substr(q + open, token.size() - q - 2 * open)};
}

bool has_prefix(std::string_view prefix, char letter) {
  for (char c : prefix) {
    if ((c | 0x20) == letter) return true;
  }
  return false;
}

Json parse_number(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c != '_') digits += c;
  }
  if (text.find("__") != std::string_view::npos || text.back() == '_') {
    throw SyntaxError("invalid number '" + std::string(text) + "'");
  }
  auto parse_int = [&](std::string_view s, int base) -> Json {
    if (s.empty()) throw SyntaxError("invalid number '" + std::string(text) + "'");
    std::uint64_t value = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), value, base);
    if (r.ec == std::errc::result_out_of_range) {
      throw SyntaxError("integer literal too large: " + std::string(text));
    }
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
      throw SyntaxError("invalid number '" + std::string(text) + "'");
    }
    if (value > static_cast<std::uint64_t>(INT64_MAX)) return Json(value);
    return Json(static_cast<std::int64_t>(value));
  };
  if (digits.size() > 1 && digits[0] == '0') {
    const char k = static_cast<char>(digits[1] | 0x20);
    if (k == 'x') return parse_int(std::string_view(digits).substr(2), 16);
    if (k == 'o') return parse_int(std::string_view(digits).substr(2), 8);
    if (k == 'b') return parse_int(std::string_view(digits).substr(2), 2);
  }
  const bool is_float = digits.find_first_of(".eE") != std::string::npos;
  if (!is_float) {
    if (digits.size() > 1 && digits[0] == '0' &&
        digits.find_first_not_of('0') != std::string::npos) {
      throw SyntaxError("leading zeros in decimal integer literals are not permitted");
    }
    return parse_int(digits, 10);
  }
  double value = 0;
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (r.ptr != digits.data() + digits.size() ||
      (r.ec != std::errc() && r.ec != std::errc::result_out_of_range)) {
    throw SyntaxError("invalid number '" + std::string(text) + "'");
  }
  if (r.ec == std::errc::result_out_of_range) {
    value = std::strtod(digits.c_str(), nullptr);  // inf or 0, as Python
  }
  return Json(value);
}

ExprPtr make(ExprKind kind) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  return e;
}

ExprPtr make_literal(Json value) {
  auto e = make(ExprKind::literal);
  e->literal = std::move(value);
  return e;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text), tokens_(Lexer(text).tokenize()) {}

  ExprPtr parse_all(bool allow_tuple) {
    ExprPtr e = allow_tuple ? tuple_or_test() : test();
    expect_end();
    return e;
  }

  Target parse_target_list() {
    Target first = target();
    if (!peek_op(",")) return first;
    Target tuple;
    tuple.is_tuple = true;
    tuple.elements.push_back(std::move(first));
    while (accept_op(",")) {
      if (peek_keyword("in") || peek_op("=") || at_end()) break;
      tuple.elements.push_back(target());
    }
    return tuple;
  }

  bool accept_keyword(std::string_view word) {
    if (peek().type == Tok::name && peek().text == word) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool peek_keyword(std::string_view word) const {
    return peek().type == Tok::name && peek().text == word;
  }
  bool accept_op(std::string_view op) {
    if (peek_op(op)) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool peek_op(std::string_view op) const { return peek().type == Tok::op && peek().text == op; }
  const Token& peek() const { return tokens_[pos_]; }
  bool at_end() const { return peek().type == Tok::end; }
  void expect_end() {
    if (!at_end()) fail_unexpected();
  }
  std::string_view rest() const { return text_.substr(peek().pos); }

  [[noreturn]] void fail_unexpected() const {
    if (at_end()) throw SyntaxError("unexpected end of expression");
    throw SyntaxError("unexpected '" + std::string(peek().text) + "' at column " +
                      std::to_string(peek().pos + 1));
  }

  ExprPtr tuple_or_test() {
    ExprPtr first = test();
    if (!peek_op(",")) return first;
    auto tuple = make(ExprKind::tuple);
    tuple->children.push_back(std::move(first));
    while (accept_op(",")) {
      if (at_end() || peek_op(")") || peek_op("=") || peek_op("]") || peek_op("}")) break;
      tuple->children.push_back(test());
    }
    return tuple;
  }

  ExprPtr test() {
    Deeper guard(*this);
    if (peek_keyword("lambda")) throw SyntaxError("lambda is not supported in templates");
    ExprPtr body = or_test();
    if (accept_keyword("if")) {
      auto e = make(ExprKind::conditional);
      ExprPtr condition = or_test();
      if (!accept_keyword("else")) throw SyntaxError("expected 'else' in conditional expression");
      ExprPtr orelse = test();
      e->children.push_back(std::move(body));
      e->children.push_back(std::move(condition));
      e->children.push_back(std::move(orelse));
      return e;
    }
    return body;
  }

 private:
  struct Deeper {
    explicit Deeper(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth) throw SyntaxError("expression nested too deeply");
    }
    ~Deeper() { --parser.depth_; }
    Parser& parser;
  };

  Target target() {
    Deeper guard(*this);
    if (accept_op("(") || accept_op("[")) {
      const std::string_view close = tokens_[pos_ - 1].text == "(" ? ")" : "]";
      Target inner = parse_target_list();
      if (!accept_op(close)) fail_unexpected();
      if (!inner.is_tuple) {
        // "(x)" is just x; "(x,)" was already a tuple.
        return inner;
      }
      return inner;
    }
    if (peek().type != Tok::name || is_keyword(peek().text) || peek().text == "None" ||
        peek().text == "True" || peek().text == "False") {
      if (at_end()) throw SyntaxError("expected a variable name");
      throw SyntaxError("cannot assign to '" + std::string(peek().text) +
                        "': only names can be assigned in templates");
    }
    Target t;
    t.name = std::string(peek().text);
    ++pos_;
    if (peek_op(".") || peek_op("[")) {
      throw SyntaxError("only names can be assigned in templates, not attributes or items");
    }
    return t;
  }

  ExprPtr or_test() {
    ExprPtr first = and_test();
    if (!peek_keyword("or")) return first;
    auto e = make(ExprKind::logical_or);
    e->children.push_back(std::move(first));
    while (accept_keyword("or")) e->children.push_back(and_test());
    return e;
  }

  ExprPtr and_test() {
    ExprPtr first = not_test();
    if (!peek_keyword("and")) return first;
    auto e = make(ExprKind::logical_and);
    e->children.push_back(std::move(first));
    while (accept_keyword("and")) e->children.push_back(not_test());
    return e;
  }

  ExprPtr not_test() {
    Deeper guard(*this);
    if (accept_keyword("not")) {
      auto e = make(ExprKind::logical_not);
      e->children.push_back(not_test());
      return e;
    }
    return comparison();
  }

  std::optional<CompareOp> compare_op() {
    const Token& t = peek();
    if (t.type == Tok::op) {
      static constexpr std::pair<std::string_view, CompareOp> kOps[] = {
          {"==", CompareOp::eq}, {"!=", CompareOp::ne}, {"<", CompareOp::lt},
          {"<=", CompareOp::le}, {">", CompareOp::gt},  {">=", CompareOp::ge}};
      for (auto [text, op] : kOps) {
        if (t.text == text) {
          ++pos_;
          return op;
        }
      }
      return std::nullopt;
    }
    if (accept_keyword("in")) return CompareOp::in;
    if (peek_keyword("not") && tokens_[pos_ + 1].type == Tok::name &&
        tokens_[pos_ + 1].text == "in") {
      pos_ += 2;
      return CompareOp::not_in;
    }
    if (accept_keyword("is")) return accept_keyword("not") ? CompareOp::is_not : CompareOp::is;
    return std::nullopt;
  }

  ExprPtr comparison() {
    ExprPtr first = arith();
    std::optional<CompareOp> op = compare_op();
    if (!op) return first;
    auto e = make(ExprKind::compare);
    e->children.push_back(std::move(first));
    while (op) {
      e->compare_ops.push_back(*op);
      e->children.push_back(arith());
      op = compare_op();
    }
    return e;
  }

  ExprPtr binary(ExprPtr left, BinaryOp op, ExprPtr right) {
    auto e = make(ExprKind::binary);
    e->op = op;
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  void refuse_bitwise() {
    if (peek().type == Tok::op &&
        (peek().text == "|" || peek().text == "&" || peek().text == "^" || peek().text == "<<" ||
         peek().text == ">>" || peek().text == "@")) {
      throw SyntaxError("operator '" + std::string(peek().text) + "' is not supported");
    }
  }

  ExprPtr arith() {
    ExprPtr left = term();
    while (true) {
      if (accept_op("+")) {
        left = binary(std::move(left), BinaryOp::add, term());
      } else if (accept_op("-")) {
        left = binary(std::move(left), BinaryOp::sub, term());
      } else {
        refuse_bitwise();
        return left;
      }
    }
  }

  ExprPtr term() {
    ExprPtr left = factor();
    while (true) {
      BinaryOp op;
      if (accept_op("*")) {
        op = BinaryOp::mul;
      } else if (accept_op("/")) {
        op = BinaryOp::div;
      } else if (accept_op("//")) {
        op = BinaryOp::floordiv;
      } else if (accept_op("%")) {
        op = BinaryOp::mod;
      } else {
        return left;
      }
      left = binary(std::move(left), op, factor());
    }
  }

  ExprPtr factor() {
    Deeper guard(*this);
    ExprKind kind;
    if (accept_op("-")) {
      kind = ExprKind::negate;
    } else if (accept_op("+")) {
      kind = ExprKind::plus;
    } else if (accept_op("~")) {
      kind = ExprKind::invert;
    } else {
      return power();
    }
    auto e = make(kind);
    e->children.push_back(factor());
    return e;
  }

  ExprPtr power() {
    ExprPtr base = primary();
    if (accept_op("**")) return binary(std::move(base), BinaryOp::pow, factor());
    return base;
  }

  ExprPtr primary() {
    ExprPtr e = atom();
    while (true) {
      if (accept_op(".")) {
        if (peek().type != Tok::name) throw SyntaxError("expected an attribute name after '.'");
        auto a = make(ExprKind::attribute);
        a->name = std::string(peek().text);
        ++pos_;
        a->children.push_back(std::move(e));
        e = std::move(a);
      } else if (accept_op("(")) {
        e = call(std::move(e));
      } else if (accept_op("[")) {
        e = subscript(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr call(ExprPtr function) {
    Deeper guard(*this);
    auto e = make(ExprKind::call);
    e->children.push_back(std::move(function));
    while (!accept_op(")")) {
      if (peek_op("*") || peek_op("**")) throw SyntaxError("*args and **kwargs are not supported");
      if (peek().type == Tok::name && tokens_[pos_ + 1].type == Tok::op &&
          tokens_[pos_ + 1].text == "=") {
        e->keywords.emplace_back(peek().text);
        pos_ += 2;
        e->children.push_back(test());
      } else {
        if (!e->keywords.empty()) {
          throw SyntaxError("positional argument follows keyword argument");
        }
        ExprPtr arg = test();
        if (peek_keyword("for")) arg = comprehension_tail(std::move(arg));
        e->children.push_back(std::move(arg));
      }
      if (!accept_op(",")) {
        if (!accept_op(")")) fail_unexpected();
        break;
      }
    }
    return e;
  }

  ExprPtr subscript(ExprPtr object) {
    Deeper guard(*this);
    ExprPtr parts[3];
    bool is_slice = false;
    int part = 0;
    while (true) {
      if (peek_op("]")) break;
      if (accept_op(":")) {
        is_slice = true;
        if (++part > 2) fail_unexpected();
        continue;
      }
      if (parts[part]) fail_unexpected();
      parts[part] = part == 0 ? tuple_or_test() : test();
    }
    accept_op("]");
    if (!is_slice) {
      if (!parts[0]) throw SyntaxError("empty subscript");
      auto e = make(ExprKind::subscript);
      e->children.push_back(std::move(object));
      e->children.push_back(std::move(parts[0]));
      return e;
    }
    auto e = make(ExprKind::slice);
    e->children.push_back(std::move(object));
    for (auto& p : parts) e->children.push_back(std::move(p));
    return e;
  }

  ExprPtr comprehension_tail(ExprPtr element, ExprKind kind = ExprKind::comprehension) {
    auto e = make(kind);
    e->children.push_back(std::move(element));
    while (accept_keyword("for")) {
      ComprehensionClause clause;
      clause.target = parse_target_list();
      if (!accept_keyword("in")) throw SyntaxError("expected 'in' in comprehension");
      clause.iterable = or_test();
      while (accept_keyword("if")) clause.conditions.push_back(or_test());
      e->clauses.push_back(std::move(clause));
    }
    return e;
  }

  ExprPtr atom() {
    Deeper guard(*this);
    const Token t = peek();
    switch (t.type) {
      case Tok::end:
        throw SyntaxError("unexpected end of expression");
      case Tok::number:
        ++pos_;
        return make_literal(parse_number(t.text));
      case Tok::string:
        return strings();
      case Tok::name: {
        ++pos_;
        if (t.text == "None") return make_literal(Json());
        if (t.text == "True") return make_literal(Json(true));
        if (t.text == "False") return make_literal(Json(false));
        if (is_keyword(t.text)) {
          throw SyntaxError("unexpected '" + std::string(t.text) + "' at column " +
                            std::to_string(t.pos + 1));
        }
        auto e = make(ExprKind::name);
        e->name = std::string(t.text);
        return e;
      }
      case Tok::op:
        break;
    }
    if (accept_op("(")) {
      if (accept_op(")")) return make(ExprKind::tuple);
      ExprPtr first = test();
      if (peek_keyword("for")) {
        // A generator expression behaves like a list here.
        ExprPtr e = comprehension_tail(std::move(first));
        if (!accept_op(")")) fail_unexpected();
        return e;
      }
      if (accept_op(")")) return first;
      auto tuple = make(ExprKind::tuple);
      tuple->children.push_back(std::move(first));
      while (accept_op(",")) {
        if (peek_op(")")) break;
        tuple->children.push_back(test());
      }
      if (!accept_op(")")) fail_unexpected();
      return tuple;
    }
    if (accept_op("[")) {
      auto list = make(ExprKind::list);
      if (accept_op("]")) return list;
      ExprPtr first = test();
      if (peek_keyword("for")) {
        ExprPtr e = comprehension_tail(std::move(first));
        if (!accept_op("]")) fail_unexpected();
        return e;
      }
      list->children.push_back(std::move(first));
      while (accept_op(",")) {
        if (peek_op("]")) break;
        list->children.push_back(test());
      }
      if (!accept_op("]")) fail_unexpected();
      return list;
    }
    if (accept_op("{")) {
      auto dict = make(ExprKind::dict);
      while (!accept_op("}")) {
        dict->children.push_back(test());
        if (!accept_op(":")) throw SyntaxError("set literals are not supported; expected ':'");
        dict->children.push_back(test());
        if (dict->children.size() == 2 && peek_keyword("for")) {
          ExprPtr e =
              comprehension_tail(std::move(dict->children[0]), ExprKind::dict_comprehension);
          e->children.push_back(std::move(dict->children[1]));
          if (!accept_op("}")) fail_unexpected();
          return e;
        }
        if (!accept_op(",")) {
          if (!accept_op("}")) fail_unexpected();
          break;
        }
      }
      return dict;
    }
    fail_unexpected();
  }

  // Adjacent string literals are concatenated, as in Python.
  ExprPtr strings() {
    std::vector<ExprPtr> parts;
    std::string pending;
    bool any_fstring = false;
    while (peek().type == Tok::string) {
      const auto [prefix, body] = split_string_token(peek().text);
      ++pos_;
      const bool raw = has_prefix(prefix, 'r');
      if (has_prefix(prefix, 'f')) {
        any_fstring = true;
        fstring(body, raw, pending, parts);
      } else {
        pending += decode_string_body(body, raw);
      }
    }
    if (!any_fstring) return make_literal(Json(std::move(pending)));
    if (!pending.empty()) parts.push_back(make_literal(Json(std::move(pending))));
    auto e = make(ExprKind::fstring);
    e->children = std::move(parts);
    return e;
  }

  void fstring(std::string_view body, bool raw, std::string& pending, std::vector<ExprPtr>& parts) {
    std::size_t i = 0;
    std::string literal;
    auto flush_literal = [&] {
      pending += decode_string_body(literal, raw);
      literal.clear();
    };
    while (i < body.size()) {
      const char c = body[i];
      if (c == '{' && i + 1 < body.size() && body[i + 1] == '{') {
        literal += '{';
        i += 2;
      } else if (c == '}' && i + 1 < body.size() && body[i + 1] == '}') {
        literal += '}';
        i += 2;
      } else if (c == '}') {
        throw SyntaxError("f-string: single '}' is not allowed");
      } else if (c == '{') {
        flush_literal();
        if (!pending.empty()) {
          parts.push_back(make_literal(Json(std::move(pending))));
          pending.clear();
        }
        i = replacement_field(body, i + 1, raw, parts);
      } else {
        literal += c;
        ++i;
      }
    }
    flush_literal();
  }

  // Parses "expr[!conv][:spec]}" starting at `i`; returns the index after '}'.
  std::size_t replacement_field(std::string_view body, std::size_t i, bool raw,
                                std::vector<ExprPtr>& parts) {
    Deeper guard(*this);
    const std::size_t start = i;
    int depth = 0;
    char in_string = 0;
    for (; i < body.size(); ++i) {
      const char c = body[i];
      if (in_string) {
        if (c == in_string) in_string = 0;
        continue;
      }
      if (c == '\'' || c == '"') {
        in_string = c;
      } else if (c == '(' || c == '[' || c == '{') {
        ++depth;
      } else if (c == ')' || c == ']' || (c == '}' && depth > 0)) {
        --depth;
      } else if (depth == 0 && (c == '}' || c == ':' ||
                                (c == '!' && (i + 1 >= body.size() || body[i + 1] != '=')))) {
        break;
      }
    }
    if (i >= body.size()) throw SyntaxError("f-string: expecting '}'");
    auto field = make(ExprKind::format_value);
    field->children.push_back(Parser(body.substr(start, i - start)).parse_all(true));
    if (body[i] == '!') {
      if (i + 1 >= body.size()) throw SyntaxError("f-string: expecting '}'");
      field->name = std::string(1, body[i + 1]);
      if (field->name != "r" && field->name != "s" && field->name != "a") {
        throw SyntaxError("f-string: invalid conversion character");
      }
      i += 2;
    }
    ExprPtr spec;
    if (i < body.size() && body[i] == ':') {
      // The spec may itself contain replacement fields.
      std::size_t j = i + 1;
      int nested = 0;
      while (j < body.size() && (body[j] != '}' || nested > 0)) {
        if (body[j] == '{') ++nested;
        if (body[j] == '}') --nested;
        ++j;
      }
      std::vector<ExprPtr> spec_parts;
      std::string spec_pending;
      fstring(body.substr(i + 1, j - i - 1), raw, spec_pending, spec_parts);
      if (!spec_pending.empty()) spec_parts.push_back(make_literal(Json(std::move(spec_pending))));
      spec = make(ExprKind::fstring);
      spec->children = std::move(spec_parts);
      i = j;
    }
    if (i >= body.size() || body[i] != '}') throw SyntaxError("f-string: expecting '}'");
    field->children.push_back(std::move(spec));
    parts.push_back(std::move(field));
    return i + 1;
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

bool is_identifier(std::string_view text) {
  if (text.empty() || !is_name_start(text[0])) return false;
  for (char c : text) {
    if (!is_name_char(c)) return false;
  }
  return !is_keyword(text);
}

ExprPtr parse_expression(std::string_view text, bool allow_tuple) {
  return Parser(text).parse_all(allow_tuple);
}

ForHeader parse_for_header(std::string_view text) {
  Parser parser(text);
  ForHeader header;
  header.target = parser.parse_target_list();
  if (!parser.accept_keyword("in")) throw SyntaxError("expected 'in' in for statement");
  header.iterable = parser.tuple_or_test();
  parser.expect_end();
  return header;
}

Assignment parse_assignment(std::string_view text) {
  Parser parser(text);
  Assignment assignment;
  assignment.target = parser.parse_target_list();
  static constexpr std::pair<std::string_view, BinaryOp> kAugmented[] = {
      {"+=", BinaryOp::add}, {"-=", BinaryOp::sub},       {"*=", BinaryOp::mul},
      {"/=", BinaryOp::div}, {"//=", BinaryOp::floordiv}, {"%=", BinaryOp::mod},
      {"**=", BinaryOp::pow}};
  bool found = parser.accept_op("=");
  for (auto [op, binary] : kAugmented) {
    if (!found && parser.accept_op(op)) {
      if (assignment.target.is_tuple) {
        throw SyntaxError("illegal expression for augmented assignment");
      }
      assignment.augmented = binary;
      found = true;
    }
  }
  if (!found) throw SyntaxError("expected 'NAME = expression'");
  assignment.value = parser.tuple_or_test();
  if (parser.peek_op("=")) throw SyntaxError("chained assignment is not supported");
  parser.expect_end();
  return assignment;
}

ExceptHeader parse_except_header(std::string_view text) {
  Parser parser(text);
  ExceptHeader header;
  if (parser.at_end()) return header;
  auto type_name = [&] {
    if (parser.peek().type != Tok::name || is_keyword(parser.peek().text)) {
      parser.fail_unexpected();
    }
    std::string name(parser.peek().text);
    parser.accept_keyword(name);
    while (parser.accept_op(".")) {  // builtins.KeyError and the like
      if (parser.peek().type != Tok::name) parser.fail_unexpected();
      name = std::string(parser.peek().text);
      parser.accept_keyword(name);
    }
    header.types.push_back(name);
  };
  if (parser.accept_op("(")) {
    while (!parser.accept_op(")")) {
      type_name();
      if (!parser.accept_op(",")) {
        if (!parser.accept_op(")")) parser.fail_unexpected();
        break;
      }
    }
  } else {
    type_name();
  }
  if (parser.accept_keyword("as")) {
    if (parser.peek().type != Tok::name || is_keyword(parser.peek().text)) {
      parser.fail_unexpected();
    }
    header.bind = std::string(parser.peek().text);
    parser.accept_keyword(header.bind);
  }
  parser.expect_end();
  return header;
}

}  // namespace tornado::detail
