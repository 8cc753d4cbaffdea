#include "streamrec/core/error.h"

namespace streamrec {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidInput:
      return "invalid input";
    case ErrorKind::kIo:
      return "I/O error";
    case ErrorKind::kNoSpace:
      return "no space left";
    case ErrorKind::kCorrupt:
      return "corrupt data";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kInternal:
      return "internal error";
  }
  return "error";
}

Error::Error(ErrorKind kind, const std::string& message)
    : std::runtime_error(message), kind_(kind) {}

void throw_error(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

void throw_internal(const char* file, int line, const std::string& message) {
  throw Error(ErrorKind::kInternal, fmt::format("{} ({}:{})", message, file, line));
}

}  // namespace streamrec
