// Tests for tornado/detail/websocket/protocol.h: frame encoding, masking,
// the streaming MessageReader (data-file cases in
// tests/data/websocket/frames.txt, each fed in many splits), UTF-8 in
// text frames, limits, close payloads and the handshake helpers.
#include "tornado/detail/websocket/protocol.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "tornado/detail/websocket/permessage_deflate.h"

namespace {

namespace ws = tornado::detail::ws;

std::string from_hex(std::string_view hex) {
  std::string out;
  std::string digits;
  for (char c : hex) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// The frames.txt harness

struct Event {
  std::string kind;  // text, binary, ping, pong, close, error
  int code = 0;
  std::string payload;
  bool operator==(const Event&) const = default;
};

void PrintTo(const Event& e, std::ostream* os) {
  *os << e.kind;
  if (e.code) *os << " " << e.code;
  if (e.payload.size() > 48) {
    *os << " <" << e.payload.size() << " bytes: " << to_hex(e.payload.substr(0, 16)) << "...>";
  } else {
    *os << " x:" << to_hex(e.payload);
  }
}

std::string kind_name(ws::Opcode op) {
  switch (op) {
    case ws::Opcode::text:
      return "text";
    case ws::Opcode::binary:
      return "binary";
    case ws::Opcode::ping:
      return "ping";
    case ws::Opcode::pong:
      return "pong";
    case ws::Opcode::close:
      return "close";
    default:
      return "continuation";
  }
}

// Splits a line into tokens; a "quoted string" is one token, kept with its quotes.
std::vector<std::string> tokenize(const std::string& line) {
  std::vector<std::string> tokens;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    std::string token;
    if (line[i] == '"') {
      token.push_back(line[i++]);
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size()) token.push_back(line[i++]);
        token.push_back(line[i++]);
      }
      token.push_back('"');
      ++i;
    } else {
      while (i < line.size() && line[i] != ' ') token.push_back(line[i++]);
    }
    tokens.push_back(token);
  }
  return tokens;
}

std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out.push_back(s[i]);
      continue;
    }
    const char c = s[++i];
    if (c == 'x') {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (c == 'n') {
      out.push_back('\n');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string parse_payload(const std::string& token) {
  if (token.size() >= 2 && token.front() == '"') return unescape(token.substr(1, token.size() - 2));
  if (token.rfind("x:", 0) == 0) return from_hex(token.substr(2));
  if (token.rfind("*", 0) == 0) {
    const auto colon = token.find(':');
    const std::string c = unescape(token.substr(colon + 1));
    return std::string(std::stoul(token.substr(1, colon - 1)), c.at(0));
  }
  ADD_FAILURE() << "bad payload token " << token;
  return {};
}

struct FrameCase {
  std::string name;
  ws::Role role = ws::Role::server;
  bool deflate = false;
  std::uint64_t max = 10 * 1024 * 1024;
  std::string input;
  std::vector<Event> expected;
};

// Appends a frame described by a "> B0 [flags] PAYLOAD" line.
void append_test_frame(FrameCase& c, const std::vector<std::string>& t, int index) {
  const auto b0 = static_cast<std::uint8_t>(std::stoi(t[1], nullptr, 16));
  bool masked = c.role == ws::Role::server;
  int length_bytes = 0;
  std::string payload;
  for (std::size_t i = 2; i < t.size(); ++i) {
    if (t[i] == "nomask")
      masked = false;
    else if (t[i] == "mask")
      masked = true;
    else if (t[i] == "len16")
      length_bytes = 2;
    else if (t[i] == "len64")
      length_bytes = 8;
    else
      payload += parse_payload(t[i]);
  }
  const ws::MaskingKey key = {static_cast<std::uint8_t>(0x37 + index), 0xfa, 0x21, 0x3d};
  std::string frame(1, static_cast<char>(b0));
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (length_bytes == 0 && n < 126) {
    frame.push_back(static_cast<char>(mask_bit | n));
  } else if (length_bytes != 8 && n <= 0xFFFF) {
    frame.push_back(static_cast<char>(mask_bit | 126));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n));
  } else {
    frame.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>(n >> (8 * i)));
  }
  if (masked) {
    frame.append(reinterpret_cast<const char*>(key.data()), 4);
    // Masked here byte by byte, independently of ws::mask_payload.
    for (std::size_t i = 0; i < payload.size(); ++i)
      payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
  }
  c.input += frame + payload;
}

