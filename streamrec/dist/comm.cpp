#include "streamrec/dist/comm.h"

#include <mpi.h>

#include <atomic>
#include <cstdlib>
#include <limits>
#include <numeric>

#include "streamrec/core/error.h"

namespace streamrec::dist {
namespace {

std::atomic<bool> g_initialised{false};

// MPI counts and displacements are ints: a batch must stay below 2^31 elements a rank.
std::vector<int> displacements(std::span<const int> counts) {
  std::vector<int> d(counts.size(), 0);
  int64_t at = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    d[r] = static_cast<int>(at);
    at += counts[r];
    SR_CHECK(at <= std::numeric_limits<int>::max(), ErrorKind::kInvalidInput,
             "all-to-all of {} elements: MPI counts are 32-bit", at);
  }
  return d;
}

}  // namespace

Comm::Comm(int* argc, char*** argv) {
  SR_CHECK(!g_initialised.exchange(true), ErrorKind::kInternal, "MPI is initialised once");
  // A rank waiting in a collective yields its core to runnable work (Open MPI spins
  // otherwise): serve's other ranks wait most of the time, and ranks may share cores.
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
  // Serialized: a server's learner thread makes the collectives, not the main thread.
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
  SR_CHECK(provided >= MPI_THREAD_SERIALIZED, ErrorKind::kUnsupported,
           "this MPI gives threads level {}; Streamrec needs MPI_THREAD_SERIALIZED", provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Comm::~Comm() { MPI_Finalize(); }

std::vector<uint64_t> Comm::all_to_all(std::span<const uint64_t> send, std::span<const int> counts,
                                       std::vector<int>& recv_counts) const {
  SR_CHECK(counts.size() == static_cast<size_t>(size_), ErrorKind::kInternal,
           "all-to-all: {} counts for {} ranks", counts.size(), size_);
  recv_counts.assign(size_, 0);
  MPI_Alltoall(counts.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  const auto sdispl = displacements(counts), rdispl = displacements(recv_counts);
  std::vector<uint64_t> out(std::accumulate(recv_counts.begin(), recv_counts.end(), size_t{0}));
  MPI_Alltoallv(send.data(), counts.data(), sdispl.data(), MPI_UINT64_T, out.data(),
                recv_counts.data(), rdispl.data(), MPI_UINT64_T, MPI_COMM_WORLD);
  return out;
}

std::vector<float> Comm::all_to_all(std::span<const float> send, std::span<const int> counts,
                                    std::span<const int> recv_counts) const {
  SR_CHECK(counts.size() == static_cast<size_t>(size_) && recv_counts.size() == counts.size(),
           ErrorKind::kInternal, "all-to-all: counts for {} ranks", size_);
  const auto sdispl = displacements(counts), rdispl = displacements(recv_counts);
  std::vector<float> out(std::accumulate(recv_counts.begin(), recv_counts.end(), size_t{0}));
  MPI_Alltoallv(send.data(), counts.data(), sdispl.data(), MPI_FLOAT, out.data(),
                recv_counts.data(), rdispl.data(), MPI_FLOAT, MPI_COMM_WORLD);
  return out;
}

void Comm::all_reduce_sum(std::span<float> data) const {
  SR_CHECK(data.size() <= size_t{std::numeric_limits<int>::max()}, ErrorKind::kInvalidInput,
           "all-reduce of {} floats: MPI counts are 32-bit", data.size());
  MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()), MPI_FLOAT, MPI_SUM,
                MPI_COMM_WORLD);
}

void Comm::all_reduce_sum(std::span<uint64_t> data) const {
  SR_CHECK(data.size() <= size_t{std::numeric_limits<int>::max()}, ErrorKind::kInvalidInput,
           "all-reduce of {} integers: MPI counts are 32-bit", data.size());
  MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()), MPI_UINT64_T, MPI_SUM,
                MPI_COMM_WORLD);
}

void Comm::all_reduce_sum(std::span<double> data) const {
  SR_CHECK(data.size() <= size_t{std::numeric_limits<int>::max()}, ErrorKind::kInvalidInput,
           "all-reduce of {} doubles: MPI counts are 32-bit", data.size());
  MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()), MPI_DOUBLE, MPI_SUM,
                MPI_COMM_WORLD);
}

std::vector<std::string> Comm::all_gather(const std::string& bytes) const {
  SR_CHECK(bytes.size() <= size_t{std::numeric_limits<int>::max()}, ErrorKind::kInvalidInput,
           "all-gather of {} bytes: MPI counts are 32-bit", bytes.size());
  int mine = static_cast<int>(bytes.size());
  std::vector<int> counts(static_cast<size_t>(size_));
  MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  const auto displ = displacements(counts);
  std::string all(static_cast<size_t>(displ.back()) + static_cast<size_t>(counts.back()), '\0');
  MPI_Allgatherv(bytes.data(), mine, MPI_BYTE, all.data(), counts.data(), displ.data(), MPI_BYTE,
                 MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (size_t r = 0; r < counts.size(); ++r) out.push_back(all.substr(displ[r], counts[r]));
  return out;
}

std::vector<std::string> Comm::gather(const std::string& bytes, int root) const {
  SR_CHECK(bytes.size() <= size_t{std::numeric_limits<int>::max()}, ErrorKind::kInvalidInput,
           "gather of {} bytes: MPI counts are 32-bit", bytes.size());
  int mine = static_cast<int>(bytes.size());
  std::vector<int> counts(static_cast<size_t>(size_));
  MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, root, MPI_COMM_WORLD);
  const auto displ = displacements(counts);
  std::string all(rank_ == root ? static_cast<size_t>(displ.back() + counts.back()) : 0, '\0');
  MPI_Gatherv(bytes.data(), mine, MPI_BYTE, all.data(), counts.data(), displ.data(), MPI_BYTE, root,
              MPI_COMM_WORLD);
  std::vector<std::string> out;
  if (rank_ == root)
    for (size_t r = 0; r < counts.size(); ++r) out.push_back(all.substr(displ[r], counts[r]));
  return out;
}

void Comm::broadcast(std::string& bytes, int root) const {
  uint64_t n = bytes.size();
  MPI_Bcast(&n, 1, MPI_UINT64_T, root, MPI_COMM_WORLD);
  SR_CHECK(n <= uint64_t{std::numeric_limits<int>::max()}, ErrorKind::kInvalidInput,
           "broadcast of {} bytes: MPI counts are 32-bit", n);
  bytes.resize(n);
  MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD);
}

void Comm::broadcast(std::span<double> data, int root) const {
  SR_CHECK(data.size() <= size_t{std::numeric_limits<int>::max()}, ErrorKind::kInvalidInput,
           "broadcast of {} doubles: MPI counts are 32-bit", data.size());
  MPI_Bcast(data.data(), static_cast<int>(data.size()), MPI_DOUBLE, root, MPI_COMM_WORLD);
}

void Comm::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // not reached: MPI_Abort ends the process
}

void Comm::broadcast(std::span<float> data, int root) const {
  SR_CHECK(data.size() <= size_t{std::numeric_limits<int>::max()}, ErrorKind::kInvalidInput,
           "broadcast of {} floats: MPI counts are 32-bit", data.size());
  MPI_Bcast(data.data(), static_cast<int>(data.size()), MPI_FLOAT, root, MPI_COMM_WORLD);
}

void Comm::barrier() const { MPI_Barrier(MPI_COMM_WORLD); }

}  // namespace streamrec::dist
