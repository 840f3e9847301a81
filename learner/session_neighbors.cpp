#include "learner/session_neighbors.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace streamrec::learner {

SessionNeighbors::SessionNeighbors(SessionNeighborOptions options) : options_(options) {
  // exp() of every position and distance a session can have, once.
  for (size_t d = 0; d < options_.session_length; ++d) {
    position_weight_.push_back(std::exp(-static_cast<float>(d) / options_.position_decay));
    distance_weight_.push_back(std::exp(-static_cast<float>(d) / options_.distance_decay));
  }
}

uint32_t SessionNeighbors::NewSlot() {
  const auto slot = static_cast<uint32_t>(slots_.size());
  slots_.emplace_back();
  items_.resize(items_.size() + options_.session_length);
  gained_.resize(gained_.size() + options_.session_length);
  entry_at_.resize(entry_at_.size() + options_.session_length);
  if (slots_.size() > taken_.size() * 64) taken_.push_back(0);
  dirty_flags_.push_back(0);
  return slot;
}

uint32_t SessionNeighbors::SlotOf(UserId user) {
  if (auto it = owner_slot_.find(user.value()); it != owner_slot_.end()) return it->second;
  uint32_t slot = 0;
  if (slots_.size() < options_.max_sessions) {
    slot = NewSlot();
  } else {
    slot = static_cast<uint32_t>(created_ % options_.max_sessions);  // the session created longest ago
    const std::span<const ItemId> items = ItemsOf(slot);
    for (size_t i = 0; i < items.size(); ++i) DropEntry(items[i], entry_at_[slot * options_.session_length + i]);
    owner_slot_.erase(slots_[slot].owner);
  }
  slots_[slot] = Slot{.owner = user.value(), .count = 0, .last_ts = 0, .clock_ms = 0, .created = created_++};
  owner_slot_.emplace(user.value(), slot);
  return slot;
}

uint32_t SessionNeighbors::AddEntry(ItemId item, uint32_t slot, uint64_t seq) {
  if (item.value() >= by_item_.size()) {
    by_item_.resize(item.value() + 1);
    stale_.resize(item.value() + 1, 0);
  }
  std::vector<Entry>& entries = by_item_[item.value()];
  entries.emplace_back(seq, slot);
  return static_cast<uint32_t>(entries.size() - 1);
}

// The entry is marked dead, and once as many are dead as live the item's
// entries are swept (the sessions learn where theirs moved).
void SessionNeighbors::DropEntry(ItemId item, uint32_t at) {
  std::vector<Entry>& entries = by_item_[item.value()];
  entries[at].slot = kDead;
  if (++stale_[item.value()] * 2 <= entries.size()) return;
  size_t kept = 0;
  for (const Entry& e : entries) {
    if (e.slot == kDead) continue;
    const std::span<const ItemId> items = ItemsOf(e.slot);
    const size_t i = static_cast<size_t>(std::find(items.begin(), items.end(), item) - items.begin());
    entry_at_[e.slot * options_.session_length + i] = static_cast<uint32_t>(kept);
    entries[kept++] = e;
  }
  entries.resize(kept, Entry(0, kDead));
  stale_[item.value()] = 0;
  if (entries.capacity() > 4 * entries.size() + 16) entries.shrink_to_fit();
}

void SessionNeighbors::MarkDirty(uint32_t slot) {
  if (dirty_flags_[slot] != 0) return;
  dirty_flags_[slot] = 1;
  dirty_.push_back(slot);
}

void SessionNeighbors::Update(UserId user, std::span<const ItemId> history, int64_t ts_ms) {
  if (!enabled()) return;
  if (index_stale_) RebuildIndex();
  ++updates_;
  clock_ms_ = std::max(clock_ms_, ts_ms);
  const uint32_t slot = SlotOf(user);
  Slot& s = slots_[slot];
  const size_t base = slot * options_.session_length;
  const size_t keep = std::min(history.size(), options_.session_length);
  const std::span<const ItemId> tail = history.subspan(history.size() - keep);
  old_items_.assign(items_.begin() + static_cast<std::ptrdiff_t>(base), items_.begin() + static_cast<std::ptrdiff_t>(base + s.count));
  old_gained_.assign(gained_.begin() + static_cast<std::ptrdiff_t>(base), gained_.begin() + static_cast<std::ptrdiff_t>(base + s.count));
  old_entry_at_.assign(entry_at_.begin() + static_cast<std::ptrdiff_t>(base), entry_at_.begin() + static_cast<std::ptrdiff_t>(base + s.count));
  // The items the session drops lose their entries; an item it keeps keeps its seq.
  // (A sweep for a dropped item moves only other sessions' entries of that item.)
  for (size_t i = 0; i < old_items_.size(); ++i) {
    if (std::find(tail.begin(), tail.end(), old_items_[i]) == tail.end()) DropEntry(old_items_[i], old_entry_at_[i]);
  }
  s.count = 0;  // the slot's items are rewritten below: no sweep meanwhile reads them
  for (size_t i = 0; i < tail.size(); ++i) {
    const auto at = std::find(old_items_.begin(), old_items_.end(), tail[i]);
    items_[base + i] = tail[i];
    if (at != old_items_.end()) {
      gained_[base + i] = old_gained_[static_cast<size_t>(at - old_items_.begin())];
      entry_at_[base + i] = old_entry_at_[static_cast<size_t>(at - old_items_.begin())];
    } else {
      gained_[base + i] = ++seq_;
      entry_at_[base + i] = AddEntry(tail[i], slot, seq_);
    }
  }
  s.count = static_cast<uint32_t>(tail.size());
  s.last_ts = ts_ms;
  s.clock_ms = clock_ms_;
  MarkDirty(slot);
}

