#include "streamrec/models/registry.h"

#include <sstream>

#include <fmt/format.h>

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/text.h"
#include "streamrec/models/autoencoder.h"
#include "streamrec/models/ease.h"
#include "streamrec/models/fusion.h"
#include "streamrec/models/itemknn.h"
#include "streamrec/models/mf.h"
#include "streamrec/models/popular.h"
#include "streamrec/models/seq.h"
#include "streamrec/models/usercf.h"

namespace streamrec::models {

template <typename Model>
ModelInfo entry(std::string name, std::string description) {
  return {std::move(name), std::move(description),
          [](Params p) -> std::unique_ptr<Recommender> {
            return std::make_unique<Model>(std::move(p));
          },
          [] { return Model::declare_params(); }};
}

const std::vector<ModelInfo>& model_registry() {
  static const std::vector<ModelInfo> list = {
      entry<Popular>("popular", "time-decayed popularity; online"),
      entry<ItemKnn>("itemknn", "item-item cosine neighbours; online"),
      entry<UserCf>("usercf", "user-user cosine collaborative filtering; online"),
      entry<MatrixFactorization>("mf",
                                 "matrix factorization: BPR, implicit ALS or biased SGD "
                                 "for ratings; online"),
      entry<Ease>("ease", "EASE closed-form item-item linear model (libtorch)"),
      entry<Autoencoder>("autoencoder",
                         "Mult-DAE / Mult-VAE over user interaction vectors "
                         "(libtorch), item layers in dynamic embedding tables"),
      entry<SeqModel>("seq",
                      "next-item sequence model: SASRec self-attention, GRU or LSTM "
                      "(libtorch), items in a dynamic embedding table"),
      entry<FusionModel>("fusion",
                         "candidates of several models ordered by a learned DCN ranker "
                         "(libtorch)"),
  };
  return list;
}

std::unique_ptr<Recommender> make_model(std::string_view spec) {
  const auto colon = spec.find(':');
  const auto name = text::trim(spec.substr(0, colon));
  for (const auto& m : model_registry()) {
    if (m.name != name) continue;
    Params p = m.params();
    if (colon != std::string_view::npos) p.set_from({std::string(spec.substr(colon + 1))});
    return m.make(std::move(p));
  }
  std::string names;
  for (const auto& m : model_registry()) names += (names.empty() ? "" : ", ") + m.name;
  throw_error(ErrorKind::kInvalidInput,
              fmt::format("unknown model {} (known: {})", text::quote(name), names));
}

std::string saved_bytes(const Recommender& model) {
  std::ostringstream out;
  BinaryWriter w(out);
  model.save(w);
  return std::move(out).str();
}

std::unique_ptr<Recommender> loaded_model(std::string_view spec, std::string_view bytes,
                                          const std::string& what) {
  auto model = make_model(spec);
  MemoryIStream in(bytes);
  BinaryReader r(in, what);
  model->load(r);
  return model;
}

}  // namespace streamrec::models
