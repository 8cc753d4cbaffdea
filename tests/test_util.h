// Helpers shared by the tests: temporary directories and files, small data sets.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "streamrec/data/records.h"

namespace streamrec::testing {

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// Path of a data set in ../shared/data, or empty when it is absent.
std::string shared_data(const std::string& name);

// A dataset from (user, item, timestamp) triples; ids are "u<N>" / "i<N>".
data::Dataset tiny_dataset(const std::vector<std::tuple<int, int, int64_t>>& triples);

// The built-in generator's stream of `events` events over `users` users and `items` items
// (its other options at their defaults).
data::Dataset generated(size_t users, size_t items, size_t events);

}  // namespace streamrec::testing
