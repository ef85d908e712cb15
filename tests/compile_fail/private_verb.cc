// expect: H has no verb that can be called
// Must not compile: the only verb is private, so no request could reach it
// (handler<H> says so with a static_assert naming the rule).
#include "tornado/web.h"

class PrivateHandler : public tornado::web::RequestHandler {
 private:
  void get() {}
};

int main() {
  auto spec = tornado::web::handler<PrivateHandler>();
  return spec.verbs.empty() ? 1 : 0;
}
