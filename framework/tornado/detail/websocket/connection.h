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
class Protocol : public std::enable_shared_from_this<Protocol> {
 public:
  /// Where run() delivers what it reads. An interface rather than two
  /// std::function parameters: the read loop's frame lives as long as the
  /// connection, so it should be small, and a message costs one call.
  class Sink {
   public:
    /// A whole text or binary message; a returned Task is awaited before
    /// the next message is read (a coroutine `on_message`).
    virtual Task<> on_data(std::string_view message, bool binary) = 0;
    virtual void on_control(tornado::detail::ws::Opcode opcode, std::string_view data) = 0;

   protected:
    ~Sink() = default;
  };

  Protocol(std::shared_ptr<iostream::IOStream> stream, tornado::detail::ws::Role role,
           std::size_t max_message_size, std::optional<tornado::detail::ws::DeflateParams> deflate,
           const tornado::detail::ws::DeflateOptions& deflate_options);

  ~Protocol() { stop_timers(); }

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
    return deflate_params_ && deflate_params_->server_no_context_takeover;
  }
  /// Receivers whose compressed frames are identical share this key.
  std::uint32_t compression_key() const noexcept {
    return static_cast<std::uint32_t>(deflate_params_->server_max_window_bits) |
           static_cast<std::uint32_t>(deflate_level_ + 1) << 8 |
           static_cast<std::uint32_t>(deflate_mem_level_) << 16;
  }

  void ping(std::string_view data);

  void close(std::optional<std::uint16_t> code, std::string_view reason);

  void start_pings(std::chrono::milliseconds interval, std::chrono::milliseconds timeout);

  /// Reads until the connection ends; data messages go to `on_data`.
  Task<> run(Sink& sink);

  std::shared_ptr<iostream::IOStream> stream_;
  tornado::detail::ws::Role role_;
  tornado::detail::ws::MessageReader reader_;
  std::optional<tornado::detail::ws::Deflater> deflater_;
  std::optional<tornado::detail::ws::DeflateParams> deflate_params_;
  int deflate_level_;
  int deflate_mem_level_;
  ioloop::IOLoop* loop_;  // the loop whose thread may write
  // The masked copy of a client's payload, or the compressed payload.
  std::string scratch_;
  bool close_sent_ = false;
  bool close_received_ = false;
  std::optional<std::uint16_t> close_code_;
  std::string close_reason_;
  std::string subprotocol_;

 private:
  void schedule_ping();
  void stop_timers();

  ioloop::TimeoutHandle close_timer_;
  ioloop::TimeoutHandle ping_timer_;
  std::chrono::milliseconds ping_interval_{0};
  std::chrono::milliseconds ping_timeout_{0};
  ioloop::Clock::time_point last_pong_;
};

}  // namespace tornado::websocket::detail
