// Ownership of libuv handles. A libuv handle must stay allocated until its
// close callback has run, so an owner never frees it directly: it calls
// uv_close and the close callback frees the memory. One owner, one close path.
#pragma once

#include <uv.h>

#include <memory>
#include <utility>

namespace tornado::detail {

template <class H>
class UvHandle {
 public:
  UvHandle() = default;
  /// Takes an allocated, initialised handle.
  explicit UvHandle(std::unique_ptr<H> handle) : handle_(handle.release()) {}
  UvHandle(UvHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      close();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { close(); }

  H* get() const noexcept { return handle_; }
  H* operator->() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

  /// Hands the open handle to an owner with a close path of its own (an
  /// IOStream, whose close callback must reach the stream); that owner then
  /// calls uv_close.
  [[nodiscard]] H* release() noexcept { return std::exchange(handle_, nullptr); }

  /// Starts closing; the memory is released by libuv's close callback.
  void close() noexcept {
    if (!handle_) return;
    auto* base = reinterpret_cast<uv_handle_t*>(std::exchange(handle_, nullptr));
    base->data = nullptr;
    if (!uv_is_closing(base)) {
      uv_close(base, [](uv_handle_t* h) noexcept { delete reinterpret_cast<H*>(h); });
    }
  }

 private:
  H* handle_ = nullptr;
};

}  // namespace tornado::detail
