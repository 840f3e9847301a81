// ScoringThreads: a fork-join over a few helper threads, for the dense
// scoring pass (TopNScorer splits the items between them). The calling
// thread runs task 0 itself, so `threads` = 2 starts one helper.
//
// Tasks must not throw (they only score into buffers sized beforehand); one
// that does ends the process, as an exception may not cross threads.
// Thread-safety: Run() from one thread at a time.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace streamrec::emitter {

class ScoringThreads {
 public:
  // `threads` >= 1, the caller included.
  explicit ScoringThreads(size_t threads);
  ~ScoringThreads();
  ScoringThreads(const ScoringThreads&) = delete;
  ScoringThreads& operator=(const ScoringThreads&) = delete;

  size_t size() const { return helpers_.size() + 1; }

  // Runs task(i) for every i < size(), task(0) on the calling thread; returns
  // when all are done.
  void Run(const std::function<void(size_t)>& task);

 private:
  void Loop(size_t index);

  std::vector<std::thread> helpers_;
  std::mutex mu_;
  std::condition_variable start_;
  std::condition_variable done_;
  // Guarded by mu_:
  const std::function<void(size_t)>* task_ = nullptr;
  uint64_t generation_ = 0;  // grows by one per Run
  size_t running_ = 0;       // helpers still on this generation's task
  bool stopping_ = false;
};

}  // namespace streamrec::emitter