std::vector<FrameCase> load_frame_cases() {
  std::ifstream in(std::string(TORNADO_TEST_DATA) + "/websocket/frames.txt");
  EXPECT_TRUE(in) << "frames.txt not found";
  std::vector<FrameCase> cases;
  std::string line;
  int frame_index = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("=== ", 0) == 0) {
      cases.push_back({});
      cases.back().name = line.substr(4);
      continue;
    }
    FrameCase& c = cases.back();
    const auto t = tokenize(line);
    if (t[0] == "role") {
      c.role = t.at(1) == "client" ? ws::Role::client : ws::Role::server;
    } else if (t[0] == "deflate") {
      c.deflate = true;
    } else if (t[0] == "max") {
      c.max = std::stoull(t.at(1));
    } else if (t[0] == ">" && t.at(1) == "raw") {
      std::size_t i = 2;
      std::string hex;
      for (; i < t.size() && t[i] != "|"; ++i) hex += t[i];
      c.input += from_hex(hex);
      if (i + 1 < t.size()) c.input += parse_payload(t[i + 1]);
    } else if (t[0] == ">") {
      append_test_frame(c, t, frame_index++);
    } else if (t[0] == "<") {
      Event e{t.at(1)};
      if (e.kind == "error") {
        e.code = std::stoi(t.at(2));
      } else if (e.kind == "close") {
        e.code = std::stoi(t.at(2));
        e.payload = parse_payload(t.at(3));
      } else {
        e.payload = parse_payload(t.at(2));
      }
      c.expected.push_back(e);
    } else {
      ADD_FAILURE() << "bad line in frames.txt: " << line;
    }
  }
  return cases;
}

ws::MessageReader make_reader(const FrameCase& c) {
  std::unique_ptr<ws::Inflater> inflater;
  if (c.deflate) inflater = ws::make_inflater(c.role, ws::DeflateParams{});
  return ws::MessageReader({.role = c.role, .max_message_size = c.max}, std::move(inflater));
}

// Feeds `input` to `reader` as an IOStream read loop would: chunk after
// chunk, unconsumed bytes kept at the front of its buffer.
std::vector<Event> run_reader(ws::MessageReader& reader, const std::string& input,
                              const std::vector<std::size_t>& chunks) {
  std::vector<Event> events;
  std::string pending;
  std::size_t pos = 0;
  std::size_t chunk_index = 0;
  while (pos < input.size()) {
    const std::size_t size = std::min(chunks[chunk_index++ % chunks.size()], input.size() - pos);
    pending.append(input, pos, size);
    pos += size;
    while (true) {
      ws::ReadResult r = reader.read(pending);
      EXPECT_LE(r.consumed, pending.size());
      if (r.status == ws::ReadStatus::error) {
        events.push_back({"error", r.error_code, ""});
        return events;
      }
      if (r.status == ws::ReadStatus::message) {
        Event e{kind_name(r.message.opcode), 0, std::string(r.message.payload)};
        if (r.message.opcode == ws::Opcode::close) e.code = r.message.close_code;
        events.push_back(e);
      } else {
        EXPECT_EQ(r.consumed, pending.size()) << "need_more must consume everything";
      }
      pending.erase(0, r.consumed);
      if (r.status == ws::ReadStatus::need_more) break;
    }
  }
  return events;
}

TEST(WebSocketProtocolTest, FrameDataFileInManySplits) {
  const auto cases = load_frame_cases();
  ASSERT_GT(cases.size(), 100u);
  std::mt19937 rng(1234);
  for (const auto& c : cases) {
    std::vector<std::vector<std::size_t>> splits = {
        {c.input.size() + 1}, {1}, {2}, {3}, {7}, {13}, {4096}, {1, 2, 125, 3, 14, 1}};
    for (int r = 0; r < 3; ++r) {
      std::vector<std::size_t> random;
      for (int i = 0; i < 50; ++i) random.push_back(1 + rng() % 300);
      splits.push_back(random);
    }
    for (const auto& split : splits) {
      if (split[0] == 1 && c.input.size() > 200000) continue;  // keep byte-at-a-time cheap
      auto reader = make_reader(c);
      const auto events = run_reader(reader, c.input, split);
      ASSERT_EQ(events, c.expected) << c.name << " (first chunk size " << split[0] << ")";
    }
  }
}

// ---------------------------------------------------------------------------
// Encoding

