#include "tornado/netutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace tornado::netutil {

Socket::Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

int Socket::release() noexcept {
  return std::exchange(fd_, -1);
}

int Socket::port() const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
}

bool is_valid_ip(std::string_view address) {
  std::string text(address);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::vector<Socket> bind_sockets(int port, std::string_view address, BindOptions options) {
  std::string host(address.empty() ? "0.0.0.0" : address);
  std::string service = std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) {
    throw std::runtime_error("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(result, freeaddrinfo);
  std::vector<Socket> sockets;
  int bound_port = port;
  for (addrinfo* ai = result; ai; ai = ai->ai_next) {
    Socket sock(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (sock.fd() < 0) continue;  // e.g. IPv6 disabled
    int one = 1;
    setsockopt(sock.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (options.reuse_port) setsockopt(sock.fd(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
      setsockopt(sock.fd(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    // With port 0 and several addresses, every socket takes the port the
    // first one got, as Tornado does.
    if (port == 0 && bound_port != 0) {
      if (ai->ai_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_port = htons(bound_port);
      } else if (ai->ai_family == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_port = htons(bound_port);
      }
    }
    if (::bind(sock.fd(), ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(sock.fd(), options.backlog) != 0) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot listen on " + host + ":" + service);
    }
    bound_port = sock.port();
    sockets.push_back(std::move(sock));
  }
  if (sockets.empty()) throw std::runtime_error("no usable address for " + host);
  return sockets;
}

namespace {

// A ticket key as OpenSSL takes it: 16 bytes of name, 32 of HMAC key, 32 of
// AES key.
constexpr std::size_t kSessionTicketKeySize = 80;

[[noreturn]] void throw_ssl(const std::string& what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  char reason[256] = "unknown error";
  if (code) ERR_error_string_n(code, reason, sizeof reason);
  throw std::runtime_error(what + ": " + reason);
}

std::string alpn_wire_format(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

}  // namespace

std::string make_session_ticket_key() {
  std::string key(kSessionTicketKeySize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    throw_ssl("RAND_bytes");
  }
  return key;
}

std::shared_ptr<SSL_CTX> ssl_options_to_context(const SSLOptions& options, bool server_side) {
  std::shared_ptr<SSL_CTX> context(
      SSL_CTX_new(server_side ? TLS_server_method() : TLS_client_method()), SSL_CTX_free);
  if (!context) throw_ssl("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(context.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!options.certfile.empty()) {
    if (SSL_CTX_use_certificate_chain_file(context.get(), options.certfile.c_str()) != 1) {
      throw_ssl("cannot load certificate " + options.certfile);
    }
    const std::string& key = options.keyfile.empty() ? options.certfile : options.keyfile;
    if (SSL_CTX_use_PrivateKey_file(context.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw_ssl("cannot load private key " + key);
    }
    if (SSL_CTX_check_private_key(context.get()) != 1) {
      throw_ssl("private key does not match " + options.certfile);
    }
  }
  if (server_side && !options.session_ticket_key.empty()) {
    // OpenSSL takes the key's three parts (name, HMAC key, AES key) as one
    // block; any other size is refused rather than silently ignored.
    std::string key = options.session_ticket_key;
    if (key.size() != kSessionTicketKeySize ||
        SSL_CTX_set_tlsext_ticket_keys(context.get(), key.data(), static_cast<long>(key.size())) !=
            1) {
      throw std::invalid_argument(fmt::format("session_ticket_key must be {} bytes, not {}",
                                              kSessionTicketKeySize, key.size()));
    }
    OPENSSL_cleanse(key.data(), key.size());
  }
  if (!server_side) {
    if (options.verify) {
      SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
      int ok = options.ca_certs.empty() ? SSL_CTX_set_default_verify_paths(context.get())
                                        : SSL_CTX_load_verify_locations(
                                              context.get(), options.ca_certs.c_str(), nullptr);
      if (ok != 1) throw_ssl("cannot load CA certificates");
    } else {
      SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
    }
    if (!options.alpn_protocols.empty()) {
      std::string wire = alpn_wire_format(options.alpn_protocols);
      SSL_CTX_set_alpn_protos(context.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned>(wire.size()));
    }
  } else if (!options.ca_certs.empty()) {
    if (SSL_CTX_load_verify_locations(context.get(), options.ca_certs.c_str(), nullptr) != 1) {
      throw_ssl("cannot load CA certificates");
    }
  }
  return context;
}

}  // namespace tornado::netutil
