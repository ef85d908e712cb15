#include "tornado/tcpclient.h"

#include <netdb.h>
#include <uv.h>

#include <cstring>
#include <stdexcept>

#include "tornado/detail/uv_handle.h"
#include "tornado/ioloop.h"

namespace tornado::tcpclient {
namespace {

using iostream::make_uv_error;
using iostream::StreamClosedError;

struct Resolved {
  std::vector<sockaddr_storage> addresses;
};

Task<Resolved> resolve(std::string host, int port) {
  struct Request {
    uv_getaddrinfo_t req{};
    Future<Resolved> done;
  };
  auto request = std::make_unique<Request>();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  request->req.data = request.get();
  Future<Resolved> done = request->done;
  std::string service = std::to_string(port);
  int status = uv_getaddrinfo(
      ioloop::IOLoop::current().uv_loop(), &request->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* result) noexcept {
        std::unique_ptr<Request> owned(static_cast<Request*>(req->data));
        if (status < 0) {
          owned->done.set_exception(
              std::make_exception_ptr(StreamClosedError(make_uv_error(status))));
        } else {
          Resolved resolved;
          for (addrinfo* ai = result; ai; ai = ai->ai_next) {
            sockaddr_storage addr{};
            std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
            resolved.addresses.push_back(addr);
          }
          owned->done.set_result(std::move(resolved));
        }
        uv_freeaddrinfo(result);
      },
      host.c_str(), service.c_str(), &hints);
  if (status < 0) throw StreamClosedError(make_uv_error(status));
  request.release();  // owned by the callback
  co_return co_await done;
}

Task<tornado::detail::UvHandle<uv_tcp_t>> connect_address(const sockaddr_storage& address) {
  struct Request {
    uv_connect_t req{};
    Future<int> done;
  };
  auto handle = std::make_unique<uv_tcp_t>();
  uv_tcp_init(ioloop::IOLoop::current().uv_loop(), handle.get());
  tornado::detail::UvHandle<uv_tcp_t> tcp(std::move(handle));
  auto request = std::make_unique<Request>();
  request->req.data = request.get();
  Future<int> done = request->done;
  int status = uv_tcp_connect(&request->req, tcp.get(), reinterpret_cast<const sockaddr*>(&address),
                              [](uv_connect_t* req, int status) noexcept {
                                std::unique_ptr<Request> owned(static_cast<Request*>(req->data));
                                owned->done.set_result(status);
                              });
  if (status == 0) {
    request.release();
    status = co_await done;
  }
  if (status < 0) throw StreamClosedError(make_uv_error(status));  // tcp closes itself
  co_return tcp;
}

// Lets connect() close a connection still being set up when it times out;
// otherwise the socket (or a TLS handshake that never ends) would stay open.
struct Attempt {
  std::shared_ptr<iostream::IOStream> stream;
  bool cancelled = false;
};

Task<std::shared_ptr<iostream::IOStream>> connect_now(std::string host, int port,
                                                      ConnectOptions options,
                                                      std::shared_ptr<Attempt> attempt) {
  Resolved resolved = co_await resolve(host, port);
  std::exception_ptr last_error;
  for (const auto& address : resolved.addresses) {
    tornado::detail::UvHandle<uv_tcp_t> connected;
    try {
      connected = co_await connect_address(address);
    } catch (const StreamClosedError&) {
      last_error = std::current_exception();
      continue;
    }
    if (attempt->cancelled) throw TimeoutError("Timeout while connecting");
    // The stream closes the handle through its own close path from here on.
    std::unique_ptr<uv_tcp_t> tcp(connected.release());
    if (!options.ssl_options) {
      auto stream = iostream::IOStream::create(std::move(tcp), options.stream_options);
      stream->set_nodelay(true);
      co_return stream;
    }
    auto context = netutil::ssl_options_to_context(*options.ssl_options, false);
    std::string name = options.server_hostname.empty() ? host : options.server_hostname;
    // An IP literal is no SNI name; verification then checks the IP instead.
    auto stream = iostream::SSLIOStream::create(std::move(tcp), context, false,
                                                netutil::is_valid_ip(name) ? "" : name,
                                                options.stream_options);
    stream->set_nodelay(true);
    attempt->stream = stream;
    co_await stream->wait_for_handshake();
    attempt->stream.reset();
    if (attempt->cancelled) {
      stream->close();
      throw TimeoutError("Timeout while connecting");
    }
    co_return stream;
  }
  if (last_error) std::rethrow_exception(last_error);
  throw StreamClosedError(make_uv_error(UV_EAI_NONAME));
}

}  // namespace

Task<std::shared_ptr<iostream::IOStream>> TCPClient::connect(std::string host, int port,
                                                             ConnectOptions options) {
  auto timeout = options.timeout;
  auto attempt = std::make_shared<Attempt>();
  auto task = connect_now(std::move(host), port, std::move(options), attempt);
  if (!timeout) co_return co_await task;
  try {
    co_return co_await with_timeout(*timeout, std::move(task));
  } catch (const TimeoutError&) {
    attempt->cancelled = true;
    if (attempt->stream) attempt->stream->close();
    throw;
  }
}

}  // namespace tornado::tcpclient