TEST(WebSocketProtocolTest, CloseCodeValidity) {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                   3999, 4000, 4999}) {
    EXPECT_TRUE(ws::is_valid_close_code(static_cast<std::uint16_t>(code))) << code;
  }
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(ws::is_valid_close_code(static_cast<std::uint16_t>(code))) << code;
  }
  EXPECT_EQ(ws::close_code::protocol_error, 1002);
  EXPECT_EQ(ws::close_code::message_too_big, 1009);
}

std::string header(ws::Opcode op, std::uint64_t size, const ws::FrameOptions& options = {}) {
  std::array<char, ws::kMaxFrameHeaderSize> buf;
  const std::size_t n = ws::encode_frame_header(buf, op, size, options);
  return {buf.data(), n};
}

TEST(WebSocketProtocolTest, EncodeHeaderLengthEncodings) {
  EXPECT_EQ(to_hex(header(ws::Opcode::text, 0)), "8100");
  EXPECT_EQ(to_hex(header(ws::Opcode::text, 125)), "817d");
  EXPECT_EQ(to_hex(header(ws::Opcode::binary, 126)), "827e007e");
  EXPECT_EQ(to_hex(header(ws::Opcode::binary, 256)), "827e0100");
  EXPECT_EQ(to_hex(header(ws::Opcode::binary, 65535)), "827effff");
  EXPECT_EQ(to_hex(header(ws::Opcode::binary, 65536)), "827f0000000000010000");
  EXPECT_EQ(to_hex(header(ws::Opcode::binary, 0x0102030405060708ULL)), "827f0102030405060708");
  EXPECT_EQ(to_hex(header(ws::Opcode::binary, 0x7FFFFFFFFFFFFFFFULL)), "827f7fffffffffffffff");
}

TEST(WebSocketProtocolTest, EncodeHeaderFlagsAndMask) {
  const ws::MaskingKey key = {0x37, 0xfa, 0x21, 0x3d};
  EXPECT_EQ(to_hex(header(ws::Opcode::text, 5, {.mask = key})), "818537fa213d");
  EXPECT_EQ(to_hex(header(ws::Opcode::text, 3, {.fin = false})), "0103");
  EXPECT_EQ(to_hex(header(ws::Opcode::continuation, 2)), "8002");
  EXPECT_EQ(to_hex(header(ws::Opcode::text, 7, {.rsv1 = true})), "c107");
  EXPECT_EQ(to_hex(header(ws::Opcode::ping, 0)), "8900");
  EXPECT_EQ(to_hex(header(ws::Opcode::close, 2)), "8802");
  const std::string big = header(ws::Opcode::binary, 70000, {.mask = key});
  EXPECT_EQ(big.size(), ws::kMaxFrameHeaderSize);
  EXPECT_EQ(to_hex(big), "82ff000000000001117037fa213d");
}

TEST(WebSocketProtocolTest, AppendFrameMatchesRfcExamples) {
  std::string out;
  ws::append_frame(out, ws::Opcode::text, "Hello");
  EXPECT_EQ(to_hex(out), "810548656c6c6f");
  out.clear();
  ws::append_frame(out, ws::Opcode::text, "Hello",
                   {.mask = ws::MaskingKey{0x37, 0xfa, 0x21, 0x3d}});
  EXPECT_EQ(to_hex(out), "818537fa213d7f9f4d5158");
  out.clear();
  ws::append_frame(out, ws::Opcode::text, "Hel", {.fin = false});
  ws::append_frame(out, ws::Opcode::continuation, "lo");
  EXPECT_EQ(to_hex(out), "010348656c80026c6f");
}

TEST(WebSocketProtocolTest, MaskMatchesBytewiseXorAtAnyOffset) {
  std::mt19937 rng(7);
  const ws::MaskingKey key = {0x12, 0x34, 0x56, 0x78};
  for (std::size_t length = 0; length < 100; ++length) {
    std::string data(length, '\0');
    for (char& ch : data) ch = static_cast<char>(rng());
    for (std::uint64_t offset = 0; offset < 9; ++offset) {
      std::string expected = data;
      for (std::size_t i = 0; i < length; ++i) {
        expected[i] = static_cast<char>(expected[i] ^ key[(offset + i) % 4]);
      }
      std::string actual = data;
      ws::mask_payload(actual, key, offset);
      ASSERT_EQ(actual, expected) << length << " " << offset;
    }
  }
}

