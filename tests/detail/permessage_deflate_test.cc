// Tests for tornado/detail/websocket/permessage_deflate.h: RFC 7692 negotiation on
// both sides, compression round trips with and without context takeover,
// every window size (8 included) checked against a strict zlib decoder, the
// Autobahn|Testsuite 12.x/13.x configurations through the MessageReader,
// and compression bombs refused with 1009 in bounded memory.
#include "tornado/detail/websocket/permessage_deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

namespace {

namespace ws = tornado::detail::ws;

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::vector<ws::Extension> extensions(std::string_view header) {
  auto parsed = ws::parse_extensions(header);
  EXPECT_TRUE(parsed) << header;
  return parsed.value_or(std::vector<ws::Extension>{});
}

std::optional<ws::DeflateAgreement> negotiate(std::string_view offers,
                                              const ws::DeflateOptions& options = {}) {
  return ws::negotiate_deflate(extensions(offers), options);
}

// Text that compresses like real traffic: JSON with repeated keys and
// varying values.
std::string sample_text(std::size_t size, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < size) {
    out += "{\"id\": " + std::to_string(rng() % 100000) + ", \"name\": \"user" +
           std::to_string(rng() % 1000) +
           "\", \"tags\": [\"alpha\", \"beta\"], \"score\": " + std::to_string(rng() % 997) +
           ".5}, ";
  }
  out.resize(size);
  return out;
}

// ---------------------------------------------------------------------------
// Server negotiation

TEST(PermessageDeflateTest, ServerAcceptsPlainOffer) {
  auto a = negotiate("permessage-deflate");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->response, "permessage-deflate");
  EXPECT_EQ(a->params, ws::DeflateParams{});
}

TEST(PermessageDeflateTest, ServerDoesNotEchoValuelessClientMaxWindowBits) {
  auto a = negotiate("permessage-deflate; client_max_window_bits");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->response, "permessage-deflate");
  EXPECT_EQ(a->params.client_max_window_bits, 15);
}

TEST(PermessageDeflateTest, ServerHonoursOfferedParameters) {
  auto a = negotiate(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
      "server_max_window_bits=10; client_max_window_bits=11");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=11");
  EXPECT_EQ(a->params, (ws::DeflateParams{true, true, 10, 11}));
}

TEST(PermessageDeflateTest, ServerOptionsNarrowTheAgreement) {
  const ws::DeflateOptions options{.server_no_context_takeover = true,
                                   .client_no_context_takeover = true,
                                   .server_max_window_bits = 12,
                                   .client_max_window_bits = 9};
  auto a = negotiate("permessage-deflate; client_max_window_bits", options);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=12; client_max_window_bits=9");
  EXPECT_EQ(a->params, (ws::DeflateParams{true, true, 12, 9}));

  // The smaller of offer and option wins.
  a = negotiate("permessage-deflate; server_max_window_bits=10; client_max_window_bits=14",
                {.server_max_window_bits = 13, .client_max_window_bits = 12});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->params.server_max_window_bits, 10);
  EXPECT_EQ(a->params.client_max_window_bits, 12);
}

TEST(PermessageDeflateTest, ServerCannotLimitAClientThatDidNotOfferIt) {
  // RFC 7692 7.1.2.2: no client_max_window_bits in the response unless offered.
  auto a = negotiate("permessage-deflate", {.client_max_window_bits = 9});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->response, "permessage-deflate");
  EXPECT_EQ(a->params.client_max_window_bits, 15);
}

