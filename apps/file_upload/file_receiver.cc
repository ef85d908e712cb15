// apps/file_upload: Tornado's file_upload demo, the receiver
// (shared/CONTRACT.md, "apps/<demo>").
//
// POST /post takes a multipart form and logs each file's name, type and
// size. PUT /<filename> streams the raw body: the handler defines
// data_received, so (as Tornado's @stream_request_body) its prepare() runs
// before the first chunk, the body limit it sets applies to this upload,
// and the body is counted chunk by chunk, never held.
#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

namespace options = tornado::options;

class POSTHandler : public tornado::web::RequestHandler {
 public:
  void post() {
    for (const auto& [field_name, files] : request().files) {
      for (const auto& info : files) {
        tornado::log::app.info("POST \"{}\" \"{}\" {} bytes", info.filename, info.content_type,
                               info.body.size());
      }
    }
    write("OK");
  }
};

class PUTHandler : public tornado::web::RequestHandler {
 public:
  void prepare() {
    connection()->set_max_body_size(
        static_cast<std::size_t>(options::get<std::int64_t>("max_upload_size")));
  }
  void data_received(std::string_view chunk) { bytes_read_ += chunk.size(); }
  void put(std::string_view filename) {
    tornado::log::app.info("PUT \"{}\" \"{}\" {} bytes", filename,
                           request().headers.get("Content-Type"), bytes_read_);
    write("OK");
  }

 private:
  std::size_t bytes_read_ = 0;
};

int main(int argc, char** argv) {
  options::define("port", 8888, "run on the given port");
  options::define("address", std::string("127.0.0.1"), "bind to this address");
  options::define("debug", false, "debug mode");
  options::define("max_body_size", std::int64_t{100 * 1024 * 1024},
                  "largest request body (bytes), the multipart POST included");
  options::define("max_upload_size", std::int64_t{10} * 1024 * 1024 * 1024,
                  "largest streamed PUT upload (bytes), set in the handler's prepare()");
  options::parse_command_line(argc, argv);

  tornado::web::Settings settings;
  settings.debug = options::get<bool>("debug");
  tornado::web::Application app(
      {
          {"/post", tornado::web::handler<POSTHandler>()},
          {"/(.*)", tornado::web::handler<PUTHandler>()},
      },
      settings);
  tornado::httpserver::HTTPServerSettings server_settings;
  server_settings.max_body_size =
      static_cast<std::size_t>(options::get<std::int64_t>("max_body_size"));
  auto& server =
      app.listen(options::get<int>("port"), options::get<std::string>("address"), server_settings);
  tornado::log::app.info("file_receiver listening on {}:{}", options::get<std::string>("address"),
                         server.port());
  tornado::ioloop::IOLoop::current().start();
}
