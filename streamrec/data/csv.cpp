#include "streamrec/data/csv.h"

#include <fmt/format.h>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"

namespace streamrec::data {

OnError parse_on_error(std::string_view name) {
  if (name == "fail") return OnError::kFail;
  if (name == "skip") return OnError::kSkip;
  throw_error(ErrorKind::kInvalidInput,
              fmt::format("--on-error must be fail or skip, got {}", text::quote(name)));
}

void bad_field(size_t column, std::string_view name, std::string_view value,
               std::string_view message) {
  throw RowError(
      fmt::format("column {} ({}): {}, got {}", column + 1, name, message, text::quote(value)));
}

LineReader::LineReader(std::string path, Encoding encoding)
    : path_(std::move(path)), encoding_(encoding), in_(path_, std::ios::binary) {
  SR_CHECK(in_.good(), ErrorKind::kIo, "cannot open '{}'", path_);
}

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, raw_)) return false;
  ++line_number_;
  if (line_number_ == 1 && raw_.starts_with("\xEF\xBB\xBF")) raw_.erase(0, 3);
  if (!raw_.empty() && raw_.back() == '\r') raw_.pop_back();
  bad_byte_ = std::string::npos;
  if (encoding_ == Encoding::kLatin1) {
    line = text::latin1_to_utf8(raw_);
  } else {
    if (auto bad = text::invalid_utf8_at(raw_)) bad_byte_ = *bad;
    line = raw_;
  }
  return true;
}

void LineReader::check_encoding() const {
  if (bad_byte_ == std::string::npos) return;
  throw RowError(fmt::format(
      "byte {} (0x{:02x}) is not valid UTF-8; is the file in another encoding (Latin-1?)",
      bad_byte_ + 1, static_cast<unsigned char>(raw_[bad_byte_])));
}

std::string csv_quote(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

bool split_csv(std::string_view line, char delimiter, std::vector<std::string>& fields) {
  fields.clear();
  std::string cur;
  bool in_quotes = false;
  bool was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        cur.push_back(c);
      }
    } else if (c == '"' && (cur.empty() && !was_quoted)) {
      in_quotes = true;
      was_quoted = true;
    } else if (c == delimiter) {
      fields.push_back(std::move(cur));
      cur.clear();
      was_quoted = false;
    } else {
      cur.push_back(c);
    }
  }
  fields.push_back(std::move(cur));
  return !in_quotes;
}

void require_rows(const LineReader& reader, size_t rows) {
  SR_INPUT_CHECK(rows > 0, "{}: the file has no data rows (empty file?)", reader.path());
}

void fail_row(const LineReader& reader, const std::string& message) {
  throw_error(ErrorKind::kInvalidInput,
              fmt::format("{}:{}: {}", reader.path(), reader.line_number(), message));
}

}  // namespace streamrec::data
