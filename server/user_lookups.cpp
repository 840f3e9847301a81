#include "server/user_lookups.h"

#include <utility>

namespace streamrec::server {

bool UserLookups::Ask(std::string user_id, std::chrono::milliseconds timeout, std::string* answer) {
  std::unique_lock<std::mutex> lock(mu_);
  if (waiting_.size() >= kMaxWaiting) return false;
  const uint64_t id = next_id_++;
  questions_.push_back({id, std::move(user_id)});
  waiting_.insert(id);
  pending_.store(true, std::memory_order_relaxed);
  const bool got = answered_.wait_for(lock, timeout, [&] { return answers_.count(id) > 0; });
  waiting_.erase(id);
  if (!got) {
    // Given up: a later answer is dropped (Answer sees the id no longer waits).
    std::erase_if(questions_, [&](const Question& q) { return q.id == id; });
    pending_.store(!questions_.empty(), std::memory_order_relaxed);
    return false;
  }
  *answer = std::move(answers_[id]);
  answers_.erase(id);
  return true;
}

std::vector<UserLookups::Question> UserLookups::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.store(false, std::memory_order_relaxed);
  return std::exchange(questions_, {});
}

void UserLookups::Answer(uint64_t id, std::string json) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiting_.count(id) == 0) return;
    answers_[id] = std::move(json);
  }
  answered_.notify_all();
}

}  // namespace streamrec::server
