#include "streamrec/data/dataset_io.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "streamrec/core/error.h"
#include "streamrec/data/csv.h"

namespace streamrec::data {
namespace {

std::string join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : std::string(1, sep)) + x;
  return out;
}

std::ofstream open_out(const std::filesystem::path& p) {
  std::ofstream out(p);
  SR_CHECK(out.good(), ErrorKind::kIo, "cannot write '{}'", p.string());
  return out;
}

}  // namespace

void write_csv_dataset(const Dataset& ds, const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  {
    auto out = open_out(fs::path(dir) / "events.csv");
    out << "user,item,type,value,timestamp,context\n";
    for (const auto& e : ds.events) {
      std::string ctx;
      for (const auto& [k, v] : ds.contexts[e.context])
        ctx += (ctx.empty() ? "" : ";") + k + "=" + v;
      out << csv_quote(ds.users.id(e.user)) << ',' << csv_quote(ds.items.id(e.item)) << ','
          << to_string(e.type) << ',' << fmt::format("{}", e.value) << ',' << e.timestamp << ','
          << csv_quote(ctx) << '\n';
    }
  }
  {
    std::set<std::string> numeric_keys;
    for (const auto& a : ds.item_attrs)
      for (const auto& [k, v] : a.numeric) numeric_keys.insert(k);
    auto out = open_out(fs::path(dir) / "items.csv");
    out << "item,title,categories,tags,image";
    for (const auto& k : numeric_keys) out << ',' << csv_quote(k);
    out << '\n';
    for (uint32_t i = 0; i < ds.num_items(); ++i) {
      const auto& a = ds.item_attrs[i];
      out << csv_quote(ds.items.id(i)) << ',' << csv_quote(a.title) << ','
          << csv_quote(join(a.categories, '|')) << ',' << csv_quote(join(a.tags, '|')) << ','
          << csv_quote(a.image);
      for (const auto& k : numeric_keys) {
        out << ',';
        if (auto it = a.numeric.find(k); it != a.numeric.end())
          out << fmt::format("{}", it->second);
      }
      out << '\n';
    }
  }
  {
    std::set<std::string> keys;
    for (const auto& a : ds.user_attrs) {
      for (const auto& [k, v] : a.fields) keys.insert(k);
      for (const auto& [k, v] : a.numeric) keys.insert(k);
    }
    auto out = open_out(fs::path(dir) / "users.csv");
    out << "user";
    for (const auto& k : keys) out << ',' << csv_quote(k);
    out << '\n';
    for (uint32_t u = 0; u < ds.num_users(); ++u) {
      const auto& a = ds.user_attrs[u];
      out << csv_quote(ds.users.id(u));
      for (const auto& k : keys) {
        out << ',';
        if (auto it = a.fields.find(k); it != a.fields.end()) out << csv_quote(it->second);
        if (auto it = a.numeric.find(k); it != a.numeric.end())
          out << fmt::format("{}", it->second);
      }
      out << '\n';
    }
  }
}

}  // namespace streamrec::data
