#include <gtest/gtest.h>

#include "streamrec/core/blas_env.h"

int main(int argc, char** argv) {
  streamrec::ensure_fast_blas(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
