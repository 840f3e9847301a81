// SessionNeighbors: a streaming STAN (Garg et al., SIGIR 2019; of the
// session-based kNN family that Ludewig, Latifi, Jannach et al. found ahead of
// GRU4Rec, NARM and SR-GNN on e-commerce logs). Internal to the learner.
//
// Every user's most recent `session_length` distinct items are a session.
// For a user's list, the candidate neighbours are the `sample` sessions that
// most recently gained one of the user's session items (the user's own
// excluded); each scores
//   sim(s, n) = sum_{i in s and n} w(i) / (sqrt(sum_{i in s} w(i)^2) sqrt(|n|))
//               x exp(-(now - last(n)) / age_scale)
// with w(i) = exp((pos(i) - |s|) / position_decay) (the latest item of s
// weighs 1); the `neighbors` most similar give each of their items
//   sim(s, n) x exp(-|pos(c) - pos(last item of n shared with s)| / distance_decay),
// summed and divided by `neighbors`: a score in [0, 1] that grows with the
// number and closeness of the neighbours that hold the item (the blend
// learns its weight). Items of the user's own session get none.
//
// State: the sessions, a fixed-size table (a new user's session takes the
// slot of the session created longest ago; its owner's next event rebuilds
// it from their history) and, per item, the sessions that gained it, oldest
// first. An entry whose session dropped the item since (or was replaced) is
// marked dead (the session knows where its entries are), skipped when read,
// and swept once an item holds as many dead entries as live ones: what is
// read is a function of the sessions alone, so the index is rebuilt from the
// persisted sessions (Restore) and the same lists follow.
//
// Memory: at most max_sessions x session_length x 40 bytes (per session
// item: the item, its sequence number and where its entry is; the entry, and
// as many dead ones awaiting their sweep), 80 MB at the defaults
// (docs/RELIABILITY.md, the memory budget); and ~40 bytes per item of the
// learner's table (the index's per-item heads, the scoring's scratch). Time: an event rewrites one
// session (session_length^2 compares at worst); a list reads up to `sample`
// index entries per session item and `sample` sessions' items (one cache
// miss each, about: the candidates' sessions are prefetched as the merge finds
// them, and the session's items and the candidates taken are bitsets that stay
// in L1; BM_Score and BM_ScoreItems in session_neighbors_bench.cpp).
// Deterministic: the same updates in the same order give the same scores.
// Thread-safety: none; the learner's thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "common/state.h"

namespace streamrec::learner {

struct SessionNeighborOptions {
  // Sessions kept, 0..10,000,000 (0 turns the component off). Default 100,000.
  size_t max_sessions = 100'000;
  // Most recent distinct items of a user that make their session, 2..100. Default 20.
  size_t session_length = 20;
  // Candidate neighbour sessions read per list: its cost (one cache miss
  // each, about). Default 100: 200, 500 and 1,000 measured no better recall
  // on the shared logs, and at 500 the live bench's lists fell behind
  // (docs/QUALITY.md).
  size_t sample = 100;
  // Neighbours whose items are scored, at most `sample`. Default 100.
  size_t neighbors = 100;
  // session-rec's lambda_spw, lambda_snh (here in ms) and lambda_inh: its
  // tuned Diginetica values, the same for every log.
  float position_decay = 2.5F;
  int64_t age_scale_ms = 80LL * 24 * 3600 * 1000;
  float distance_decay = 5.0F;
};

class SessionNeighbors {
 public:
  explicit SessionNeighbors(SessionNeighborOptions options);

  bool enabled() const { return options_.max_sessions > 0; }

  // After `user` learned an event at `ts_ms`: their session becomes the tail
  // of `history` (distinct items, oldest first).
  void Update(UserId user, std::span<const ItemId> history, int64_t ts_ms);

  // Another instance's user (scale-out, docs/SCALE_OUT.md), keyed by an
  // owner id no local user has: `item` met at `ts_ms` becomes the latest item
  // of their session (moved there if it held it), as Update with their
  // history would make it.
  void Append(UserId owner, ItemId item, int64_t ts_ms);
  // Empties the owner's session if there is one (a user of another instance
  // who became this instance's: their own session takes over).
  void Clear(UserId owner);

  using Scored = std::pair<ItemId, float>;
  // The scores of the items of the user's neighbour sessions (with `history`
  // as the user's session), in no particular order; valid until the next
  // call of this object. The same user and history again, with no Update
  // between, is answered from the last call (eval scores a list and then
  // learns the same event: the blend's ScoreItems finds it there).
  std::span<const Scored> Score(UserId user, std::span<const ItemId> history);

  // The same scores for `items` alone, into `out` (0 for an item no
  // neighbour holds): cheaper than Score by the scatter over every
  // neighbour's items; the same floats as Score's.
  void ScoreItems(UserId user, std::span<const ItemId> history, std::span<const ItemId> items, std::span<float> out);

  // Persistence: the sessions changed since the last call (replacing the
  // contents of `out`, reusing its records' storage); and, at start, the
  // stored ones, before any Update or Score.
  void TakeDirty(std::vector<SessionRecord>* out);
  void Restore(const SessionRecord& record);

