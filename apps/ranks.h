// The MPI ranks `train`, `eval`, `replay` and `serve` run on when mpirun starts them with
// more than one rank (OMPI_COMM_WORLD_SIZE > 1; otherwise none, and no MPI is initialised).
// For train, eval and replay every rank runs the same command on the same data; the models
// fit (and replay learns online) data-parallel (models/data_parallel.h) and rank 0 alone
// evaluates, prints and writes. For serve, rank 0 runs the server and the other ranks learn
// in lock step with its model (models/lockstep.h). A rank that fails ends the whole job
// (fail_job), so no rank is left waiting in a collective.
#pragma once

#include <memory>
#include <string>

#include "streamrec/models/data_parallel.h"

namespace streamrec::models {
class Lockstep;
class Recommender;
}  // namespace streamrec::models

namespace streamrec::dist {
class Comm;
class RankShares;
}  // namespace streamrec::dist

namespace streamrec::cli {

class Ranks {
 public:
  Ranks();
  ~Ranks();
  bool active() const { return comm_ != nullptr; }
  bool root() const;
  int size() const;
  // Makes `model` (named `spec` in errors) fit over the ranks; Error(kInvalidInput) when
  // it cannot. Nothing without ranks.
  void attach(models::Recommender& model, const std::string& spec);
  // Online learning in lock step (`serve`): rank 0 learns with the models the returned
  // Lockstep wraps (null without ranks); the other ranks call follow_root() instead, which
  // returns when rank 0's Lockstep stops.
  std::unique_ptr<models::Lockstep> lockstep();
  void follow_root();
  // Collective: logs (rank 0) what the fits and online steps since the last report moved
  // and waited for, as rank 0's share (root_bytes: what rank 0 received), against their
  // `seconds`; returns it (zeros without ranks).
  models::DataParallel::Traffic report(double seconds);

 private:
  std::unique_ptr<dist::Comm> comm_;
  std::unique_ptr<dist::RankShares> shares_;
  models::DataParallel::Traffic reported_;  // the traffic at the last report
};

// Error(kUnsupported) when mpirun started `command` on more than one rank: it runs in one
// process (each rank would run its own copy).
void refuse_ranks(const std::string& command);

// Called by main on an error: under mpirun with ranks active, ends every rank (MPI_Abort
// with `code`); otherwise returns.
void fail_job(int code);

}  // namespace streamrec::cli
