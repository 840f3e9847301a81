// One named logger per module (Redpanda style): "ingest", "store", ...
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace streamrec {

// Returns the logger called `name`, creating it (stderr, shared format) on first use.
std::shared_ptr<spdlog::logger> ModuleLogger(const std::string& name);

// Sets the level of every module logger, present and future: trace..off.
void SetLogLevel(const std::string& level);

}  // namespace streamrec
