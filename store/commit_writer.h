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
#include <memory>

#include "common/background_task.h"
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
  bool in_flight() const { return task_.in_flight(); }
  // Whether the write in flight has finished; never blocks.
  bool Done();
  // Blocks until the write in flight finishes; returns its status and gives
  // the commit back in *commit, with how long the write itself took.
  // Precondition: in_flight().
  [[nodiscard]] Status Wait(std::unique_ptr<PreparedCommit>* commit, std::chrono::steady_clock::duration* took);

 private:
  Store* store_;
  // Niceness 10: the write has the rest of the commit window to finish (the
  // next commit waits for it), the lists' threads have no such slack.
  BackgroundTask task_{"streamrec-commit", 10};
  // Owned by the task while a write is in flight, by the owner otherwise.
  std::unique_ptr<PreparedCommit> commit_;
  std::chrono::steady_clock::duration took_{};
};

}  // namespace streamrec::store
