// apps/file_upload: Tornado's file_upload demo, the uploader.
//
//   file_uploader [--put] [--server URL] FILES...
//
// Without --put, one multipart POST to <server>/post carries every file.
// With --put, each file is PUT raw to <server>/<name>, read and sent 16 KiB
// at a time once the server answered `Expect: 100-continue`. The Python demo streams both with the
// HTTP client's body_producer; tornado-cpp's HTTP client takes a whole body, so the PUT is written
// on a TCP stream here (the POST, small forms, goes through AsyncHTTPClient).
#include <fmt/format.h>
#include <openssl/rand.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tornado/escape.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/options.h"
#include "tornado/tcpclient.h"

namespace options = tornado::options;
namespace fs = std::filesystem;

namespace {

std::string guess_type(const fs::path& file) {
  static const std::map<std::string, std::string, std::less<>> types = {
      {".txt", "text/plain"},      {".html", "text/html"},        {".css", "text/css"},
      {".js", "text/javascript"},  {".json", "application/json"}, {".png", "image/png"},
      {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"},       {".gif", "image/gif"},
      {".pdf", "application/pdf"}, {".svg", "image/svg+xml"},
  };
  auto it = types.find(file.extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

tornado::Task<> post(std::vector<std::string> filenames) {
  unsigned char random[16];
  RAND_bytes(random, sizeof random);
  std::string boundary;
  for (unsigned char c : random) boundary += fmt::format("{:02x}", c);
  std::string body;
  for (const auto& filename : filenames) {
    body += "--" + boundary + "\r\n";
    body +=
        fmt::format("Content-Disposition: form-data; name=\"{0}\"; filename=\"{0}\"\r\n", filename);
    body += "Content-Type: " + guess_type(filename) + "\r\n\r\n";
    body += read_file(filename);
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  tornado::httpclient::HTTPRequest request;
  request.method = "POST";
  request.body = std::move(body);
  request.headers.add("Content-Type", "multipart/form-data; boundary=" + boundary);
  tornado::httpclient::AsyncHTTPClient client;
  auto response = co_await client.fetch(options::get<std::string>("server") + "/post", request);
  std::printf("%d %s\n", response.code, response.body.c_str());
}

tornado::Task<> put(std::vector<std::string> filenames) {
  std::string server = options::get<std::string>("server");
  if (!server.starts_with("http://")) throw std::invalid_argument("--server must be http://...");
  std::string hostport = server.substr(7);
  hostport = hostport.substr(0, hostport.find('/'));
  auto colon = hostport.rfind(':');
  std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  int port = colon == std::string::npos ? 80 : std::stoi(hostport.substr(colon + 1));
  for (const auto& filename : filenames) {
    std::ifstream in(filename, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + filename);
    auto size = fs::file_size(filename);
    auto stream = co_await tornado::tcpclient::TCPClient().connect(host, port);
    // Expect: 100-continue, so a server that refuses the upload (413) says
    // so before a byte of the body is sent.
    co_await stream->write(
        fmt::format("PUT /{} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                    "Expect: 100-continue\r\nConnection: close\r\n\r\n",
                    tornado::escape::url_escape(fs::path(filename).filename().string(), false),
                    hostport, guess_type(filename), size));
    std::string response = co_await stream->read_until("\r\n\r\n", 64 * 1024);
    if (response.starts_with("HTTP/1.1 100")) {
      std::string chunk(16 * 1024, '\0');
      while (in) {
        in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        auto got = static_cast<std::size_t>(in.gcount());
        if (got == 0) break;
        co_await stream->write(std::string_view(chunk).substr(0, got));
      }
      response.clear();
    }
    response += co_await stream->read_until_close();
    std::string status = response.substr(0, response.find("\r\n"));
    auto body_at = response.find("\r\n\r\n");
    std::string body = body_at == std::string::npos ? "" : response.substr(body_at + 4);
    std::printf("%s %s\n", status.c_str(), body.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  options::define("put", false, "Use PUT instead of POST", "file uploader");
  options::define("server", std::string("http://localhost:8888"), "the file_receiver's URL",
                  "file uploader");
  options::define("port", 8888, "unused (common flag)");
  options::define("address", std::string(), "unused (common flag)");
  options::define("debug", false, "unused (common flag)");
  auto filenames = options::parse_command_line(argc, argv);
  if (filenames.empty()) {
    std::fprintf(stderr, "Provide a list of filenames to upload.\n");
    return 1;
  }
  try {
    bool use_put = options::get<bool>("put");
    tornado::ioloop::IOLoop::current().run_sync(
        [&] { return use_put ? put(filenames) : post(filenames); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "file_uploader: %s\n", e.what());
    return 1;
  }
}
