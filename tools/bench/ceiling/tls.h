// bench_ceiling's TLS (--certfile/--keyfile): OpenSSL on memory BIOs and
// nothing else, the reference the HTTPS, WSS and handshake cases of
// tools/bench/run measure every server against.
//
// The context is configured as tornado-cpp's servers configure theirs (TLS 1.2
// and up, OpenSSL's default cipher suites and groups, the default session
// cache and tickets, record buffers released while empty): the ceiling does
// the same cryptography with the least work around it.
#pragma once

#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace bench {

using SslPtr = std::unique_ptr<SSL, void (*)(SSL*)>;
using SslContextPtr = std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)>;

// The server context, or null with `error` set.
inline SslContextPtr make_server_context(const std::string& certfile, const std::string& keyfile,
                                         std::string& error) {
  SslContextPtr context(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!context) {
    error = "SSL_CTX_new failed";
    return context;
  }
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(context.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(context.get(), certfile.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(context.get(), keyfile.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(context.get()) != 1) {
    char reason[256] = "unknown error";
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    error = "cannot load " + certfile + " / " + keyfile + ": " + reason;
    return SslContextPtr(nullptr, SSL_CTX_free);
  }
  return context;
}

// One connection's TLS state: the SSL object owns both memory BIOs.
struct TlsConnection {
  SslPtr ssl{nullptr, SSL_free};
  bool handshake_done = false;

  bool start(SSL_CTX* context) {
    ssl.reset(SSL_new(context));
    if (!ssl) return false;
    SSL_set_bio(ssl.get(), BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_accept_state(ssl.get());
    return true;
  }

  // The ciphertext waiting to be sent (valid until discard_output()).
  std::string_view output() const {
    char* data = nullptr;
    long size = BIO_get_mem_data(SSL_get_wbio(ssl.get()), &data);
    return size > 0 ? std::string_view(data, static_cast<std::size_t>(size)) : std::string_view();
  }
  void discard_output() {
    (void)BIO_reset(SSL_get_wbio(ssl.get()));
    release_large_bio(false);
  }

  // A memory BIO keeps the largest buffer it ever held (the handshake's):
  // an empty one above 1 KiB is swapped for a fresh one, as tornado-cpp does.
  void release_large_bio(bool input) {
    BIO* bio = input ? SSL_get_rbio(ssl.get()) : SSL_get_wbio(ssl.get());
    BUF_MEM* mem = nullptr;
    if (BIO_ctrl_pending(bio) != 0 || BIO_get_mem_ptr(bio, &mem) != 1 || !mem || mem->max <= 1024) {
      return;
    }
    if (BIO* fresh = BIO_new(BIO_s_mem())) {
      if (input) {
        SSL_set0_rbio(ssl.get(), fresh);
      } else {
        SSL_set0_wbio(ssl.get(), fresh);
      }
    }
  }

  // Feeds ciphertext in; drives the handshake. False on a TLS failure.
  bool feed(std::string_view cipher) {
    if (BIO_write(SSL_get_rbio(ssl.get()), cipher.data(), static_cast<int>(cipher.size())) !=
        static_cast<int>(cipher.size())) {
      return false;
    }
    if (handshake_done) return true;
    int rc = SSL_do_handshake(ssl.get());
    if (rc == 1) {
      handshake_done = true;
      return true;
    }
    int error = SSL_get_error(ssl.get(), rc);
    ERR_clear_error();
    return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
  }

  // Reads up to `capacity` bytes of plaintext: the count, 0 when no more is
  // ready yet, -1 when the peer closed or TLS failed.
  long read(char* out, std::size_t capacity) {
    std::size_t got = 0;
    if (SSL_read_ex(ssl.get(), out, capacity, &got) == 1) return static_cast<long>(got);
    int error = SSL_get_error(ssl.get(), 0);
    ERR_clear_error();
    if (error != SSL_ERROR_WANT_READ) return -1;
    release_large_bio(true);
    return 0;
  }

  // Encrypts `plain` into the output BIO. False on a TLS failure.
  bool write(std::string_view plain) {
    std::size_t written = 0;
    if (plain.empty()) return true;
    if (SSL_write_ex(ssl.get(), plain.data(), plain.size(), &written) == 1 &&
        written == plain.size()) {
      return true;
    }
    ERR_clear_error();
    return false;
  }
};

}  // namespace bench
