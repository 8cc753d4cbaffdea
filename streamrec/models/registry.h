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

}  // namespace streamrec::models
