#include <gtest/gtest.h>

#include "streamrec/core/runtime_env.h"

int main(int argc, char** argv) {
  streamrec::configure_runtime(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
