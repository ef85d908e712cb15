// Fuzz target for the WebSocket frame reader (tornado/detail/websocket/protocol.h).
//
// Input: one option byte, one split byte, then the bytes of the stream.
//   option bit 0: role (0 server, 1 client)
//   option bit 1: permessage-deflate negotiated
//   option bits 2-3: max_message_size (64 B, 1 KiB, 64 KiB, 1 MiB)
//   option bits 4-6: inflater window bits - 8
// The stream is read once whole and once in pieces sized from the split
// byte; both runs must produce the same events (and the same error, where
// it cannot depend on how far a compressed message got), and every event
// must respect the protocol's invariants.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tornado/detail/websocket/permessage_deflate.h"
#include "tornado/detail/websocket/protocol.h"

namespace {

namespace ws = tornado::detail::ws;

struct Event {
  ws::Opcode opcode;
  std::uint16_t code;
  std::string payload;
  bool operator==(const Event&) const = default;
};

struct Outcome {
  std::vector<Event> events;
  std::uint16_t error = 0;
};

void check(bool condition) {
  if (!condition) std::abort();
}

Outcome run(const std::uint8_t* data, std::size_t size, std::uint8_t options, std::uint8_t split) {
  const ws::Role role = (options & 1) ? ws::Role::client : ws::Role::server;
  const bool deflate = (options & 2) != 0;
  const std::uint64_t limits[] = {64, 1024, 64 * 1024, 1024 * 1024};
  const std::uint64_t max = limits[(options >> 2) & 3];
  std::unique_ptr<ws::Inflater> inflater;
  if (deflate) inflater = std::make_unique<ws::Inflater>(8 + ((options >> 4) & 7), false);
  ws::MessageReader reader({.role = role, .max_message_size = max}, std::move(inflater));

  Outcome outcome;
  std::string pending;
  std::size_t pos = 0;
  std::size_t step = split == 0 ? size + 1 : split;
  while (pos < size) {
    const std::size_t n = std::min(step, size - pos);
    pending.append(reinterpret_cast<const char*>(data) + pos, n);
    pos += n;
    step = split == 0 ? step : 1 + (step * 7 + split) % 61;
    while (true) {
      const ws::ReadResult r = reader.read(pending);
      check(r.consumed <= pending.size());
      if (r.status == ws::ReadStatus::error) {
        check(r.error_code == 1002 || r.error_code == 1007 || r.error_code == 1009 ||
              r.error_code == 1011);
        check(reader.failed());
        outcome.error = r.error_code;
        return outcome;
      }
      if (r.status == ws::ReadStatus::message) {
        const ws::Message& m = r.message;
        check(m.opcode != ws::Opcode::continuation);
        if (ws::is_control(m.opcode)) {
          check(m.payload.size() <= ws::kMaxControlPayload);
        } else {
          check(m.payload.size() <= max);
        }
        if (m.opcode == ws::Opcode::text || m.opcode == ws::Opcode::close) {
          check(tornado::detail::is_valid_utf8(m.payload));
        }
        if (m.opcode == ws::Opcode::close) {
          check(m.close_code == ws::close_code::no_status || ws::is_valid_close_code(m.close_code));
          check(reader.closed());
        }
        outcome.events.push_back({m.opcode, m.close_code, std::string(m.payload)});
      } else {
        check(r.consumed == pending.size());
      }
      pending.erase(0, r.consumed);
      if (r.status == ws::ReadStatus::need_more) break;
    }
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t options = data[0];
  const std::uint8_t split = data[1];
  const Outcome whole = run(data + 2, size - 2, options, 0);
  const Outcome pieces = run(data + 2, size - 2, options, split == 0 ? 1 : split);
  check(whole.events == pieces.events);
  check((whole.error != 0) == (pieces.error != 0));
  // Invalid UTF-8 inside a compressed text message may be seen before or
  // after its inflated size passes the limit, depending on the splits.
  if (!(options & 2)) check(whole.error == pieces.error);
  return 0;
}
