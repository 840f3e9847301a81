// ChangelogScan, internal to pipeline/: one partition of the state changelog
// read in order during a restore (StateHandoff::Restore). A user's record
// counts once the offsets marker of its batch is read (records after the last
// marker belong to a batch that never completed); adopted users are handed
// over in chunks, so a changelog of any length is restored in bounded memory:
// at most `max_bytes` of completed records plus the batch being read.
//
// Batches this instance wrote itself are only re-processed, not adopted,
// unless a batch of another instance follows them or they alone pass
// `max_bytes` (then they are adopted too: the state is the same, only the
// item-side learning of their events is not redone).
//
// Thread-safety: none; one restore on one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/logging.h"
#include "common/status.h"
#include "kafka/message.h"
#include "pipeline/state_handoff.h"

namespace streamrec::pipeline {

// The key of offsets markers: no user id (the decoder rejects control
// characters) can share it, and compaction keeps the newest per partition.
inline constexpr std::string_view kChangelogMarkerKey{"\0streamrec.offsets", 18};

class ChangelogScan {
 public:
  // Everything referenced must outlive the scan; `out` is filled as it goes.
  ChangelogScan(std::string writer_id, size_t max_bytes, const ItemNames& items, const AdoptUsers& adopt,
                RestoreOutcome* out);

  // The next record, in offset order. A record that cannot be read fails the
  // next EndOfSlice() or Finish().
  void Visit(const kafka::Message& m);
  // After each slice read: hands the completed users over once they pass `max_bytes`.
  [[nodiscard]] Status EndOfSlice();
  // After the last record (instead of a last EndOfSlice): hands over the
  // rest, or drops this instance's own uncommitted batches when nothing is to be adopted.
  [[nodiscard]] Status Finish();

  // Encoded bytes of the users held now, and at most so far.
  size_t buffered_bytes() const { return pending_bytes_ + complete_bytes_; }
  size_t peak_buffered_bytes() const { return peak_bytes_; }

 private:
  using Records = std::map<std::string, std::string, std::less<>>;
  static void Put(Records* records, size_t* bytes, std::string_view key, std::string value);
  [[nodiscard]] Status HandOver();

  std::string writer_id_;
  size_t max_bytes_;
  const ItemNames& items_;
  const AdoptUsers& adopt_;
  RestoreOutcome* out_;
  // Values stay encoded until handed over: decoding interns item ids.
  Records pending_;   // the batch being read
  Records complete_;  // completed batches not handed over yet
  size_t pending_bytes_ = 0;
  size_t complete_bytes_ = 0;
  size_t peak_bytes_ = 0;
  bool adopting_ = false;  // a batch of another instance (or too many of our own) was read
  Status bad_;
  std::shared_ptr<spdlog::logger> log_ = ModuleLogger("handoff");
};

}  // namespace streamrec::pipeline
