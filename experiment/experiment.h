// Experiments: A/B variants of the published lists on a shop's own traffic.
//
// One experiment runs at a time (section `experiment` of the configuration,
// reloadable while running). Each user is assigned a variant by a hash of the
// experiment's name and their user id: stable (the same variant on every
// instance and after restarts), uniform over the variants' shares, and
// independent between experiments (a new name reshuffles everyone). A user
// keeps the variant of their first list in the experiment (ExperimentCounts):
// shares changed mid-way apply to users new to it.
//
// A variant is a set of overrides of the lists: the model (the learned blend,
// its embeddings alone, or trending only: the holdout), the list's length and
// the exploration slot. Every list published in an experiment carries its
// `experiment` and `variant`.
//
// Attribution (Ledger): an event on an item of the list the user was last
// served, within attribution_window_s after it, counts for that list: a
// click, an add-to-cart, a purchase, each once per listed item and list (a
// purchase's units and revenue every time). The item is then credited: the
// later steps of its funnel (the click's add-to-cart, then the purchase)
// count for that list too, though the lists refreshed in between leave the
// item out. A list's time is the user's latest event's timestamp when it was
// served (the event it answers): events are compared on their own clock, an
// event older than the list never counts for it, and a replay after a crash
// attributes alike. The pipeline knows what it published, not what the page
// displayed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/event.h"
#include "common/state.h"
#include "common/status.h"

namespace streamrec::experiment {

// What a variant's lists are made of.
enum class ListModel : uint8_t {
  kBlend,       // the learned blend (the shipped lists)
  kEmbeddings,  // the query vector and item terms only: no co-occurrence or session boosts
  kTrending,    // trending of the categories of the user's history, then overall (a holdout)
};

struct VariantOptions {
  std::string name;
  // Share of the experiment's users, (0, 1]; the variants' shares sum to 1.
  double share = 0.0;
  // "blend" | "embeddings" | "trending". Default "blend".
  std::string model = "blend";
  // Items per list, 1..emitter.top_n; 0 (the default): emitter.top_n.
  size_t list_length = 0;
  // The exploration slot (rules.exploration_slot) for this variant's lists:
  // -1 (the default) keeps the rules' own, 0 turns it off, else the slot.
  int64_t exploration_slot = -1;
  // With model "blend": multipliers of the learned weights of its
  // co-occurrence and session-neighbour terms, 0..10 each (0 leaves the term
  // out: "is the new component worth it?"). Default 1: as learned.
  double cooc_scale = 1.0;
  double session_scale = 1.0;

  ListModel Model() const;
  // The blend as learned (the shipped lists): its lists teach the blend.
  bool AsLearned() const { return Model() == ListModel::kBlend && cooc_scale == 1.0 && session_scale == 1.0; }
  BoostScales Scales() const { return {static_cast<float>(cooc_scale), static_cast<float>(session_scale)}; }
  bool operator==(const VariantOptions&) const = default;
};

// Items credited per user at most (ServedList::credited): the oldest goes.
inline constexpr size_t kMaxCredited = 16;

struct ExperimentOptions {
  // "" (the default): no experiment; lists carry no variant and nothing is attributed.
  std::string name;
  // An event counts for a list when it comes at most this long after it, s,
  // 1..2592000 (30 days). Default 3600: a session's clicks, not next week's.
  int64_t attribution_window_s = 3600;
  std::vector<VariantOptions> variants;

  bool enabled() const { return !name.empty(); }
  // `top_n`: emitter.top_n, the longest list a variant may ask for.
  [[nodiscard]] Status Validate(size_t top_n) const;
  // A nonzero tag of the name, stored with each user's counts.
  uint32_t Tag() const;
  bool operator==(const ExperimentOptions&) const = default;
};

inline constexpr uint16_t kNoVariant = UINT16_MAX;

// The variant by the hash alone (a user new to the experiment). Precondition:
// the options are enabled and valid.
uint16_t HashedVariant(const ExperimentOptions& e, std::string_view user_id);
// The variant of `user`: the one of their earlier lists in this experiment,
// else the hashed one; kNoVariant when no experiment is enabled.
uint16_t VariantOf(const ExperimentOptions& e, std::string_view user_id, const UserRecord& user);

// This process's counters per variant and list reason (live, for /metrics;
// the exact report sums the users' ExperimentCounts instead).
struct ReasonTally {
  uint64_t shown = 0, clicked = 0, carted = 0, bought = 0;
};
struct VariantTally {
  uint64_t users = 0;  // users whose first list in the experiment this process served
  uint64_t lists = 0, clicked = 0, carted = 0, bought = 0, units = 0;
  double revenue = 0.0;
  uint64_t items_covered = 0;  // distinct items its lists showed (catalogue coverage)
  std::array<ReasonTally, kListReasons> reasons{};
};

// One event as attribution needs it.
struct Interaction {
  std::optional<ItemId> item;  // the learner's id of the event's item; none when it refused the item
  EventType type = EventType::kView;
  int64_t ts_ms = 0;
  uint32_t quantity = 1;
  double price = 0.0;  // per unit; 0 when neither the event nor the catalog gives one
  // The seq of the list the storefront showed, when the event echoes it: then
  // only that list's items count for it (credited items still do); -1: any.
  int64_t list_seq = -1;
};

// Thread-safety: one thread (the pipeline's, which publishes lists and applies events).
class Ledger {
 public:
  // Starts counting for `e` (a reload to another experiment starts again at zero).
  void Reset(const ExperimentOptions& e);
  const ExperimentOptions& experiment() const { return experiment_; }
  uint32_t tag() const { return tag_; }  // the running experiment's Tag(); 0: none

  // A list was published to `user` in `variant`: it becomes the list their
  // next events are attributed to. `now_ms`: its time when the user has no
  // event yet (a list restored without one).
  // `seq`: the list's seq (ServedList::seq).
  void Served(uint16_t variant, std::span<const ItemId> items, std::span<const ListReason> reasons, int64_t now_ms,
              uint64_t seq, UserRecord* user);
  // Call with every applied event (while an experiment runs), before the
  // user's next list: counts it for the list it follows from, if any.
  void Observe(const Interaction& event, UserRecord* user);

  std::span<const VariantTally> tallies() const { return tallies_; }

 private:
  // The credit `event` counts on: the listed or credited item it hits in
  // time (a listed one credited now), or null.
  CreditedItem* Credit(const Interaction& event, ServedList* served) const;

  ExperimentOptions experiment_;
  uint32_t tag_ = 0;
  std::vector<VariantTally> tallies_;
  std::vector<std::vector<bool>> shown_;  // per variant, per item id: shown yet (items_covered)
};

}  // namespace streamrec::experiment
