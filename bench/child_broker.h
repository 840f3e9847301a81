// ChildBroker: `streamrec broker` in a child process, so the benchmark's
// memory figures are the pipeline's alone. Stopped (SIGTERM) on destruction.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace streamrec::bench {

class ChildBroker {
 public:
  ChildBroker() = default;
  ~ChildBroker();
  ChildBroker(const ChildBroker&) = delete;
  ChildBroker& operator=(const ChildBroker&) = delete;

  // Runs `executable broker --partitions N --no-compaction` and reads the
  // bootstrap address it prints.
  [[nodiscard]] Status Start(const std::string& executable, int partitions);
  const std::string& bootstrap() const { return bootstrap_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string bootstrap_;
};

}  // namespace streamrec::bench
