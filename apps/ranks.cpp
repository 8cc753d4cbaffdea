#include "ranks.h"

#include <cstdlib>
#include <exception>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/dist/comm.h"
#include "streamrec/dist/data_parallel.h"
#include "streamrec/models/lockstep.h"
#include "streamrec/models/recommender.h"

namespace streamrec::cli {
namespace {

const dist::Comm* g_active = nullptr;  // for fail_job

int launched_ranks() {
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  return n ? std::atoi(n) : 1;
}

}  // namespace

Ranks::Ranks() {
  if (launched_ranks() <= 1) return;
  comm_ = std::make_unique<dist::Comm>();
  shares_ = std::make_unique<dist::RankShares>(*comm_);
  g_active = comm_.get();
  if (comm_->rank() != 0) log::set_level(spdlog::level::warn);  // rank 0 speaks for the job
}

Ranks::~Ranks() {
  if (comm_ && std::uncaught_exceptions() > 0) {
    // No MPI_Finalize while the other ranks may wait in a collective: main prints the
    // error, then fail_job ends the job.
    (void)shares_.release();
    (void)comm_.release();
    return;
  }
  if (g_active == comm_.get()) g_active = nullptr;
}

bool Ranks::root() const { return !comm_ || comm_->rank() == 0; }
int Ranks::size() const { return comm_ ? comm_->size() : 1; }

void Ranks::attach(models::Recommender& model, const std::string& spec) {
  if (!comm_) return;
  SR_INPUT_CHECK(
      model.train_on(shares_.get()),
      "{} does not fit on MPI ranks (seq and autoencoder do; dist-bpr through dist-train)", spec);
}

std::unique_ptr<models::Lockstep> Ranks::lockstep() {
  if (!comm_) return nullptr;
  return std::make_unique<models::Lockstep>(*shares_);
}

void Ranks::follow_root() {
  if (comm_) models::Lockstep::follow_root(*shares_);
}

models::DataParallel::Traffic Ranks::report(double seconds) {
  if (!comm_) return {};
  const auto& now = shares_->traffic();
  models::DataParallel::Traffic t;
  t.row_bytes = now.row_bytes - reported_.row_bytes;
  t.gradient_bytes = now.gradient_bytes - reported_.gradient_bytes;
  t.reduce_bytes = now.reduce_bytes - reported_.reduce_bytes;
  t.root_bytes = now.root_bytes - reported_.root_bytes;
  t.call_bytes = now.call_bytes - reported_.call_bytes;
  comm_->all_reduce_sum(std::span<uint64_t>(&t.root_bytes, 1));  // what rank 0 received
  t.steps = now.steps - reported_.steps;
  t.comm_seconds = now.comm_seconds - reported_.comm_seconds;
  reported_ = now;
  log::info(
      "{} ranks: {} steps; rank {} sent {:.1f} MB of rows, {:.1f} MB of row gradients, "
      "{:.1f} MB of all-reduce, {:.1f} MB of calls for the lock step; it received {:.1f} MB of "
      "the rows online steps changed; {:.1f} s of {:.1f} s in row exchange and collectives",
      comm_->size(), t.steps, comm_->rank(), t.row_bytes / 1e6, t.gradient_bytes / 1e6,
      t.reduce_bytes / 1e6, t.call_bytes / 1e6, t.root_bytes / 1e6, t.comm_seconds, seconds);
  return t;
}

void refuse_ranks(const std::string& command) {
  SR_CHECK(launched_ranks() <= 1, ErrorKind::kUnsupported,
           "{} runs in one process, not on {} MPI ranks (train and eval fit seq and "
           "autoencoder on ranks, replay and serve learn seq online on them; dist-train fits "
           "dist-bpr)",
           command, launched_ranks());
}

void fail_job(int code) {
  if (g_active && g_active->size() > 1) g_active->abort(code);
}

}  // namespace streamrec::cli
