// Compile-time inspection of handler classes: which HTTP verbs (and WebSocket
// events) a handler defines, with how many path arguments, and whether each
// is a plain function or a `Task<>` coroutine. `web::handler<H>()` uses it to
// build the dispatch table once, so a request never looks a method up by name.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"

namespace tornado::detail {

inline constexpr std::size_t kMaxPathArgs = 6;

template <class R>
inline constexpr bool is_handler_result_v = std::is_void_v<R> || std::is_same_v<R, Task<>>;

/// Calls `fn(sv...)` with the first N strings of `args` as string_views.
template <std::size_t... I, class Fn>
decltype(auto) apply_args(Fn&& fn, const std::vector<std::string>& args,
                          std::index_sequence<I...>) {
  return fn(std::string_view(args[I])...);
}

/// Awaits `r` if it is a Task; nothing for void.
template <class Fn>
Task<> run_hook(Fn fn) {
  using R = decltype(fn());
  if constexpr (std::is_void_v<R>) {
    fn();
  } else {
    co_await fn();
  }
}

// One accessor per verb, so the same machinery inspects each member name.
#define TORNADO_DETAIL_VERB(Struct, member)                      \
  struct Struct {                                                \
    template <class H, class... A>                               \
    static auto call(H& h, A... a) -> decltype(h.member(a...)) { \
      return h.member(a...);                                     \
    }                                                            \
  };
TORNADO_DETAIL_VERB(VerbGet, get)
TORNADO_DETAIL_VERB(VerbPost, post)
TORNADO_DETAIL_VERB(VerbPut, put)
TORNADO_DETAIL_VERB(VerbPatch, patch)
TORNADO_DETAIL_VERB(VerbDelete, delete_)
TORNADO_DETAIL_VERB(VerbHead, head)
TORNADO_DETAIL_VERB(VerbOptions, options)
TORNADO_DETAIL_VERB(HookPrepare, prepare)
TORNADO_DETAIL_VERB(HookOpen, open)
TORNADO_DETAIL_VERB(HookDataReceived, data_received)
#undef TORNADO_DETAIL_VERB

template <std::size_t>
using StringViewArg = std::string_view;

template <class Verb, class H, class Seq>
struct CallableWithImpl;

template <class Verb, class H, std::size_t... I>
struct CallableWithImpl<Verb, H, std::index_sequence<I...>> {
  template <class V = Verb>
  static auto test(int) -> std::bool_constant<is_handler_result_v<
      decltype(V::call(std::declval<H&>(), std::declval<StringViewArg<I>>()...))>>;
  static std::false_type test(...);
  static constexpr bool value = decltype(test(0))::value;
};

template <class Verb, class H, class Seq>
struct CallableAnyImpl;

template <class Verb, class H, std::size_t... I>
struct CallableAnyImpl<Verb, H, std::index_sequence<I...>> {
  static constexpr bool value = requires(H & h) {
    Verb::call(h, std::declval<StringViewArg<I>>()...);
  };
};

/// True if `Verb` can be called on H with N string_view arguments,
/// whatever it returns.
template <class Verb, class H, std::size_t N>
inline constexpr bool callable_any_v = CallableAnyImpl<Verb, H, std::make_index_sequence<N>>::value;

/// True if `Verb` can be called on H with N string_view arguments and
/// returns void or Task<>.
template <class Verb, class H, std::size_t N>
inline constexpr bool callable_with_v =
    CallableWithImpl<Verb, H, std::make_index_sequence<N>>::value;

/// Bit N set if `Verb` can be called on H with N string_view arguments and
/// returns void or Task<>.
template <class Verb, class H>
constexpr unsigned arity_mask() {
  unsigned mask = 0;
  [&]<std::size_t... N>(std::index_sequence<N...>) {
    ((mask |= (callable_with_v<Verb, H, N> ? (1u << N) : 0u)), ...);
  }
  (std::make_index_sequence<kMaxPathArgs + 1>());
  return mask;
}

/// Invokes `Verb` on `h` with `args` (arity checked by the caller's mask).
template <class Verb, class H>
Task<> invoke(H& h, const std::vector<std::string>& args) {
  constexpr unsigned mask = arity_mask<Verb, H>();
  Task<> result;
  bool called = false;
  [&]<std::size_t... N>(std::index_sequence<N...>) {
    (
        [&] {
          if constexpr ((mask >> N) & 1u) {
            if (!called && args.size() == N) {
              called = true;
              result = run_hook([&h, &args] {
                return apply_args([&h](auto... a) { return Verb::call(h, a...); }, args,
                                  std::make_index_sequence<N>());
              });
            }
          }
        }(),
        ...);
  }
  (std::make_index_sequence<kMaxPathArgs + 1>());
  if (!called) co_return;
  co_await result;
}

}  // namespace tornado::detail