TEST(WebSocketProtocolTest, MaskInPiecesEqualsMaskWhole) {
  std::string data(1000, 'z');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  const ws::MaskingKey key = {0xde, 0xad, 0xbe, 0xef};
  std::string whole = data;
  ws::mask_payload(whole, key);
  std::string pieces = data;
  std::size_t pos = 0;
  for (std::size_t piece : {1, 3, 8, 33, 5, 100, 850}) {
    ws::mask_payload(std::span<char>(pieces).subspan(pos, piece), key, pos);
    pos += piece;
  }
  EXPECT_EQ(pieces, whole);
  ws::mask_payload(whole, key);  // masking twice restores the data
  EXPECT_EQ(whole, data);
}

TEST(WebSocketProtocolTest, MaskingKeysAreFresh) {
  std::set<std::uint32_t> keys;
  for (int i = 0; i < 1000; ++i) {
    const auto k = ws::generate_masking_key();
    std::uint32_t v;
    std::memcpy(&v, k.data(), 4);
    keys.insert(v);
  }
  EXPECT_GT(keys.size(), 990u);
}

TEST(WebSocketProtocolTest, ClosePayloads) {
  EXPECT_EQ(ws::make_close_payload(std::nullopt), "");
  EXPECT_EQ(to_hex(ws::make_close_payload(1000)), "03e8");
  EXPECT_EQ(ws::make_close_payload(1001, "bye"), std::string("\x03\xe9"
                                                             "bye"));
  EXPECT_EQ(ws::make_close_payload(std::nullopt, "why"), std::string("\x03\xe8"
                                                                     "why"));
  // Reasons are cut to fit 125 bytes, never inside a code point.
  const std::string long_reason(200, 'a');
  EXPECT_EQ(ws::make_close_payload(1000, long_reason).size(), ws::kMaxControlPayload);
  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "\xc5\xbe";  // "ž", 2 bytes
  const std::string cut = ws::make_close_payload(1000, accented);
  EXPECT_EQ(cut.size(), 2u + 122u);
  EXPECT_TRUE(tornado::detail::is_valid_utf8(std::string_view(cut).substr(2)));
}

// ---------------------------------------------------------------------------
// Reader behaviour beyond the data file

std::string masked_frame(ws::Opcode op, std::string_view payload, bool fin = true) {
  std::string out;
  ws::append_frame(out, op, payload, {.fin = fin, .mask = ws::MaskingKey{1, 2, 3, 4}});
  return out;
}

TEST(WebSocketProtocolTest, SingleFrameIsZeroCopy) {
  ws::MessageReader reader;
  std::string buf =
      masked_frame(ws::Opcode::text, "zero copy please") + masked_frame(ws::Opcode::ping, "p");
  auto r = reader.read(buf);
  ASSERT_EQ(r.status, ws::ReadStatus::message);
  EXPECT_EQ(r.message.payload, "zero copy please");
  EXPECT_GE(r.message.payload.data(), buf.data());
  EXPECT_LT(r.message.payload.data(), buf.data() + buf.size());
  // Only the first frame was consumed; the ping is next.
  EXPECT_EQ(r.consumed, 6u + 16u);
  r = reader.read(std::span<char>(buf).subspan(r.consumed));
  ASSERT_EQ(r.status, ws::ReadStatus::message);
  EXPECT_EQ(r.message.opcode, ws::Opcode::ping);
  EXPECT_EQ(r.message.payload, "p");
  EXPECT_GE(r.message.payload.data(), buf.data());
}

TEST(WebSocketProtocolTest, FragmentedMessageIsAssembledInTheReader) {
  ws::MessageReader reader;
  std::string buf = masked_frame(ws::Opcode::binary, "part one, ", false) +
                    masked_frame(ws::Opcode::continuation, "part two");
  auto r = reader.read(buf);
  ASSERT_EQ(r.status, ws::ReadStatus::message);
  EXPECT_EQ(r.message.opcode, ws::Opcode::binary);
  EXPECT_EQ(r.message.payload, "part one, part two");
  EXPECT_TRUE(r.message.payload.data() < buf.data() ||
              r.message.payload.data() >= buf.data() + buf.size());
  EXPECT_EQ(r.consumed, buf.size());
  EXPECT_FALSE(reader.in_message());
}

TEST(WebSocketProtocolTest, InMessageBetweenFragments) {
  ws::MessageReader reader;
  std::string buf = masked_frame(ws::Opcode::text, "a", false);
  EXPECT_EQ(reader.read(buf).status, ws::ReadStatus::need_more);
  EXPECT_TRUE(reader.in_message());
}

