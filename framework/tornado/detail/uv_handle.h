// Ownership of libuv handles. A libuv handle must stay allocated until its
// close callback has run, so an owner never frees it directly: it calls
// uv_close and the close callback frees the memory. One owner, one close path.
#pragma once

#include <uv.h>

#include <memory>
#include <utility>

namespace tornado::detail {

/// What close_handle calls once the handle is gone: nothing.
struct NoCloseNotice {
  static void closed(void*) noexcept {}
};

/// The one close path of a libuv handle allocated with new: starts closing
/// it, and libuv's close callback frees it and then, if the handle still
/// carried data, calls `Notice::closed(data)` (an IOStream learns there that
/// its socket is gone). UvHandle closes through it, and so does the one
/// owner that holds its handle by pointer (IOStream, whose public header
/// cannot name UvHandle).
template <class H, class Notice = NoCloseNotice>
void close_handle(H* handle) noexcept {
  auto* base = reinterpret_cast<uv_handle_t*>(handle);
  if (uv_is_closing(base)) return;
  uv_close(base, [](uv_handle_t* h) noexcept {
    void* data = h->data;
    delete reinterpret_cast<H*>(h);
    if (data) Notice::closed(data);
  });
}

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
    H* handle = std::exchange(handle_, nullptr);
    reinterpret_cast<uv_handle_t*>(handle)->data = nullptr;
    close_handle(handle);
  }

 private:
  H* handle_ = nullptr;
};

}  // namespace tornado::detail
