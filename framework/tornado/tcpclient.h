// tornado::tcpclient: opening TCP and TLS connections, mirroring
// tornado.tcpclient.
//
//   auto stream = co_await tornado::tcpclient::TCPClient().connect("localhost", 8888);
//   co_await stream->write("ping\n");
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "tornado/concurrent.h"
#include "tornado/iostream.h"
#include "tornado/netutil.h"

namespace tornado::tcpclient {

/// Options of `TCPClient::connect`.
struct ConnectOptions {
  /// Connect over TLS with these options (verification on by default).
  std::optional<netutil::SSLOptions> ssl_options;
  /// Name for SNI and certificate checks; defaults to the host.
  std::string server_hostname;
  /// Gives up (TimeoutError) if the connection (and TLS handshake) takes longer.
  std::optional<std::chrono::steady_clock::duration> timeout;
  /// Buffer limits of the stream returned.
  iostream::StreamOptions stream_options;
};

/// Opens TCP (and TLS) connections, as `tornado.tcpclient.TCPClient`.
class TCPClient {
 public:
  /// Resolves `host`, connects to the first address that answers, and
  /// returns the stream (after the TLS handshake, for TLS).
  Task<std::shared_ptr<iostream::IOStream>> connect(std::string host, int port,
                                                    ConnectOptions options = {});
};

}  // namespace tornado::tcpclient
