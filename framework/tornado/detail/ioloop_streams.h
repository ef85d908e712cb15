// What an IOLoop keeps for its streams (iostream.cc), outside IOLoop's
// public interface: the buffers the loop's streams share, and the
// "after this poll's I/O" calls that let the answers to one poll's reads
// leave together.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tornado/iostream.h"  // StreamCork

namespace tornado::ioloop {
class IOLoop;
}

namespace tornado::detail {

/// Buffers a loop's streams share, so that an idle stream holds none and
/// large writes do not churn the heap.
struct StreamBuffers {
  std::vector<std::string> write_buffers;                 // recycled unsent-write copies
  std::vector<std::unique_ptr<StreamCork>> cork_buffers;  // lent to corked streams
  std::size_t cork_pool_bytes = 0;      // their size with the capacity of their strings
  std::unique_ptr<char[]> read_buffer;  // every socket read lands here first
  unsigned reading = 0;                 // inside a stream's read callback
};

/// A friend of IOLoop: the stream bookkeeping lives in the loop's private
/// state.
struct IOLoopStreams {
  static StreamBuffers& buffers(ioloop::IOLoop& loop) noexcept;
  /// Calls `fn(arg)` once, as soon as every I/O event of the loop's current
  /// poll has been handled (a libuv check handle); registered outside a
  /// poll, at the end of the next iteration, without waiting for I/O.
  static void after_io(ioloop::IOLoop& loop, void (*fn)(void*), void* arg);
  /// Cancels the call of `fn(arg)` registered by `after_io` if it has not
  /// run yet. Searched from the newest: a stream that closes while held
  /// usually registered in the same read callback. (Not a ticket: it would
  /// cost every stream 4 bytes more.)
  static void cancel_after_io(ioloop::IOLoop& loop, void (*fn)(void*), void* arg) noexcept;
};

}  // namespace tornado::detail
