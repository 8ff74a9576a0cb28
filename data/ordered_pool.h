// A pool of worker threads that computes results for indices 0..count-1 in any order and hands
// them to one consumer thread in index order: parallel work, sequential and deterministic output
// (the JPEG importers use it so that only the consumer thread ever calls HDF5).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace tleg {

template <typename Result>
class OrderedPool {
 public:
  // Starts `threads` workers running produce(i). Workers run at most `window` indices ahead of
  // the consumer, which bounds the memory held by finished results.
  OrderedPool(std::size_t count, int threads, std::size_t window,
              std::function<Result(std::size_t)> produce)
      : count_(count),
        window_(std::max<std::size_t>(1, window)),
        produce_(std::move(produce)),
        slots_(window_) {
    for (int t = 0; t < std::max(1, threads); ++t) workers_.emplace_back([this] { work(); });
  }
  // Stops and joins the workers, also when the consumer leaves early with an exception.
  ~OrderedPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    space_.notify_all();
    for (auto& worker : workers_) worker.join();
  }
  OrderedPool(const OrderedPool&) = delete;
  OrderedPool& operator=(const OrderedPool&) = delete;

  // The result for index i; call for i = 0, 1, 2, ... in turn. Rethrows the first exception
  // a worker's produce() threw (the other workers stop taking new work).
  Result take(std::size_t i) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return failure_ || slots_[i % window_].has_value(); });
    if (failure_) std::rethrow_exception(failure_);
    Result result = std::move(*slots_[i % window_]);
    slots_[i % window_].reset();
    next_to_take_ = i + 1;
    lock.unlock();
    space_.notify_all();
    return result;
  }

 private:
  void work() {
    for (;;) {
      std::size_t i;
      {
        std::unique_lock lock(mutex_);
        // Index i reuses the slot of i - window, which the consumer has taken once
        // next_to_take_ > i - window.
        space_.wait(lock, [&] {
          return stopping_ || next_to_claim_ >= count_ || next_to_claim_ < next_to_take_ + window_;
        });
        if (stopping_ || next_to_claim_ >= count_) return;
        i = next_to_claim_++;
      }
      try {
        Result result = produce_(i);
        std::lock_guard lock(mutex_);
        slots_[i % window_] = std::move(result);
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!failure_) failure_ = std::current_exception();
        stopping_ = true;
      }
      ready_.notify_all();
    }
  }

  const std::size_t count_, window_;
  const std::function<Result(std::size_t)> produce_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::vector<std::optional<Result>> slots_;
  std::size_t next_to_claim_ = 0, next_to_take_ = 0;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> workers_;  // last: started after everything they use exists
};

}  // namespace tleg
