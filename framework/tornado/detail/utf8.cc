// UTF-8 validation: a table-driven automaton for sequences split between
// chunks, and a faster per-code-point loop with an ASCII fast path for the
// bulk of each chunk.
//
// Each byte falls into one of twelve classes; the automaton's state says how
// many continuation bytes are still due and, right after the lead bytes E0,
// ED, F0 and F4, which narrower range the next byte must come from (that is
// where overlongs, surrogates and code points above U+10FFFF are refused).
#include "tornado/detail/utf8.h"

#include <array>
#include <bit>
#include <cstring>
#include <string>

namespace tornado::detail {
namespace {

enum ByteClass : std::uint8_t {
  kAscii,    // 00..7F
  kCont8x,   // 80..8F
  kCont9x,   // 90..9F
  kContAB,   // A0..BF
  kInvalid,  // C0, C1 (always overlong), F5..FF (above U+10FFFF)
  kLead2,    // C2..DF
  kLeadE0,   // E0: next byte A0..BF, else overlong
  kLead3,    // E1..EC, EE, EF
  kLeadED,   // ED: next byte 80..9F, else a surrogate
  kLeadF0,   // F0: next byte 90..BF, else overlong
  kLead4,    // F1..F3
  kLeadF4,   // F4: next byte 80..8F, else above U+10FFFF
  kClassCount
};

// States besides Utf8Validator::kAccept and kReject.
enum : std::uint8_t {
  kNeed1 = 1,
  kNeed2 = 2,
  kNeed3 = 3,
  kAfterE0 = 4,
  kAfterED = 5,
  kAfterF0 = 6,
  kAfterF4 = 7,
  kStateCount = 9
};
constexpr std::uint8_t kAccept = Utf8Validator::kAccept;
constexpr std::uint8_t kReject = Utf8Validator::kReject;
static_assert(kReject == kStateCount - 1);

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> c{};
  for (int b = 0; b < 256; ++b) {
    if (b < 0x80)
      c[b] = kAscii;
    else if (b < 0x90)
      c[b] = kCont8x;
    else if (b < 0xA0)
      c[b] = kCont9x;
    else if (b < 0xC0)
      c[b] = kContAB;
    else if (b < 0xC2)
      c[b] = kInvalid;
    else if (b < 0xE0)
      c[b] = kLead2;
    else if (b == 0xE0)
      c[b] = kLeadE0;
    else if (b == 0xED)
      c[b] = kLeadED;
    else if (b < 0xF0)
      c[b] = kLead3;
    else if (b == 0xF0)
      c[b] = kLeadF0;
    else if (b < 0xF4)
      c[b] = kLead4;
    else if (b == 0xF4)
      c[b] = kLeadF4;
    else
      c[b] = kInvalid;
  }
  return c;
}

using Transitions = std::array<std::array<std::uint8_t, kClassCount>, kStateCount>;

constexpr Transitions make_transitions() {
  Transitions t{};
  for (auto& row : t) row.fill(kReject);
  t[kAccept][kAscii] = kAccept;
  t[kAccept][kLead2] = kNeed1;
  t[kAccept][kLeadE0] = kAfterE0;
  t[kAccept][kLead3] = kNeed2;
  t[kAccept][kLeadED] = kAfterED;
  t[kAccept][kLeadF0] = kAfterF0;
  t[kAccept][kLead4] = kNeed3;
  t[kAccept][kLeadF4] = kAfterF4;
  for (std::uint8_t cont : {kCont8x, kCont9x, kContAB}) {
    t[kNeed1][cont] = kAccept;
    t[kNeed2][cont] = kNeed1;
    t[kNeed3][cont] = kNeed2;
  }
  t[kAfterE0][kContAB] = kNeed1;
  t[kAfterED][kCont8x] = kNeed1;
  t[kAfterED][kCont9x] = kNeed1;
  t[kAfterF0][kCont9x] = kNeed2;
  t[kAfterF0][kContAB] = kNeed2;
  t[kAfterF4][kCont8x] = kNeed2;
  return t;
}

constexpr std::array<std::uint8_t, 256> kClasses = make_classes();
constexpr Transitions kTransitions = make_transitions();

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

inline std::uint64_t load64(const unsigned char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Validates whole code points while at least four bytes remain, checking
// each sequence with direct range tests: unlike the automaton, the bytes of
// one code point do not wait on each other. Advances `p` to where it stopped
// (a code point boundary); returns false at an invalid sequence.
bool run_fast(const unsigned char*& p, const unsigned char* end) noexcept {
  while (end - p >= 4) {
    const unsigned b = p[0];
    if (b < 0x80) {
      // Skip ASCII two words, or one, at a time.
      if (end - p >= 16 && ((load64(p) | load64(p + 8)) & kHighBits) == 0) {
        p += 16;
      } else if (end - p >= 8) {
        const std::uint64_t high = load64(p) & kHighBits;
        if (high == 0) {
          p += 8;
        } else if constexpr (std::endian::native == std::endian::little) {
          p += std::countr_zero(high) / 8;  // to the first non-ASCII byte, at least 1
        } else {
          ++p;
        }
      } else {
        ++p;
      }
      continue;
    }
    if (b < 0xC2) return false;  // a continuation byte, or an overlong C0/C1
    if (b < 0xE0) {
      if ((p[1] & 0xC0) != 0x80) return false;
      p += 2;
    } else if (b < 0xF0) {
      const unsigned lo = b == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
      const unsigned hi = b == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be a surrogate
      if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80) return false;
      p += 3;
    } else if (b < 0xF5) {
      const unsigned lo = b == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
      const unsigned hi = b == 0xF4 ? 0x8F : 0xBF;  // F4 90.. would pass U+10FFFF
      if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) {
        return false;
      }
      p += 4;
    } else {
      return false;
    }
  }
  return true;
}

