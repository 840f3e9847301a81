// ScanExperiment: an experiment's exact totals, from the state changelog.
//
// Every user's counts (ExperimentCounts) live in their record, which each
// commit writes to the compacted changelog (kafka.state_topic) and which
// moves with the user between instances. So the latest record of each user
// in the changelog, whichever instance wrote it, holds their counts exactly
// once: summed per variant they are the whole group's, unaffected by
// restarts, crashes (a replayed batch writes its users again, later) and
// rebalances. This is what `streamrec experiments` reports; /metrics counts
// what one process saw since it started.
//
// Memory: one entry per user of the experiment (their id and counts, ~100 bytes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "experiment/experiment.h"
#include "experiment/statistics.h"
#include "kafka/properties.h"

namespace streamrec::pipeline {

struct ExperimentScanOptions {
  kafka::Properties reader_properties;  // bootstrap.servers, security settings
  std::string state_topic;
  int partitions = 0;       // the state topic's
  int timeout_ms = 30000;   // per partition read
};

struct ExperimentScan {
  std::vector<experiment::VariantSums> sums;  // per variant of the experiment
  uint64_t records = 0;  // changelog records read
  uint64_t users = 0;    // users with counts in the experiment
};

[[nodiscard]] Status ScanExperiment(const ExperimentScanOptions& options, const experiment::ExperimentOptions& e,
                                    ExperimentScan* out);

}  // namespace streamrec::pipeline
