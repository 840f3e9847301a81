#include "experiment/experiment.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/hash.h"

namespace streamrec::experiment {

ListModel VariantOptions::Model() const {
  if (model == "embeddings") return ListModel::kEmbeddings;
  if (model == "trending") return ListModel::kTrending;
  return ListModel::kBlend;
}

Status ExperimentOptions::Validate(size_t top_n) const {
  if (!enabled()) return Status::Ok();
  if (attribution_window_s < 1 || attribution_window_s > 2592000) {
    return Status::InvalidArgument("experiment.attribution_window_s must be in 1..2592000");
  }
  if (variants.empty() || variants.size() >= kNoVariant) {
    return Status::InvalidArgument("experiment '" + name + "' needs at least one variant (experiment.variants)");
  }
  double shares = 0.0;
  std::set<std::string> names;
  for (const VariantOptions& v : variants) {
    const std::string where = "experiment.variants '" + v.name + "': ";
    if (v.name.empty()) return Status::InvalidArgument("experiment.variants: every variant needs a name");
    if (!names.insert(v.name).second) return Status::InvalidArgument(where + "the name is used twice");
    if (!(v.share > 0.0 && v.share <= 1.0)) return Status::InvalidArgument(where + "share must be in (0, 1]");
    if (v.model != "blend" && v.model != "embeddings" && v.model != "trending") {
      return Status::InvalidArgument(where + "model must be blend, embeddings or trending, got \"" + v.model + "\"");
    }
    if (v.list_length > top_n) return Status::InvalidArgument(where + "list_length must be in 0..emitter.top_n");
    if (v.exploration_slot < -1 || v.exploration_slot > static_cast<int64_t>(top_n)) {
      return Status::InvalidArgument(where + "exploration_slot must be -1 (the rules'), 0 (off) or a slot <= top_n");
    }
    if (!(v.cooc_scale >= 0 && v.cooc_scale <= 10) || !(v.session_scale >= 0 && v.session_scale <= 10)) {
      return Status::InvalidArgument(where + "cooc_scale and session_scale must be in 0..10");
    }
    shares += v.share;
  }
  if (std::abs(shares - 1.0) > 1e-6) {
    return Status::InvalidArgument("experiment '" + name + "': the variants' shares must sum to 1");
  }
  return Status::Ok();
}

uint32_t ExperimentOptions::Tag() const {
  const auto tag = static_cast<uint32_t>(Mix64(Fnv1a64(name)));
  return tag == 0 ? 1 : tag;
}

uint16_t HashedVariant(const ExperimentOptions& e, std::string_view user_id) {
  // The name salts the hash: users fall into another variant in every experiment.
  const uint64_t h = Mix64(Fnv1a64(user_id, Fnv1a64(e.name) ^ 0x5bd1e995ULL));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  double edge = 0.0;
  for (size_t v = 0; v + 1 < e.variants.size(); ++v) {
    edge += e.variants[v].share;
    if (u < edge) return static_cast<uint16_t>(v);
  }
  return static_cast<uint16_t>(e.variants.size() - 1);
}

uint16_t VariantOf(const ExperimentOptions& e, std::string_view user_id, const UserRecord& user) {
  if (!e.enabled()) return kNoVariant;
  if (user.experiment && user.experiment->counts.experiment == e.Tag() &&
      user.experiment->counts.variant < e.variants.size()) {
    return user.experiment->counts.variant;
  }
  return HashedVariant(e, user_id);
}

void Ledger::Reset(const ExperimentOptions& e) {
  if (e == experiment_) return;
  const bool same = e.enabled() && e.name == experiment_.name && e.variants.size() == experiment_.variants.size();
  experiment_ = e;
  tag_ = e.enabled() ? e.Tag() : 0;
  if (!same) {
    tallies_.assign(e.enabled() ? e.variants.size() : 0, VariantTally{});
    shown_.assign(tallies_.size(), {});
  }
}

void Ledger::Served(uint16_t variant, std::span<const ItemId> items, std::span<const ListReason> reasons,
                    int64_t now_ms, uint64_t seq, UserRecord* user) {
  if (tag_ == 0 || variant >= tallies_.size()) return;
  ExperimentState& state = user->experiment.Ensure();
  ExperimentCounts& counts = state.counts;
  VariantTally& tally = tallies_[variant];
  ServedList& served = state.served;
  if (counts.experiment != tag_ || counts.variant != variant) {
    counts = ExperimentCounts{tag_, variant};
    served.credited.clear();  // another experiment's
    ++tally.users;
  }
  ++counts.lists;
  ++tally.lists;
  served.items.assign(items.begin(), items.end());
  std::vector<bool>& shown = shown_[variant];
  for (ItemId item : items) {
    if (item.value() >= shown.size()) shown.resize(std::max<size_t>(item.value() + 1, shown.size() * 2), false);
    if (!shown[item.value()]) {
      shown[item.value()] = true;
      ++tally.items_covered;
    }
  }
  served.reasons.resize(reasons.size());
  for (size_t k = 0; k < reasons.size(); ++k) {
    served.reasons[k] = static_cast<uint8_t>(reasons[k]);
    ++tally.reasons[static_cast<size_t>(reasons[k])].shown;
  }
  served.at_ms = served.last_event_ms != 0 ? served.last_event_ms : now_ms;
  served.seq = seq;
  const int64_t window_ms = experiment_.attribution_window_s * 1000;
  std::erase_if(served.credited, [&](const CreditedItem& c) { return served.at_ms - c.at_ms > window_ms; });
}

CreditedItem* Ledger::Credit(const Interaction& event, ServedList* served) const {
  const int64_t window_ms = experiment_.attribution_window_s * 1000;
  const auto in_window = [&](int64_t at_ms) { return event.ts_ms >= at_ms && event.ts_ms - at_ms <= window_ms; };
  // The current list first: an item listed again is followed from the list it is in now.
  const ItemId item = *event.item;
  const auto at = std::find(served->items.begin(), served->items.end(), item);
  // An event that names the list it came from counts only for that one.
  const bool shown = event.list_seq < 0 || static_cast<uint64_t>(event.list_seq) == served->seq;
  const bool listed = at != served->items.end() && in_window(served->at_ms) && shown;
  CreditedItem* latest = nullptr;
  for (CreditedItem& c : served->credited) {
    if (c.item != item || !in_window(c.at_ms)) continue;
    if (listed && c.at_ms == served->at_ms) return &c;
    if (latest == nullptr || c.at_ms >= latest->at_ms) latest = &c;
  }
  if (!listed) return latest;
  if (event.type == EventType::kRemoveFromCart) return nullptr;
  if (served->credited.size() >= kMaxCredited) served->credited.erase(served->credited.begin());
  const size_t position = static_cast<size_t>(at - served->items.begin());
  const uint8_t reason = position < served->reasons.size() ? served->reasons[position] : 0;
  return &served->credited.emplace_back(CreditedItem{item, reason, 0, served->at_ms});
}

void Ledger::Observe(const Interaction& event, UserRecord* user) {
  if (tag_ == 0) return;
  ExperimentState& state = user->experiment.Ensure();
  ServedList& served = state.served;
  served.last_event_ms = std::max(served.last_event_ms, event.ts_ms);
  ExperimentCounts& counts = state.counts;
  if (counts.experiment != tag_ || counts.variant >= tallies_.size() || !event.item) return;
  CreditedItem* credit = Credit(event, &served);
  if (credit == nullptr) return;
  VariantTally& tally = tallies_[counts.variant];
  ReasonTally& by_reason = tally.reasons[std::min<size_t>(credit->reason, kListReasons - 1)];
  const auto once = [&](uint8_t bit, uint32_t* user_count, uint64_t* variant_count, uint64_t* reason_count) {
    if ((credit->outcomes & bit) != 0) return;
    credit->outcomes |= bit;
    ++*user_count;
    ++*variant_count;
    ++*reason_count;
  };
  switch (event.type) {
    case EventType::kView: once(1, &counts.clicked, &tally.clicked, &by_reason.clicked); break;
    case EventType::kCart: once(2, &counts.carted, &tally.carted, &by_reason.carted); break;
    case EventType::kPurchase:
      once(4, &counts.bought, &tally.bought, &by_reason.bought);
      counts.units += event.quantity;
      counts.revenue += event.price * event.quantity;
      tally.units += event.quantity;
      tally.revenue += event.price * event.quantity;
      break;
    case EventType::kRemoveFromCart: break;
  }
}

}  // namespace streamrec::experiment
