// bench_deflate_cost: what permessage-deflate costs a server per message
// under each setting of docs/websocket.md ("Compression and memory"), with
// no sockets in the way: the server's half of an echo (inflate the client's
// 1 KiB JSON-like message, compress the answer) for N different messages,
// in CPU time of this thread, and the compressed size of each answer.
//
// The settings run in turns, round after round, so that a slow spell of a
// shared machine falls on all of them alike; each figure is the median of the
// rounds. Under valgrind --tool=callgrind, `--setting NAME --rounds 1` gives
// an instruction count that does not depend on the machine's load.
//
//   build-release/tools/bench/bench_deflate_cost [--messages 2000] [--rounds 5]
//                                                [--setting NAME]
#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/detail/websocket/permessage_deflate.h"

namespace {

namespace ws = tornado::detail::ws;

struct Setting {
  const char* name;
  const char* label;
  ws::DeflateOptions options;
};

const Setting kSettings[] = {
    {"default", "defaults (context takeover, 15-bit windows, mem_level 8)", {}},
    {"no_takeover",
     "no context takeover",
     {.server_no_context_takeover = true, .client_no_context_takeover = true}},
    {"small",
     "9-bit windows, mem_level 1",
     {.mem_level = 1, .server_max_window_bits = 9, .client_max_window_bits = 9}},
    {"no_takeover_release",
     "no context takeover, state released",
     {.server_no_context_takeover = true,
      .client_no_context_takeover = true,
      .release_state_between_messages = true}},
    {"small_release",
     "9-bit windows, mem_level 1, state released",
     {.mem_level = 1,
      .server_max_window_bits = 9,
      .client_max_window_bits = 9,
      .release_state_between_messages = true}},
    {"low",
     "no context takeover, 9-bit windows, mem_level 1, state released",
     {.mem_level = 1,
      .server_no_context_takeover = true,
      .client_no_context_takeover = true,
      .server_max_window_bits = 9,
      .client_max_window_bits = 9,
      .release_state_between_messages = true}},
};

// 1 KiB messages of JSON-like events, each different.
std::vector<std::string> make_messages(std::size_t count, std::size_t size) {
  static const char* events[] = {"price_update", "order_filled", "login",
                                 "heartbeat",    "chat_message", "logout"};
  static const char* symbols[] = {"ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI"};
  std::mt19937_64 rng(42);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::string m;
    while (m.size() < size) {
      m += "{\"id\":" + std::to_string(100000 + rng() % 900000) + ",\"user\":\"user" +
           std::to_string(rng() % 10000) + "\",\"event\":\"" + events[rng() % 6] +
           "\",\"symbol\":\"" + symbols[rng() % 5] +
           "\",\"bid\":" + std::to_string(rng() % 100000) + "." + std::to_string(10 + rng() % 90) +
           ",\"size\":" + std::to_string(rng() % 5000) +
           ",\"ts\":" + std::to_string(1765000000000u + rng() % 100000000) + "},";
    }
    m.resize(size);
    out.push_back(std::move(m));
  }
  return out;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Result {
  double seconds = 0;
  std::size_t bytes_out = 0;
};

// The server's half of each echo; apart so that callgrind can count it
// alone (--toggle-collect='*serve_messages*').
[[gnu::noinline]] std::size_t serve_messages(const char* name, ws::Inflater& inflater,
                                             ws::Deflater& deflater,
                                             const std::vector<std::string>& sent,
                                             const std::vector<std::string>& messages) {
  std::string answer;
  std::size_t bytes_out = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (inflater.feed(sent[i], 1 << 20) != ws::InflateStatus::ok ||
        inflater.finish(1 << 20) != ws::InflateStatus::ok || inflater.output() != messages[i]) {
      std::fprintf(stderr, "bench_deflate_cost: %s: message %zu did not inflate\n", name, i);
      std::exit(1);
    }
    answer.clear();
    deflater.compress(inflater.output(), answer);
    inflater.clear_output();
    bytes_out += answer.size();
  }
  return bytes_out;
}

// One connection's server side, through all the messages.
Result serve(const Setting& setting, const std::vector<std::string>& messages) {
  // The offer browsers, Node's ws and python websockets send.
  auto offer = ws::parse_extensions("permessage-deflate; client_max_window_bits");
  auto agreement = ws::negotiate_deflate(*offer, setting.options);
  if (!agreement) std::abort();
  const ws::DeflateParams& params = agreement->params;
  // The client's messages, compressed beforehand as a browser would send them.
  ws::Deflater client = ws::make_deflater(ws::Role::client, params, {.compression_level = 1});
  std::vector<std::string> sent(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) client.compress(messages[i], sent[i]);

  ws::Deflater deflater = ws::make_deflater(ws::Role::server, params, setting.options);
  auto inflater = ws::make_inflater(ws::Role::server, params, setting.options);
  Result r;
  const double start = thread_cpu_seconds();
  r.bytes_out = serve_messages(setting.name, *inflater, deflater, sent, messages);
  r.seconds = thread_cpu_seconds() - start;
  return r;
}

bool parse_size(std::string_view text, std::size_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 2000, rounds = 5;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    bool ok = i + 1 < argc;
    if (ok && arg == "--messages") {
      ok = parse_size(argv[++i], count);
    } else if (ok && arg == "--rounds") {
      ok = parse_size(argv[++i], rounds);
    } else if (ok && arg == "--setting") {
      only = argv[++i];
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr,
                   "usage: bench_deflate_cost [--messages N (2000)] [--rounds R (5)] "
                   "[--setting NAME]\n");
      return 2;
    }
  }
  const auto messages = make_messages(count, 1024);
  std::vector<const Setting*> settings;
  for (const auto& s : kSettings) {
    if (only.empty() || only == s.name) settings.push_back(&s);
  }
  if (settings.empty()) {
    std::fprintf(stderr, "bench_deflate_cost: no setting named %s\n", only.c_str());
    return 2;
  }
  std::vector<std::vector<double>> times(settings.size());
  std::vector<std::size_t> bytes(settings.size());
  for (std::size_t round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < settings.size(); ++k) {
      Result r = serve(*settings[k], messages);
      times[k].push_back(r.seconds / static_cast<double>(count) * 1e6);
      bytes[k] = r.bytes_out;
    }
  }
  std::printf("%-22s %12s %10s %14s  %s\n", "setting", "us/message", "x default", "bytes/message",
              "");
  double base = 0;
  for (std::size_t k = 0; k < settings.size(); ++k) {
    auto& t = times[k];
    std::sort(t.begin(), t.end());
    const double median = t[t.size() / 2];
    if (k == 0) base = median;
    std::printf("%-22s %12.2f %10.2f %14.1f  %s\n", settings[k]->name, median, median / base,
                static_cast<double>(bytes[k]) / static_cast<double>(count), settings[k]->label);
  }
  return 0;
}