// The options docs/websocket.md gives for an idle compressed connection
// under 8 KiB, against the offers browsers, Node's ws and python websockets
// send (RFC 7692 7.1.1: a server may ask for no context takeover in either
// direction unasked; 7.1.2: it may limit its own window unasked, the
// client's only when the offer names client_max_window_bits).
TEST(PermessageDeflateTest, LowMemoryOptionsAnswerTheUsualOffers) {
  const ws::DeflateOptions low{.mem_level = 1,
                               .server_no_context_takeover = true,
                               .client_no_context_takeover = true,
                               .server_max_window_bits = 9,
                               .client_max_window_bits = 9,
                               .release_state_between_messages = true};
  struct Case {
    const char* offer;
    const char* response;
    ws::DeflateParams params;
  };
  const Case cases[] = {
      {"permessage-deflate; client_max_window_bits",
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
       "server_max_window_bits=9; client_max_window_bits=9",
       {true, true, 9, 9}},
      {"permessage-deflate",
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
       "server_max_window_bits=9",
       {true, true, 9, 15}},
      {"permessage-deflate; server_max_window_bits=8; client_max_window_bits=12",
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
       "server_max_window_bits=8; client_max_window_bits=9",
       {true, true, 8, 9}},
      {"permessage-deflate; client_no_context_takeover; client_max_window_bits=8",
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
       "server_max_window_bits=9; client_max_window_bits=8",
       {true, true, 9, 8}},
  };
  for (const auto& c : cases) {
    auto a = negotiate(c.offer, low);
    ASSERT_TRUE(a) << c.offer;
    EXPECT_EQ(a->response, c.response) << c.offer;
    EXPECT_EQ(a->params, c.params) << c.offer;
  }
  // A tornado-cpp client with default options accepts that answer and agrees.
  const std::string offer = ws::make_deflate_offer({});
  auto a = negotiate(offer, low);
  ASSERT_TRUE(a);
  auto response = extensions(a->response);
  ASSERT_EQ(response.size(), 1u);
  EXPECT_EQ(ws::accept_deflate_response(response.front(), {}), a->params);
}

TEST(PermessageDeflateTest, ServerDeclinesMalformedOffersAndTakesTheNext) {
  const char* bad_offers[] = {
      "permessage-deflate; unknown_param",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; client_no_context_takeover=true",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=08",
      "permessage-deflate; server_max_window_bits=abc",
      "permessage-deflate; client_max_window_bits=0",
      "permessage-deflate; client_max_window_bits=150",
  };
  for (const char* bad : bad_offers) {
    EXPECT_FALSE(negotiate(bad)) << bad;
    auto a = negotiate(std::string(bad) + ", permessage-deflate; client_no_context_takeover");
    ASSERT_TRUE(a) << bad;
    EXPECT_EQ(a->response, "permessage-deflate; client_no_context_takeover") << bad;
  }
}

TEST(PermessageDeflateTest, ServerAcceptsQuotedValuesAndIgnoresOtherExtensions) {
  auto a = negotiate("x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=\"9\"");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->params.server_max_window_bits, 9);
  EXPECT_FALSE(negotiate("x-webkit-deflate-frame, foo"));
  EXPECT_FALSE(negotiate(""));
}

