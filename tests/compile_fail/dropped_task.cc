// expect: H::prepare\(\) must return void or tornado::Task<>
// Must not compile: prepare() returns a Task<int>, whose result the
// framework would drop (handler<H> refuses it with a static_assert).
#include "tornado/web.h"

class DroppingHandler : public tornado::web::RequestHandler {
 public:
  tornado::Task<int> prepare() { co_return 1; }
  void get() {}
};

int main() {
  auto spec = tornado::web::handler<DroppingHandler>();
  return spec.verbs.empty() ? 1 : 0;
}
