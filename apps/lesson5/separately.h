// separately(): awaits a task made in a statement of its own.
//
// Debian 12's GCC 12 destroys twice a temporary that lives across a co_await
// (docs/architecture.md, "Build with clang"): in `co_await f(std::string(x))`
// or `co_await redis.command({"INCR", key})` the argument outlives the
// suspension. The project builds with clang, which is not affected; so that
// the lesson's app stays correct with GCC 12 too, it writes such a call as
//
//   co_await lesson5::separately([&] { return f(std::string(x)); });
//
// The call, with all its temporaries, runs inside the lambda and is over
// before anything is awaited; only the task itself crosses the suspension.
#pragma once

#include <utility>

#include "tornado/concurrent.h"

namespace lesson5 {

/// Awaits the task `make()` returns; `make` runs before the first suspension.
template <class Make>
auto separately(Make make) -> decltype(make()) {
  auto task = make();
  co_return co_await task;
}

}  // namespace lesson5
