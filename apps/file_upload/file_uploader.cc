// apps/file_upload: Tornado's file_upload demo, the uploader.
//
//   file_uploader [--put] [--server URL] FILES...
//
// Without --put, one multipart POST to <server>/post carries every file.
// With --put, each file is PUT raw to <server>/<name>. Both stream the files
// 16 KiB at a time with the HTTP client's body_producer, as the Python demo
// does: the POST in chunks (its length is not known up front), the PUT with
// the file's size as Content-Length and `Expect: 100-continue`, so that a
// server refusing the upload (413) says so before a byte of it is sent.
#include <fmt/format.h>
#include <openssl/rand.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tornado/escape.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"

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

using tornado::httpclient::BodyWriter;

// Writes `file` 16 KiB at a time, each piece flushed before the next is read.
tornado::Task<> raw_producer(std::string file, BodyWriter write) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::string chunk(16 * 1024, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    co_await write(std::string_view(chunk).substr(0, got));
  }
}

tornado::Task<> multipart_producer(std::string boundary, std::vector<std::string> filenames,
                                   BodyWriter write) {
  for (const auto& filename : filenames) {
    co_await write(
        fmt::format("--{0}\r\nContent-Disposition: form-data; name=\"{1}\"; filename=\"{1}\"\r\n"
                    "Content-Type: {2}\r\n\r\n",
                    boundary, filename, guess_type(filename)));
    co_await raw_producer(filename, write);
    co_await write("\r\n");
  }
  co_await write(fmt::format("--{}--\r\n", boundary));
}

tornado::Task<> post(std::vector<std::string> filenames) {
  unsigned char random[16];
  RAND_bytes(random, sizeof random);
  std::string boundary;
  for (unsigned char c : random) boundary += fmt::format("{:02x}", c);
  tornado::httpclient::HTTPRequest request;
  request.method = "POST";
  request.headers.add("Content-Type", "multipart/form-data; boundary=" + boundary);
  request.body_producer = [boundary, filenames](BodyWriter write) {
    return multipart_producer(boundary, filenames, std::move(write));
  };
  tornado::httpclient::AsyncHTTPClient client;
  auto response = co_await client.fetch(options::get<std::string>("server") + "/post", request);
  std::printf("%d %s %s\n", response.code, response.reason.c_str(), response.body.c_str());
}

tornado::Task<> put(std::vector<std::string> filenames) {
  tornado::httpclient::AsyncHTTPClient client;
  for (const auto& filename : filenames) {
    tornado::httpclient::HTTPRequest request;
    request.method = "PUT";
    request.headers.add("Content-Type", guess_type(filename));
    request.headers.add("Content-Length", std::to_string(fs::file_size(filename)));
    request.expect_100_continue = true;
    request.body_producer = [filename](BodyWriter write) {
      return raw_producer(filename, std::move(write));
    };
    auto url =
        fmt::format("{}/{}", options::get<std::string>("server"),
                    tornado::escape::url_escape(fs::path(filename).filename().string(), false));
    auto response = co_await client.fetch(url, request, /*raise_error=*/false);
    std::printf("%d %s %s\n", response.code, response.reason.c_str(), response.body.c_str());
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