void SessionNeighbors::Append(UserId owner, ItemId item, int64_t ts_ms) {
  if (!enabled()) return;
  appended_.clear();
  if (auto it = owner_slot_.find(owner.value()); it != owner_slot_.end()) {
    const std::span<const ItemId> items = ItemsOf(it->second);
    appended_.assign(items.begin(), items.end());
    appended_.erase(std::remove(appended_.begin(), appended_.end(), item), appended_.end());
  }
  appended_.push_back(item);
  Update(owner, appended_, ts_ms);
}

void SessionNeighbors::Clear(UserId owner) {
  auto it = owner_slot_.find(owner.value());
  if (it == owner_slot_.end() || slots_[it->second].count == 0) return;
  Update(owner, {}, slots_[it->second].last_ts);
}

void SessionNeighbors::TakeDirty(std::vector<SessionRecord>* out) {
  out->resize(dirty_.size());
  for (size_t i = 0; i < dirty_.size(); ++i) {
    const uint32_t slot = dirty_[i];
    const Slot& s = slots_[slot];
    SessionRecord& r = (*out)[i];
    r.slot = slot;
    r.owner = UserId(s.owner);
    r.last_ts = s.last_ts;
    r.clock_ms = s.clock_ms;
    r.created = s.created;
    const size_t base = slot * options_.session_length;
    r.items.assign(items_.begin() + static_cast<std::ptrdiff_t>(base), items_.begin() + static_cast<std::ptrdiff_t>(base + s.count));
    r.gained.assign(gained_.begin() + static_cast<std::ptrdiff_t>(base), gained_.begin() + static_cast<std::ptrdiff_t>(base + s.count));
    dirty_flags_[slot] = 0;
  }
  dirty_.clear();
}

void SessionNeighbors::Restore(const SessionRecord& r) {
  // A record from a larger table, or a longer session, than configured now is
  // dropped or cut: its owner's next event rebuilds the session.
  if (!enabled() || r.slot >= options_.max_sessions || r.items.size() != r.gained.size()) return;
  while (slots_.size() <= r.slot) NewSlot();
  const size_t count = std::min(r.items.size(), options_.session_length);
  const size_t skip = r.items.size() - count;
  const size_t base = r.slot * options_.session_length;
  std::copy(r.items.begin() + static_cast<std::ptrdiff_t>(skip), r.items.end(), items_.begin() + static_cast<std::ptrdiff_t>(base));
  std::copy(r.gained.begin() + static_cast<std::ptrdiff_t>(skip), r.gained.end(), gained_.begin() + static_cast<std::ptrdiff_t>(base));
  slots_[r.slot] = Slot{.owner = r.owner.value(), .count = static_cast<uint32_t>(count), .last_ts = r.last_ts,
                        .clock_ms = r.clock_ms, .created = r.created};
  owner_slot_[r.owner.value()] = r.slot;
  created_ = std::max(created_, r.created + 1);
  clock_ms_ = std::max(clock_ms_, r.clock_ms);
  for (uint64_t seq : r.gained) seq_ = std::max(seq_, seq);
  index_stale_ = true;
}

