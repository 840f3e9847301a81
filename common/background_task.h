// BackgroundTask: one thread that runs one job at a time for its owner, so
// the owner goes on with other work meanwhile (the emitter scores lists on it
// while the pipeline learns the next events).
//
// A job returns a Status; an exception it throws is caught on the task's
// thread and becomes Status::Internal (exceptions never cross threads).
// Thread-safety: Post/in_flight/Done/Wait/Stop from one thread, the owner.
// The job must not touch what the owner changes until Wait() returns.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace streamrec {

class BackgroundTask {
 public:
  // `name` names the thread (15 characters at most are kept), e.g. in `top -H`.
  // `nice` > 0 lowers the thread's scheduling priority by that much (Linux
  // niceness of the thread alone, at most 19): work that can wait yields the
  // CPU to the threads that cannot.
  explicit BackgroundTask(std::string name, int nice = 0) : name_(std::move(name)), nice_(nice) {}
  ~BackgroundTask() { Stop(); }
  BackgroundTask(const BackgroundTask&) = delete;
  BackgroundTask& operator=(const BackgroundTask&) = delete;

  // Runs `job` on the task's thread (started on first use). Precondition:
  // nothing in flight (Wait() first).
  void Post(std::function<Status()> job);
  // Posted and not yet waited for.
  bool in_flight() const { return in_flight_; }
  // Whether the job in flight has finished (true when none is); never blocks.
  bool Done();
  // Blocks until the job in flight finishes and returns its status (Ok when
  // none was in flight).
  [[nodiscard]] Status Wait();
  // Waits for the job in flight (its status is dropped), then joins the thread.
  void Stop();

 private:
  void Loop();

  std::string name_;
  int nice_ = 0;
  std::thread thread_;
  bool in_flight_ = false;  // the owner's view
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  std::function<Status()> job_;  // posted, not yet started
  bool running_ = false;         // posted or running, not yet finished
  Status result_;
  bool stopping_ = false;
};

}  // namespace streamrec
