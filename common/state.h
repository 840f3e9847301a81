// State records: what the learner mutates, the store persists and the emitter reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ids.h"

namespace streamrec {

// Multipliers of the learned blend's boost terms for one list (an experiment's
// variant may weigh them otherwise; 1 = as learned, 0 = without the term).
struct BoostScales {
  float cooc = 1.0F;     // co-occurrence with the user's recent items
  float session = 1.0F;  // the session neighbours
};

// Why an item is in a list (the "reason" of each list entry, emitter/).
enum class ListReason : uint8_t { kPersonal, kSimilarTo, kTrending, kNew, kPinned, kBoosted };
inline constexpr size_t kListReasons = 6;

// A listed item the user clicked, carted or bought: the later steps of its
// funnel count for the list it came from, though the lists refreshed in
// between no longer hold it (they leave out what the user has seen).
struct CreditedItem {
  ItemId item;
  uint8_t reason = 0;    // ListReason in its list
  uint8_t outcomes = 0;  // counted already: 1 click, 2 add-to-cart, 4 purchase
  int64_t at_ms = 0;     // its list's time
  bool operator==(const CreditedItem&) const = default;
};

// While an experiment runs (experiment/experiment.h): the last list served to
// the user and the items followed from lists, to attribute their next events.
struct ServedList {
  std::vector<ItemId> items;     // the whole list, in order
  std::vector<uint8_t> reasons;  // ListReason per item
  // The list's time: the user's latest event's timestamp when it was served
  // (the event it answers), on the clock of the events it is compared with.
  int64_t at_ms = 0;
  uint64_t seq = 0;  // the list's `seq` (the one a storefront may echo: Event::list_seq)
  std::vector<CreditedItem> credited;  // bounded (experiment::kMaxCredited), oldest first
  int64_t last_event_ms = 0;           // the user's latest event's timestamp
  bool operator==(const ServedList&) const = default;
};

// The user's totals in one experiment: persisted with the user (exactly once,
// moved with the user between instances), so an experiment's report sums them
// over every user's latest record (`streamrec experiments`).
struct ExperimentCounts {
  uint32_t experiment = 0;  // the experiment's tag (ExperimentOptions::Tag); 0: none
  uint16_t variant = 0;     // index into its variants
  uint32_t lists = 0;       // lists served
  // Listed items the user then clicked, carted, bought: each once per list it was in.
  uint32_t clicked = 0;
  uint32_t carted = 0;
  uint32_t bought = 0;
  uint32_t units = 0;       // units of listed items bought (every purchase)
  double revenue = 0.0;     // their price x quantity
  bool operator==(const ExperimentCounts&) const = default;
};

// A user's part in the running experiment: their counts and what attributes
// their next events.
struct ExperimentState {
  ExperimentCounts counts;
  ServedList served;
  bool operator==(const ExperimentState&) const = default;
};

// A value on the heap with value semantics (copies are deep): 8 bytes while
// empty, so users outside an experiment do not pay for its state.
template <class T>
class Boxed {
 public:
  Boxed() = default;
  Boxed(const Boxed& other) : value_(other.value_ ? std::make_unique<T>(*other.value_) : nullptr) {}
  Boxed& operator=(const Boxed& other) {
    if (this == &other) return *this;
    if (!other.value_) {
      value_.reset();
    } else if (value_) {
      *value_ = *other.value_;  // reuses the storage (a record copied again and again)
    } else {
      value_ = std::make_unique<T>(*other.value_);
    }
    return *this;
  }
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(Boxed&&) noexcept = default;

  explicit operator bool() const { return value_ != nullptr; }
  T* get() const { return value_.get(); }
  T* operator->() const { return value_.get(); }
  T& operator*() const { return *value_; }
  // The value, made empty (default) when there is none.
  T& Ensure() {
    if (!value_) value_ = std::make_unique<T>();
    return *value_;
  }
  void reset() { value_.reset(); }
  bool operator==(const Boxed& other) const {
    return value_ && other.value_ ? *value_ == *other.value_ : value_ == other.value_;
  }