TEST(PermessageDeflateTest, InvalidOptionsThrow) {
  EXPECT_THROW(negotiate("permessage-deflate", {.server_max_window_bits = 7}),
               std::invalid_argument);
  EXPECT_THROW(ws::make_deflate_offer({.client_max_window_bits = 16}), std::invalid_argument);
  EXPECT_THROW(ws::Deflater(15, false, 10), std::invalid_argument);
  EXPECT_THROW(ws::Deflater(15, false, 6, 0), std::invalid_argument);
  EXPECT_THROW(ws::Deflater(16, false), std::invalid_argument);
  EXPECT_THROW(ws::Inflater(7, false), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Client negotiation

TEST(PermessageDeflateTest, ClientOffers) {
  EXPECT_EQ(ws::make_deflate_offer({}), "permessage-deflate; client_max_window_bits");
  EXPECT_EQ(ws::make_deflate_offer({.server_no_context_takeover = true,
                                    .client_no_context_takeover = true,
                                    .server_max_window_bits = 10,
                                    .client_max_window_bits = 12}),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=12");
}

std::optional<ws::DeflateParams> accept(std::string_view response,
                                        const ws::DeflateOptions& offered = {}) {
  auto parsed = extensions(response);
  if (parsed.size() != 1) return std::nullopt;
  return ws::accept_deflate_response(parsed[0], offered);
}

TEST(PermessageDeflateTest, ClientAcceptsValidResponses) {
  EXPECT_EQ(accept("permessage-deflate"), ws::DeflateParams{});
  // The server may add these even when not asked.
  EXPECT_EQ(accept("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
            (ws::DeflateParams{true, false, 9, 15}));
  EXPECT_EQ(accept("permessage-deflate; client_no_context_takeover; client_max_window_bits=8"),
            (ws::DeflateParams{false, true, 15, 8}));
  // A smaller server window than asked for is fine.
  EXPECT_EQ(accept("permessage-deflate; server_max_window_bits=9", {.server_max_window_bits = 10}),
            (ws::DeflateParams{false, false, 9, 15}));
  // What the client promised applies even if the server did not repeat it.
  EXPECT_EQ(accept("permessage-deflate",
                   {.client_no_context_takeover = true, .client_max_window_bits = 10}),
            (ws::DeflateParams{false, true, 15, 10}));
}

TEST(PermessageDeflateTest, ClientRejectsInvalidResponses) {
  EXPECT_FALSE(accept("permessage-deflate; client_max_window_bits"));  // needs a value here
  EXPECT_FALSE(accept("permessage-deflate; mystery"));
  EXPECT_FALSE(accept("permessage-deflate; server_max_window_bits=9; server_max_window_bits=9"));
  EXPECT_FALSE(accept("permessage-deflate; server_max_window_bits=16"));
  EXPECT_FALSE(accept("x-other"));
  EXPECT_FALSE(
      accept("permessage-deflate; server_max_window_bits=12", {.server_max_window_bits = 10}));
  EXPECT_FALSE(accept("permessage-deflate", {.server_max_window_bits = 10}));
  EXPECT_FALSE(accept("permessage-deflate", {.server_no_context_takeover = true}));
}

TEST(PermessageDeflateTest, BothSidesAgree) {
  std::vector<ws::DeflateOptions> all;
  for (int bits : {0, 8, 9, 12, 15}) {
    for (int flags = 0; flags < 4; ++flags) {
      ws::DeflateOptions o;
      o.server_no_context_takeover = flags & 1;
      o.client_no_context_takeover = flags & 2;
      if (bits) {
        o.server_max_window_bits = bits;
        o.client_max_window_bits = bits == 8 ? 15 : bits - 1;
      }
      all.push_back(o);
    }
  }
  for (const auto& client : all) {
    for (const auto& server : all) {
      auto agreement = negotiate(ws::make_deflate_offer(client), server);
      ASSERT_TRUE(agreement);
      auto params = accept(agreement->response, client);
      ASSERT_TRUE(params) << agreement->response;
      EXPECT_EQ(*params, agreement->params) << agreement->response;
    }
  }
}

// ---------------------------------------------------------------------------
// Compression

// A strict decoder straight on zlib, with exactly the given window.
class StrictInflater {
 public:
  explicit StrictInflater(int bits) { EXPECT_EQ(inflateInit2(&z_, -bits), Z_OK) << bits; }
  ~StrictInflater() { inflateEnd(&z_); }
  std::optional<std::string> inflate_message(std::string payload) {
    payload.append("\x00\x00\xff\xff", 4);
    z_.next_in = reinterpret_cast<Bytef*>(payload.data());
    z_.avail_in = static_cast<uInt>(payload.size());
    std::string out;
    char buf[4096];
    do {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      const int rc = inflate(&z_, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) return std::nullopt;
      out.append(buf, sizeof buf - z_.avail_out);
    } while (z_.avail_in > 0 || z_.avail_out == 0);
    return out;
  }

 private:
  z_stream z_{};
};

TEST(PermessageDeflateTest, CompressesLikeRfc7692Examples) {
  ws::Deflater deflater(15, false);
  std::string out;
  deflater.compress("Hello", out);
  EXPECT_EQ(to_hex(out), "f248cdc9c90700");
  out.clear();
  deflater.compress("Hello", out);  // the second refers back to the first
  EXPECT_EQ(to_hex(out), "f200110000");
}

TEST(PermessageDeflateTest, EmptyMessage) {
  ws::Deflater deflater(15, false);
  std::string out;
  deflater.compress("", out);
  EXPECT_EQ(to_hex(out), "00");
  ws::Inflater inflater(15, false);
  ASSERT_EQ(inflater.feed(out, 100), ws::InflateStatus::ok);
  ASSERT_EQ(inflater.finish(100), ws::InflateStatus::ok);
  EXPECT_EQ(inflater.output(), "");
}

TEST(PermessageDeflateTest, EmptyMessagesBetweenOthersKeepTheStreamIntact) {
  // After a flush zlib emits nothing for an empty message; the Deflater
  // still sends 00, and the Inflater copes with peers that send nothing.
  ws::Deflater deflater(15, false);
  ws::Inflater inflater(15, false);
  StrictInflater strict(15);
  for (const char* message : {"", "", "Hello", "", "", "Hello", ""}) {
    std::string out;
    deflater.compress(message, out);
    EXPECT_FALSE(out.empty());
    if (*message == 0) EXPECT_EQ(to_hex(out), "00");
    ASSERT_EQ(inflater.feed(out, 100), ws::InflateStatus::ok);
    ASSERT_EQ(inflater.finish(100), ws::InflateStatus::ok);
    EXPECT_EQ(inflater.output(), message);
    inflater.clear_output();
    EXPECT_EQ(strict.inflate_message(out), message);
    // An empty payload, as some peers send for an empty message.
    ASSERT_EQ(inflater.feed("", 100), ws::InflateStatus::ok);
    ASSERT_EQ(inflater.finish(100), ws::InflateStatus::ok);
    EXPECT_EQ(inflater.output(), "");
  }
}

TEST(PermessageDeflateTest, CompressAppendsToExistingOutput) {
  ws::Deflater deflater(15, false);
  std::string out = "prefix";
  deflater.compress("Hello", out);
  EXPECT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(to_hex(out.substr(6)), "f248cdc9c90700");
}

void round_trip(int bits, bool no_context_takeover, int level, int mem_level) {
  ws::Deflater deflater(bits, no_context_takeover, level, mem_level);
  ws::Inflater inflater(bits, no_context_takeover);
  StrictInflater strict(bits);
  for (unsigned i = 0; i < 40; ++i) {
    const std::string message = sample_text(1 + (i * 7919) % 20000, i % 5);
    std::string compressed;
    deflater.compress(message, compressed);
    ASSERT_EQ(inflater.feed(compressed, 1 << 20), ws::InflateStatus::ok);
    ASSERT_EQ(inflater.finish(1 << 20), ws::InflateStatus::ok);
    ASSERT_TRUE(inflater.output() == message) << bits << " message " << i;
    inflater.clear_output();
    // A decoder with exactly the agreed window must read it too.
    auto strict_out = strict.inflate_message(compressed);
    ASSERT_TRUE(strict_out) << "window " << bits << " exceeded in message " << i;
    ASSERT_TRUE(*strict_out == message);
    if (no_context_takeover) {
      // Each message stands alone.
      StrictInflater fresh(bits);
      ASSERT_TRUE(fresh.inflate_message(compressed) == message);
    }
  }
}

TEST(PermessageDeflateTest, RoundTripEveryWindowWithContextTakeover) {
  for (int bits = 8; bits <= 15; ++bits) round_trip(bits, false, -1, 8);
}

TEST(PermessageDeflateTest, RoundTripEveryWindowWithoutContextTakeover) {
  for (int bits = 8; bits <= 15; ++bits) round_trip(bits, true, -1, 8);
}

// release_state_between_messages: no zlib stream is held between messages,
// and the peer sees exactly what it would without the setting.
TEST(PermessageDeflateTest, ReleasedStateWithoutContextTakeoverSendsTheSameBytes) {
  for (int bits = 8; bits <= 15; ++bits) {
    for (int mem_level : {1, 8}) {
      ws::Deflater kept(bits, true, -1, mem_level);
      ws::Deflater released(bits, true, -1, mem_level, /*release_state=*/true);
      ws::Inflater inflater(bits, true, /*release_state=*/true);
      for (unsigned i = 0; i < 12; ++i) {
        const std::string message = sample_text(1 + (i * 3571) % 5000, i % 3);
        std::string a, b;
        kept.compress(message, a);
        released.compress(message, b);
        ASSERT_EQ(a, b) << bits << " message " << i;
        EXPECT_FALSE(released.holds_stream());
        EXPECT_EQ(released.saved_window(), 0u);
        ASSERT_EQ(inflater.feed(b, 1 << 20), ws::InflateStatus::ok);
        ASSERT_EQ(inflater.finish(1 << 20), ws::InflateStatus::ok);
        ASSERT_TRUE(inflater.output() == message) << bits << " message " << i;
        inflater.clear_output();
        EXPECT_FALSE(inflater.holds_stream());
        EXPECT_EQ(inflater.saved_window(), 0u);
        EXPECT_EQ(inflater.output_capacity(), 0u);
      }
    }
  }
}

TEST(PermessageDeflateTest, ReleasedStateWithContextTakeoverKeepsOnlyTheWindow) {
  // The context survives the release: the second Hello still refers back.
  ws::Deflater hello(15, false, -1, 8, /*release_state=*/true);
  std::string out;
  hello.compress("Hello", out);
  EXPECT_EQ(to_hex(out), "f248cdc9c90700");
  EXPECT_FALSE(hello.holds_stream());
  out.clear();
  hello.compress("Hello", out);
  EXPECT_EQ(to_hex(out), "f200110000");

  for (int bits = 8; bits <= 15; ++bits) {
    ws::Deflater deflater(bits, false, -1, 8, /*release_state=*/true);
    ws::Deflater kept(bits, false), fresh(bits, true);
    ws::Inflater inflater(bits, false, /*release_state=*/true);
    StrictInflater strict(bits);  // one stream across all messages
    std::size_t compressed_total = 0, kept_total = 0, fresh_total = 0;
    for (unsigned i = 0; i < 30; ++i) {
      const std::string message = sample_text(1 + (i * 7919) % 3000, i % 2);
      std::string compressed;
      deflater.compress(message, compressed);
      compressed_total += compressed.size();
      std::string other;
      kept.compress(message, other);
      kept_total += other.size();
      other.clear();
      fresh.compress(message, other);
      fresh_total += other.size();
      EXPECT_FALSE(deflater.holds_stream());
      EXPECT_LE(deflater.saved_window(), std::size_t{1} << std::max(bits, 9));
      auto strict_out = strict.inflate_message(compressed);
      ASSERT_TRUE(strict_out) << "window " << bits << " exceeded in message " << i;
      ASSERT_TRUE(*strict_out == message) << bits << " message " << i;
      ASSERT_EQ(inflater.feed(compressed, 1 << 20), ws::InflateStatus::ok);
      ASSERT_EQ(inflater.finish(1 << 20), ws::InflateStatus::ok);
      ASSERT_TRUE(inflater.output() == message) << bits << " message " << i;
      inflater.clear_output();
      EXPECT_FALSE(inflater.holds_stream());
      EXPECT_LE(inflater.saved_window(), std::size_t{1} << std::max(bits, 9));
    }
    // As small as with the stream kept, smaller than without the context.
    EXPECT_LE(compressed_total, kept_total + kept_total / 50) << bits;
    if (bits > 8) EXPECT_LT(compressed_total, fresh_total) << bits;
  }
}

TEST(PermessageDeflateTest, RoundTripLevelsAndMemoryLevels) {
  round_trip(15, false, 0, 1);
  round_trip(15, false, 1, 9);
  round_trip(12, true, 9, 4);
}

TEST(PermessageDeflateTest, ZlibRefusesRawWindowOfEightBits) {
  // Why the Deflater compresses an 8-bit window with 9 bits and Z_RLE.
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -8, 8, Z_DEFAULT_STRATEGY), Z_STREAM_ERROR);
  z_stream i{};
  ASSERT_EQ(inflateInit2(&i, -8), Z_OK);  // while decoding with 8 bits is possible
  inflateEnd(&i);
}

TEST(PermessageDeflateTest, ContextTakeoverShrinksRepeatedMessages) {
  const std::string message = sample_text(2000);
  std::string first, second;
  ws::Deflater with(15, false);
  with.compress(message, first);
  with.compress(message, second);
  EXPECT_LT(second.size() * 10, first.size());
  std::string third, fourth;
  ws::Deflater without(15, true);
  without.compress(message, third);
  without.compress(message, fourth);
  EXPECT_EQ(third, fourth);
}

TEST(PermessageDeflateTest, CorruptDataIsReported) {
  ws::Inflater inflater(15, false);
  EXPECT_EQ(inflater.feed("\xff\xff\xff", 100), ws::InflateStatus::corrupt);
}

TEST(PermessageDeflateTest, StreamsEndedWithBfinalKeepTheWindow) {
  // A peer may end each message with a final block (RFC 7692 7.2.3.4) and
  // still refer back to earlier messages; and one message may hold a final
  // block followed by more data.
  auto raw_deflate = [](std::string_view data, std::string_view dictionary, int flush) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    if (!dictionary.empty()) {
      deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dictionary.data()),
                           static_cast<uInt>(dictionary.size()));
    }
    std::string out(1024, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, flush);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    if (flush == Z_SYNC_FLUSH) out.resize(out.size() - 4);
    return out;
  };
  const std::string text = "a sentence long enough to be worth a back-reference";
  ws::Inflater inflater(15, false);
  // Message 1: one final block.
  ASSERT_EQ(inflater.feed(raw_deflate(text, "", Z_FINISH), 1000), ws::InflateStatus::ok);
  ASSERT_EQ(inflater.finish(1000), ws::InflateStatus::ok);
  EXPECT_EQ(inflater.output(), text);
  inflater.clear_output();
  // Message 2: compressed against message 1 as its dictionary.
  const std::string referring = raw_deflate(text, text, Z_SYNC_FLUSH);
  EXPECT_LT(referring.size(), 15u);
  ASSERT_EQ(inflater.feed(referring, 1000), ws::InflateStatus::ok);
  ASSERT_EQ(inflater.finish(1000), ws::InflateStatus::ok);
  EXPECT_EQ(inflater.output(), text);
  inflater.clear_output();
  // Message 3: a final block, then a second stream, in one payload.
  const std::string two =
      raw_deflate("first ", "", Z_FINISH) + raw_deflate("second", "", Z_SYNC_FLUSH);
  ASSERT_EQ(inflater.feed(two, 1000), ws::InflateStatus::ok);
  ASSERT_EQ(inflater.finish(1000), ws::InflateStatus::ok);
  EXPECT_EQ(inflater.output(), "first second");
}

