#include "test_util.h"

#include <random>

#include <fmt/format.h>

#include "streamrec/data/generator.h"

namespace streamrec::testing {

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() / fmt::format("streamrec-test-{:x}", rd());
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  const auto p = path_ / name;
  std::ofstream out(p, std::ios::binary);
  out << content;
  return p.string();
}

std::string shared_data(const std::string& name) {
  const auto p = std::filesystem::path(STREAMREC_SHARED_DATA) / name;
  return std::filesystem::exists(p) ? p.string() : std::string();
}

data::Dataset generated(size_t users, size_t items, size_t events) {
  data::GeneratorOptions g;
  g.users = users;
  g.items = items;
  g.events = events;
  return data::generate(g);
}

data::Dataset tiny_dataset(const std::vector<std::tuple<int, int, int64_t>>& triples) {
  data::Dataset ds;
  for (const auto& [u, i, t] : triples) {
    data::Interaction e;
    e.user = ds.add_user(fmt::format("u{}", u));
    e.item = ds.add_item(fmt::format("i{}", i));
    e.timestamp = t;
    ds.events.push_back(e);
  }
  return ds;
}

}  // namespace streamrec::testing
