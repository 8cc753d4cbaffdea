#include "streamrec/models/threads.h"

#include <ATen/Parallel.h>
#include <omp.h>

namespace streamrec::models {

void use_only_this_thread() {
  // libtorch sets a thread's OpenMP count to the process-wide one (at::set_num_threads) the
  // first time the thread asks for it; asking first makes the count set here stay.
  if (at::get_num_threads() != 1) omp_set_num_threads(1);
}

}  // namespace streamrec::models