// ---------------------------------------------------------------------------
// Compression bombs

std::string zeros_compressed(std::size_t size) {
  ws::Deflater deflater(15, true, 1);
  std::string out;
  deflater.compress(std::string(size, '\0'), out);
  return out;
}

TEST(PermessageDeflateTest, BombIsRefusedWithinTheLimit) {
  const std::string bomb = zeros_compressed(16 << 20);  // 16 MiB of zeros
  EXPECT_LT(bomb.size(), 100u * 1024);
  const std::size_t limit = 1 << 20;
  ws::Inflater inflater(15, false);
  EXPECT_EQ(inflater.feed(bomb, limit), ws::InflateStatus::too_big);
  EXPECT_LE(inflater.output_capacity(), limit + 1);
  // Fed in small pieces, it fails just the same.
  ws::Inflater pieces(15, false);
  ws::InflateStatus status = ws::InflateStatus::ok;
  for (std::size_t pos = 0; pos < bomb.size() && status == ws::InflateStatus::ok; pos += 100) {
    status = pieces.feed(std::string_view(bomb).substr(pos, 100), limit);
    EXPECT_LE(pieces.output_capacity(), limit + 1);
  }
  EXPECT_EQ(status, ws::InflateStatus::too_big);
}

TEST(PermessageDeflateTest, MessageAtTheLimitIsAccepted) {
  const std::size_t limit = 100000;
  ws::Inflater inflater(15, false);
  const std::string exact = zeros_compressed(limit);
  ASSERT_EQ(inflater.feed(exact, limit), ws::InflateStatus::ok);
  ASSERT_EQ(inflater.finish(limit), ws::InflateStatus::ok);
  EXPECT_EQ(inflater.output().size(), limit);
  inflater.clear_output();
  ws::Inflater over(15, false);
  const std::string one_more = zeros_compressed(limit + 1);
  ws::InflateStatus status = over.feed(one_more, limit);
  if (status == ws::InflateStatus::ok) status = over.finish(limit);
  EXPECT_EQ(status, ws::InflateStatus::too_big);
}