// Reads `bytes` as one read of a stream and returns the messages it
// completed: their payloads, after their kind ("text:...") with `kinds`.
std::vector<std::string> read_as_one(ws::MessageReader& reader, std::string bytes, bool kinds) {
  std::vector<std::string> events;
  std::span<char> input(bytes);
  while (true) {
    ws::ReadResult r = reader.read(input);
    EXPECT_NE(r.status, ws::ReadStatus::error) << r.error_reason;
    if (r.status != ws::ReadStatus::message) break;
    std::string payload(r.message.payload);
    events.push_back(kinds ? kind_name(r.message.opcode) + ":" + payload : payload);
    input = input.subspan(r.consumed);
  }
  return events;
}

// An idle reader holds no in-progress state: a block for it is made when a
// frame arrives split or a fragmented message starts, and released once the
// reader is back at a frame boundary with nothing pending. Every event must
// be the same whether the block was just made, reused or released.
TEST(WebSocketProtocolTest, InProgressBlockIsReleasedAndMadeAgain) {
  ws::MessageReader reader;
  auto feed = [&](std::string bytes) { return read_as_one(reader, std::move(bytes), true); };
  using Events = std::vector<std::string>;

  // Whole frames, one per read: nothing is made.
  EXPECT_EQ(feed(masked_frame(ws::Opcode::text, "hello")), Events{"text:hello"});
  EXPECT_FALSE(reader.holds_partial());

  // A frame with a 16-bit length, split at every byte boundary.
  const std::string payload(300, 'x');
  const std::string frame = masked_frame(ws::Opcode::text, payload);
  for (std::size_t cut = 1; cut < frame.size(); ++cut) {
    EXPECT_EQ(feed(frame.substr(0, cut)), Events{}) << cut;
    EXPECT_TRUE(reader.holds_partial()) << cut;
    EXPECT_EQ(feed(frame.substr(cut)), Events{"text:" + payload}) << cut;
    EXPECT_FALSE(reader.holds_partial()) << cut;
  }

  // A whole frame after that is zero-copy again.
  std::string whole = masked_frame(ws::Opcode::binary, "abc");
  auto r = reader.read(whole);
  ASSERT_EQ(r.status, ws::ReadStatus::message);
  EXPECT_EQ(r.message.payload, "abc");
  EXPECT_GE(r.message.payload.data(), whole.data());
  EXPECT_LT(r.message.payload.data(), whole.data() + whole.size());
  EXPECT_FALSE(reader.holds_partial());

  // A fragmented message spanning reads with a ping in between, cut at
  // every position: the ping comes out in wire order, the message whole.
  const std::string fragmented = masked_frame(ws::Opcode::text, "frag", false) +
                                 masked_frame(ws::Opcode::ping, "p") +
                                 masked_frame(ws::Opcode::continuation, "mented");
  for (std::size_t cut = 1; cut < fragmented.size(); ++cut) {
    Events events = feed(fragmented.substr(0, cut));
    EXPECT_TRUE(reader.holds_partial()) << cut;
    EXPECT_EQ(reader.in_message(), cut >= 6) << cut;  // 6: the first header
    for (auto& e : feed(fragmented.substr(cut))) events.push_back(e);
    EXPECT_EQ(events, (Events{"ping:p", "text:fragmented"})) << cut;
    EXPECT_FALSE(reader.holds_partial()) << cut;
    EXPECT_FALSE(reader.in_message()) << cut;
  }

  // A control frame split in two, then a close.
  const std::string ping = masked_frame(ws::Opcode::ping, "split ping");
  EXPECT_EQ(feed(ping.substr(0, 9)), Events{});
  EXPECT_EQ(feed(ping.substr(9)), Events{"ping:split ping"});
  EXPECT_FALSE(reader.holds_partial());
  EXPECT_EQ(feed(masked_frame(ws::Opcode::close, std::string("\x03\xe8", 2) + "bye")),
            Events{"close:bye"});
  EXPECT_TRUE(reader.closed());
}

