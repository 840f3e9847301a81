// CpuUsage: CPU time by thread group and by the embedded broker, and how busy
// the whole machine was, between two samples. Makes the pipeline's figure
// explainable: its rate is bounded by (cores) / (CPU seconds per event).
// Linux only (/proc); on read failure the groups are simply missing.
#pragma once

#include <sys/types.h>

#include <array>
#include <map>
#include <string>

namespace streamrec::bench {

struct CpuSample {
  std::map<std::string, double> thread_groups_s;  // this process, by group (see CpuGroupOf)
  double broker_s = 0;         // the embedded broker's process
  double machine_busy_s = 0;   // every core, all processes (time stolen by the hypervisor not counted)
  double machine_total_s = 0;  // every core, idle included
};

// This process's threads by name group, the broker process `broker_pid`
// (-1: none) and the machine's counters, now.
CpuSample SampleCpu(pid_t broker_pid);

// The groups threads count in, in the order reports list them.
inline constexpr std::array<const char*, 6> kCpuGroups = {"pipeline", "commit writer", "scoring",
                                                         "RocksDB",  "Kafka clients", "other"};

// The group (of kCpuGroups) a thread named `comm` counts in.
std::string CpuGroupOf(const std::string& comm);

struct CpuPerEvent {
  double total_us = 0;  // all threads of this process and the broker, per event
  std::map<std::string, double> by_group_us;  // "broker" included
  double machine_busy = 0;  // share of all cores busy, 0..1
  double cores = 0;
};

CpuPerEvent PerEvent(const CpuSample& before, const CpuSample& after, double events);

}  // namespace streamrec::bench
