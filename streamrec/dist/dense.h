// Data-parallel dense training over MPI (module dist): every rank holds a replica of the
// dense parameters (libtorch tensors), computes gradients on its own share of the batch,
// and the ranks average them before each optimizer step, so the replicas stay equal.
#pragma once

#include <vector>

#include "streamrec/dist/comm.h"

namespace at {
class Tensor;
}

namespace streamrec::dist {

// Collective: each parameter's gradient becomes its mean over the ranks (a parameter with
// no gradient on a rank counts as zeros there). With equal local batch sizes and mean
// losses, that is the gradient of the whole batch's mean loss.
void average_gradients(const Comm& comm, const std::vector<at::Tensor>& parameters);
// Collective: every rank's parameters take rank 0's values (replicas start equal).
void broadcast_parameters(const Comm& comm, const std::vector<at::Tensor>& parameters);

}  // namespace streamrec::dist
