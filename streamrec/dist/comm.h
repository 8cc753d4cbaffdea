// The MPI world for scale-out (module dist, see ../shared/DESIGN.md): rank, size and the
// collectives the sharded embedding tables and data-parallel dense training need. The MPI
// headers stay in comm.cpp.
//
// Every call but rank()/size() is collective: all ranks make the same calls in the same
// order (a rank that skips one leaves the others waiting). Any thread may make them, one
// at a time (MPI_THREAD_SERIALIZED). MPI's own errors abort the job
// (its default handler), with MPI's message on stderr.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace streamrec::dist {

class Comm {
 public:
  // Initialises MPI for this process (once; a second Comm is an error) and finalises it at
  // destruction. Outside mpirun, the process is a world of one rank.
  explicit Comm(int* argc = nullptr, char*** argv = nullptr);
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Personalised all-to-all: `send` holds counts[r] elements for rank r, in rank order.
  // Returns what each rank sent here, in rank order; `recv_counts` (size()) receives how
  // many came from each.
  std::vector<uint64_t> all_to_all(std::span<const uint64_t> send, std::span<const int> counts,
                                   std::vector<int>& recv_counts) const;
  // The same for floats whose receive counts are already known (the reply to a request).
  std::vector<float> all_to_all(std::span<const float> send, std::span<const int> counts,
                                std::span<const int> recv_counts) const;
  // In place: every rank ends with the element-wise sum over ranks.
  void all_reduce_sum(std::span<float> data) const;
  void all_reduce_sum(std::span<uint64_t> data) const;
  void all_reduce_sum(std::span<double> data) const;
  // Every rank's `bytes`, in rank order.
  std::vector<std::string> all_gather(const std::string& bytes) const;
  // `root` gets every rank's `bytes` in rank order; the other ranks get an empty vector.
  std::vector<std::string> gather(const std::string& bytes, int root = 0) const;
  // In place: every rank ends with `root`'s bytes (any length).
  void broadcast(std::string& bytes, int root = 0) const;
  // In place: every rank ends with `root`'s values.
  void broadcast(std::span<float> data, int root = 0) const;
  void broadcast(std::span<double> data, int root = 0) const;
  void barrier() const;
  // Not collective: ends every rank of the job (a rank that fails alone would leave the
  // others waiting in their next collective).
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace streamrec::dist
