// One WebSocket connection's state above the codec (protocol.h): framing a
// message onto the stream, compression, the closing handshake, pings, and
// the read loop that hands messages to a sink.
//
// Tornado keeps this in `WebSocketProtocol13`; here the server handler
// (websocket.cc) and the client (detail/websocket/client.cc) share it, and
// topics (detail/websocket/topics.cc) write frames through it.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tornado/concurrent.h"
#include "tornado/detail/websocket/permessage_deflate.h"
#include "tornado/detail/websocket/protocol.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"

namespace tornado::websocket::detail {

// One WebSocket connection's protocol state, shared by the server handler
// and the client: framing, compression, the closing handshake and pings.
//
// Reading is driven by the stream's read callback (IOStream::ReadListener),
// not by a coroutine: an idle connection holds no coroutine frame. The
// subclass (the server's in websocket.cc, the client's in client.cc) gets
// what is read through on_data, on_control and, once, on_end.
class Protocol : public iostream::IOStream::ReadListener,
                 public std::enable_shared_from_this<Protocol> {
 public:
  Protocol(std::shared_ptr<iostream::IOStream> stream, tornado::detail::ws::Role role,
           std::size_t max_message_size, std::optional<tornado::detail::ws::DeflateParams> deflate,
           const tornado::detail::ws::DeflateOptions& deflate_options);

  virtual ~Protocol();
  Protocol(const Protocol&) = delete;
  Protocol& operator=(const Protocol&) = delete;

  bool open() const noexcept { return !close_sent_ && !stream_->closed(); }

  iostream::IOStream::WriteAwaitable send_frame(tornado::detail::ws::Opcode opcode,
                                                std::string_view payload, bool rsv1);

  iostream::IOStream::WriteAwaitable write_message(std::string_view message, bool binary);

  /// A whole unmasked frame (server to client), to be shared by receivers.
  static std::shared_ptr<const std::string> make_server_frame(tornado::detail::ws::Opcode opcode,
                                                              std::string_view payload, bool rsv1);

  /// The compressed frame of `message` for this connection. Another
  /// connection may send the same bytes when both are compression_shareable()
  /// with one compression_key() (no context takeover: each message is
  /// compressed on its own, with the same settings).
  std::shared_ptr<const std::string> compressed_frame(tornado::detail::ws::Opcode opcode,
                                                      std::string_view message);
  bool compression_shareable() const noexcept {
    return compression_ && compression_->params.server_no_context_takeover;
  }
  /// Receivers whose compressed frames are identical share this key.
  std::uint32_t compression_key() const noexcept {
    return static_cast<std::uint32_t>(compression_->params.server_max_window_bits) |
           static_cast<std::uint32_t>(compression_->level + 1) << 8 |
           static_cast<std::uint32_t>(compression_->mem_level) << 16;
  }
  /// Whether permessage-deflate was negotiated.
  bool compressed() const noexcept { return compression_ != nullptr; }
  /// The negotiated permessage-deflate parameters, if any.
  std::optional<tornado::detail::ws::DeflateParams> deflate_params() const {
    if (!compression_) return std::nullopt;
    return compression_->params;
  }

  void ping(std::string_view data);

  void close(std::optional<std::uint16_t> code, std::string_view reason);

  void start_pings(std::chrono::milliseconds interval, std::chrono::milliseconds timeout);

  /// Starts reading: what is buffered already is handled now, the rest as
  /// it arrives, until the connection ends (then `on_end`).
  void start_reading();

  // An idle connection without compression or pings is these members and
  // two null pointers; what is rarer is in blocks made on first use.
  std::shared_ptr<iostream::IOStream> stream_;
  tornado::detail::ws::MessageReader reader_;
  ioloop::IOLoop* loop_;  // the loop whose thread may write

 private:
  // permessage-deflate's sending side, made when it was negotiated (the
  // receiving side, the Inflater, is the reader's).
  struct Compression {
    tornado::detail::ws::Deflater deflater;
    tornado::detail::ws::DeflateParams params;
    int level;
    int mem_level;
  };
  // What most connections never need, made on first use: an idle server
  // connection without pings, subprotocol or a close begun holds none of it.
  struct Rare {
    std::string scratch;
    std::string close_reason;
    std::string subprotocol;
    ioloop::TimeoutHandle close_timer;
    ioloop::TimeoutHandle ping_timer;
    std::chrono::milliseconds ping_interval{0};
    std::chrono::milliseconds ping_timeout{0};
    ioloop::Clock::time_point last_pong;
  };
  std::unique_ptr<Compression> compression_;
  std::unique_ptr<Rare> rare_;

 public:
  std::optional<std::uint16_t> close_code_;
  tornado::detail::ws::Role role_;
  bool close_sent_ = false;
  bool close_received_ = false;

  /// The masked copy of a client's payload, or the compressed payload.
  std::string& scratch() { return rare().scratch; }
  /// The reason the peer closed with.
  std::string close_reason() const { return rare_ ? rare_->close_reason : std::string(); }
  /// The subprotocol chosen in the handshake.
  std::string subprotocol() const { return rare_ ? rare_->subprotocol : std::string(); }
  void set_subprotocol(std::string subprotocol) {
    if (!subprotocol.empty()) rare().subprotocol = std::move(subprotocol);
  }

 protected:
  /// A whole text or binary message; a returned Task is awaited before
  /// the next message is handled (a coroutine `on_message`).
  virtual Task<> on_data(std::string_view message, bool binary) = 0;
  /// A ping or a pong (the pong to a ping is sent already).
  virtual void on_control(tornado::detail::ws::Opcode opcode, std::string_view data) = 0;
  /// An on_data coroutine threw: logged, and the connection closed with 1011.
  virtual void on_data_failed(std::exception_ptr error) noexcept;
  /// Once, when the connection has ended and nothing more will be read;
  /// `teardown` when the loop is being destroyed (no hook may run then).
  /// May release the last reference to this object.
  virtual void on_end(bool teardown) noexcept = 0;

 private:
  Rare& rare() {
    if (!rare_) rare_ = std::make_unique<Rare>();
    return *rare_;
  }

  void on_readable() noexcept override;
  // Handles what is buffered until it runs out, an on_data coroutine has to
  // finish first, or the connection ends.
  void handle_buffered();
  static Task<> finish_data(std::shared_ptr<Protocol> self, Task<> handled);
  void end(bool teardown) noexcept;
  void schedule_ping();
  void stop_timers();

  bool awaiting_ = false;  // an on_data coroutine runs: reads wait for it
  bool handling_ = false;  // handle_buffered is on the stack
  bool ended_ = false;
};

}  // namespace tornado::websocket::detail
