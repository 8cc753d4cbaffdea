// Generic CSV / TSV / JSON-lines events with a column mapping, plus optional items and
// users files beside them (items.csv, users.csv / .tsv / .jsonl).
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"
#include "streamrec/data/reader.h"

namespace streamrec::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFields[] = {"user", "item", "value", "type", "timestamp", "context"};
constexpr size_t kNumFields = std::size(kFields);
enum FieldIndex { kUser, kItem, kValue, kType, kTimestamp, kContext };

// Names a column may have when --columns does not say.
const std::vector<std::vector<std::string>> kAliases = {
    {"user", "user_id", "userId", "uid"},
    {"item", "item_id", "itemId", "movieId", "iid", "product_id"},
    {"value", "rating", "weight", "score"},
    {"type", "event", "event_type", "action"},
    {"timestamp", "ts", "time", "date"},
    {"context"},
};

// Unix seconds from an integer or an ISO-8601 UTC date "YYYY-MM-DD[THH:MM:SS[Z]]".
int64_t timestamp_field(std::string_view value, size_t column) {
  value = text::trim(value);
  if (auto v = text::parse_int(value)) return *v;
  if (auto d = text::parse_double(value)) return static_cast<int64_t>(*d);
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, s = 0;
  const std::string str(value);
  const int n = std::sscanf(str.c_str(), "%4d-%2d-%2d%*[T ]%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s);
  if (n != 3 && n != 6) bad_field(column, "timestamp", value, "expected Unix seconds or ISO date");
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    bad_field(column, "timestamp", value, "date out of range");
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}

// "k=v;k=v" -> Context; a bad entry names the column.
Context context_field(std::string_view s, size_t column) {
  try {
    return parse_context(s, ";");
  } catch (const Error&) {
    bad_field(column, "context", s, "expected key=value pairs separated by ';'");
  }
}

struct Mapping {
  int col[kNumFields] = {-1, -1, -1, -1, -1, -1};
  std::vector<std::pair<int, std::string>> ctx_cols;  // "ctx.<key>" columns
};

Mapping map_columns(const std::vector<std::string>& header, const ReadOptions& o,
                    const std::string& path) {
  Mapping m;
  auto index_of = [&](std::string_view name) -> int {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    if (auto n = text::parse_int(name); n && *n >= 0 && *n < static_cast<int64_t>(header.size()))
      return static_cast<int>(*n);
    return -1;
  };
  for (size_t f = 0; f < kNumFields; ++f)
    for (const auto& alias : kAliases[f])
      if (m.col[f] < 0) m.col[f] = index_of(alias);
  for (const auto& spec : o.columns) {
    for (auto part : text::split(spec, ",")) {
      const auto eq = part.find('=');
      SR_INPUT_CHECK(eq != std::string_view::npos, "--columns: expected field=column, got {}",
                     text::quote(part));
      const auto field = text::trim(part.substr(0, eq));
      const auto column = text::trim(part.substr(eq + 1));
      size_t f = 0;
      while (f < kNumFields && field != kFields[f]) ++f;
      SR_INPUT_CHECK(f < kNumFields,
                     "--columns: unknown field {} (user, item, value, type, timestamp, context)",
                     text::quote(field));
      m.col[f] = index_of(column);
      SR_INPUT_CHECK(m.col[f] >= 0, "--columns: {} has no column {}", path, text::quote(column));
    }
  }
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i].starts_with("ctx.")) m.ctx_cols.emplace_back(i, header[i].substr(4));
  SR_INPUT_CHECK(m.col[kUser] >= 0 && m.col[kItem] >= 0,
                 "{}: cannot find the user and item columns in the header; map them with "
                 "--columns user=NAME,item=NAME",
                 path);
  return m;
}

