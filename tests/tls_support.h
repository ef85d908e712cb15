// Test support: a self-signed certificate made on the fly (EC P-256, valid
// for localhost and 127.0.0.1), written to a temporary directory.
#pragma once

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace tornado_test {

struct TestCertificate {
  std::filesystem::path dir;
  std::string certfile;
  std::string keyfile;
  ~TestCertificate() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

inline std::unique_ptr<TestCertificate> make_test_certificate() {
  auto cert = std::make_unique<TestCertificate>();
  char pattern[] = "/tmp/tornado-cert-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp");
  cert->dir = pattern;
  cert->certfile = (cert->dir / "cert.pem").string();
  cert->keyfile = (cert->dir / "key.pem").string();

  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> x509(X509_new(), X509_free);
  if (!key || !x509) throw std::runtime_error("cannot create key");
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
  std::unique_ptr<X509_EXTENSION, decltype(&X509_EXTENSION_free)> san(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"),
      X509_EXTENSION_free);
  X509_add_ext(x509.get(), san.get(), -1);
  X509_sign(x509.get(), key.get(), EVP_sha256());

  std::unique_ptr<FILE, decltype(&fclose)> cert_out(fopen(cert->certfile.c_str(), "w"), fclose);
  std::unique_ptr<FILE, decltype(&fclose)> key_out(fopen(cert->keyfile.c_str(), "w"), fclose);
  if (!cert_out || !key_out) throw std::runtime_error("cannot write certificate");
  PEM_write_X509(cert_out.get(), x509.get());
  PEM_write_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return cert;
}

}  // namespace tornado_test
