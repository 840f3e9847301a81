// Learner: online SGD for implicit-feedback matrix factorisation.
//
// Each event updates the user's embedding, the item's embedding and bias, and
// those of `negatives` popularity-sampled items, the moment it is observed.
// Deterministic: the same options, the same events in the same order, and the
// same per-event keys give bit-identical embeddings, whatever the batching.
//
// The learner owns all items (ItemTable); users live in the caller's cache
// and are passed in. Thread-safety: none; one thread drives a Learner.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/event.h"
#include "common/ids.h"
#include "common/state.h"
#include "common/status.h"
#include "learner/blend.h"
#include "learner/item_updates.h"
#include "learner/options.h"

namespace streamrec::learner {

class Learner {
 public:
  explicit Learner(LearnerOptions options);
  ~Learner();
  Learner(const Learner&) = delete;
  Learner& operator=(const Learner&) = delete;

  const LearnerOptions& options() const;

  // The id of `external_id` for an event of it, adding the item
  // (deterministic initial embedding) if new. With options().max_items items
  // known, a new item takes a cold item's slot (that id now names it: the
  // old item is forgotten, and ids of it still held elsewhere, in users'
  // histories, name the new one) or, seen no more often lately than that one,
  // is refused: nullopt, and the event should teach nothing about it.
  std::optional<ItemId> InternItem(std::string_view external_id);
  std::optional<ItemId> FindItem(std::string_view external_id) const;
  // For a catalog entry: like InternItem, but the item is pinned (never
  // replaced) and admitted whatever its frequency, refused only when every
  // sampled slot is pinned (a catalogue larger than max_items). A new item
  // starts from the mean embedding and bias of those `peers` that have events
  // (for example the other items of its catalog category), so it can be
  // recommended before anyone touched it; without such peers as InternItem.
  // An existing item is left as it is, and pinned.
  std::optional<ItemId> InternItemLike(std::string_view external_id, std::span<const ItemId> peers);
  // Loads one persisted item at start-up.
  void RestoreItem(const ItemRecord& record);

  // Initialises a new user's record: deterministic embedding from the id string.
  void InitUser(std::string_view external_id, UserId id, UserRecord* user) const;

  // Learns from one event at event time `ts_ms`. `event_key` must identify the
  // event stably (for example hash(partition, offset)): it seeds the negative sampler.
  void Observe(UserRecord* user, ItemId item, EventType type, int64_t ts_ms, uint64_t event_key);
  // What an event teaches, for scale-out (docs/SCALE_OUT.md): with
  // `item_side` false only its user (embedding, history, basket, session):
  // its item side (and the online blend's step) came with another
  // instance's updates already. Recorded
  // (while recording) under `partition`, its events partition, unless `record` is false.
  // `user_key` (UserKey of the user's external id; 0: none) shares the
  // user's session steps with the group in the recorded updates, and empties
  // any copy of the session that other instances' updates built here.
  struct Scope {
    int32_t partition = 0;
    bool item_side = true;
    bool record = true;
    uint64_t user_key = 0;
  };
  void Observe(UserRecord* user, ItemId item, EventType type, int64_t ts_ms, uint64_t event_key, Scope scope);
  // A user's group-wide key, never 0: the same on every instance and build.
  static uint64_t UserKey(std::string_view external_id);

  // Scale-out (docs/SCALE_OUT.md). While recording (RecordItemUpdates(true);
  // off by default, when a single instance pays nothing), Observe also sums
  // what each event changes on the item side (learner/item_updates.h);
  // TakeItemUpdates moves the sums out, replacing the contents of `out`.
  void RecordItemUpdates(bool on);
  void TakeItemUpdates(ItemUpdates* out) { TakeItemUpdates(0, out); }
  // The sums of the events observed with Scope::partition `partition`.
  void TakeItemUpdates(int32_t partition, ItemUpdates* out);
  // About how many bytes the encoding of those sums takes now (a caller cuts
  // records below the topic's message size with it).
  size_t item_update_bytes(int32_t partition) const;
  // Applies another instance's updates to the item side: each item interned
  // as an event of it would (a new one from its deterministic initial
  // embedding; refused when the table is full and it is not wanted: its
  // sums and pairs are dropped), its sums added, its co-occurrences counted
  // both ways, its session steps taken by the session neighbours (the
  // sessions of other instances' users, keyed apart from this instance's
  // users), its blend steps added to the online blend's. Not recorded: an
  // instance publishes its own events' changes only. Applying the same
  // updates twice counts them twice: the caller
  // applies each record once (its position in the WriteBatch of the state).
  // Returns the items refused; appends the items changed to `changed` if given.
  size_t ApplyItemUpdates(const ItemUpdates& updates, std::vector<ItemId>* changed = nullptr);

  // The vector that items are scored against for this user (dim floats).
  void QueryVector(const UserRecord& user, std::span<float> out) const;

