// Figure (8) of `streamrec bench`: memory stays under the configured budget
// however many distinct users arrive. --memory-users N distinct users, one
// event each, go through the learner, the bounded user cache
// (pipeline.user_cache_capacity) and the store, in committed batches of 4096
// (evicted users are clean, in RocksDB); resident memory is sampled ten times.
// No Kafka: this isolates the state path the pipeline runs per event.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace streamrec::bench {

struct MemoryFigures {
  uint64_t users = 0;  // 0: not measured
  uint64_t cache_capacity = 0;
  std::vector<std::pair<uint64_t, double>> rss_mb;  // (users so far, resident MB)
  double users_per_second = 0;
  double disk_mb = 0;  // SST bytes of the user state at the end
};

// A field of /proc/self/status in MB ("VmRSS:", "VmHWM:"); 0 if absent.
double ProcStatusMb(const char* field);

// Uses a fresh store at `config.store.path`.
[[nodiscard]] Status MeasureMemory(const config::Config& config, uint64_t users, uint64_t items, MemoryFigures* out);

}  // namespace streamrec::bench
