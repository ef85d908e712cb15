// Fuzz target for permessage-deflate (tornado/detail/websocket/permessage_deflate.h):
// inflating hostile data under a size limit, compress/inflate round trips
// in every window and context mode, and extension negotiation on hostile
// header values.
//
// Input: one option byte, then the data.
//   option bits 0-2: window bits - 8
//   option bit 3: no context takeover
//   option bits 4-5: output limit (16 B, 256 B, 4 KiB, 64 KiB)
//   option bits 6-7: compression level (1, 6, 9, 0)
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tornado/detail/websocket/permessage_deflate.h"

namespace {

namespace ws = tornado::detail::ws;

void check(bool condition) {
  if (!condition) std::abort();
}

void fuzz_inflate(std::string_view data, int bits, bool no_context, std::size_t limit) {
  ws::Inflater inflater(bits, no_context);
  // The data as two messages, the first fed in pieces.
  const std::size_t half = data.size() / 2;
  ws::InflateStatus status = ws::InflateStatus::ok;
  for (std::size_t pos = 0; pos < half && status == ws::InflateStatus::ok; pos += 7) {
    status = inflater.feed(data.substr(pos, std::min<std::size_t>(7, half - pos)), limit);
  }
  if (status == ws::InflateStatus::ok) status = inflater.finish(limit);
  check(inflater.output().size() <= limit + 1);
  check(inflater.output_capacity() <= limit + 1);
  if (status != ws::InflateStatus::ok) return;
  check(inflater.output().size() <= limit);
  inflater.clear_output();
  status = inflater.feed(data.substr(half), limit);
  if (status == ws::InflateStatus::ok) status = inflater.finish(limit);
  check(inflater.output_capacity() <= limit + 1);
}

void fuzz_round_trip(std::string_view data, int bits, bool no_context, int level) {
  ws::Deflater deflater(bits, no_context, level);
  ws::Inflater inflater(bits, no_context);
  for (std::string_view message : {data, data.substr(data.size() / 3), std::string_view()}) {
    std::string compressed;
    deflater.compress(message, compressed);
    check(inflater.feed(compressed, message.size()) == ws::InflateStatus::ok);
    check(inflater.finish(message.size()) == ws::InflateStatus::ok);
    check(inflater.output() == message);
    inflater.clear_output();
  }
}

void fuzz_negotiation(std::string_view header) {
  const auto offers = ws::parse_extensions(header);
  if (!offers) return;
  for (const auto& e : *offers) {
    check(!e.name.empty());
    // What the parser accepts, formatting and parsing again keeps.
    const auto again = ws::parse_extensions(ws::format_extension(e));
    check(again && again->size() == 1 && (*again)[0] == e);
  }
  const auto agreement = ws::negotiate_deflate(*offers, {});
  if (!agreement) return;
  // A client that asked for nothing in particular accepts the server's
  // answer, and both ends agree on the parameters.
  const auto response = ws::parse_extensions(agreement->response);
  check(response && response->size() == 1);
  const auto params = ws::accept_deflate_response((*response)[0], {});
  check(params && *params == agreement->params);
}

void fuzz_subprotocols(std::string_view header) {
  const auto protocols = ws::parse_subprotocols(header);
  if (!protocols) return;
  for (const auto& p : *protocols) check(!p.empty() && p.find(',') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t options = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const int bits = 8 + (options & 7);
  const bool no_context = (options & 8) != 0;
  const std::size_t limits[] = {16, 256, 4096, 65536};
  const std::size_t limit = limits[(options >> 4) & 3];
  const int levels[] = {1, 6, 9, 0};
  const int level = levels[(options >> 6) & 3];
  fuzz_inflate(rest, bits, no_context, limit);
  fuzz_round_trip(rest, bits, no_context, level);
  fuzz_negotiation(rest);
  fuzz_subprotocols(rest);
  return 0;
}
