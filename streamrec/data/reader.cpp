#include "streamrec/data/reader.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"

namespace streamrec::data {
namespace fs = std::filesystem;

namespace {

struct FormatEntry {
  FormatInfo info;
  // True when `path` looks like this format.
  bool (*detect)(const fs::path& path);
  Dataset (*read)(const std::string&, const ReadOptions&, ImportReport&);
};

bool has(const fs::path& dir, const char* file) { return fs::exists(dir / file); }

bool has_ext(const fs::path& path, const char* ext) {
  if (fs::is_regular_file(path)) return path.extension() == ext;
  if (!fs::is_directory(path)) return false;
  for (const auto& entry : fs::directory_iterator(path))
    if (entry.path().extension() == ext) return true;
  return false;
}

const std::vector<FormatEntry>& entries() {
  static const std::vector<FormatEntry> list = {
      {{"movielens",
        "MovieLens 1M/10M or MovieTweetings: ratings.dat [movies.dat users.dat] "
        "with '::' separators"},
       [](const fs::path& p) { return has(p, "ratings.dat"); },
       read_movielens_dat},
      {{"ml100k", "MovieLens 100K: u.data (tab), u.item (Latin-1, genre flags), u.user"},
       [](const fs::path& p) { return has(p, "u.data"); },
       read_ml100k},
      {{"mlcsv", "MovieLens latest CSV: ratings.csv [movies.csv tags.csv]"},
       [](const fs::path& p) { return has(p, "ratings.csv"); },
       read_movielens_csv},
      {{"recbole", "RecBole atomic files: NAME.inter [NAME.item NAME.user], typed headers"},
       [](const fs::path& p) { return has_ext(p, ".inter"); },
       read_recbole},
      {{"csv",
        "generic CSV with a header: events.csv [items.csv users.csv] or one file; "
        "--columns maps fields"},
       [](const fs::path& p) { return has(p, "events.csv") || p.extension() == ".csv"; },
       read_generic},
      {{"tsv", "generic TSV, as csv with tabs"},
       [](const fs::path& p) { return has(p, "events.tsv") || p.extension() == ".tsv"; },
       read_generic},
      {{"jsonl", "generic JSON lines: one object per event"},
       [](const fs::path& p) { return has(p, "events.jsonl") || p.extension() == ".jsonl"; },
       read_generic},
  };
  return list;
}

}  // namespace

const std::vector<FormatInfo>& formats() {
  static const std::vector<FormatInfo> infos = [] {
    std::vector<FormatInfo> v;
    for (const auto& e : entries()) v.push_back(e.info);
    return v;
  }();
  return infos;
}

Dataset read_dataset(const std::string& path, const ReadOptions& options, ImportReport& report) {
  SR_CHECK(fs::exists(path), ErrorKind::kIo, "data path '{}' does not exist", path);
  ReadOptions resolved = options;
  std::string names;
  for (const auto& e : entries()) {
    names += (names.empty() ? "" : ", ") + e.info.name;
    const bool chosen = options.format == "auto" ? e.detect(path) : options.format == e.info.name;
    if (chosen) {
      resolved.format = e.info.name;
      Dataset ds = e.read(path, resolved, report);
      if (ds.name.empty()) ds.name = fs::path(path).filename().string();
      SR_INPUT_CHECK(!ds.events.empty(), "'{}': no events were read ({} rows skipped)", path,
                     report.rows_skipped);
      return ds;
    }
  }
  if (options.format == "auto")
    throw_error(
        ErrorKind::kInvalidInput,
        fmt::format("cannot tell the format of '{}'; pass --format (one of {})", path, names));
  throw_error(ErrorKind::kInvalidInput,
              fmt::format("unknown format {} (one of {})", text::quote(options.format), names));
}

std::string_view id_field(std::string_view value, size_t column, std::string_view name) {
  value = text::trim(value);
  if (value.empty()) bad_field(column, name, value, "empty id");
  return value;
}

double number_field(std::string_view value, size_t column, std::string_view name) {
  const auto v = text::parse_double(value);
  if (!v) bad_field(column, name, value, "expected a number");
  return *v;
}

int64_t int_field(std::string_view value, size_t column, std::string_view name) {
  auto v = text::parse_int(value);
  if (!v) {
    // Timestamps written as floats ("1365029107.0") are common in RecBole files.
    // (A double beyond int64's range must not be cast: fuzz_readers found the UB.)
    const auto d = text::parse_double(value);
    if (!d || !(std::abs(*d) < 9.2e18) || *d != std::trunc(*d))
      bad_field(column, name, value, "expected an integer");
    v = static_cast<int64_t>(*d);
  }
  return *v;
}

int title_year(std::string_view title) {
  title = text::trim(title);
  if (title.size() < 6 || title.back() != ')') return -1;
  const auto open = title.rfind('(');
  if (open == std::string_view::npos || title.size() - open != 6) return -1;
  const auto y = text::parse_int(title.substr(open + 1, 4));
  return y ? static_cast<int>(*y) : -1;
}

}  // namespace streamrec::data
