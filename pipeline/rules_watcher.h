// RulesWatcher: the pipeline's RulesSource for `streamrec run`. Re-reads the
// configuration file when it changes (checked at most once a second) or when
// asked (SIGHUP), and hands over the `rules` section if it differs from the
// one in force. A file that does not load is logged and ignored.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "emitter/rules.h"

namespace streamrec::pipeline {

class RulesWatcher {
 public:
  // `reload` is set from outside (a signal) and cleared here; it must outlive the watcher.
  RulesWatcher(std::string path, std::vector<std::string> overrides, emitter::ListRules current,
               std::atomic<bool>* reload);

  std::optional<emitter::ListRules> Poll();

 private:
  std::filesystem::file_time_type ModifiedAt() const;

  std::string path_;
  std::vector<std::string> overrides_;
  emitter::ListRules current_;
  std::atomic<bool>* reload_;
  std::filesystem::file_time_type modified_;
  std::chrono::steady_clock::time_point next_check_;
};

}  // namespace streamrec::pipeline
