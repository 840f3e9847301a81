#include "common/background_task.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <utility>

namespace streamrec {

void BackgroundTask::Post(std::function<Status()> job) {
  if (!thread_.joinable()) {
    stopping_ = false;
    thread_ = std::thread([this] { Loop(); });
    pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = std::move(job);
    running_ = true;
  }
  in_flight_ = true;
  cv_.notify_all();
}

bool BackgroundTask::Done() {
  if (!in_flight_) return true;
  std::lock_guard<std::mutex> lock(mu_);
  return !running_;
}

Status BackgroundTask::Wait() {
  if (!in_flight_) return Status::Ok();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !running_; });
  in_flight_ = false;
  return std::exchange(result_, Status::Ok());
}

void BackgroundTask::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  in_flight_ = false;
  running_ = false;
  result_ = Status::Ok();
}

void BackgroundTask::Loop() {
  // On Linux, PRIO_PROCESS with a thread id is that thread's niceness alone
  // (inherited from the thread that started it).
  if (nice_ > 0) {
    const auto self = static_cast<id_t>(gettid());
    (void)setpriority(PRIO_PROCESS, self, std::min(getpriority(PRIO_PROCESS, self) + nice_, 19));
  }
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // A posted job runs even when stopping: Stop() waits for it.
    cv_.wait(lock, [this] { return job_ != nullptr || stopping_; });
    if (!job_) return;
    std::function<Status()> job = std::exchange(job_, nullptr);
    lock.unlock();
    Status result;
    try {
      result = job();
    } catch (const std::exception& e) {
      result = Status::Internal(name_ + ": " + e.what());
    } catch (...) {
      result = Status::Internal(name_ + ": unknown exception");
    }
    lock.lock();
    result_ = std::move(result);
    running_ = false;
    cv_.notify_all();
  }
}

}  // namespace streamrec
