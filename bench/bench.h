// `streamrec bench`: the pipeline's speed and memory as ratios against
// ceilings measured in the same run (docs/BENCHMARKS.md explains each figure).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace streamrec::bench {

struct BenchArgs {
  uint64_t events = 200000;  // generated Zipf events through the pipeline
  uint64_t users = 50000;
  uint64_t items = 20000;
  int dim = 32;
  double rate = 10000;       // offered rate of the fixed-rate latency run, events/s
  int latency_seconds = 5;   // length of each latency run
  bool find_max_rate = true; // also search the highest rate with p99 under 100 ms
  uint64_t ann_items = 0;    // (7) approximate index vs exact on this many items; 0 = skip
  uint64_t memory_users = 0; // (8) memory under the cache budget for this many distinct users; 0 = skip
  bool ann_learned = false;  // (7) also on the item matrix the run learned
  bool json = false;
  std::string config_path;             // optional, as for `run`
  std::vector<std::string> overrides;  // "section.key=value"
  std::string executable;              // this binary, to start the broker child
};

int CmdBench(const BenchArgs& args, const std::atomic<bool>& stop);

}  // namespace streamrec::bench
