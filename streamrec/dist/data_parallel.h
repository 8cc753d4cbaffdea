// models::DataParallel over MPI ranks (module dist): rank r trains share r of every global
// batch; the item rows of a fit live in ShardedTables over each rank's shard of the model's
// table; dense gradients are all-reduced. Every call the fit makes is collective, so all
// ranks fit the same model with the same data and parameters. Counts the bytes this rank
// sends and the time it spends in collectives (models::DataParallel::Traffic).
#pragma once

#include "streamrec/dist/comm.h"
#include "streamrec/models/data_parallel.h"

namespace streamrec::dist {

class RankShares final : public models::DataParallel {
 public:
  explicit RankShares(const Comm& comm) : comm_(comm) {}
  int shares() const override { return comm_.size(); }
  std::vector<int> mine() const override { return {comm_.rank()}; }
  bool root() const override { return comm_.rank() == 0; }
  void sum(std::span<float> values) override;
  void sum(std::span<double> values) override;
  void gather_rows(embedding::EmbeddingTable& shard, std::span<const uint64_t> keys, bool train,
                   std::span<float> out) override;
  void apply_gradients(embedding::EmbeddingTable& shard) override;
  // Every rank's shard, all-gathered as full-table bytes and merged: the whole table.
  void unshard(embedding::EmbeddingTable& shard) override;
  // The other ranks' deltas (rows changed since their last mark), gathered and merged.
  void to_root(embedding::EmbeddingTable& shard) override;
  double from_root(double value) override;
  void from_root(std::string& bytes) override;

 private:
  const Comm& comm_;
};

}  // namespace streamrec::dist
