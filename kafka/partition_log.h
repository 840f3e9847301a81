// PartitionLog: one partition of a compacted topic as the embedded broker's
// compactor sees it (internal to the kafka module; see embedded_compactor.h).
//
// It follows the partition in offset order and decides which records must be
// produced again so that the log always ends, for every key, with that key's
// latest record. A copy says which original it copies (the original's offset,
// in the kCopyHeader header) so that it is told apart from any other record,
// however alike their bytes: a producer may write the same value twice (a
// re-published list, an unchanged trending list), and a copy that lands after
// a newer original is then followed by a copy of that original, never taken
// for it.
//
// Thread-safety: none; the compactor's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace streamrec::kafka::internal {

class PartitionLog {
 public:
  // Marks a compactor's copy; its value is the copied original's offset, in decimal.
  static constexpr std::string_view kCopyHeader = "streamrec.compaction-copy";

  struct Copy {
    std::string key;
    std::optional<std::string> value;  // nullopt: a tombstone
    int64_t origin = 0;                // the copied original's offset (kCopyHeader)
  };

  // The record at `offset`, read in order. `copy_of`: the kCopyHeader value of
  // a compactor's copy, nullopt for an original. Appends to *copies what must
  // be produced again at once (a copy that landed after a newer original of
  // its key). A record already read (offset below the next one expected) is
  // ignored.
  void Apply(int64_t offset, std::string_view key, std::string_view value, std::optional<int64_t> copy_of,
             std::vector<Copy>* copies);

  // Appends to *copies the latest records that have aged past `age` bytes.
  void Aged(size_t age, std::vector<Copy>* copies);

  // Bytes of every live key's latest record.
  size_t live_bytes() const { return live_; }
  // Bytes read since the compactor began reading the partition.
  uint64_t written() const { return end_; }
  // The next offset expected; an offset read past it means records were
  // dropped before they were read (the mock has no gaps otherwise).
  int64_t next_offset() const { return next_offset_; }
  bool Continues(int64_t offset) const { return offset <= next_offset_; }

 private:
  struct Latest {
    uint64_t pos = 0;                // where the key's last record (original or copy) ends
    size_t bytes = 0;                // counted in live_
    int64_t origin = -1;             // offset of the key's latest original
    std::string value;               // its value
    bool deleted = false;            // the latest original is a tombstone
    std::optional<int64_t> pending;  // origin of a copy on its way
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using Map = std::unordered_map<std::string, Latest, Hash, std::equal_to<>>;

  void CopyLatest(Map::iterator it, std::vector<Copy>* copies);

  Map latest_;
  std::deque<std::pair<uint64_t, std::string>> order_;  // (pos, key) of records read, oldest first
  uint64_t end_ = 0;
  size_t live_ = 0;
  int64_t next_offset_ = 0;
};

}  // namespace streamrec::kafka::internal