// With permessage-deflate the same sequence holds, compressed messages
// between them (whole and split), each inflated with the context of the last.
TEST(WebSocketProtocolTest, CompressedMessagesAroundSplitFrames) {
  const ws::DeflateParams params;
  ws::MessageReader reader({.role = ws::Role::server}, ws::make_inflater(ws::Role::server, params));
  ws::Deflater deflater(15, false);
  auto compressed = [&](std::string_view message) {
    std::string body;
    deflater.compress(message, body);
    std::string out;
    ws::append_frame(out, ws::Opcode::text, body,
                     {.rsv1 = true, .mask = ws::MaskingKey{9, 8, 7, 6}});
    return out;
  };
  auto feed = [&](std::string bytes) { return read_as_one(reader, std::move(bytes), false); };
  using Events = std::vector<std::string>;
  const std::string text = "hello hello hello compressed world";
  // Each compressed frame is cut at a further position; every message goes
  // through the same inflater, so a lost byte of context would show.
  for (std::size_t cut = 1; cut < 40; ++cut) {
    EXPECT_EQ(feed(compressed(text)), Events{text}) << cut;
    const std::string split = compressed(text + " again");
    const std::size_t at = 1 + cut % (split.size() - 1);  // later ones are short
    EXPECT_EQ(feed(split.substr(0, at)), Events{}) << cut;
    EXPECT_EQ(feed(split.substr(at)), Events{text + " again"}) << cut;
    const std::string plain = masked_frame(ws::Opcode::binary, std::string(200, 'b'));
    EXPECT_EQ(feed(plain.substr(0, cut)), Events{}) << cut;
    EXPECT_EQ(feed(plain.substr(cut)), Events{std::string(200, 'b')}) << cut;
    EXPECT_EQ(feed(masked_frame(ws::Opcode::text, "plain")), Events{"plain"}) << cut;
  }
}

TEST(WebSocketProtocolTest, InvalidUtf8FailsBeforeTheFrameEnds) {
  // A 1000-byte text frame whose 11th byte breaks UTF-8 fails as soon as
  // that byte arrives, long before the frame is complete (Autobahn 6.4.3).
  std::string payload = "0123456789\xed\xa0\x80";
  payload.resize(1000, 'x');
  std::string frame = masked_frame(ws::Opcode::text, payload);
  ws::MessageReader reader;
  std::string first = frame.substr(0, 8 + 10);  // header and the valid part
  EXPECT_EQ(reader.read(first).status, ws::ReadStatus::need_more);
  std::string second = frame.substr(18, 2);  // ED A0: already impossible
  auto r = reader.read(second);
  ASSERT_EQ(r.status, ws::ReadStatus::error);
  EXPECT_EQ(r.error_code, ws::close_code::invalid_payload);
}