 private:
  std::unique_ptr<T> value_;
};

// Everything streamrec keeps about one user. Owned by the user cache.
struct UserRecord {
  UserId id;
  uint64_t seq = 0;             // last published list's number (emitter's NextListSeq)
  uint64_t events = 0;          // events applied for this user
  std::vector<float> embedding; // learner dimension
  std::vector<ItemId> history;  // distinct items interacted with, oldest first, bounded
  std::vector<ItemId> purchased;  // distinct items bought, oldest first, bounded
  std::vector<ItemId> basket;     // recent distinct items carted or bought, oldest first, bounded
  std::vector<ItemId> list;       // the catalog-tracked items of the last published list
  // One item of the last full-length list served, at a position drawn by
  // learner::BlendReferencePosition: the score the user's next new item is
  // compared with (the learner's blend learns from it).
  ItemId list_reference{kNoItem};
  // The events partition of the user's latest event; -1: unknown (none yet,
  // or a record written before streamrec kept it). A user whose events come
  // on two partitions has a history split between instances: counted
  // (streamrec_users_moved_partition_total).
  int32_t partition = -1;
  // Only while an experiment runs (experiment/experiment.h); empty otherwise.
  Boxed<ExperimentState> experiment;
  static constexpr uint32_t kNoItem = UINT32_MAX;
};

// One change to the reverse index "which users' current lists hold this item"
// (lets a catalog change refresh exactly the lists it affects).
struct ListHolderChange {
  ItemId item;
  std::string_view user;   // external id; valid until the batch commits
  int32_t partition = 0;   // the user's events partition (who owns the user)
  bool added = true;       // false: the item left the user's list
};

// One change to the set of users owed a list refresh (the emitter's pending
// set, persisted with the state so a crash loses no refresh).
struct PendingListChange {
  std::string_view user;       // external id; valid until the batch commits
  int32_t partition = 0;       // the user's events partition
  int64_t source_offset = -1;  // the latest event the list must reflect; -1: none
  int64_t since_ms = 0;        // when the user became owed a list
  bool owed = true;            // false: the list was delivered
  // owed only: the user was not owed before this change. When a batch's first
  // change of a user is such and its last a delivery, the store had no entry
  // and keeps none: the batch writes nothing for that user.
  bool newly_owed = false;
};

// The persisted part of one item; the learner holds all items in memory.
struct ItemRecord {
  ItemId id;
  std::string external_id;
  float bias = 0.0F;
  uint64_t count = 0;  // events seen for this item
  float recency = 0.0F;  // log2 of the sum of 2^(ts / half-life) over its events (rpop)
  float short_recency = -1e30F;  // the same with the learner's short half-life
  std::vector<float> embedding;
  // Co-occurrence with other items in users' recent histories, strongest kept.
  std::vector<std::pair<ItemId, float>> neighbors;
  // The same, counted only between items of the same users' recent carts and purchases.
  std::vector<std::pair<ItemId, float>> basket_neighbors;
  // The weight trimming dropped from both rows (rows over 2 x max_neighbors
  // keep their strongest half): the rows' weights plus this are every pair
  // ever counted, the same on every instance of a group (docs/SCALE_OUT.md),
  // whichever weak neighbours each one's rows kept. Stored with the rows.
  double trimmed_cooc = 0.0;
  // false: only the fields above the rows changed, and both rows are left
  // empty; the stored rows stand. Most changed items are negatives, whose
  // embedding moved and whose rows (up to ~16 KB) did not.
  bool with_neighbors = true;
};

// One session of the learner's session-neighbour component
// (learner/session_neighbors.h): a user's most recent items, in a slot of a
// fixed-size table. The component's index is rebuilt from these at start.
struct SessionRecord {
  uint32_t slot = 0;
  UserId owner;
  int64_t last_ts = 0;    // the owner's latest event time, ms
  int64_t clock_ms = 0;   // the latest event time the component had seen then
  uint64_t created = 0;   // sessions created before this one
  std::vector<ItemId> items;     // oldest first
  std::vector<uint64_t> gained;  // per item, when the session gained it (the component's sequence)
};

}  // namespace streamrec

namespace streamrec {

// Read-only view of all item embeddings, row-major (rows x dim), plus biases.
// Valid until the item table next grows; take it after learning, before scoring.
struct ItemMatrixView {
  const float* embeddings = nullptr;
  // Per-item term of the dense pass over all items (embedding . query +
  // term); -inf: the dense pass never lists the item.
  const float* biases = nullptr;
  size_t rows = 0;
  size_t dim = 0;
  // Per-item term of an item reached otherwise: through its co-occurrence
  // boost, a pin, the exploration pick; -inf: never listed. Null: `biases`.
  // Differs where `biases` is -inf for items the model has seen too little
  // to rank by their embedding (LearnerOptions::dense_min_events).
  const float* listed_biases = nullptr;
  // What a list score is worth in the blend's own units (its weights are
  // relative to the factorisation's, learner/blend.h): the factorisation's
  // weight. Rule boosts are given in blend units (divided by this before
  // they are added) and published scores are multiplied by it, so that both
  // keep the scale of the factorisation's logits whatever the blend learned.
  float score_scale = 1.0F;
  // Optional bounds per block of kBoundRows rows (block b: rows
  // [b * kBoundRows, (b + 1) * kBoundRows)): at least the norm of each of its
  // embedding rows, and at least each of its `biases` terms (NaN aside). A
  // top-N pass skips the blocks whose best possible score cannot reach its
  // list (emitter/topn.h). They hold for the `biases` array they were kept
  // with only (bounded_biases): a view whose biases were replaced (rules,
  // another kind of model) or offset leaves them unused.
  static constexpr size_t kBoundRows = 512;
  const float* block_norms = nullptr;
  const float* block_biases = nullptr;
  const float* bounded_biases = nullptr;

  float ListedBias(size_t i) const { return listed_biases != nullptr ? listed_biases[i] : biases[i]; }
  bool HasBlockBounds() const {
    return block_norms != nullptr && block_biases != nullptr && bounded_biases != nullptr && bounded_biases == biases;
  }
};

}  // namespace streamrec
