// CommitWriter: writes prepared commits on its own thread, so the pipeline
// learns the next commit window's events while the last one's state goes to
// RocksDB (the second core does the memtable inserts and the log write).
//
// One commit in flight at a time, written in submission order; Wait() hands
// it back with the write's status: on failure the owner retries it with
// Store::Write on its own thread (a failed write may reopen the store, which
// must not run alongside the owner's reads), on success it reuses its buffer.
//
// Thread-safety: Start/Submit/Done/Wait/Stop from one thread, the owner. The
// writer thread calls only Store::Write; exceptions there become a Status.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/status.h"
#include "store/store.h"

namespace streamrec::store {

class CommitWriter {
 public:
  // `store` must outlive the writer.
  explicit CommitWriter(Store* store);
  ~CommitWriter();  // Stop()
  CommitWriter(const CommitWriter&) = delete;
  CommitWriter& operator=(const CommitWriter&) = delete;

  void Start();
  // Waits for the write in flight (its result is dropped: Wait() first to see
  // it), then joins the thread.
  void Stop();

  // Hands `commit` to the writer thread. Precondition: started, nothing in
  // flight (Wait() first).
  void Submit(std::unique_ptr<PreparedCommit> commit);
  bool in_flight() const { return in_flight_; }
  // Whether the write in flight has finished; never blocks.
  bool Done();
  // Blocks until the write in flight finishes; returns its status and gives
  // the commit back in *commit, with how long the write itself took.
  // Precondition: in_flight().
  [[nodiscard]] Status Wait(std::unique_ptr<PreparedCommit>* commit, std::chrono::steady_clock::duration* took);

 private:
  void Loop();

  Store* store_;
  std::thread thread_;
  bool in_flight_ = false;  // owner's view: submitted and not yet waited for
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  std::unique_ptr<PreparedCommit> pending_;  // submitted, not yet written
  std::unique_ptr<PreparedCommit> written_;  // written, not yet waited for
  Status result_;
  std::chrono::steady_clock::duration took_{};
  bool stopping_ = false;
};

}  // namespace streamrec::store