TEST(WebSocketProtocolTest, InvalidUtf8FailsInTheFragmentThatHasIt) {
  // Autobahn 6.4.1: the second of three fragments is bad; no need to wait
  // for the third.
  ws::MessageReader reader;
  std::string one =
      masked_frame(ws::Opcode::text, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", false);
  std::string two = masked_frame(ws::Opcode::continuation, "\xf4\x90\x80\x80", false);
  EXPECT_EQ(reader.read(one).status, ws::ReadStatus::need_more);
  auto r = reader.read(two);
  ASSERT_EQ(r.status, ws::ReadStatus::error);
  EXPECT_EQ(r.error_code, 1007);
}

TEST(WebSocketProtocolTest, TooBigFailsOnTheHeader) {
  ws::MessageReader reader({.max_message_size = 1000});
  std::string frame = masked_frame(ws::Opcode::binary, std::string(1001, 'a'));
  std::string head = frame.substr(0, 8);  // just the header
  auto r = reader.read(head);
  ASSERT_EQ(r.status, ws::ReadStatus::error);
  EXPECT_EQ(r.error_code, ws::close_code::message_too_big);
}

TEST(WebSocketProtocolTest, ErrorsAreSticky) {
  ws::MessageReader reader;
  std::string bad = "\x83\x80\x00\x00\x00\x00";
  auto r = reader.read(bad);
  ASSERT_EQ(r.status, ws::ReadStatus::error);
  EXPECT_EQ(r.error_reason, "reserved opcode");
  EXPECT_TRUE(reader.failed());
  std::string good = masked_frame(ws::Opcode::text, "late");
  r = reader.read(good);
  EXPECT_EQ(r.status, ws::ReadStatus::error);
  EXPECT_EQ(r.error_code, 1002);
}

TEST(WebSocketProtocolTest, ClosedReaderIgnoresInput) {
  ws::MessageReader reader;
  std::string buf = masked_frame(ws::Opcode::close, ws::make_close_payload(1001, "away")) +
                    masked_frame(ws::Opcode::text, "ignored");
  auto r = reader.read(buf);
  ASSERT_EQ(r.status, ws::ReadStatus::message);
  EXPECT_EQ(r.message.close_code, 1001);
  EXPECT_EQ(r.message.payload, "away");
  EXPECT_TRUE(reader.closed());
  r = reader.read(std::span<char>(buf).subspan(r.consumed));
  EXPECT_EQ(r.status, ws::ReadStatus::need_more);
  EXPECT_EQ(r.consumed, buf.size() - 6 - 6);
}

TEST(WebSocketProtocolTest, HugeDeclaredLengthDoesNotAllocate) {
  // A 1 TiB frame under a 2 TiB limit: the header is accepted, and memory
  // grows only with the bytes that actually arrive.
  ws::MessageReader reader({.role = ws::Role::client, .max_message_size = 2ULL << 40});
  std::string head = from_hex("027f0000010000000000") + "abc";
  auto r = reader.read(head);
  EXPECT_EQ(r.status, ws::ReadStatus::need_more);
  EXPECT_EQ(r.consumed, head.size());
}

TEST(WebSocketProtocolTest, LargeMessagesInSmallFragmentsAndChops) {
  // Autobahn 9.3/9.5-style: 4 MiB in 64-byte fragments, and a 4 MiB single
  // frame fed in 64-byte chops; both must be reassembled exactly.
  std::string message(4 << 20, '\0');
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>('a' + i % 26);
  std::string fragmented;
  for (std::size_t pos = 0; pos < message.size(); pos += 64) {
    const bool last = pos + 64 >= message.size();
    ws::append_frame(fragmented, pos == 0 ? ws::Opcode::text : ws::Opcode::continuation,
                     std::string_view(message).substr(pos, 64),
                     {.fin = last, .mask = ws::generate_masking_key()});
  }
  ws::MessageReader reader({.max_message_size = 16 << 20});
  const auto start = std::chrono::steady_clock::now();
  auto r = reader.read(fragmented);
  const auto fragments_time = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, ws::ReadStatus::message);
  EXPECT_EQ(r.consumed, fragmented.size());
  EXPECT_TRUE(r.message.payload == message);

  std::string single = masked_frame(ws::Opcode::text, message);
  ws::MessageReader reader2({.max_message_size = 16 << 20});
  const auto start2 = std::chrono::steady_clock::now();
  std::size_t pos = 0;
  ws::ReadResult r2;
  while (pos < single.size()) {
    r2 = reader2.read(
        std::span<char>(single).subspan(pos, std::min<std::size_t>(64, single.size() - pos)));
    pos += r2.consumed;
    if (r2.status != ws::ReadStatus::need_more) break;
  }
  const auto chops_time = std::chrono::steady_clock::now() - start2;
  ASSERT_EQ(r2.status, ws::ReadStatus::message);
  EXPECT_TRUE(r2.message.payload == message);
  using ms = std::chrono::duration<double, std::milli>;
  std::printf("4 MiB in 64-byte fragments: %.1f ms; in 64-byte chops: %.1f ms\n",
              ms(fragments_time).count(), ms(chops_time).count());
}

TEST(WebSocketProtocolTest, TextSplitAcrossFragmentsAtEveryPosition) {
  // Autobahn 6.x sends UTF-8 test strings whole and fragmented; here every
  // case of utf8.txt is sent as a two-fragment text message split at every
  // byte, so sequences straddle frames in every possible way.
  std::ifstream in(std::string(TORNADO_TEST_DATA) + "/websocket/utf8.txt");
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const bool valid = line.rfind("valid", 0) == 0;
    const auto space = line.find(' ');
    const std::string bytes = from_hex(line.substr(space + 1, line.find('#') - space - 1));
    ++cases;
    for (std::size_t split = 0; split <= bytes.size(); ++split) {
      std::string wire = masked_frame(ws::Opcode::text, bytes.substr(0, split), false) +
                         masked_frame(ws::Opcode::continuation, bytes.substr(split));
      ws::MessageReader reader;
      auto r = reader.read(wire);
      if (valid) {
        ASSERT_EQ(r.status, ws::ReadStatus::message) << line << " split " << split;
        EXPECT_EQ(r.message.payload, bytes);
      } else {
        ASSERT_EQ(r.status, ws::ReadStatus::error) << line << " split " << split;
        EXPECT_EQ(r.error_code, 1007);
      }
    }
    // And whole, in one frame.
    std::string wire = masked_frame(ws::Opcode::text, bytes);
    ws::MessageReader reader;
    EXPECT_EQ(reader.read(wire).status, valid ? ws::ReadStatus::message : ws::ReadStatus::error)
        << line;
  }
  EXPECT_GT(cases, 80);
}

