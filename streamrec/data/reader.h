// Reading data sets: one entry point, formats picked by name from one list.
#pragma once

#include <string>
#include <vector>

#include "streamrec/data/csv.h"
#include "streamrec/data/records.h"

namespace streamrec::data {

struct ReadOptions {
  std::string format = "auto";  // see format_names(); "auto" detects from the files present
  OnError on_error = OnError::kFail;
  // Column mapping for the generic csv/tsv/jsonl formats: "field=column" where field is one
  // of user, item, value, type, timestamp, context, and column a header name or a 0-based
  // index. Columns named "ctx.<key>" become context key=values.
  std::vector<std::string> columns;
};

struct FormatInfo {
  std::string name;
  std::string description;
};

// Every format `read_dataset` knows, in detection order.
const std::vector<FormatInfo>& formats();

// Reads a data set from a directory (or, for the generic formats, a single events file).
// Malformed rows follow `options.on_error`; `report` counts what was read and skipped.
// Throws Error(kInvalidInput) naming file, line and field, or Error(kIo).
Dataset read_dataset(const std::string& path, const ReadOptions& options, ImportReport& report);

// Shared by the readers: the individual formats.
Dataset read_movielens_dat(const std::string& dir, const ReadOptions& o, ImportReport& r);
Dataset read_ml100k(const std::string& dir, const ReadOptions& o, ImportReport& r);
Dataset read_movielens_csv(const std::string& dir, const ReadOptions& o, ImportReport& r);
Dataset read_recbole(const std::string& path, const ReadOptions& o, ImportReport& r);
Dataset read_generic(const std::string& path, const ReadOptions& o, ImportReport& r);

// Field helpers for the readers: each raises RowError naming column, field and value.
std::string_view id_field(std::string_view value, size_t column, std::string_view name);
double number_field(std::string_view value, size_t column, std::string_view name);
int64_t int_field(std::string_view value, size_t column, std::string_view name);
// "Toy Story (1995)" -> 1995, or -1.
int title_year(std::string_view title);

}  // namespace streamrec::data
