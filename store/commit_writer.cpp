#include "store/commit_writer.h"

#include <exception>
#include <utility>

namespace streamrec::store {

CommitWriter::CommitWriter(Store* store) : store_(store) {}

CommitWriter::~CommitWriter() { Stop(); }

void CommitWriter::Start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void CommitWriter::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  in_flight_ = false;
  pending_.reset();
  written_.reset();
}

void CommitWriter::Submit(std::unique_ptr<PreparedCommit> commit) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = std::move(commit);
  }
  in_flight_ = true;
  cv_.notify_all();
}

bool CommitWriter::Done() {
  std::lock_guard<std::mutex> lock(mu_);
  return written_ != nullptr;
}

Status CommitWriter::Wait(std::unique_ptr<PreparedCommit>* commit, std::chrono::steady_clock::duration* took) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return written_ != nullptr; });
  *commit = std::move(written_);
  *took = took_;
  in_flight_ = false;
  return std::exchange(result_, Status::Ok());
}

void CommitWriter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // A submitted commit is written even when stopping: Stop() waits for it.
    cv_.wait(lock, [this] { return pending_ != nullptr || stopping_; });
    if (!pending_) return;
    std::unique_ptr<PreparedCommit> commit = std::move(pending_);
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    Status result;
    try {
      result = store_->Write(*commit);
    } catch (const std::exception& e) {
      result = Status::Internal(std::string("writing a commit: ") + e.what());
    }
    const auto took = std::chrono::steady_clock::now() - started;
    lock.lock();
    written_ = std::move(commit);
    result_ = std::move(result);
    took_ = took;
    cv_.notify_all();
  }
}

}  // namespace streamrec::store
