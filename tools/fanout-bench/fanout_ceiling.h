// The fan-out ceiling of fanout_bench (fanout_ceiling.cc): a bare libuv
// server that writes prebuilt frames, the bound the topics figure is read
// against.
#pragma once

#include <cstddef>

namespace fanout {

/// Serves SUBSCRIBERS WebSocket connections on 127.0.0.1 (a free port, whose
/// number is written to `port_fd`) and, once all are open, writes BURST
/// frames of SIZE bytes to each per turn of the loop, until killed.
int run_ceiling(int subscribers, std::size_t size, int burst, int port_fd);

}  // namespace fanout