TEST(PermessageDeflateTest, ReaderClosesABombWith1009) {
  const std::string bomb = zeros_compressed(16 << 20);
  std::string wire;
  ws::append_frame(wire, ws::Opcode::binary, bomb,
                   {.rsv1 = true, .mask = ws::generate_masking_key()});
  ws::MessageReader reader({.role = ws::Role::server, .max_message_size = 1 << 20},
                           ws::make_inflater(ws::Role::server, {}));
  auto r = reader.read(wire);
  ASSERT_EQ(r.status, ws::ReadStatus::error);
  EXPECT_EQ(r.error_code, ws::close_code::message_too_big);
}

// ---------------------------------------------------------------------------
// Autobahn 12.x / 13.x: compressed messages of many sizes, auto-fragmented,
// under each offer/accept combination, in both directions.

struct Combination {
  const char* offer;
  ws::DeflateOptions server;
};

// Sends `messages` compressed by `sender_role` under `params`, split into
// frames of `fragment` bytes, to a reader, in chops of `chop` bytes.
void echo_through_reader(const ws::DeflateParams& params, ws::Role sender_role,
                         const std::vector<std::string>& messages, std::size_t fragment,
                         std::size_t chop, const ws::DeflateOptions& options = {}) {
  const ws::Role receiver = sender_role == ws::Role::server ? ws::Role::client : ws::Role::server;
  ws::Deflater deflater = ws::make_deflater(sender_role, params, options);
  ws::MessageReader reader({.role = receiver, .max_message_size = 1 << 20},
                           ws::make_inflater(receiver, params, options));
  std::string wire;
  for (const auto& message : messages) {
    std::string compressed;
    deflater.compress(message, compressed);
    std::size_t pos = 0;
    do {
      const std::size_t n =
          fragment ? std::min(fragment, compressed.size() - pos) : compressed.size();
      ws::FrameOptions options{.fin = pos + n == compressed.size(), .rsv1 = pos == 0};
      if (sender_role == ws::Role::client) options.mask = ws::generate_masking_key();
      ws::append_frame(wire, pos == 0 ? ws::Opcode::text : ws::Opcode::continuation,
                       std::string_view(compressed).substr(pos, n), options);
      pos += n;
    } while (pos < compressed.size());
  }
  std::size_t received = 0;
  std::string pending;
  for (std::size_t pos = 0; pos < wire.size(); pos += chop) {
    pending.append(wire, pos, chop);
    while (true) {
      auto r = reader.read(pending);
      ASSERT_NE(r.status, ws::ReadStatus::error) << r.error_reason;
      if (r.status == ws::ReadStatus::message) {
        ASSERT_LT(received, messages.size());
        ASSERT_EQ(r.message.opcode, ws::Opcode::text);
        ASSERT_TRUE(r.message.payload == messages[received]) << "message " << received;
        ++received;
      }
      pending.erase(0, r.consumed);
      if (r.status == ws::ReadStatus::need_more) break;
    }
  }
  EXPECT_EQ(received, messages.size());
}

