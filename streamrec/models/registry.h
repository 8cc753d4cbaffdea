// Models are picked by name from one list (STYLE.md point 4).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "streamrec/models/recommender.h"

namespace streamrec::models {

struct ModelInfo {
  std::string name;
  std::string description;
  std::function<std::unique_ptr<Recommender>(Params)> make;
  std::function<Params()> params;  // declared parameters with defaults
};

const std::vector<ModelInfo>& model_registry();

// Builds a model from "name" or "name:key=value,key=value". Unknown names or keys throw
// Error(kInvalidInput) listing what is known.
std::unique_ptr<Recommender> make_model(std::string_view spec);
// A model's state as bytes (save), and a model of `spec` loaded from such bytes (`what`
// names them in errors): the in-memory copies the server publishes, snapshots and rolls
// back to.
std::string saved_bytes(const Recommender& model);
std::unique_ptr<Recommender> loaded_model(std::string_view spec, std::string_view bytes,
                                          const std::string& what);

}  // namespace streamrec::models
