// Status: the result of every fallible call (LevelDB style).
// A Status says whether the caller may retry (Abseil style): transient faults
// (broker down, disk full) are retryable; bad input and corruption are not.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace streamrec {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // caller error; retrying the same call fails again
  kNotFound,          // the thing asked for does not exist
  kCorruption,        // stored data is unreadable; needs an operator
  kIOError,           // local I/O failed (disk full, permissions); may heal
  kUnavailable,       // a remote peer is unreachable or timed out; retry
  kResourceExhausted, // a bound was hit (queue full, budget); retry later
  kInternal,          // a bug or an unexpected library error
  kUnauthenticated,   // a peer refused our credentials (or TLS); fix the configuration
};

class [[nodiscard]] Status {
 public:
  Status() = default;

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status Unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // True when the same call may succeed later without any change by the caller.
  bool retryable() const {
    return code_ == StatusCode::kIOError || code_ == StatusCode::kUnavailable ||
           code_ == StatusCode::kResourceExhausted;
  }

  std::string ToString() const;

  // Prefixes the message with context, keeping the code: "opening store: ...".
  Status WithContext(std::string_view context) const;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::string_view StatusCodeName(StatusCode code);

}  // namespace streamrec

// Returns early from the enclosing function when `expr` is not ok.
#define STREAMREC_RETURN_IF_ERROR(expr)                  \
  do {                                                   \
    ::streamrec::Status streamrec_status_ = (expr);      \
    if (!streamrec_status_.ok()) return streamrec_status_; \
  } while (0)
