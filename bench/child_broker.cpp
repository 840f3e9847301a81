#include "bench/child_broker.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

extern char** environ;

namespace streamrec::bench {

ChildBroker::~ChildBroker() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
}

Status ChildBroker::Start(const std::string& executable, int partitions) {
  int out[2];
  if (pipe(out) != 0) return Status::Internal("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::string count = std::to_string(partitions);
  // Without its compaction: a million users' lists and state outgrow what the
  // compaction allows a partition, and the broker would stop with an error
  // (to /dev/null here) a second into the pipeline's phase; no figure depends on it.
  std::vector<char*> argv = {const_cast<char*>(executable.c_str()), const_cast<char*>("broker"),
                             const_cast<char*>("--partitions"), count.data(),
                             const_cast<char*>("--no-compaction"), nullptr};
  const int rc = posix_spawn(&pid_, executable.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    pid_ = -1;
    return Status::Internal("starting the broker: spawn failed");
  }
  // The first line is the bootstrap address (see `streamrec broker --help`).
  char c = 0;
  while (read(out[0], &c, 1) == 1 && c != '\n') bootstrap_ += c;
  close(out[0]);  // the broker ignores a closed stdout after its first line
  if (bootstrap_.empty()) return Status::Internal("the broker printed no address");
  return Status::Ok();
}

}  // namespace streamrec::bench
