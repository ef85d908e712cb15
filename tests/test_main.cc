// The test main: every test runs with the test log sink, so an error logged
// by the framework that the test did not expect fails that test.
#include <gtest/gtest.h>

#include "tornado/testing.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  tornado::testing::install_test_log_sink();
  return RUN_ALL_TESTS();
}
