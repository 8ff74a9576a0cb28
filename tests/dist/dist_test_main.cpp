// main() of the dist test programs: MPI starts before the tests (once per process) and ends
// after them. Rank 0 prints the usual report; the other ranks print only their failures, tagged
// with the rank, so that a failure on any rank is seen and makes mpirun exit non-zero.
#include <gtest/gtest.h>

#include <iostream>
#include <memory>

#include "tests/dist/test_world.h"

namespace tleg::dist::testing {
namespace {

World* the_world = nullptr;

class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::cerr << "[rank " << rank_ << "] " << (result.file_name() ? result.file_name() : "?") << ":"
              << result.line_number() << ": failure\n"
              << result.summary() << std::endl;
  }

 private:
  int rank_;
};

}  // namespace

World& world() { return *the_world; }

}  // namespace tleg::dist::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  tleg::dist::World world(&argc, &argv);
  tleg::dist::testing::the_world = &world;
  if (world.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new tleg::dist::testing::FailurePrinter(world.rank()));
  }
  return RUN_ALL_TESTS();
}
