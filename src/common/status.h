// Status and Result<T>: the one error type of the project.
// Codes are the gRPC codes so an error crosses ttrpc (agent <-> host, shim <->
// containerd) without translation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace kata {

enum class Code : int32_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Adds context in front: "starting sandbox abc: <message>".
  Status Wrap(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status Error(Code code, std::string message) { return {code, std::move(message)}; }
// An error from errno, naming what failed: "open /x/y: No such file or directory".
Status ErrnoError(const std::string& what, int err);
Status ErrnoError(const std::string& what);  // uses errno

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  // The value, or `fallback` when this holds an error (for callers where any
  // error means "nothing usable", e.g. a peer's malformed message).
  T value_or(T fallback) && { return ok() ? std::get<T>(std::move(v_)) : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kata

// Early-return helpers: keep call sites to one line per step.
#define KATA_CONCAT_INNER(a, b) a##b
#define KATA_CONCAT(a, b) KATA_CONCAT_INNER(a, b)
#define RETURN_IF_ERROR(expr)               \
  do {                                      \
    ::kata::Status _st = (expr);            \
    if (!_st.ok()) return _st;              \
  } while (0)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(KATA_CONCAT(_res_, __LINE__), lhs, expr)
