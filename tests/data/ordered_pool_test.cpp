// OrderedPool: results in index order whatever the thread count, bounded look-ahead, and errors
// from either side end the work instead of hanging.
#include "data/ordered_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace tleg {
namespace {

TEST(OrderedPool, ResultsArriveInIndexOrderAndLookAheadIsBounded) {
  for (const int threads : {1, 2, 4}) {
    std::atomic<std::size_t> produced{0};
    OrderedPool<std::size_t> pool(1000, threads, 8, [&](std::size_t i) {
      ++produced;
      return i * i;
    });
    for (std::size_t i = 0; i < 1000; ++i) {
      ASSERT_EQ(pool.take(i), i * i) << threads << " threads";
      // Workers may have produced at most the window beyond what was taken.
      EXPECT_LE(produced.load(), i + 1 + 8);
    }
  }
}

TEST(OrderedPool, AWorkerErrorReachesTheConsumer) {
  OrderedPool<int> pool(100, 2, 4, [](std::size_t i) {
    if (i == 5) throw std::runtime_error("worker failed at 5");
    return static_cast<int>(i);
  });
  for (std::size_t i = 0; i < 5; ++i) {
    // A worker may fail before the consumer reaches index 5: then earlier takes throw too.
    try {
      pool.take(i);
    } catch (const std::runtime_error& error) {
      EXPECT_STREQ(error.what(), "worker failed at 5");
      return;
    }
  }
  EXPECT_THROW(pool.take(5), std::runtime_error);
}

TEST(OrderedPool, AConsumerLeavingEarlyStopsTheWorkers) {
  std::atomic<std::size_t> produced{0};
  {
    OrderedPool<int> pool(1'000'000, 2, 16, [&](std::size_t i) {
      ++produced;
      return static_cast<int>(i);
    });
    pool.take(0);
  }  // the destructor stops and joins the workers, as when the consumer throws
  EXPECT_LE(produced.load(), 1u + 16u + 2u);
}

}  // namespace
}  // namespace tleg
