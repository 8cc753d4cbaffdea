// Small text helpers shared by the parsers and the CLI.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streamrec::text {

std::string_view trim(std::string_view s);
// Splits on every occurrence of `sep` (which may be several characters); keeps empty fields.
std::vector<std::string_view> split(std::string_view s, std::string_view sep);
// Strict parses: the whole (trimmed) field must be a number, else nullopt.
std::optional<double> parse_double(std::string_view s);
std::optional<int64_t> parse_int(std::string_view s);
// Byte offset of the first invalid UTF-8 sequence, or nullopt when `s` is valid UTF-8.
std::optional<size_t> invalid_utf8_at(std::string_view s);
// Latin-1 (ISO-8859-1) bytes to UTF-8.
std::string latin1_to_utf8(std::string_view s);
// Lower-cased alphanumeric tokens of a title or free text ("The Matrix (1999)" ->
// "the", "matrix", "1999").
std::vector<std::string> tokenize(std::string_view s);
// A value shown in an error message: quoted, truncated, control bytes escaped.
std::string quote(std::string_view s, size_t max_len = 60);

}  // namespace streamrec::text