TEST(PermessageDeflateTest, AutobahnCompressionCombinations) {
  // 13.1 .. 13.7: client offers and server acceptances.
  const Combination combinations[] = {
      {"permessage-deflate", {}},
      {"permessage-deflate; client_no_context_takeover; client_max_window_bits",
       {.client_no_context_takeover = true}},
      {"permessage-deflate; server_max_window_bits=8; client_max_window_bits",
       {.client_max_window_bits = 8}},
      {"permessage-deflate; server_max_window_bits=15; client_max_window_bits",
       {.client_max_window_bits = 15}},
      {"permessage-deflate; client_no_context_takeover; server_max_window_bits=8; "
       "client_max_window_bits",
       {.client_no_context_takeover = true, .client_max_window_bits = 8}},
      {"permessage-deflate; client_no_context_takeover; server_max_window_bits=15; "
       "client_max_window_bits",
       {.client_no_context_takeover = true, .client_max_window_bits = 15}},
      {"permessage-deflate; client_no_context_takeover; server_max_window_bits=8; "
       "client_max_window_bits, permessage-deflate; client_no_context_takeover; "
       "client_max_window_bits, permessage-deflate; client_max_window_bits",
       {.client_no_context_takeover = true, .client_max_window_bits = 8}},
  };
  std::vector<std::string> messages;
  for (std::size_t size : {16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072}) {
    for (unsigned seed = 0; seed < 2; ++seed) messages.push_back(sample_text(size, seed));
  }
  for (const auto& c : combinations) {
    auto agreement = negotiate(c.offer, c.server);
    ASSERT_TRUE(agreement) << c.offer;
    for (ws::Role sender : {ws::Role::server, ws::Role::client}) {
      for (std::size_t fragment : {0, 256, 4096}) {
        SCOPED_TRACE(std::string(c.offer) + " fragment " + std::to_string(fragment));
        echo_through_reader(agreement->params, sender, messages, fragment, 1500);
      }
    }
  }
}