// Every live entry, in the order the sessions gained them: what the index
// reads when it was grown event by event.
void SessionNeighbors::RebuildIndex() {
  std::vector<std::tuple<uint64_t, ItemId, uint32_t>> entries;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const std::span<const ItemId> items = ItemsOf(slot);
    for (size_t i = 0; i < items.size(); ++i) entries.emplace_back(gained_[slot * options_.session_length + i], items[i], slot);
  }
  std::sort(entries.begin(), entries.end());
  by_item_.clear();
  stale_.clear();
  for (const auto& [seq, item, slot] : entries) {
    const std::span<const ItemId> items = ItemsOf(slot);
    const size_t i = static_cast<size_t>(std::find(items.begin(), items.end(), item) - items.begin());
    entry_at_[slot * options_.session_length + i] = AddEntry(item, slot, seq);
  }
  index_stale_ = false;
}

void SessionNeighbors::Candidates(uint32_t own_slot, std::span<const ItemId> session) {
  candidates_.clear();
  // A max-heap of the session items by the seq of their next entry (from the newest).
  heads_.clear();
  cursor_.resize(session.size());
  // Each item's entries, newest first, are a cache miss or two: asked for together.
  for (ItemId item : session) {
    if (item.value() < by_item_.size()) __builtin_prefetch(&by_item_[item.value()]);
  }
  for (ItemId item : session) {
    if (item.value() < by_item_.size() && !by_item_[item.value()].empty()) __builtin_prefetch(&by_item_[item.value()].back());
  }
  for (size_t q = 0; q < session.size(); ++q) {
    cursor_[q] = session[q].value() < by_item_.size() ? by_item_[session[q].value()].size() : 0;
    if (cursor_[q] > 0) heads_.emplace_back(by_item_[session[q].value()][cursor_[q] - 1].seq(), static_cast<uint32_t>(q));
  }
  std::make_heap(heads_.begin(), heads_.end());
  while (candidates_.size() < options_.sample && !heads_.empty()) {
    std::pop_heap(heads_.begin(), heads_.end());
    const uint32_t q = heads_.back().second;
    const std::vector<Entry>& entries = by_item_[session[q].value()];
    const Entry& e = entries[--cursor_[q]];
    if (cursor_[q] > 0) {
      // The stream is read backwards, five entries a line: the line ahead asked for.
      if (cursor_[q] > kEntriesAhead) __builtin_prefetch(&entries[cursor_[q] - kEntriesAhead]);
      heads_.back().first = entries[cursor_[q] - 1].seq();
      std::push_heap(heads_.begin(), heads_.end());
    } else {
      heads_.pop_back();
    }
    if (e.slot == kDead || e.slot == own_slot) continue;
    uint64_t& word = taken_[e.slot / 64];
    const uint64_t bit = uint64_t{1} << (e.slot % 64);
    if ((word & bit) != 0) continue;
    word |= bit;
    candidates_.push_back(e.slot);
    // Neighbors reads its slot and items next: fetched while the merge goes on.
    __builtin_prefetch(&slots_[e.slot]);
    const ItemId* items = items_.data() + static_cast<size_t>(e.slot) * options_.session_length;
    __builtin_prefetch(items);
    __builtin_prefetch(items + options_.session_length - 1);
  }
  for (uint32_t slot : candidates_) taken_[slot / 64] = 0;
}

std::span<const ItemId> SessionNeighbors::SessionOf(std::span<const ItemId> history) {
  if (index_stale_) RebuildIndex();
  return history.subspan(history.size() - std::min(history.size(), options_.session_length));
}

uint32_t SessionNeighbors::OwnSlot(UserId user) const {
  const auto own = owner_slot_.find(user.value());
  return own == owner_slot_.end() ? UINT32_MAX : own->second;
}

std::span<const SessionNeighbors::Scored> SessionNeighbors::Score(UserId user, std::span<const ItemId> history) {
  if (!enabled() || history.empty()) return {};
  const std::span<const ItemId> session = SessionOf(history);
  if (CacheHolds(user, session)) return cached_;
  Compute(OwnSlot(user), session);
  cached_user_ = user.value();
  cached_updates_ = updates_;
  cached_session_.assign(session.begin(), session.end());
  return cached_;
}