TEST(WebSocketProtocolTest, EncoderAndReaderRoundTripEveryLength) {
  for (std::size_t length : {0, 1, 124, 125, 126, 127, 128, 65535, 65536, 65537, 200000}) {
    std::string payload(length, 'q');
    for (ws::Role role : {ws::Role::server, ws::Role::client}) {
      std::string wire;
      ws::FrameOptions options;
      if (role == ws::Role::server) options.mask = ws::generate_masking_key();
      ws::append_frame(wire, ws::Opcode::binary, payload, options);
      ws::MessageReader reader({.role = role});
      auto r = reader.read(wire);
      ASSERT_EQ(r.status, ws::ReadStatus::message) << length;
      EXPECT_EQ(r.consumed, wire.size());
      EXPECT_TRUE(r.message.payload == payload) << length;
    }
  }
}

// ---------------------------------------------------------------------------
// Handshake helpers

TEST(WebSocketProtocolTest, AcceptKeyFromRfc) {
  EXPECT_EQ(ws::compute_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketProtocolTest, WebSocketKeyValidation) {
  EXPECT_TRUE(ws::is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(ws::is_valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
  EXPECT_TRUE(ws::is_valid_websocket_key("+/+/+/+/+/+/+/+/+/+/+w=="));
  EXPECT_FALSE(ws::is_valid_websocket_key(""));
  EXPECT_FALSE(ws::is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ="));    // 23 chars
  EXPECT_FALSE(ws::is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==="));  // 25 chars
  EXPECT_FALSE(ws::is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQAA"));   // 18 bytes
  EXPECT_FALSE(ws::is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZ*=="));   // not base64
  EXPECT_FALSE(ws::is_valid_websocket_key("dGhlIHNhbXBsZSBub25j ZQ="));
  EXPECT_FALSE(ws::is_valid_websocket_key("c2hvcnQ="));  // "short"
}

TEST(WebSocketProtocolTest, GeneratedKeysAreValidAndFresh) {
  std::set<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    std::string key = ws::generate_websocket_key();
    EXPECT_TRUE(ws::is_valid_websocket_key(key)) << key;
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 100u);
}

TEST(WebSocketProtocolTest, ParseExtensions) {
  auto parsed = ws::parse_extensions(
      "permessage-deflate; client_max_window_bits, permessage-deflate;server_max_window_bits=10 ;"
      " Client_No_Context_Takeover,x-webkit-deflate-frame");
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[0], (ws::Extension{"permessage-deflate", {{"client_max_window_bits", {}}}}));
  EXPECT_EQ(
      (*parsed)[1],
      (ws::Extension{"permessage-deflate",
                     {{"server_max_window_bits", "10"}, {"client_no_context_takeover", {}}}}));
  EXPECT_EQ((*parsed)[2], (ws::Extension{"x-webkit-deflate-frame", {}}));

  auto quoted = ws::parse_extensions("permessage-deflate; server_max_window_bits=\"10\"");
  ASSERT_TRUE(quoted);
  EXPECT_EQ((*quoted)[0].params[0].value, "10");

  auto empty = ws::parse_extensions("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  auto empty_elements = ws::parse_extensions(" , foo ,, ");
  ASSERT_TRUE(empty_elements);
  EXPECT_EQ(empty_elements->size(), 1u);

  for (const char* bad :
       {"permessage-deflate;", "permessage-deflate; =1", "a b", "a; b=", "a; b=\"x y\"",
        "a; b=\"unterminated", "a; b=c d", "[x]", "a;;b", "a; b=\"\""}) {
    EXPECT_FALSE(ws::parse_extensions(bad)) << bad;
  }
}

TEST(WebSocketProtocolTest, FormatExtensionRoundTrips) {
  ws::Extension e{"permessage-deflate",
                  {{"server_no_context_takeover", {}}, {"client_max_window_bits", "12"}}};
  const std::string text = ws::format_extension(e);
  EXPECT_EQ(text, "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
  auto parsed = ws::parse_extensions(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)[0], e);
}

TEST(WebSocketProtocolTest, ParseSubprotocols) {
  auto p = ws::parse_subprotocols("chat, superchat ,v2.json");
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, (std::vector<std::string>{"chat", "superchat", "v2.json"}));
  auto one = ws::parse_subprotocols("graphql-ws");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
  EXPECT_TRUE(ws::parse_subprotocols("")->empty());
  EXPECT_FALSE(ws::parse_subprotocols("chat; q=1"));
  EXPECT_FALSE(ws::parse_subprotocols("a b"));
  EXPECT_FALSE(ws::parse_subprotocols("\"quoted\""));
}

}  // namespace
