// `fusion`: one ranking from several models. Each source model (`sources`, e.g. seq, itemknn
// and mf) proposes its top `pool` items; a FusionRanker (DCN cross layers + MLP) orders the
// union from per-candidate features: every source's score (standardised over the list) and
// rank-scaled position, and the item's log popularity. The ranker learns from each user's
// last `holdout` fitted events: the sources are first fitted without them, the user's
// candidate list is labelled (the items taken next = 1), the ranker learns the lists with a
// listwise softmax loss, starting from the order of the source that ranks them best and
// learning corrections for as many epochs as help on lists it did not see (5-fold
// cross-validation; none: that source's order), and the sources are refitted on all the
// data.
//
// Source specs are model specs with '/' for ':' and ',' (which separate fusion's own
// parameters): `sources=seq/maxlen=50/dim=50+itemknn+mf`.
#pragma once

#include <memory>
#include <random>
#include <vector>

#include "streamrec/models/ranker.h"
#include "streamrec/models/recommender.h"

namespace streamrec::models {

class FusionModel final : public Recommender {
 public:
  explicit FusionModel(Params params);
  ~FusionModel() override;
  static Params declare_params();

  std::string name() const override { return "fusion"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return n_items_; }
  void fit(const TrainData& data) override;
  // Candidates ordered by the ranker score above every other item (ordered by the first
  // source).
  void score_all(uint32_t user, std::span<float> scores) const override;

  // Ranker examples and the share of users whose next item was among the candidates.
  struct FitReport {
    size_t lists = 0, candidates = 0;
    double recall = 0;  // share of the held-out items that were among the candidates
    double last_loss = 0;
    std::vector<double> source_ndcg;        // each source's own order's NDCG@10 over the lists
    size_t base = 0;                        // the best of them: the ranker's starting order
    int64_t epochs = 0;                     // the ranker's epochs, chosen on held-out lists
    double ranker_ndcg = 0, base_ndcg = 0;  // cross-validated NDCG@10
  };
  const FitReport& report() const { return report_; }

 private:
  // Candidates of `user` (excluding `exclude`, sorted) and their feature rows; with
  // `first_scores`, also the first source's scores of every item (computed anyway).
  void candidates(uint32_t user, std::span<const uint32_t> exclude, std::vector<uint32_t>& items,
                  std::vector<float>& features, std::vector<float>* first_scores = nullptr) const;
  void fit_sources(const TrainData& data);
  // One user's candidates as ranker rows (x) with the held-out items labelled 1 (y).
  struct RankerList {
    std::vector<float> x, y;
  };
  // The lists of users with a held-out item among their candidates (`first`: the data
  // without the held-out `targets`); fills report_'s list counts.
  std::vector<RankerList> labelled_lists(const TrainData& first,
                                         const std::vector<std::vector<uint32_t>>& targets);
  void train_ranker(const std::vector<RankerList>& lists);
  // One listwise pass of `ranker` over `lists`.
  void ranker_epoch(FusionRanker& ranker, const std::vector<const RankerList*>& lists,
                    std::mt19937_64& rng);
  // Mean NDCG@10 over `lists` of the ranker's order or (ranker null) source `source`'s.
  double held_out_ndcg(const std::vector<const RankerList*>& lists, const FusionRanker* ranker,
                       size_t source = 0) const;

  Params params_;
  std::vector<std::string> specs_;
  std::vector<std::unique_ptr<Recommender>> sources_;
  std::unique_ptr<FusionRanker> ranker_;
  FusionRankerOptions ranker_options_;
  std::vector<float> log_popularity_;
  std::vector<std::vector<uint32_t>> seen_;  // each user's fitted items, sorted
  uint32_t n_items_ = 0;
  FitReport report_;
};

}  // namespace streamrec::models
