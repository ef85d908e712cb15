#include "tornado/testing.h"

#include <gtest/gtest.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace tornado::testing {
namespace {
thread_local ExpectLog* active_expectations = nullptr;
}

ExpectLog::ExpectLog(const log::Logger& logger, std::string substring, bool required)
    : logger_(logger.name()),
      substring_(std::move(substring)),
      required_(required),
      previous_(active_expectations) {
  active_expectations = this;
}

ExpectLog::ExpectLog(const log::Logger& logger, std::regex pattern, bool required)
    : logger_(logger.name()),
      substring_("(a regular expression)"),
      pattern_(std::move(pattern)),
      required_(required),
      previous_(active_expectations) {
  active_expectations = this;
}

ExpectLog::~ExpectLog() {
  active_expectations = previous_;
  if (required_ && matched_ == 0) {
    ADD_FAILURE() << "expected a log record on '" << logger_ << "' matching " << substring_;
  }
}

bool ExpectLog::matches(std::string_view message) const {
  if (pattern_) {
    // Anchored at the start, as Python's re.match in Tornado's ExpectLog.
    return std::regex_search(message.begin(), message.end(), *pattern_,
                             std::regex_constants::match_continuous);
  }
  return message.find(substring_) != std::string_view::npos;
}

bool absorb_expected(std::string_view logger, std::string_view message) noexcept {
  for (ExpectLog* e = active_expectations; e; e = e->previous_) {
    bool matched = false;
    try {
      matched = e->logger_ == logger && e->matches(message);
    } catch (...) {  // std::regex may throw on pathological input: not a match
    }
    if (matched) {
      ++e->matched_;
      return true;
    }
  }
  return false;
}

std::pair<netutil::Socket, int> bind_unused_port() {
  auto sockets = netutil::bind_sockets(0, "127.0.0.1");
  int port = sockets.at(0).port();
  return {std::move(sockets.at(0)), port};
}

std::chrono::milliseconds get_async_test_timeout() {
  if (const char* env = std::getenv("ASYNC_TEST_TIMEOUT"); env && *env) {
    char* end = nullptr;
    double seconds = std::strtod(env, &end);
    if (end && *end == '\0' && seconds > 0) {
      return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    }
    ADD_FAILURE() << "ASYNC_TEST_TIMEOUT must be a positive number of seconds, not '" << env << "'";
  }
  return std::chrono::seconds(10);
}

void AsyncTestCase::SetUp() {
  io_loop_ = std::make_unique<ioloop::IOLoop>();
}

void AsyncTestCase::TearDown() {
  io_loop_.reset();
}

void AsyncHTTPTestCase::SetUp() {
  AsyncTestCase::SetUp();
  app_ = get_app();
  port_ = app_->listen(0, "127.0.0.1", get_httpserver_options()).port();
}

void AsyncHTTPTestCase::TearDown() {
  app_.reset();
  AsyncTestCase::TearDown();
}

std::string AsyncHTTPTestCase::get_url(std::string_view path) const {
  return get_protocol() + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

httpclient::HTTPResponse AsyncHTTPTestCase::fetch(std::string_view path,
                                                  std::optional<httpclient::HTTPRequest> options) {
  std::string url = get_url(path);
  httpclient::HTTPRequest request = options ? std::move(*options) : get_fetch_defaults();
  if (options && get_protocol() == "https" && request.ca_certs.empty()) {
    request.ca_certs = get_fetch_defaults().ca_certs;
  }
  return run([&]() -> Task<httpclient::HTTPResponse> {
    httpclient::AsyncHTTPClient client;
    co_return co_await client.fetch(url, request, false);
  });
}

std::shared_ptr<websocket::WebSocketClientConnection> AsyncHTTPTestCase::websocket_connect(
    std::string_view path) {
  std::string url = "ws://127.0.0.1:" + std::to_string(port_) + std::string(path);
  return run([&]() -> Task<std::shared_ptr<websocket::WebSocketClientConnection>> {
    co_return co_await websocket::websocket_connect(url);
  });
}

namespace {
template <class T, void (*Free)(T*)>
struct OpenSSLDeleter {
  void operator()(T* p) const noexcept { Free(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, OpenSSLDeleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, OpenSSLDeleter<X509, X509_free>>;
using Extension =
    std::unique_ptr<X509_EXTENSION, OpenSSLDeleter<X509_EXTENSION, X509_EXTENSION_free>>;
struct FileCloser {
  void operator()(FILE* f) const noexcept { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;
}  // namespace

SelfSignedCertificate::SelfSignedCertificate() {
  char pattern[] = "/tmp/tornado-test-cert-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("SelfSignedCertificate: mkdtemp failed");
  dir_ = pattern;
  certfile_ = dir_ + "/cert.pem";
  keyfile_ = dir_ + "/key.pem";
  PKey key(EVP_EC_gen("P-256"));
  Cert x509(X509_new());
  if (!key || !x509) throw std::runtime_error("SelfSignedCertificate: cannot create a key");
  X509_set_version(x509.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509.get()), 86400);
  X509_set_pubkey(x509.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x509.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x509.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x509.get(), x509.get(), nullptr, nullptr, 0);
  Extension san(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"));
  if (!san || !X509_add_ext(x509.get(), san.get(), -1) ||
      !X509_sign(x509.get(), key.get(), EVP_sha256())) {
    throw std::runtime_error("SelfSignedCertificate: cannot sign the certificate");
  }
  File cert_out(std::fopen(certfile_.c_str(), "w"));
  File key_out(std::fopen(keyfile_.c_str(), "w"));
  if (!cert_out || !key_out || !PEM_write_X509(cert_out.get(), x509.get()) ||
      !PEM_write_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr)) {
    throw std::runtime_error("SelfSignedCertificate: cannot write " + certfile_);
  }
}

SelfSignedCertificate::~SelfSignedCertificate() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void AsyncHTTPSTestCase::SetUp() {
  certificate_ = std::make_unique<SelfSignedCertificate>();
  certfile_ = certificate_->certfile();
  keyfile_ = certificate_->keyfile();
  AsyncHTTPTestCase::SetUp();
}

void AsyncHTTPSTestCase::TearDown() {
  AsyncHTTPTestCase::TearDown();
  certificate_.reset();
}

httpserver::HTTPServerSettings AsyncHTTPSTestCase::get_httpserver_options() {
  httpserver::HTTPServerSettings settings;
  settings.ssl_options = netutil::SSLOptions{.certfile = certfile_, .keyfile = keyfile_};
  return settings;
}

httpclient::HTTPRequest AsyncHTTPSTestCase::get_fetch_defaults() {
  httpclient::HTTPRequest request;
  request.ca_certs = certfile_;
  return request;
}

void install_test_log_sink() {
  static thread_local log::ScopedSink sink(
      [](log::Level at, std::string_view logger, std::string_view message) {
        bool expected = absorb_expected(logger, message);
        std::fprintf(stderr, "[%s%s] %.*s\n", expected ? "expected " : "",
                     std::string(log::level_name(at)).c_str(), static_cast<int>(message.size()),
                     message.data());
        if (!expected && at >= log::Level::error) {
          ADD_FAILURE() << "unexpected error log on '" << logger << "': " << message;
        }
      });
}

}  // namespace tornado::testing
