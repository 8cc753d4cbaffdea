// The libtorch models on generated data: they must learn the generator's planted
// structure (interests, the sequential chain) better than popularity. Small and fast.
#include <gtest/gtest.h>

#include "streamrec/core/error.h"
#include "streamrec/data/generator.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/seq.h"

namespace streamrec::models {
namespace {

struct Planted {
  data::Dataset ds;
  eval::Split split;
  double popular_ndcg = 0;
};

const Planted& planted() {
  static const Planted p = [] {
    Planted x;
    data::GeneratorOptions g;
    g.users = 300;
    g.items = 300;
    g.events = 15000;
    g.sequential = 0.5;
    x.ds = data::generate(g);
    x.split = eval::split_events(x.ds, {});
    eval::EvalOptions eo;
    eo.ks = {10};
    auto pop = make_model("popular");
    x.popular_ndcg = eval::evaluate(*pop, x.ds, x.split, eo).metrics.at("ndcg@10");
    return x;
  }();
  return p;
}

double ndcg_of(const std::string& spec) {
  auto m = make_model(spec);
  eval::EvalOptions eo;
  eo.ks = {10};
  return eval::evaluate(*m, planted().ds, planted().split, eo).metrics.at("ndcg@10");
}

TEST(Deep, SeqEncodersLearnThePlantedSequence) {
  for (const char* enc : {"sasrec", "gru", "lstm"}) {
    const std::string spec = std::string("seq:encoder=") + enc +
                             ",dim=16,maxlen=20,epochs=30,eval_every=10,lr=0.005,batch=64";
    const double ndcg = ndcg_of(spec);
    EXPECT_GT(ndcg, 1.5 * planted().popular_ndcg)
        << spec << ": " << ndcg << " vs popular " << planted().popular_ndcg;
  }
}

TEST(Deep, AutoencoderVariantsBeatPopular) {
  for (const char* spec : {"autoencoder:hidden=64,latent=16,epochs=40,lr=0.005",
                           "autoencoder:variant=vae,hidden=64,latent=16,epochs=40,lr=0.005",
                           "autoencoder:loss=mse,hidden=64,latent=16,epochs=40,lr=0.005"}) {
    const double ndcg = ndcg_of(spec);
    EXPECT_GT(ndcg, 1.2 * planted().popular_ndcg)
        << spec << ": " << ndcg << " vs popular " << planted().popular_ndcg;
  }
}

TEST(Deep, SeqRejectsBadShapes) {
  EXPECT_THROW(make_model("seq:encoder=transformerxl"), Error);
  auto m = make_model("seq:dim=10,heads=3");
  const auto& p = planted();
  const TrainData train(p.ds.num_users(), p.ds.num_items(), p.split.train, &p.ds);
  EXPECT_THROW(m->fit(train), Error);
}

}  // namespace
}  // namespace streamrec::models
