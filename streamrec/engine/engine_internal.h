// Internal to module engine: helpers the Engine's source files share.
#pragma once

#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/models/registry.h"
#include "streamrec/store/catalog.h"

namespace streamrec::engine {

using models::loaded_model;
using models::saved_bytes;

// What an item tower reads of a catalog record: its attributes, with the string fields
// (brand=acme) as tags, as the data readers do with extra text columns.
inline data::ItemAttributes tower_attributes(const store::ItemRecord& r) {
  data::ItemAttributes a = r.attrs;
  for (const auto& [k, v] : r.fields) a.tags.push_back(k + "=" + v);
  return a;
}

}  // namespace streamrec::engine
