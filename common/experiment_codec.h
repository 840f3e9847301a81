// The experiment part of a user's record (ExperimentState) in
// the store's and the changelog's encodings alike: a tail after the user's
// other fields, written only while the user has counts in an experiment, so
// records without one (and records written before experiments existed) end
// before it. The two encodings differ only in how item ids are written (the
// store's dense ids, the changelog's external ids): the caller's functors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/fixed.h"
#include "common/state.h"

namespace streamrec {

template <class PutItems>
void PutExperimentTail(const UserRecord& r, std::string* out, PutItems put_items) {
  if (!r.experiment || r.experiment->counts.experiment == 0) return;
  const ExperimentCounts& c = r.experiment->counts;
  const ServedList& s = r.experiment->served;
  PutFixed<uint32_t>(out, c.experiment);
  PutFixed<uint16_t>(out, c.variant);
  for (uint32_t v : {c.lists, c.clicked, c.carted, c.bought, c.units}) PutFixed<uint32_t>(out, v);
  PutFixed<double>(out, c.revenue);
  put_items(s.items, out);
  PutFixed<uint32_t>(out, static_cast<uint32_t>(s.reasons.size()));
  out->append(reinterpret_cast<const char*>(s.reasons.data()), s.reasons.size());
  PutFixed<int64_t>(out, s.at_ms);
  PutFixed<uint64_t>(out, s.seq);
  PutFixed<int64_t>(out, s.last_event_ms);
  std::vector<ItemId> credited;
  for (const CreditedItem& k : s.credited) credited.push_back(k.item);
  put_items(credited, out);
  for (const CreditedItem& k : s.credited) {
    PutFixed<uint8_t>(out, k.reason);
    PutFixed<uint8_t>(out, k.outcomes);
    PutFixed<int64_t>(out, k.at_ms);
  }
}

// Reads the tail, or empties the user's experiment state when `in` is empty. False when
// malformed. `get_items` must keep every position (a placeholder for an item
// it cannot name): reasons and credits are per position.
template <class GetItems>
bool GetExperimentTail(std::string_view* in, UserRecord* r, GetItems get_items) {
  if (in->empty()) {
    r->experiment.reset();
    return true;
  }
  ExperimentState& state = r->experiment.Ensure();
  state = ExperimentState{};
  ExperimentCounts& c = state.counts;
  ServedList& s = state.served;
  uint32_t reasons = 0;
  if (!GetFixed(in, &c.experiment) || !GetFixed(in, &c.variant) || !GetFixed(in, &c.lists) ||
      !GetFixed(in, &c.clicked) || !GetFixed(in, &c.carted) || !GetFixed(in, &c.bought) || !GetFixed(in, &c.units) ||
      !GetFixed(in, &c.revenue) || !get_items(in, &s.items) || !GetFixed(in, &reasons) || in->size() < reasons) {
    return false;
  }
  s.reasons.assign(in->begin(), in->begin() + reasons);
  in->remove_prefix(reasons);
  std::vector<ItemId> credited;
  if (!GetFixed(in, &s.at_ms) || !GetFixed(in, &s.seq) || !GetFixed(in, &s.last_event_ms) ||
      !get_items(in, &credited)) {
    return false;
  }
  for (ItemId item : credited) {
    CreditedItem& k = s.credited.emplace_back();
    k.item = item;
    if (!GetFixed(in, &k.reason) || !GetFixed(in, &k.outcomes) || !GetFixed(in, &k.at_ms)) return false;
  }
  return true;
}

}  // namespace streamrec
