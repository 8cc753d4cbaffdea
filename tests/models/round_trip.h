// A model saved and loaded into a fresh instance of `spec` (the persistence tests' step).
#pragma once

#include <memory>
#include <sstream>
#include <string>

#include "streamrec/core/serialize.h"
#include "streamrec/models/registry.h"

namespace streamrec::models {

inline std::unique_ptr<Recommender> round_trip(const Recommender& model, const std::string& spec,
                                               std::string* bytes = nullptr) {
  std::ostringstream out;
  BinaryWriter w(out);
  model.save(w);
  auto copy = make_model(spec);
  std::istringstream in(out.str());
  BinaryReader r(in, "round trip");
  copy->load(r);
  if (bytes) *bytes = out.str();
  return copy;
}

}  // namespace streamrec::models
