// UserLookups: "what is this user's list right now?", asked by the status
// server's threads (the status page's look-up form) and answered by the
// pipeline's thread, which alone owns the users and the model.
//
// Thread-safety: Ask() from any thread; pending(), Take() and Answer() from
// the answering thread. Questions and answers are plain strings under one
// mutex; nothing of the pipeline's is ever touched by the asking thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace streamrec::server {

class UserLookups {
 public:
  struct Question {
    uint64_t id = 0;
    std::string user_id;
  };

  // Asks and waits up to `timeout` for the answer (a JSON object); false when
  // none came in time (the pipeline is stopped or busy), or too many wait.
  bool Ask(std::string user_id, std::chrono::milliseconds timeout, std::string* answer);

  // Whether a question waits; cheap (the pipeline polls it every batch).
  bool pending() const { return pending_.load(std::memory_order_relaxed); }
  std::vector<Question> Take();
  void Answer(uint64_t id, std::string json);

  // Questions waiting at most; more are refused at once.
  static constexpr size_t kMaxWaiting = 16;

 private:
  std::mutex mu_;
  std::condition_variable answered_;
  std::vector<Question> questions_;
  std::map<uint64_t, std::string> answers_;
  std::set<uint64_t> waiting_;  // ids asked and not given up on
  uint64_t next_id_ = 1;
  std::atomic<bool> pending_{false};
};

}  // namespace streamrec::server
