// A minimal parallel-for over an index range on plain std::threads. The thread count is
// process-wide (set by the CLI's --threads), default: the hardware's.
#pragma once

#include <cstddef>
#include <functional>

namespace streamrec {

void set_num_threads(int n);
int num_threads();

// Calls body(begin, end, thread_index) on contiguous chunks of [0, n), one chunk per thread
// (chunks are interleaved in blocks of `grain` for balance). Rethrows the first exception.
void parallel_for(size_t n, const std::function<void(size_t, size_t, int)>& body,
                  size_t grain = 64);

}  // namespace streamrec
