// RecBole atomic files: NAME.inter, NAME.item, NAME.user, tab-separated, with typed
// headers "field:type" (token, token_seq, float, float_seq).
#include <filesystem>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"
#include "streamrec/data/reader.h"

namespace streamrec::data {
namespace fs = std::filesystem;
namespace {

struct Column {
  std::string name;
  std::string type;
};

std::vector<Column> parse_header(LineReader& reader) {
  std::string line;
  SR_INPUT_CHECK(reader.next(line), "{}: empty file, expected a typed header", reader.path());
  std::vector<Column> cols;
  for (auto part : text::split(line, "\t")) {
    const auto colon = part.rfind(':');
    if (colon == std::string_view::npos)
      fail_row(reader, fmt::format("header field {} has no ':type' suffix", text::quote(part)));
    Column c{std::string(text::trim(part.substr(0, colon))),
             std::string(text::trim(part.substr(colon + 1)))};
    if (c.type != "token" && c.type != "token_seq" && c.type != "float" && c.type != "float_seq")
      fail_row(reader,
               fmt::format("header field '{}' has unknown type {}", c.name, text::quote(c.type)));
    cols.push_back(std::move(c));
  }
  return cols;
}

int find_col(const std::vector<Column>& cols, std::initializer_list<const char*> names) {
  for (const char* n : names)
    for (size_t i = 0; i < cols.size(); ++i)
      if (cols[i].name == n) return static_cast<int>(i);
  return -1;
}

std::vector<std::string_view> row_fields(const std::string& line, size_t n) {
  auto f = text::split(line, "\t");
  if (f.size() != n)
    throw RowError(fmt::format("expected {} tab-separated fields, found {}", n, f.size()));
  return f;
}

fs::path find_inter(const fs::path& path) {
  if (fs::is_regular_file(path)) return path;
  for (const auto& e : fs::directory_iterator(path))
    if (e.path().extension() == ".inter") return e.path();
  throw_error(ErrorKind::kInvalidInput, fmt::format("no .inter file in '{}'", path.string()));
}

}  // namespace

Dataset read_recbole(const std::string& path, const ReadOptions& o, ImportReport& r) {
  const fs::path inter = find_inter(path);
  Dataset ds;
  ds.name = inter.stem().string();
  {
    LineReader reader(inter.string());
    const auto cols = parse_header(reader);
    const int u = find_col(cols, {"user_id"});
    const int i = find_col(cols, {"item_id"});
    const int v = find_col(cols, {"rating", "label", "value"});
    const int t = find_col(cols, {"timestamp"});
    SR_INPUT_CHECK(u >= 0 && i >= 0, "{}: header needs user_id and item_id columns",
                   inter.string());
    ds.explicit_ratings = v >= 0 && cols[v].name == "rating";
    const size_t rows = for_each_line(reader, o.on_error, r, [&](const std::string& line) {
      const auto f = row_fields(line, cols.size());
      Interaction e;
      e.user = ds.add_user(id_field(f[u], u, "user_id"));
      e.item = ds.add_item(id_field(f[i], i, cols[i].name));
      e.value = v >= 0 ? static_cast<float>(number_field(f[v], v, cols[v].name)) : 1.0f;
      e.timestamp = t >= 0 ? int_field(f[t], t, "timestamp") : 0;
      e.type = ds.explicit_ratings ? EventType::kRating : EventType::kClick;
      ds.events.push_back(e);
    });
    require_rows(reader, rows);
  }
  const auto item_path = fs::path(inter).replace_extension(".item");
  if (fs::exists(item_path)) {
    LineReader reader(item_path.string());
    const auto cols = parse_header(reader);
    const int id = find_col(cols, {"item_id"});
    SR_INPUT_CHECK(id >= 0, "{}: header needs an item_id column", item_path.string());
    for_each_line(reader, o.on_error, r, [&](const std::string& line) {
      const auto f = row_fields(line, cols.size());
      auto& a = ds.item_attrs[ds.add_item(id_field(f[id], id, "item_id"))];
      for (size_t c = 0; c < cols.size(); ++c) {
        if (static_cast<int>(c) == id || text::trim(f[c]).empty()) continue;
        const auto& col = cols[c];
        if (col.name.find("title") != std::string::npos || col.name == "name") {
          a.title = std::string(text::trim(f[c]));
        } else if (col.type == "float") {
          a.numeric[col.name] = number_field(f[c], c, col.name);
        } else if (col.type == "token_seq" &&
                   (col.name == "class" || col.name == "genre" || col.name == "categories")) {
          for (auto tok : text::split(text::trim(f[c]), " "))
            if (!tok.empty()) a.categories.emplace_back(tok);
        } else {
          for (auto tok : text::split(text::trim(f[c]), " "))
            if (!tok.empty()) a.tags.push_back(col.name + "=" + std::string(tok));
        }
      }
    });
  }
  const auto user_path = fs::path(inter).replace_extension(".user");
  if (fs::exists(user_path)) {
    LineReader reader(user_path.string());
    const auto cols = parse_header(reader);
    const int id = find_col(cols, {"user_id"});
    SR_INPUT_CHECK(id >= 0, "{}: header needs a user_id column", user_path.string());
    for_each_line(reader, o.on_error, r, [&](const std::string& line) {
      const auto f = row_fields(line, cols.size());
      auto& a = ds.user_attrs[ds.add_user(id_field(f[id], id, "user_id"))];
      for (size_t c = 0; c < cols.size(); ++c) {
        if (static_cast<int>(c) == id) continue;
        if (cols[c].type == "float")
          a.numeric[cols[c].name] = number_field(f[c], c, cols[c].name);
        else
          a.fields[cols[c].name] = std::string(text::trim(f[c]));
      }
    });
  }
  return ds;
}

}  // namespace streamrec::data