void SessionNeighbors::Neighbors(uint32_t own_slot, std::span<const ItemId> session) {
  similar_.clear();
  for (uint32_t item : query_items_) query_bits_[item / 64] = 0;  // the last call's session
  query_items_.clear();
  Candidates(own_slot, session);
  if (candidates_.empty()) return;
  // The user's session: each item's position weight (the latest weighs 1).
  if (query_weight_.size() < by_item_.size()) {
    query_weight_.resize(by_item_.size(), 0.0F);
    query_bits_.resize((by_item_.size() + 63) / 64, 0);
  }
  double squares = 0.0;
  const size_t len = session.size();
  for (size_t p = 0; p < len; ++p) {
    const uint32_t item = session[p].value();
    if (item >= query_weight_.size()) continue;  // in no other session
    const float w = position_weight_[len - 1 - p];
    query_bits_[item / 64] |= uint64_t{1} << (item % 64);
    query_items_.push_back(item);
    query_weight_[item] = w;
    squares += static_cast<double>(w) * w;
  }

  const double norm = std::sqrt(squares);
  for (uint32_t slot : candidates_) {
    const std::span<const ItemId> items = ItemsOf(slot);
    double shared = 0.0;
    for (ItemId item : items) {
      if (InSession(item)) shared += query_weight_[item.value()];
    }
    if (shared == 0.0) continue;
    const double age = static_cast<double>(clock_ms_ - slots_[slot].last_ts) / static_cast<double>(options_.age_scale_ms);
    const double sim = shared / (norm * std::sqrt(static_cast<double>(items.size()))) * std::exp(-age);
    if (!(sim > 1e-30)) continue;  // too old to count (and no zero sums below)
    similar_.emplace_back(static_cast<float>(sim), slot);
  }
  const auto more_similar = [](const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (similar_.size() > options_.neighbors) {
    std::nth_element(similar_.begin(), similar_.begin() + static_cast<std::ptrdiff_t>(options_.neighbors),
                     similar_.end(), more_similar);
    similar_.resize(options_.neighbors);
  }
}

void SessionNeighbors::ScoreItems(UserId user, std::span<const ItemId> history, std::span<const ItemId> items,
                                  std::span<float> out) {
  std::fill(out.begin(), out.end(), 0.0F);
  if (!enabled() || history.empty()) return;
  const std::span<const ItemId> session = SessionOf(history);
  if (CacheHolds(user, session)) {
    for (const auto& [item, score] : cached_) {
      for (size_t i = 0; i < items.size(); ++i) {
        if (items[i] == item) out[i] = score;
      }
    }
    return;
  }
  Neighbors(OwnSlot(user), session);
  // Compute's sums, in its order, for these items alone: the same floats.
  // (An item of the session gets none; a neighbour holding none of the items
  // adds nothing, and its last shared item is looked for only when it does.)
  for (const auto& [sim, slot] : similar_) {
    const std::span<const ItemId> neighbour = ItemsOf(slot);
    size_t last_shared = SIZE_MAX;
    for (size_t p = 0; p < neighbour.size(); ++p) {
      for (size_t i = 0; i < items.size(); ++i) {
        if (neighbour[p] != items[i] || InSession(items[i])) continue;
        if (last_shared == SIZE_MAX) last_shared = LastShared(neighbour);
        out[i] += sim * DistanceWeight(p, last_shared);
      }
    }
  }
  const auto scale = static_cast<float>(1.0 / static_cast<double>(options_.neighbors));
  for (float& score : out) score *= scale;
}

// Where in a neighbour's session its last item shared with the user's session is.
size_t SessionNeighbors::LastShared(std::span<const ItemId> items) const {
  size_t last_shared = 0;
  for (size_t p = 0; p < items.size(); ++p) {
    if (InSession(items[p])) last_shared = p;
  }
  return last_shared;
}

// Into cached_.
void SessionNeighbors::Compute(uint32_t own_slot, std::span<const ItemId> session) {
  cached_.clear();
  Neighbors(own_slot, session);
  // Each neighbour's items, weighted by their distance from its last item shared with the session.
  acc_.resize(by_item_.size(), 0.0F);
  touched_.resize(similar_.size() * options_.session_length);
  float* const acc = acc_.data();
  uint32_t* const touched = touched_.data();
  size_t n = 0;
  for (const auto& [sim, slot] : similar_) {
    const std::span<const ItemId> items = ItemsOf(slot);
    const size_t last_shared = LastShared(items);
    for (size_t p = 0; p < items.size(); ++p) {
      const ItemId item = items[p];
      if (InSession(item)) continue;
      // A first touch (the sum still 0) is recorded without a branch, as in
      // Learner::Boosts: whether an item repeats is a coin toss to the predictor.
      const float before = acc[item.value()];
      touched[n] = item.value();
      n += before == 0.0F ? 1 : 0;
      acc[item.value()] = before + sim * DistanceWeight(p, last_shared);
    }
  }
  const auto scale = static_cast<float>(1.0 / static_cast<double>(options_.neighbors));
  for (size_t i = 0; i < n; ++i) {
    const uint32_t item = touched[i];
    if (acc[item] == 0.0F) continue;  // its adds were 0 and a later touch listed it again
    cached_.emplace_back(ItemId(item), acc[item] * scale);
    acc[item] = 0.0F;
  }
}

}  // namespace streamrec::learner
