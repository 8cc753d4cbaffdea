// Writing a Dataset in Streamrec's generic CSV layout (events.csv, items.csv, users.csv),
// which `read_dataset` reads back with format "csv".
#pragma once

#include <string>

#include "streamrec/data/records.h"

namespace streamrec::data {

// Creates `dir` if needed. Fields with commas or quotes are quoted; context is written as
// "k=v;k=v"; item categories and tags pipe-separated.
void write_csv_dataset(const Dataset& ds, const std::string& dir);

}  // namespace streamrec::data
