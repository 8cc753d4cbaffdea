// One error policy for Streamrec (see STYLE.md, point 6).
//
// `Error` is thrown for what a user or the world did wrong (bad input, I/O, a corrupt
// file); `SR_ASSERT` guards our own invariants. Each boundary (CLI main, HTTP handler)
// catches `Error` once and turns it into a message or a JSON error.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace streamrec {

enum class ErrorKind {
  kInvalidInput,  // the caller or a data file gave something we cannot accept
  kIo,            // the file system or network failed
  kNoSpace,       // the disk is full (HTTP 507): nothing was written, retry once there is room
  kCorrupt,       // persisted data fails its checks (magic, version, size, checksum)
  kUnsupported,   // an optional operation a component does not implement
  kInternal,      // a bug in Streamrec
};

const char* to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message);
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] void throw_error(ErrorKind kind, const std::string& message);
[[noreturn]] void throw_internal(const char* file, int line, const std::string& message);

}  // namespace streamrec

// Raises Error(kind) with a formatted message when `cond` is false.
#define SR_CHECK(cond, kind, ...)                                          \
  do {                                                                     \
    if (!(cond)) ::streamrec::throw_error(kind, fmt::format(__VA_ARGS__)); \
  } while (0)

#define SR_INPUT_CHECK(cond, ...) SR_CHECK(cond, ::streamrec::ErrorKind::kInvalidInput, __VA_ARGS__)

// An invariant of our own code; records file and line. Active in every build type.
#define SR_ASSERT(cond)                                                                       \
  do {                                                                                        \
    if (!(cond)) ::streamrec::throw_internal(__FILE__, __LINE__, "assertion failed: " #cond); \
  } while (0)
