#include "tornado/detail/websocket/connection.h"

#include <array>

#include "tornado/log.h"
#include "tornado/websocket.h"

namespace tornado::websocket::detail {

namespace ws = tornado::detail::ws;
using iostream::IOStream;
using iostream::StreamClosedError;

Protocol::Protocol(std::shared_ptr<IOStream> stream, ws::Role role, std::size_t max_message_size,
                   std::optional<ws::DeflateParams> deflate,
                   const ws::DeflateOptions& deflate_options)
    : stream_(std::move(stream)),
      reader_({.role = role, .max_message_size = max_message_size},
              deflate ? ws::make_inflater(role, *deflate, deflate_options) : nullptr),
      loop_(ioloop::IOLoop::current_or_null()),
      role_(role) {
  if (deflate) {
    compression_ = std::make_unique<Compression>(
        Compression{ws::make_deflater(role, *deflate, deflate_options), *deflate,
                    deflate_options.compression_level, deflate_options.mem_level});
  }
}

Protocol::~Protocol() {
  stop_timers();
}

IOStream::WriteAwaitable Protocol::send_frame(ws::Opcode opcode, std::string_view payload,
                                              bool rsv1) {
  std::array<char, ws::kMaxFrameHeaderSize> header{};
  ws::FrameOptions options{.fin = true, .rsv1 = rsv1};
  if (role_ == ws::Role::client) {
    options.mask = ws::generate_masking_key();
    // A compressed payload is already in scratch() and is masked there.
    std::string& scratch = this->scratch();
    if (payload.data() != scratch.data()) scratch.assign(payload);
    ws::mask_payload(scratch, *options.mask);
    payload = scratch;
  }
  std::size_t n = ws::encode_frame_header(header, opcode, payload.size(), options);
  std::string_view parts[] = {std::string_view(header.data(), n), payload};
  return stream_->write(parts);
}

IOStream::WriteAwaitable Protocol::write_message(std::string_view message, bool binary) {
  // The stream belongs to one loop's thread: a worker writing here would
  // race it. Refused, loudly, rather than half-working.
  if (ioloop::IOLoop::current_or_null() != loop_) {
    throw std::logic_error(
        "WebSocket write_message called off its IOLoop's thread: hand the message over "
        "with IOLoop::add_callback");
  }
  if (!open()) throw WebSocketClosedError();
  auto opcode = binary ? ws::Opcode::binary : ws::Opcode::text;
  if (compression_) {
    std::string& scratch = this->scratch();
    scratch.clear();
    compression_->deflater.compress(message, scratch);
    return send_frame(opcode, scratch, true);
  }
  return send_frame(opcode, message, false);
}

std::shared_ptr<const std::string> Protocol::make_server_frame(ws::Opcode opcode,
                                                               std::string_view payload,
                                                               bool rsv1) {
  std::array<char, ws::kMaxFrameHeaderSize> header{};
  std::size_t n =
      ws::encode_frame_header(header, opcode, payload.size(), {.fin = true, .rsv1 = rsv1});
  auto frame = std::make_shared<std::string>();
  frame->reserve(n + payload.size());
  frame->append(header.data(), n);
  frame->append(payload);
  return frame;
}

std::shared_ptr<const std::string> Protocol::compressed_frame(ws::Opcode opcode,
                                                              std::string_view message) {
  std::string& scratch = this->scratch();
  scratch.clear();
  compression_->deflater.compress(message, scratch);
  return make_server_frame(opcode, scratch, true);
}

void Protocol::ping(std::string_view data) {
  if (!open()) throw WebSocketClosedError();
  if (data.size() > ws::kMaxControlPayload) throw std::invalid_argument("ping data too long");
  (void)send_frame(ws::Opcode::ping, data, false);
}

void Protocol::close(std::optional<std::uint16_t> code, std::string_view reason) {
  if (stream_->closed()) return;
  if (!close_sent_) {
    close_sent_ = true;
    try {
      (void)send_frame(ws::Opcode::close, ws::make_close_payload(code, reason), false);
    } catch (const StreamClosedError&) {
    }
  }
  if (close_received_) {
    stream_->close();
    return;
  }
  // Give the peer a moment to answer the close frame, then drop it.
  auto self = weak_from_this();
  rare().close_timer = ioloop::IOLoop::current().call_later(std::chrono::seconds(5), [self] {
    if (auto p = self.lock()) p->stream_->close();
  });
}

void Protocol::start_pings(std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
  if (interval.count() <= 0) return;
  Rare& rare = this->rare();
  rare.ping_interval = interval;
  rare.ping_timeout = timeout.count() > 0 ? timeout : interval * 3;
  rare.last_pong = ioloop::Clock::now();
  schedule_ping();
}

void Protocol::start_reading() {
  stream_->set_read_listener(this);
  if (!stream_->buffered().empty() || stream_->closed()) on_readable();
}

void Protocol::on_readable() noexcept {
  auto* loop = ioloop::IOLoop::current_or_null();
  if (!loop || loop->closing()) {
    end(true);  // nothing may run in teardown; what the subclass owns goes
    return;
  }
  if (awaiting_ || ended_ || handling_) return;
  try {
    handle_buffered();
  } catch (const StreamClosedError&) {
    end(false);
  } catch (const std::exception& e) {
    log::general.error("WebSocket from {}: {}", stream_->remote_ip(), e.what());
    stream_->close();
    end(false);
  }
}

void Protocol::handle_buffered() {
  auto self = shared_from_this();  // on_end may release the last other reference
  struct Handling {
    bool& flag;
    explicit Handling(bool& f) : flag(f) { flag = true; }
    ~Handling() { flag = false; }
    Handling(const Handling&) = delete;
    Handling& operator=(const Handling&) = delete;
  } handling(handling_);
  // Every answer to this read (echoes, pongs) goes out in one write.
  stream_->cork();
  std::span<char> input = stream_->buffered_mutable();
  std::size_t offset = 0;
  bool stop = false;
  while (!stop) {
    ws::ReadResult r = reader_.read(input.subspan(offset));
    offset += r.consumed;
    if (r.status == ws::ReadStatus::need_more) break;
    if (r.status == ws::ReadStatus::error) {
      log::general.info("WebSocket protocol error from {}: {}", stream_->remote_ip(),
                        r.error_reason);
      close(r.error_code, r.error_reason);
      stream_->consume(offset);
      stream_->close();
      end(false);
      return;
    }
    const ws::Message& m = r.message;
    switch (m.opcode) {
      case ws::Opcode::text:
      case ws::Opcode::binary: {
        if (close_sent_) break;  // no more messages after we closed
        Task<> handled = on_data(m.payload, m.opcode == ws::Opcode::binary);
        if (handled) {
          // The payload was copied; free the buffer before awaiting.
          stream_->consume(offset);
          offset = 0;
          stream_->uncork();
          awaiting_ = true;
          spawn(finish_data(self, std::move(handled)));
          // Still awaiting: finish_data carries on once it is done. Done
          // already: carry on here (no recursion per message).
          if (awaiting_) return;
          stream_->cork();
          input = stream_->buffered_mutable();
        }
        break;
      }
      case ws::Opcode::ping:
        if (!close_sent_) (void)send_frame(ws::Opcode::pong, m.payload, false);
        on_control(m.opcode, m.payload);
        break;
      case ws::Opcode::pong:
        if (rare_) rare_->last_pong = ioloop::Clock::now();  // read only when pinging
        on_control(m.opcode, m.payload);
        break;
      case ws::Opcode::close:
        close_received_ = true;
        close_code_ = m.close_code == ws::close_code::no_status
                          ? std::nullopt
                          : std::optional<std::uint16_t>(m.close_code);
        if (!m.payload.empty() || rare_) rare().close_reason = std::string(m.payload);
        // Echo the peer's code, as RFC 6455 5.5.1 suggests.
        close(close_code_, {});
        stop = true;
        break;
      default:
        break;
    }
    if (stream_->closed()) stop = true;
  }
  if (!stream_->closed()) stream_->consume(offset);
  stream_->uncork();
  if (stream_->closed()) end(false);
}

Task<> Protocol::finish_data(std::shared_ptr<Protocol> self, Task<> handled) {
  try {
    co_await handled;
  } catch (const StreamClosedError&) {
  } catch (...) {
    self->on_data_failed(std::current_exception());
  }
  self->awaiting_ = false;
  // Finished while handle_buffered was still on the stack: it carries on.
  if (self->handling_) co_return;
  self->on_readable();
}

void Protocol::on_data_failed(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log::general.error("WebSocket message handler failed: {}", e.what());
  } catch (...) {
    log::general.error("WebSocket message handler failed");
  }
  try {
    close(1011, "internal error");
  } catch (...) {
  }
}

void Protocol::end(bool teardown) noexcept {
  if (ended_) return;
  ended_ = true;
  stop_timers();
  stream_->set_read_listener(nullptr);
  on_end(teardown);
}

void Protocol::schedule_ping() {
  auto self = weak_from_this();
  Rare& rare = this->rare();
  rare.ping_timer = ioloop::IOLoop::current().call_later(rare.ping_interval, [self] {
    auto p = self.lock();
    if (!p || !p->open()) return;
    if (ioloop::Clock::now() - p->rare_->last_pong > p->rare_->ping_timeout) {
      log::general.info("WebSocket ping timeout from {}", p->stream_->remote_ip());
      p->stream_->close();
      return;
    }
    (void)p->send_frame(ws::Opcode::ping, {}, false);
    p->schedule_ping();
  });
}

void Protocol::stop_timers() {
  if (!rare_) return;
  if (auto* loop = ioloop::IOLoop::current_or_null(); loop && !loop->closing()) {
    loop->remove_timeout(rare_->close_timer);
    loop->remove_timeout(rare_->ping_timer);
  }
}

}  // namespace tornado::websocket::detail
