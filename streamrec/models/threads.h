// Which threads run a model's tensor operators.
#pragma once

namespace streamrec::models {

// Makes libtorch's operators called from this thread run on this thread alone (the OpenMP
// thread count is per thread; other threads keep theirs). For request threads: each thread
// that runs a parallel operator otherwise starts its own OpenMP team, and every such
// operator wakes the team's worker and waits for it at its end, so that a request on a busy
// machine waited for a second core.
void use_only_this_thread();

}  // namespace streamrec::models
