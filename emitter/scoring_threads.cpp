#include "emitter/scoring_threads.h"

namespace streamrec::emitter {

ScoringThreads::ScoringThreads(size_t threads) {
  for (size_t i = 1; i < threads; ++i) helpers_.emplace_back([this, i] { Loop(i); });
}

ScoringThreads::~ScoringThreads() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  start_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void ScoringThreads::Run(const std::function<void(size_t)>& task) {
  if (helpers_.empty()) {
    task(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    task_ = &task;
    running_ = helpers_.size();
    ++generation_;
  }
  start_.notify_all();
  task(0);
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [this] { return running_ == 0; });
  task_ = nullptr;
}

void ScoringThreads::Loop(size_t index) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    const std::function<void(size_t)>* task = task_;
    lock.unlock();
    [&]() noexcept { (*task)(index); }();  // a throwing task ends the process (see the header)
    lock.lock();
    if (--running_ == 0) done_.notify_all();
  }
}

}  // namespace streamrec::emitter
