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

}  // namespace tornado::detail
