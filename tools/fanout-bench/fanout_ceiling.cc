// The fan-out ceiling: the least work a server on libuv can do for the case
// fanout_bench measures, so that the topics figure reads as a fraction of
// what the loop, the kernel and loopback allow on the same machine at the
// same moment.
//
// It answers the WebSocket handshake and nothing else (what the subscribers
// send is read and ignored). Once every subscriber is there, each turn of
// the loop writes the same prebuilt bytes, BURST frames of SIZE bytes, to
// every connection: one uv_try_write per connection per turn, no framing,
// no bookkeeping per message, no coroutine. Like the topics publisher under
// the `wait` policy, it stops publishing while any connection has more than
// the high-water mark queued, and goes on once that connection has drained.
#include "fanout_ceiling.h"

#include <arpa/inet.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/detail/websocket/protocol.h"

namespace fanout {
namespace {

constexpr std::size_t kHighWaterMark = 256 * 1024;

class Ceiling;

struct Subscriber {
  uv_tcp_t tcp{};  // first: libuv's handle pointer is the Subscriber
  Ceiling* owner = nullptr;
  std::string request;
  bool open = false;
  bool blocking = false;  // over the mark: the publisher waits for it
};

struct OwnedWrite {
  uv_write_t req{};
  std::string data;
};

class Ceiling {
 public:
  Ceiling(uv_loop_t* loop, int subscribers, std::size_t size, int burst)
      : loop_(loop), needed_(subscribers) {
    std::string frame(1, '\x81');  // FIN + text, unmasked from a server
    if (size < 126) {
      frame += static_cast<char>(size);
    } else {
      frame += '\x7e';
      frame += static_cast<char>((size >> 8) & 0xff);
      frame += static_cast<char>(size & 0xff);
    }
    frame.append(size, 'x');
    for (int i = 0; i < burst; ++i) burst_ += frame;
    uv_idle_init(loop_, &idle_);
    idle_.data = this;
  }

  int listen() {
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop_, &listener_);
    listener_.data = this;
    if (uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0) != 0) return -1;
    if (uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 4096, on_connection) != 0) {
      return -1;
    }
    sockaddr_storage bound{};
    int length = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &length);
    return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }

 private:
  static void on_connection(uv_stream_t* listener, int status) noexcept {
    auto* self = static_cast<Ceiling*>(listener->data);
    if (status < 0) return;
    auto owned = std::make_unique<Subscriber>();
    uv_tcp_init(self->loop_, &owned->tcp);
    owned->owner = self;
    owned->tcp.data = owned.get();
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&owned->tcp)) != 0) return;
    uv_tcp_nodelay(&owned->tcp, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&owned->tcp), on_alloc, on_read);
    self->subscribers_.push_back(owned.release());  // lives until the process ends
  }

  static void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) noexcept {
    auto* self = static_cast<Subscriber*>(handle->data)->owner;
    *buf = uv_buf_init(self->read_buffer_, sizeof self->read_buffer_);
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
    auto* s = static_cast<Subscriber*>(stream->data);
    if (nread < 0) {
      uv_read_stop(stream);
      s->open = false;
      return;
    }
    if (s->open || nread == 0) return;  // a subscriber's frames are ignored
    s->request.append(buf->base, static_cast<std::size_t>(nread));
    if (s->request.find("\r\n\r\n") == std::string::npos) return;
    s->owner->answer_handshake(s);
  }

  void answer_handshake(Subscriber* s) {
    std::string lower = s->request;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    constexpr std::string_view kName = "\r\nsec-websocket-key:";
    auto at = lower.find(kName);
    if (at == std::string::npos) return;
    at += kName.size();
    auto end = s->request.find("\r\n", at);
    std::string_view key(s->request.data() + at, end - at);
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    std::string answer =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        tornado::detail::ws::compute_accept_key(key) + "\r\n\r\n";
    std::string().swap(s->request);
    s->open = true;
    send(s, answer);
    if (++open_ == needed_) uv_idle_start(&idle_, on_idle);
  }

  // One turn of the loop: BURST messages to every subscriber.
  static void on_idle(uv_idle_t* idle) noexcept {
    auto* self = static_cast<Ceiling*>(idle->data);
    for (Subscriber* s : self->subscribers_) {
      if (!s->open) continue;
      self->send(s, self->burst_);
      auto* stream = reinterpret_cast<uv_stream_t*>(&s->tcp);
      if (!s->blocking && stream->write_queue_size >= kHighWaterMark) {
        s->blocking = true;
        ++self->blocking_;
      }
    }
    if (self->blocking_ > 0) uv_idle_stop(idle);
  }

  void send(Subscriber* s, std::string_view bytes) {
    auto* stream = reinterpret_cast<uv_stream_t*>(&s->tcp);
    std::size_t written = 0;
    if (stream->write_queue_size == 0) {
      uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), bytes.size());
      int n = uv_try_write(stream, &buf, 1);
      if (n < 0 && n != UV_EAGAIN) {
        s->open = false;
        return;
      }
      written = n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    if (written == bytes.size()) return;
    auto write = std::make_unique<OwnedWrite>();
    write->data.assign(bytes.substr(written));
    write->req.data = write.get();
    uv_buf_t buf = uv_buf_init(write->data.data(), write->data.size());
    if (uv_write(&write->req, stream, &buf, 1, on_written) != 0) {
      s->open = false;
      return;
    }
    write.release();
  }

  static void on_written(uv_write_t* req, int) noexcept {
    std::unique_ptr<OwnedWrite> owner(static_cast<OwnedWrite*>(req->data));
    auto* s = static_cast<Subscriber*>(req->handle->data);
    Ceiling* self = s->owner;
    if (s->blocking && req->handle->write_queue_size == 0) {
      s->blocking = false;
      if (--self->blocking_ == 0) uv_idle_start(&self->idle_, on_idle);
    }
  }

  uv_loop_t* loop_;
  int needed_;
  int open_ = 0;
  int blocking_ = 0;
  std::string burst_;
  uv_tcp_t listener_{};
  uv_idle_t idle_{};
  std::vector<Subscriber*> subscribers_;
  char read_buffer_[16 * 1024];
};

}  // namespace

int run_ceiling(int subscribers, std::size_t size, int burst, int port_fd) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  Ceiling ceiling(&loop, subscribers, size, burst);
  int port = ceiling.listen();
  if (port < 0) return 1;
  if (::write(port_fd, &port, sizeof port) != sizeof port) return 1;
  uv_run(&loop, UV_RUN_DEFAULT);  // until the parent kills this process
  return 0;
}

}  // namespace fanout
