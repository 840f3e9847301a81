#include "bench/cpu_usage.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace streamrec::bench {
namespace {

double TicksToSeconds(double ticks) { return ticks / static_cast<double>(sysconf(_SC_CLK_TCK)); }

// A /proc/.../stat line: "pid (comm) state ..."; utime and stime are fields 14 and 15.
bool ReadStat(const std::filesystem::path& path, std::string* comm, double* cpu_s) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t open = line.find('(');
  const size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  *comm = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  *cpu_s = TicksToSeconds(utime + stime);
  return true;
}

// The "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal.
void ReadMachine(double* busy_s, double* total_s) {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  double ticks[8] = {};
  for (double& t : ticks) in >> t;
  double total = 0;
  for (double t : ticks) total += t;
  *total_s = TicksToSeconds(total);
  *busy_s = TicksToSeconds(total - ticks[3] - ticks[4] - ticks[7]);  // not idle, iowait or steal
}

}  // namespace

std::string CpuGroupOf(const std::string& comm) {
  if (comm == "pipeline") return "pipeline";
  if (comm.rfind("streamrec-commi", 0) == 0) return "commit writer";
  if (comm.rfind("streamrec-score", 0) == 0) return "scoring";
  if (comm.rfind("rocksdb", 0) == 0) return "RocksDB";
  if (comm.rfind("rdk:", 0) == 0) return "Kafka clients";
  return "other";
}

CpuSample SampleCpu(pid_t broker_pid) {
  CpuSample s;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::string comm;
    double cpu_s = 0;
    if (ReadStat(task.path() / "stat", &comm, &cpu_s)) s.thread_groups_s[CpuGroupOf(comm)] += cpu_s;
  }
  std::string comm;
  if (broker_pid > 0) ReadStat("/proc/" + std::to_string(broker_pid) + "/stat", &comm, &s.broker_s);
  ReadMachine(&s.machine_busy_s, &s.machine_total_s);
  return s;
}

CpuPerEvent PerEvent(const CpuSample& before, const CpuSample& after, double events) {
  CpuPerEvent out;
  if (events <= 0) return out;
  const double us = 1e6 / events;
  for (const auto& [group, seconds] : after.thread_groups_s) {
    auto was = before.thread_groups_s.find(group);
    // A thread that ended between the samples takes its time with it: never negative.
    const double spent = std::max(0.0, seconds - (was == before.thread_groups_s.end() ? 0.0 : was->second));
    out.by_group_us[group] = spent * us;
    out.total_us += spent * us;
  }
  out.by_group_us["broker"] = (after.broker_s - before.broker_s) * us;
  out.total_us += out.by_group_us["broker"];
  const double total = after.machine_total_s - before.machine_total_s;
  out.machine_busy = total > 0 ? (after.machine_busy_s - before.machine_busy_s) / total : 0.0;
  out.cores = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  return out;
}

}  // namespace streamrec::bench