  // Sparse additions to the factorisation scores: for each item c that
  // co-occurred with the user's `cooc_window` most recent items a,
  // cooc_weight * sum_a cooc(a, c) / sqrt(count(a) * count(c)), plus the
  // session neighbours' weight times their score of c
  // (learner/session_neighbors.h); the max_boosts strongest. Non-negative.
  // Replaces the contents of `out`. `scales` multiply the two terms' learned
  // weights (an experiment's variant); a zero scale skips the term's work.
  void Boosts(const UserRecord& user, std::vector<std::pair<ItemId, float>>* out, BoostScales scales = {}) const;
  // The recent item a contributing most to `item`'s boost (the "similar_to"
  // of an explanation; ItemId(0) if none of their rows holds it): a search
  // per recent item, for the few items a list shows.
  ItemId BoostSource(const UserRecord& user, ItemId item) const;
  // The co-occurrence row of `item` (basket = only carts and purchases),
  // normalised as the boosts are: cooc(a, c) / sqrt(count(a) * count(c)).
  // Replaces the contents of `out`.
  void ItemNeighbors(ItemId item, bool basket, std::vector<std::pair<ItemId, float>>* out) const;
  // The online blend (learner/blend.h): the weights lists use now, and the
  // state the store keeps with each commit (Save) and gives back at start
  // (Restore; the items' terms follow at once).
  struct BlendWeights {
    float cooc = 0.0F;     // relative to the factorisation's weight, as lists use them
    float recency = 0.0F;
    float mf = 1.0F;       // the factorisation's own weight (1 at the start)
    float short_recency = 0.0F;  // relative, as cooc and recency
    float session = 0.0F;        // the session neighbours', relative as the others
    uint64_t steps = 0;  // outcomes learned from since this process started
  };
  BlendWeights blend_weights() const;
  using BlendState = OnlineBlend::State;
  BlendState SaveBlend() const;
  void RestoreBlend(const BlendState& state);
  // Restores what a store holds: a whole state, or the prefix an older
  // streamrec saved (4 values: before the factorisation's weight, 6: before
  // the short recency's, 8: before the session neighbours'), the rest
  // staying as configured. InvalidArgument
  // (nothing restored) for any other length.
  [[nodiscard]] Status RestoreBlend(std::span<const float> stored);
  // Per item: log2 of its decayed event count (half-life options().recency_half_life_ms;
  // the blend's short recency term uses options().short_half_life_ms too).
  std::span<const float> ItemRecency() const;
  // Events seen for `item` (0 for a catalog item nobody touched yet).
  uint64_t ItemEvents(ItemId item) const;

  // The item side of the configured model: embeddings and, as "biases", the
  // per-item term of its score (the learned bias, or popularity for pop/rpop/iknn).
  ItemMatrixView Items() const;
  size_t item_count() const;
  struct ItemChurn {
    uint64_t replaced = 0;  // cold items whose slot a new item took
    uint64_t refused = 0;   // new items not admitted (table full)
  };
  ItemChurn item_churn() const;
  const std::string& ItemExternalId(ItemId id) const;
  // An item whose slot a new item took: its external id and the slot.
  struct ReplacedItem {
    std::string external_id;
    ItemId slot;
  };
  // Moves the items replaced since the last call into `out` (replacing its
  // contents), oldest first, so that what was published about them can be
  // retracted. At most kMaxReplacedKept are kept between calls (later ones
  // are only counted in item_churn().replaced): a caller that never takes
  // them costs bounded memory.
  void TakeReplacedItems(std::vector<ReplacedItem>* out);
  static constexpr size_t kMaxReplacedKept = 65536;

  // Replaces the contents of `out` (reusing its records' storage) with the
  // records of items changed since the last call; an item whose
  // co-occurrence rows did not change comes without them
  // (ItemRecord::with_neighbors false), which most changed items are.
  void TakeDirtyItems(std::vector<ItemRecord>* out);

  // The same in steps, so that copying a window's changed items (~40k a
  // second at 10k events/s) does not stop the events: SealDirtyItems() fixes
  // which items the next records hold, as they are now; CopySealedItems()
  // copies a slice of them, true once all are copied; an item that is about
  // to change before it was copied is copied first (Observe does it), so the
  // records are the items as they were at SealDirtyItems(). TakeSealedItems()
  // then replaces the contents of `out` with them (reusing its records'
  // storage). Preconditions: SealDirtyItems() only once the last sealed
  // items were taken; TakeSealedItems() only once CopySealedItems() returned
  // true; TakeDirtyItems() not in between.
  void SealDirtyItems();
  bool CopySealedItems(size_t max_items);
  void TakeSealedItems(std::vector<ItemRecord>* out);
  // About how many bytes the records of the items changed since the last
  // SealDirtyItems() / TakeDirtyItems() take (embedding, fields, and the
  // co-occurrence rows of those whose rows changed, as they were when first
  // changed): what the next commit will copy and encode.
  size_t dirty_bytes() const;

  // The sessions of the session-neighbour component (learner/session_neighbors.h)
  // changed since the last call, replacing the contents of `out`; and, at
  // start, the stored ones (before any event: the component's index is
  // rebuilt from them).
  void TakeDirtySessions(std::vector<SessionRecord>* out);
  void RestoreSession(const SessionRecord& record);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::learner
