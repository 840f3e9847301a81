#include "pipeline/changelog_scan.h"

#include <utility>
#include <vector>

#include <simdjson.h>

namespace streamrec::pipeline {
namespace {

struct Marker {
  std::string writer;
  int64_t from = -1;
  int64_t next_offset = 0;
};

bool ParseMarker(std::string_view value, Marker* out) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(value.data(), value.size()).get(doc) != simdjson::SUCCESS) return false;
  std::string_view writer;
  if (doc["writer"].get(writer) != simdjson::SUCCESS) return false;
  if (doc["from"].get(out->from) != simdjson::SUCCESS) return false;
  if (doc["next_offset"].get(out->next_offset) != simdjson::SUCCESS) return false;
  out->writer.assign(writer);
  return true;
}

}  // namespace

ChangelogScan::ChangelogScan(std::string writer_id, size_t max_bytes, const ItemNames& items,
                             const AdoptUsers& adopt, RestoreOutcome* out)
    : writer_id_(std::move(writer_id)), max_bytes_(max_bytes), items_(items), adopt_(adopt), out_(out) {}

void ChangelogScan::Put(Records* records, size_t* bytes, std::string_view key, std::string value) {
  auto it = records->find(key);
  if (it == records->end()) {
    *bytes += key.size() + value.size();
    records->emplace(std::string(key), std::move(value));
    return;
  }
  *bytes = *bytes - it->second.size() + value.size();
  it->second = std::move(value);
}

void ChangelogScan::Visit(const kafka::Message& m) {
  if (!bad_.ok()) return;
  if (m.key() != kChangelogMarkerKey) {
    // An empty value is a tombstone: the user was erased, nothing to adopt.
    Put(&pending_, &pending_bytes_, m.key(), std::string(m.payload()));
    peak_bytes_ = std::max(peak_bytes_, buffered_bytes());
    return;
  }
  Marker marker;
  if (!ParseMarker(m.payload(), &marker)) {
    bad_ = Status::Corruption("undecodable changelog marker at offset " + std::to_string(m.offset()));
    return;
  }
  adopting_ = adopting_ || marker.writer != writer_id_;
  for (auto& [id, value] : pending_) Put(&complete_, &complete_bytes_, id, std::move(value));
  pending_.clear();
  pending_bytes_ = 0;
  out_->next_event_offset = marker.next_offset;
  ++out_->batches;
}

Status ChangelogScan::EndOfSlice() {
  STREAMREC_RETURN_IF_ERROR(bad_);
  if (complete_bytes_ < max_bytes_) return Status::Ok();
  if (!adopting_) {
    log_->warn("more batches this instance wrote but never committed than a restore holds in memory: adopting them");
    adopting_ = true;
  }
  return HandOver();
}

Status ChangelogScan::Finish() {
  STREAMREC_RETURN_IF_ERROR(EndOfSlice());  // the last slice: past the bound, own batches are adopted too
  if (!adopting_) {
    // Only our own uncommitted batches (or none): re-processing the events rebuilds them exactly.
    if (out_->batches > 0) {
      log_->info("dropping {} batches this instance wrote but never committed; re-processing their events",
                 out_->batches);
    }
    return Status::Ok();
  }
  return HandOver();
}

Status ChangelogScan::HandOver() {
  out_->adopted = true;
  if (complete_.empty()) return Status::Ok();
  std::vector<RestoredUser> users;
  users.reserve(complete_.size());
  for (auto it = complete_.begin(); it != complete_.end(); it = complete_.erase(it)) {
    if (it->second.empty()) continue;  // erased
    RestoredUser user{it->first, {}};
    if (!DecodeChangelogUser(it->second, items_, &user.record)) {
      return Status::Corruption("undecodable changelog record of user " + it->first);
    }
    users.push_back(std::move(user));
  }
  complete_bytes_ = 0;
  out_->users += users.size();
  ++out_->chunks;
  return adopt_(&users);
}

}  // namespace streamrec::pipeline