  size_t session_count() const { return owner_slot_.size(); }

 private:
  // 12 bytes (a uint64_t member would pad it to 16).
  struct Entry {
    Entry(uint64_t s, uint32_t sl) : seq_high(static_cast<uint32_t>(s >> 32)), seq_low(static_cast<uint32_t>(s)), slot(sl) {}
    uint64_t seq() const { return (static_cast<uint64_t>(seq_high) << 32) | seq_low; }  // when the session gained the item
    uint32_t seq_high;
    uint32_t seq_low;
    uint32_t slot;
  };
  struct Slot {
    uint32_t owner = 0;
    uint32_t count = 0;  // items held
    int64_t last_ts = 0;
    int64_t clock_ms = 0;
    uint64_t created = 0;
  };

  std::span<const ItemId> ItemsOf(uint32_t slot) const {
    return {items_.data() + slot * options_.session_length, slots_[slot].count};
  }
  uint32_t SlotOf(UserId user);
  uint32_t NewSlot();
  // Appends an entry; returns its index in the item's entries.
  uint32_t AddEntry(ItemId item, uint32_t slot, uint64_t seq);
  // Marks the entry at `at` dead (its session dropped the item).
  void DropEntry(ItemId item, uint32_t at);
  static constexpr uint32_t kDead = UINT32_MAX;  // an entry's slot once dropped
  static constexpr size_t kEntriesAhead = 8;     // Candidates' prefetch distance in an item's entries
  void MarkDirty(uint32_t slot);
  void RebuildIndex();
  // The candidate sessions (most recently gained first), at most options_.sample.
  void Candidates(uint32_t own_slot, std::span<const ItemId> session);
  // The most similar candidates into similar_ (and the session's position weights into query_*).
  void Neighbors(uint32_t own_slot, std::span<const ItemId> session);
  // The user's session (the tail of `history`), with the index up to date.
  std::span<const ItemId> SessionOf(std::span<const ItemId> history);
  uint32_t OwnSlot(UserId user) const;
  void Compute(uint32_t own_slot, std::span<const ItemId> session);
  size_t LastShared(std::span<const ItemId> items) const;
  float DistanceWeight(size_t p, size_t last_shared) const {
    return distance_weight_[p > last_shared ? p - last_shared : last_shared - p];
  }
  // A bit per item (12.5 KB for 100,000 items: it stays in L1, where a stamp
  // per item missed it for most of a neighbour's items).
  bool InSession(ItemId item) const {
    const uint32_t i = item.value();
    return i / 64 < query_bits_.size() && ((query_bits_[i / 64] >> (i % 64)) & 1U) != 0;
  }
  bool CacheHolds(UserId user, std::span<const ItemId> session) const {
    return cached_user_ == user.value() && cached_updates_ == updates_ &&
           std::equal(session.begin(), session.end(), cached_session_.begin(), cached_session_.end());
  }

  SessionNeighborOptions options_;
  std::vector<Slot> slots_;
  std::vector<ItemId> items_;     // session_length per slot, oldest first
  std::vector<uint64_t> gained_;  // per item of items_, the seq of its entry
  std::vector<uint32_t> entry_at_;  // per item of items_, where its entry is in by_item_
  std::unordered_map<uint32_t, uint32_t> owner_slot_;  // user id -> slot
  uint64_t created_ = 0;
  uint64_t seq_ = 0;
  int64_t clock_ms_ = 0;  // the latest event time seen
  std::vector<std::vector<Entry>> by_item_;
  std::vector<uint32_t> stale_;  // per item, dropped entries not yet swept
  bool index_stale_ = false;     // sessions restored since the index was built
  std::vector<uint8_t> dirty_flags_;  // per slot
  std::vector<uint32_t> dirty_;
  uint64_t updates_ = 0;  // Update calls: the last Score's answer holds while it is unchanged
  // The last Score: its user, history tail and `updates_`, and its answer.
  uint32_t cached_user_ = UINT32_MAX;
  uint64_t cached_updates_ = 0;
  std::vector<ItemId> cached_session_;
  std::vector<Scored> cached_;
  std::vector<float> position_weight_;  // exp(-d / position_decay), d = 0..session_length - 1
  std::vector<float> distance_weight_;  // exp(-d / distance_decay)
  // Scratch.
  std::vector<uint64_t> taken_;  // a bit per slot: taken as a candidate by this call (cleared after)
  std::vector<uint32_t> candidates_;
  std::vector<std::pair<float, uint32_t>> similar_;
  std::vector<uint64_t> query_bits_;  // per item, whether the session of this call holds it
  std::vector<uint32_t> query_items_;  // the items whose bits are set
  std::vector<float> query_weight_;   // per item, its position weight in that session (read where the bit is set)
  std::vector<size_t> cursor_;
  std::vector<std::pair<uint64_t, uint32_t>> heads_;
  std::vector<float> acc_;
  std::vector<uint32_t> touched_;
  std::vector<ItemId> old_items_;
  std::vector<uint64_t> old_gained_;
  std::vector<uint32_t> old_entry_at_;
  std::vector<ItemId> appended_;
};

}  // namespace streamrec::learner
