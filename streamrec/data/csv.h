// Line-oriented text input shared by every reader: encodings, line numbers, CSV fields
// and the --on-error policy.
#pragma once

#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "streamrec/data/records.h"

namespace streamrec::data {

enum class Encoding { kUtf8, kLatin1 };
enum class OnError { kFail, kSkip };

OnError parse_on_error(std::string_view name);

// A problem with one row: which field, what value, what is wrong. The row loop adds the
// file and line and applies the --on-error policy.
class RowError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Raises RowError "column N (name): message, got 'value'".
[[noreturn]] void bad_field(size_t column, std::string_view name, std::string_view value,
                            std::string_view message);

// Reads a text file line by line. Strips a UTF-8 byte-order mark and trailing '\r';
// converts Latin-1 to UTF-8; with UTF-8 input, a line that is not valid UTF-8 is a
// RowError (the file is probably in another encoding). Throws Error(kIo) when the file
// cannot be opened.
class LineReader {
 public:
  LineReader(std::string path, Encoding encoding = Encoding::kUtf8);
  // Reads the next line into `line`; false at end of file. A line with invalid UTF-8 is
  // returned with `valid_` false (see check_encoding()).
  bool next(std::string& line);
  // Throws RowError when the current line was not valid text in the file's encoding.
  void check_encoding() const;
  size_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Encoding encoding_;
  std::ifstream in_;
  size_t line_number_ = 0;
  size_t bad_byte_ = std::string::npos;
  std::string raw_;
};

// Splits one CSV record. Fields may be quoted with '"' (a doubled quote inside is a
// literal quote). Returns false when a quoted field is not closed on this line.
bool split_csv(std::string_view line, char delimiter, std::vector<std::string>& fields);

// One field for a CSV record: quoted (inner quotes doubled) if it holds a comma, a quote or
// a line break, as split_csv reads it back.
std::string csv_quote(std::string_view s);

// Runs `row(line)` for every non-empty line (after `skip_lines` header lines), applying
// the policy to RowErrors: fail throws Error(kInvalidInput) "path:line: ..."; skip counts
// the row in `report`. Returns the number of lines handed to `row`.
template <typename RowFn>
size_t for_each_line(LineReader& reader, OnError policy, ImportReport& report, RowFn&& row,
                     size_t skip_lines = 0);

// Throws Error(kInvalidInput) naming the file when it has no data rows.
void require_rows(const LineReader& reader, size_t rows);

[[noreturn]] void fail_row(const LineReader& reader, const std::string& message);

template <typename RowFn>
size_t for_each_line(LineReader& reader, OnError policy, ImportReport& report, RowFn&& row,
                     size_t skip_lines) {
  std::string line;
  size_t handed = 0;
  while (reader.next(line)) {
    if (reader.line_number() <= skip_lines) continue;
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++handed;
    ++report.rows_read;
    try {
      reader.check_encoding();
      row(line);
    } catch (const RowError& e) {
      if (policy == OnError::kFail) fail_row(reader, e.what());
      report.skip(reader.path() + ":" + std::to_string(reader.line_number()) + ": " + e.what());
    }
  }
  return handed;
}

}  // namespace streamrec::data
