// tornado::netutil: listening sockets and TLS contexts, mirroring
// tornado.netutil.
//
// `bind_sockets` creates listening sockets the way Tornado does (every
// address of the host name, SO_REUSEADDR, optional SO_REUSEPORT so several
// event loops or processes can share one port). `ssl_options_to_context`
// turns the `ssl_options` settings into an OpenSSL context.
//
//   auto sockets = tornado::netutil::bind_sockets(8888, "127.0.0.1", {.reuse_port = true});
//   server.add_sockets(std::move(sockets));
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

/// OpenSSL's context type, named so that this header needs no OpenSSL include.
using SSL_CTX = struct ssl_ctx_st;

namespace tornado::netutil {

/// A listening socket file descriptor, closed on destruction unless released.
class Socket {
 public:
  Socket() = default;
  /// Owns descriptor `fd`.
  explicit Socket(int fd) noexcept : fd_(fd) {}
  /// Takes over `other`'s descriptor.
  Socket(Socket&& other) noexcept;
  /// Closes the descriptor held and takes over `other`'s.
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  /// The descriptor, -1 for none.
  int fd() const noexcept { return fd_; }
  /// Hands the descriptor over (to libuv); the Socket no longer closes it.
  int release() noexcept;
  /// The port the socket is bound to (useful after binding port 0).
  int port() const;

 private:
  int fd_ = -1;
};

/// How `bind_sockets` binds, with Tornado's defaults.
struct BindOptions {
  /// listen(2) backlog; Tornado's default.
  int backlog = 128;
  /// SO_REUSEPORT: several sockets (loops, processes) on one port.
  bool reuse_port = false;
};

/// Creates listening sockets for `address` ("" or "0.0.0.0": every IPv4
/// interface; "::" IPv6; "localhost" resolves) on `port` (0: ephemeral).
/// Throws std::system_error naming the address on failure.
std::vector<Socket> bind_sockets(int port, std::string_view address = "", BindOptions options = {});

/// TLS settings, as Tornado's `ssl_options` dictionary.
struct SSLOptions {
  std::string certfile;  ///< PEM certificate chain (server; client certificate)
  std::string keyfile;   ///< PEM private key (defaults to certfile)
  std::string ca_certs;  ///< PEM CA bundle for verifying the peer ("" = system)
  /// Client side: verify the server's certificate and host name (default, as
  /// Tornado); set false only for tests against self-signed certificates.
  bool verify = true;
  /// ALPN protocols to offer/accept, e.g. {"http/1.1"}.
  std::vector<std::string> alpn_protocols;
  /// Server side: the key that seals session tickets (80 bytes, from
  /// `make_session_ticket_key()`). Servers given the same key resume each
  /// other's sessions: pass one to every worker of an app (`--workers`,
  /// threads or forked processes) so a returning client resumes whichever
  /// worker it reaches. Empty: each context makes its own, as OpenSSL does.
  std::string session_ticket_key;
};

/// 80 random bytes for `SSLOptions::session_ticket_key`. Make it once, before
/// the workers start, and keep it in memory only (anyone holding it can read
/// the sessions it sealed).
std::string make_session_ticket_key();

/// Builds an OpenSSL context (TLS 1.2 or newer) for a server or a client.
/// Throws std::runtime_error with OpenSSL's reason for a bad file.
std::shared_ptr<SSL_CTX> ssl_options_to_context(const SSLOptions& options, bool server_side);

/// True if `address` is a literal IPv4 or IPv6 address.
bool is_valid_ip(std::string_view address);

}  // namespace tornado::netutil
