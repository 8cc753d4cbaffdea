// Internal to module engine: helpers the Engine's source files share.
#pragma once

#include <cerrno>
#include <cstring>
#include <sstream>

#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/serialize.h"
#include "streamrec/models/registry.h"
#include "streamrec/store/catalog.h"

namespace streamrec::engine {

// A model's state as bytes (save), and a model of `spec` loaded from such bytes.
inline std::string saved_bytes(const models::Recommender& model) {
  std::ostringstream out;
  BinaryWriter w(out);
  model.save(w);
  return std::move(out).str();
}

inline std::unique_ptr<models::Recommender> loaded_model(const std::string& spec,
                                                         std::string_view bytes,
                                                         const std::string& what) {
  auto model = models::make_model(spec);
  MemoryIStream in(bytes);
  BinaryReader r(in, what);
  model->load(r);
  return model;
}

// What an item tower reads of a catalog record: its attributes, with the string fields
// (brand=acme) as tags, as the data readers do with extra text columns.
inline data::ItemAttributes tower_attributes(const store::ItemRecord& r) {
  data::ItemAttributes a = r.attrs;
  for (const auto& [k, v] : r.fields) a.tags.push_back(k + "=" + v);
  return a;
}

}  // namespace streamrec::engine