// Turns one row (already split) into an event.
void add_event(Dataset& ds, const std::vector<std::string>& f, const Mapping& m) {
  Interaction e;
  e.user = ds.add_user(id_field(f[m.col[kUser]], m.col[kUser], "user"));
  e.item = ds.add_item(id_field(f[m.col[kItem]], m.col[kItem], "item"));
  if (m.col[kValue] >= 0) {
    const auto& v = f[m.col[kValue]];
    // An empty value is a missing value (NaN), handled by preprocessing.
    e.value = text::trim(v).empty() ? std::numeric_limits<float>::quiet_NaN()
                                    : static_cast<float>(number_field(v, m.col[kValue], "value"));
  }
  e.type = EventType::kClick;
  if (m.col[kType] >= 0) {
    const auto t = parse_event_type(text::trim(f[m.col[kType]]));
    if (!t)
      bad_field(m.col[kType], "type", f[m.col[kType]],
                "unknown event type (view, click, cart, purchase, rating, like, share, other)");
    e.type = *t;
  }
  if (m.col[kTimestamp] >= 0)
    e.timestamp = timestamp_field(f[m.col[kTimestamp]], m.col[kTimestamp]);
  Context ctx;
  if (m.col[kContext] >= 0) ctx = context_field(f[m.col[kContext]], m.col[kContext]);
  for (const auto& [col, key] : m.ctx_cols)
    if (!text::trim(f[col]).empty()) ctx.emplace_back(key, std::string(text::trim(f[col])));
  e.context = ds.add_context(std::move(ctx));
  ds.events.push_back(e);
}

// Reads a delimited file with a header, calling row(fields) with fields sized to it.
template <typename RowFn>
void read_delimited(const std::string& path, char delim, const ReadOptions& o, ImportReport& r,
                    std::vector<std::string>& header, RowFn&& row) {
  LineReader reader(path);
  std::string line;
  SR_INPUT_CHECK(reader.next(line), "{}: empty file, expected a header line", path);
  try {
    reader.check_encoding();
  } catch (const RowError& e) {  // (found by fuzz_readers: it escaped as a bare exception)
    throw Error(ErrorKind::kInvalidInput, fmt::format("{}:1: header: {}", path, e.what()));
  }
  SR_INPUT_CHECK(split_csv(line, delim, header), "{}:1: unterminated quote in header", path);
  for (auto& h : header) h = std::string(text::trim(h));
  std::vector<std::string> fields;
  const size_t rows = for_each_line(reader, o.on_error, r, [&](const std::string& l) {
    if (!split_csv(l, delim, fields)) throw RowError("unterminated quoted field");
    if (fields.size() != header.size())
      throw RowError(fmt::format("expected {} fields as in the header, found {}", header.size(),
                                 fields.size()));
    row(fields);
  });
  require_rows(reader, rows);
}

// JSON scalars to the strings the CSV path works with.
std::string json_scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

template <typename RowFn>
void read_jsonl(const std::string& path, const ReadOptions& o, ImportReport& r, RowFn&& row) {
  LineReader reader(path);
  const size_t rows = for_each_line(reader, o.on_error, r, [&](const std::string& l) {
    json obj = json::parse(l, nullptr, false);
    if (obj.is_discarded() || !obj.is_object()) throw RowError("not a JSON object");
    row(obj);
  });
  require_rows(reader, rows);
}

void read_item_row(Dataset& ds, const std::vector<std::string>& header,
                   const std::vector<std::string>& f, const fs::path& dir) {
  int id = -1;
  for (size_t i = 0; i < header.size() && id < 0; ++i)
    if (header[i] == "item" || header[i] == "item_id" || header[i] == "id") id = i;
  if (id < 0) throw RowError("items file needs an 'item' (or 'id') column");
  auto& a = ds.item_attrs[ds.add_item(id_field(f[id], id, "item"))];
  for (size_t c = 0; c < header.size(); ++c) {
    const auto v = text::trim(f[c]);
    if (static_cast<int>(c) == id || v.empty()) continue;
    const auto& h = header[c];
    if (h == "title" || h == "name" || h == "text") {
      a.title = std::string(v);
    } else if (h == "categories" || h == "category" || h == "genres") {
      for (auto g : text::split(v, "|"))
        if (!text::trim(g).empty()) a.categories.emplace_back(text::trim(g));
    } else if (h == "tags") {
      for (auto g : text::split(v, "|"))
        if (!text::trim(g).empty()) a.tags.emplace_back(text::trim(g));
    } else if (h == "image") {
      const fs::path image(v);  // relative paths are relative to the items file
      a.image = (image.is_absolute() ? image : dir / image).string();
    } else if (auto num = text::parse_double(v)) {
      a.numeric[h] = *num;
    } else {
      a.tags.push_back(h + "=" + std::string(v));
    }
  }
}

