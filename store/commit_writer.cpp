#include "store/commit_writer.h"

#include <utility>

namespace streamrec::store {

CommitWriter::CommitWriter(Store* store) : store_(store) {}

CommitWriter::~CommitWriter() { Stop(); }

void CommitWriter::Start() {}  // the task's thread starts with the first write

void CommitWriter::Stop() {
  task_.Stop();
  commit_.reset();
}

void CommitWriter::Submit(std::unique_ptr<PreparedCommit> commit) {
  commit_ = std::move(commit);
  task_.Post([this] {
    const auto started = std::chrono::steady_clock::now();
    Status result = store_->Write(commit_.get());
    took_ = std::chrono::steady_clock::now() - started;
    return result;
  });
}

bool CommitWriter::Done() { return task_.Done(); }

Status CommitWriter::Wait(std::unique_ptr<PreparedCommit>* commit, std::chrono::steady_clock::duration* took) {
  Status result = task_.Wait();
  *commit = std::move(commit_);
  *took = took_;
  return result;
}

}  // namespace streamrec::store