TEST(PermessageDeflateTest, AutobahnCombinationsWithReleasedState) {
  // The same agreements, both ends freeing their streams after each message.
  const char* offers[] = {
      "permessage-deflate",
      "permessage-deflate; client_no_context_takeover; client_max_window_bits",
      ("permessage-deflate; server_no_context_takeover; server_max_window_bits=8; "
       "client_max_window_bits=8"),
      "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10",
  };
  std::vector<std::string> messages;
  for (std::size_t size : {0, 16, 1024, 4096, 65536}) {
    for (unsigned seed = 0; seed < 2; ++seed) messages.push_back(sample_text(size, seed));
  }
  const ws::DeflateOptions release{.release_state_between_messages = true};
  for (const char* offer : offers) {
    auto agreement = negotiate(offer, release);
    ASSERT_TRUE(agreement) << offer;
    for (ws::Role sender : {ws::Role::server, ws::Role::client}) {
      for (std::size_t fragment : {0, 256}) {
        SCOPED_TRACE(std::string(offer) + " fragment " + std::to_string(fragment));
        echo_through_reader(agreement->params, sender, messages, fragment, 1500, release);
      }
    }
  }
}

TEST(PermessageDeflateTest, CompressedTextFailsFastOnInvalidUtf8) {
  ws::Deflater deflater(15, false);
  std::string first, second;
  deflater.compress("valid start \xce\xba", first);
  deflater.compress(std::string("\xed\xa0\x80") + std::string(1000, 'x'), second);
  std::string wire;
  ws::append_frame(wire, ws::Opcode::text, first, {.fin = false, .rsv1 = true});
  ws::MessageReader reader({.role = ws::Role::client}, ws::make_inflater(ws::Role::client, {}));
  // The second fragment is never sent: the first bad bytes decide.
  std::string bad;
  ws::append_frame(bad, ws::Opcode::continuation, second, {.fin = false});
  auto r = reader.read(wire);
  ASSERT_EQ(r.status, ws::ReadStatus::need_more);
  r = reader.read(bad);
  ASSERT_EQ(r.status, ws::ReadStatus::error);
  EXPECT_EQ(r.error_code, ws::close_code::invalid_payload);
}

}  // namespace