void read_user_row(Dataset& ds, const std::vector<std::string>& header,
                   const std::vector<std::string>& f) {
  int id = -1;
  for (size_t i = 0; i < header.size() && id < 0; ++i)
    if (header[i] == "user" || header[i] == "user_id" || header[i] == "id") id = i;
  if (id < 0) throw RowError("users file needs a 'user' (or 'id') column");
  auto& a = ds.user_attrs[ds.add_user(id_field(f[id], id, "user"))];
  for (size_t c = 0; c < header.size(); ++c) {
    if (static_cast<int>(c) == id) continue;
    if (auto num = text::parse_double(f[c]))
      a.numeric[header[c]] = *num;
    else
      a.fields[header[c]] = std::string(text::trim(f[c]));
  }
}

// A JSON object as header + fields, so one row function serves CSV and JSON lines.
void flatten(const json& obj, std::vector<std::string>& header, std::vector<std::string>& f) {
  header.clear();
  f.clear();
  for (const auto& [k, v] : obj.items()) {
    if (k == "context" && v.is_object()) {
      std::string ctx;
      for (const auto& [ck, cv] : v.items()) ctx += ck + "=" + json_scalar(cv) + ";";
      header.push_back(k);
      f.push_back(ctx);
    } else if (v.is_array()) {
      std::string joined;
      for (const auto& x : v) {
        if (!joined.empty()) joined += '|';
        joined += json_scalar(x);
      }
      header.push_back(k);
      f.push_back(joined);
    } else if (v.is_object()) {
      for (const auto& [ck, cv] : v.items()) {
        header.push_back(ck);
        f.push_back(json_scalar(cv));
      }
    } else {
      header.push_back(k);
      f.push_back(json_scalar(v));
    }
  }
}

}  // namespace

Dataset read_generic(const std::string& path, const ReadOptions& o, ImportReport& r) {
  const std::string ext = o.format == "jsonl" ? ".jsonl" : o.format == "tsv" ? ".tsv" : ".csv";
  const char delim = o.format == "tsv" ? '\t' : ',';
  const fs::path p(path);
  const fs::path dir = fs::is_directory(p) ? p : p.parent_path();
  const fs::path events = fs::is_directory(p) ? dir / ("events" + ext) : p;
  Dataset ds;
  std::vector<std::string> header, fields;
  if (o.format == "jsonl") {
    read_jsonl(events.string(), o, r, [&](const json& obj) {
      flatten(obj, header, fields);
      add_event(ds, fields, map_columns(header, o, events.string()));
    });
  } else {
    std::optional<Mapping> mapping;
    read_delimited(events.string(), delim, o, r, header, [&](const std::vector<std::string>& f) {
      if (!mapping) mapping = map_columns(header, o, events.string());
      add_event(ds, f, *mapping);
    });
  }
  for (const auto& [stem, is_items] : {std::pair{"items", true}, std::pair{"users", false}}) {
    const fs::path side = dir / (std::string(stem) + ext);
    if (!fs::is_directory(p) || !fs::exists(side)) continue;
    auto handle = [&, items = is_items](const std::vector<std::string>& h,
                                        const std::vector<std::string>& f) {
      items ? read_item_row(ds, h, f, side.parent_path()) : read_user_row(ds, h, f);
    };
    if (o.format == "jsonl") {
      read_jsonl(side.string(), o, r, [&](const json& obj) {
        flatten(obj, header, fields);
        handle(header, fields);
      });
    } else {
      std::vector<std::string> side_header;
      read_delimited(side.string(), delim, o, r, side_header,
                     [&](const std::vector<std::string>& f) { handle(side_header, f); });
    }
  }
  ds.explicit_ratings = false;
  return ds;
}

}  // namespace streamrec::data
