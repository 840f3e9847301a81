#include "pipeline/rules_watcher.h"

#include "common/logging.h"
#include "config/config.h"

namespace streamrec::pipeline {

RulesWatcher::RulesWatcher(std::string path, std::vector<std::string> overrides, LiveSettings current,
                           std::atomic<bool>* reload)
    : path_(std::move(path)), overrides_(std::move(overrides)), current_(std::move(current)), reload_(reload) {
  modified_ = ModifiedAt();
}

std::filesystem::file_time_type RulesWatcher::ModifiedAt() const {
  std::error_code ignored;  // a file being replaced may be missing for a moment
  if (path_.empty()) return {};
  return std::filesystem::last_write_time(path_, ignored);
}

std::optional<LiveSettings> RulesWatcher::Poll() {
  const bool asked = reload_->exchange(false);
  const auto now = std::chrono::steady_clock::now();
  if (!asked && now < next_check_) return std::nullopt;
  next_check_ = now + std::chrono::seconds(1);
  const std::filesystem::file_time_type modified = ModifiedAt();
  if (!asked && modified == modified_) return std::nullopt;
  modified_ = modified;
  config::Config config;
  if (Status s = config::LoadConfig(path_, overrides_, &config); !s.ok()) {
    ModuleLogger("app")->error("reloading {}: {}; keeping the current rules and experiment", path_, s.message());
    return std::nullopt;
  }
  LiveSettings loaded{config.emitter.rules, config.experiment};
  if (loaded == current_) return std::nullopt;
  current_ = std::move(loaded);
  return current_;
}

}  // namespace streamrec::pipeline
