// calcd interop client over TLS, C++: what tests/tls/interop.sh's C++ TLS
// client uses in place of cpp_client.cpp's `std::make_shared<TSocket>(host,
// port)`: a TSSLSocket from libthrift's TSSLSocketFactory.  It is built from
// cpp_client.cpp with that one expression replaced by calcd_tls_socket(host,
// port) and this header force-included (g++ -include).
//
// The TLS settings come from the environment:
//   CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
//   CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
//   CALCD_TLS_KEY    its key
// The factory's default access manager checks calcd's certificate names HOST.
#ifndef CALCD_INTEROP_CPP_TLS_SOCKET_H
#define CALCD_INTEROP_CPP_TLS_SOCKET_H

#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>

#include <thrift/transport/TSSLSocket.h>

static std::shared_ptr<apache::thrift::transport::TSSLSocket>
calcd_tls_socket(const std::string& host, int port) {
  using apache::thrift::transport::TSSLSocketFactory;
  // The factory owns the SSL_CTX its sockets use: it lives as long as they do.
  static std::shared_ptr<TSSLSocketFactory> factory;
  const char* ca = std::getenv("CALCD_TLS_CA");
  const char* cert = std::getenv("CALCD_TLS_CERT");
  const char* key = std::getenv("CALCD_TLS_KEY");

  if (ca == nullptr || *ca == '\0') {
    std::cout << "FAIL: CALCD_TLS_CA is not set" << std::endl;
    std::exit(2);
  }
  try {
    if (!factory) {
      factory = std::make_shared<TSSLSocketFactory>();
      factory->authenticate(true);
      factory->loadTrustedCertificates(ca);
      if (cert != nullptr && *cert != '\0') {
        factory->loadCertificate(cert);
        factory->loadPrivateKey(key);
      }
    }
    return factory->createSocket(host, port);
  } catch (const std::exception& e) {
    std::cout << "FAIL: TLS setup: " << e.what() << std::endl;
    std::exit(1);
  }
}

#endif
