// A minimal parallel-for over an index range on plain std::threads (long-lived helpers). The
// thread count is process-wide (set by the CLI's --threads), default: the hardware's.
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

// The calling thread's niceness (Linux: per thread; 0 when it cannot be read), and setting
// it (false when refused: lowering niceness needs privilege). Threads started later by the
// thread inherit it; parallel_for's helpers take their caller's.
int thread_nice();
bool set_thread_nice(int nice);
// Whether the calling thread runs under SCHED_IDLE (Linux: it gets a core only when no
// normal thread wants it, and a waking normal thread preempts it at once), and switching it
// in or out (false when refused). Threads it starts later inherit it; so do parallel_for's
// helpers.
bool thread_sched_idle();
bool set_thread_sched_idle(bool idle);
// For a background thread: lowers the calling thread's priority by `nice` and, with `idle`,
// puts it under SCHED_IDLE; a refusal is logged (debug) and otherwise ignored.
void lower_thread_priority(int nice, bool idle);

}  // namespace streamrec
