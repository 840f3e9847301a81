#include "pipeline/experiment_scan.h"

#include <memory>
#include <unordered_map>

#include "common/hash.h"
#include "kafka/reader.h"
#include "pipeline/changelog_scan.h"

namespace streamrec::pipeline {

Status ScanExperiment(const ExperimentScanOptions& options, const experiment::ExperimentOptions& e,
                      ExperimentScan* out) {
  *out = ExperimentScan{};
  out->sums.resize(e.variants.size());
  std::unique_ptr<kafka::PartitionReader> reader;
  STREAMREC_RETURN_IF_ERROR(kafka::PartitionReader::Create(options.reader_properties, &reader));
  // The counts need no item ids: every item reads as one placeholder.
  static const std::string kNoName;
  const ItemNames items{[](ItemId) -> const std::string& { return kNoName; },
                        [](std::string_view) -> std::optional<ItemId> { return ItemId(0); }};
  const uint32_t tag = e.Tag();
  std::unordered_map<std::string, ExperimentCounts, StringViewHash, std::equal_to<>> latest;
  UserRecord record;
  for (int32_t p = 0; p < options.partitions; ++p) {
    kafka::Watermarks marks;
    STREAMREC_RETURN_IF_ERROR(reader->QueryWatermarks(options.state_topic, p, options.timeout_ms, &marks));
    if (marks.high <= marks.low) continue;
    STREAMREC_RETURN_IF_ERROR(reader->Read(
        options.state_topic, p, marks.low, marks.high, options.timeout_ms, [&](const kafka::Message& m) {
          ++out->records;
          const std::string_view key = m.key();
          if (key == kChangelogMarkerKey) return;
          const auto found = latest.find(key);
          if (m.payload().empty() || !DecodeChangelogUser(m.payload(), items, &record) || !record.experiment ||
              record.experiment->counts.experiment != tag || record.experiment->counts.variant >= e.variants.size()) {
            if (found != latest.end()) latest.erase(found);  // a tombstone, or the user's counts are another's
            return;
          }
          if (found != latest.end()) {
            found->second = record.experiment->counts;
          } else {
            latest.emplace(std::string(key), record.experiment->counts);
          }
        }));
  }
  for (const auto& [user, counts] : latest) out->sums[counts.variant].Add(counts);
  out->users = latest.size();
  return Status::Ok();
}

}  // namespace streamrec::pipeline
