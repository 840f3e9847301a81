#include "kafka/partition_log.h"

namespace streamrec::kafka::internal {
namespace {

// What a record costs in the mock's log beyond its key and value (record and
// batch headers), counted high: the copies are then made a little early.
constexpr size_t kRecordOverhead = 80;

}  // namespace

void PartitionLog::Apply(int64_t offset, std::string_view key, std::string_view value,
                         std::optional<int64_t> copy_of, std::vector<Copy>* copies) {
  if (offset < next_offset_) return;  // read already (a fetch delivered it again)
  next_offset_ = offset + 1;
  end_ += key.size() + value.size() + kRecordOverhead;
  auto it = latest_.find(key);
  if (it == latest_.end()) {
    // A copy of a key deleted since: it would bring the key back, so delete
    // it again (one copy is in flight per key, so this is only defensive).
    if (copy_of && !value.empty()) copies->push_back({std::string(key), std::nullopt, *copy_of});
    if (value.empty() || copy_of) return;  // a tombstone of a key gone already
    it = latest_.emplace(std::string(key), Latest{}).first;
  }
  Latest& e = it->second;
  live_ -= e.bytes;
  if (copy_of) {
    if (e.pending == *copy_of) e.pending.reset();
    // The copy is the key's last record now: if a newer original (or a
    // tombstone) came before it, that one must follow it.
    if (!e.pending && *copy_of != e.origin) CopyLatest(it, copies);
  } else {
    e.origin = offset;
    e.deleted = value.empty();
    e.value.assign(value);
  }
  e.pos = end_;
  e.bytes = e.deleted ? 0 : it->first.size() + e.value.size() + kRecordOverhead;
  live_ += e.bytes;
  if (e.deleted && !e.pending) {
    latest_.erase(it);
    return;
  }
  order_.push_back({end_, it->first});
}

void PartitionLog::Aged(size_t age, std::vector<Copy>* copies) {
  while (!order_.empty() && end_ - order_.front().first > age) {
    auto it = latest_.find(order_.front().second);
    if (it != latest_.end() && it->second.pos == order_.front().first && !it->second.pending &&
        !it->second.deleted) {
      CopyLatest(it, copies);
    }
    order_.pop_front();
  }
}

void PartitionLog::CopyLatest(Map::iterator it, std::vector<Copy>* copies) {
  Latest& e = it->second;
  copies->push_back({it->first, e.deleted ? std::nullopt : std::optional<std::string>(e.value), e.origin});
  e.pending = e.origin;
}

}  // namespace streamrec::kafka::internal
