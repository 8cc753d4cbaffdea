// libtorch's intra-op thread count, set from core's num_threads().
#pragma once

#include <ATen/Parallel.h>

#include "streamrec/core/parallel.h"

namespace streamrec::models {

// Sets libtorch's thread count to num_threads() when it differs. Only when it differs:
// at::set_num_threads rebuilds libtorch's pthreadpool on every call, even to the same count,
// and its fresh threads spin before they sleep, a cost paid per online micro-batch.
inline void use_torch_threads() {
  if (at::get_num_threads() != num_threads()) at::set_num_threads(num_threads());
}

}  // namespace streamrec::models
