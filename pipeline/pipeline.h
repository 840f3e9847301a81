// Pipeline: ingest -> learner -> store -> emitter, one micro-batch at a time.
//
// Per batch: decode (rejects to the DLQ), learn every event as it comes, owe
// each touched user a list (ListRefresher: coalesced, each user once), and
// publish the lists of due users within a time budget. Events never wait for
// lists: when lists fall behind, users stay owed (latest state wins) and the
// benchmark reports the lag. Every pipeline.commit_interval_ms (and before
// partitions are revoked, and on stop) the commit window closes: the DLQ, the
// lists and the state changelog are delivered, then users, items, the owed
// set, counters and offsets go in one WriteBatch, each changed key once. A
// crash anywhere before a commit replays the window from the stored offsets;
// after it, nothing is replayed and the owed set is in the store.
// Exactly-once state, at-least-once lists.
//
// Lifecycle: Start(), Run(stop) until `stop` is set, Stop() (reverse order).
// Thread-safety: all on the caller's thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

#include "common/status.h"
#include "config/config.h"
#include "server/status_server.h"

namespace streamrec::pipeline {

struct PipelineStats {
  uint64_t batches = 0;
  uint64_t consumed = 0;
  uint64_t applied = 0;
  uint64_t rejected = 0;
  uint64_t lists = 0;
};

// What a running pipeline takes over from a changed configuration: the list
// rules and the experiment.
struct LiveSettings {
  emitter::ListRules rules;
  experiment::ExperimentOptions experiment;
  bool operator==(const LiveSettings&) const = default;
};

// Called between batches: new settings when the configuration changed, else nullopt.
using RulesSource = std::function<std::optional<LiveSettings>()>;

class Pipeline {
 public:
  // `health` (optional) receives the pipeline's status; `lookups` (optional)
  // brings the status page's questions about one user's list, answered
  // between batches. Both must outlive the pipeline.
  explicit Pipeline(config::Config config, server::HealthBoard* health = nullptr,
                    server::UserLookups* lookups = nullptr);
  ~Pipeline();

  [[nodiscard]] Status Start();
  // Processes batches until `stop` is set (or the idle timeout passes).
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);
  [[nodiscard]] Status Stop();

  PipelineStats stats() const;
  // Optional; set before Run(). Rules it returns apply from the next batch on.
  void SetRulesSource(RulesSource source);
  // Testing the exactly-once claim (tests/e2e/test_group_crash.py): the
  // process ends at once (std::_Exit(137), as a SIGKILL would: nothing more
  // written, no commit) right after its `records`-th item update record was
  // delivered to the group, before the commit of the window that produced it.
  // 0 (the default): never. Set before Run().
  void CrashAfterItemRecords(uint64_t records);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::pipeline