// Runs from `state` over [p, end); returns the final state, kReject as soon
// as a byte is refused. The automaton handles what run_fast() cannot: a
// sequence begun in an earlier chunk and the last few bytes of this one.
std::uint8_t run(std::uint8_t state, const unsigned char* p, const unsigned char* end) noexcept {
  while (p < end && state != kAccept) {
    state = kTransitions[state][kClasses[*p++]];
    if (state == kReject) return kReject;
  }
  if (state == kAccept && !run_fast(p, end)) return kReject;
  while (p < end) {
    state = kTransitions[state][kClasses[*p++]];
    if (state == kReject) return kReject;
  }
  return state;
}

}  // namespace

bool Utf8Validator::feed(std::string_view chunk) noexcept {
  if (state_ == kReject) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(chunk.data());
  state_ = run(state_, p, p + chunk.size());
  return state_ != kReject;
}

bool is_valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  return run(kAccept, p, p + text.size()) == kAccept;
}

Utf8Char decode_utf8(std::string_view text, std::size_t pos) noexcept {
  auto byte = [&](std::size_t i) -> unsigned {
    return i < text.size() ? static_cast<unsigned char>(text[i]) : 0x100u;
  };
  const unsigned lead = byte(pos);
  if (lead < 0x80) return {static_cast<char32_t>(lead), 1, true};
  std::size_t need = 0;
  unsigned low = 0x80, high = 0xBF;  // allowed range of the second byte
  char32_t cp = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
    cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    cp = lead & 0x0F;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    cp = lead & 0x07;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return {0xFFFD, 1, false};
  }
  for (std::size_t i = 1; i <= need; ++i) {
    const unsigned b = byte(pos + i);
    const unsigned lo = i == 1 ? low : 0x80, hi = i == 1 ? high : 0xBF;
    if (b < lo || b > hi) return {0xFFFD, i, false};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, need + 1, true};
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      out += text[i++];
      continue;
    }
    const Utf8Char c = decode_utf8(text, i);
    if (c.valid) {
      out.append(text.substr(i, c.size));
    } else {
      append_utf8(out, 0xFFFD);
    }
    i += c.size;
  }
  return out;
}

std::size_t utf8_length(std::string_view text) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++n) {
    i += static_cast<unsigned char>(text[i]) < 0x80 ? 1 : decode_utf8(text, i).size;
  }
  return n;
}

bool is_python_space(char32_t c) noexcept {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string_view python_strip(std::string_view text, bool left, bool right) noexcept {
  while (left && !text.empty()) {
    const Utf8Char c = decode_utf8(text, 0);
    if (!c.valid || !is_python_space(c.code_point)) break;
    text.remove_prefix(c.size);
  }
  while (right && !text.empty()) {
    // Back to the start of the last character: at most three continuation bytes.
    std::size_t start = text.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80 &&
           text.size() - start < 4) {
      --start;
    }
    const Utf8Char c = decode_utf8(text, start);
    if (!c.valid || start + c.size != text.size() || !is_python_space(c.code_point)) break;
    text.remove_suffix(c.size);
  }
  return text;
}

}  // namespace tornado::detail
