// RulesWatcher: the pipeline's RulesSource for `streamrec run`. Re-reads the
// configuration file when it changes (checked at most once a second) or when
// asked (SIGHUP), and hands over the `rules` and `experiment` sections if
// they differ from those in force. A file that does not load is logged and ignored.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/pipeline.h"

namespace streamrec::pipeline {

class RulesWatcher {
 public:
  // `reload` is set from outside (a signal) and cleared here; it must outlive the watcher.
  RulesWatcher(std::string path, std::vector<std::string> overrides, LiveSettings current, std::atomic<bool>* reload);

  std::optional<LiveSettings> Poll();

 private:
  std::filesystem::file_time_type ModifiedAt() const;

  std::string path_;
  std::vector<std::string> overrides_;
  LiveSettings current_;
  std::atomic<bool>* reload_;
  std::filesystem::file_time_type modified_;
  std::chrono::steady_clock::time_point next_check_;
};

}  // namespace streamrec::pipeline
