// gtest under MPI: one Comm for the process; only rank 0 prints gtest's report, every rank
// returns its own result (mpirun fails when any rank does).
#include <gtest/gtest.h>

#include "streamrec/core/parallel.h"
#include "streamrec/dist/comm.h"
#include "tests/dist/world.h"

namespace streamrec::dist::testing {
const Comm* g_world = nullptr;
}

int main(int argc, char** argv) {
  streamrec::dist::Comm comm(&argc, &argv);
  streamrec::dist::testing::g_world = &comm;
  streamrec::set_num_threads(1);  // ranks share this machine's cores (and may outnumber them)
  ::testing::InitGoogleTest(&argc, argv);
  // An exception ends the process (and mpirun then the job) instead of failing one test:
  // the other ranks would wait in that test's next collective for a rank that moved on.
  GTEST_FLAG_SET(catch_exceptions, false);
  if (comm.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  // A rank that failed says so, whichever it is.
  if (failed != 0) std::fprintf(stderr, "dist_tests: rank %d failed\n", comm.rank());
  return failed;
}
