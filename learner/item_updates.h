// ItemUpdates: what a run of events changed on the item side, by external
// item id, so that another instance of the group can apply it (scale-out
// that keeps one model, docs/SCALE_OUT.md). Produced by
// Learner::TakeItemUpdates, applied by Learner::ApplyItemUpdates.
//
// Everything in it is a sum: event counts, the decayed-popularity masses (in
// the log2 domain, added as 2^x), the co-occurrence increments, and the
// factorisation's steps on each item (the embedding and bias after the
// window minus before, so also the steps of sampled negatives). So the order
// in which an instance meets other instances' updates does not change what it
// holds once all are applied: counts and co-occurrence weights exactly (the
// learner counts pairs in multiples of 2^-10, which float adds exactly below
// 16,384), factors and recency up to the rounding of float sums.
//
// Plain data; thread-safety as a std::vector's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "learner/blend.h"

namespace streamrec::learner {

struct ItemUpdates {
  // log2 of an empty mass (no event): below every real one.
  static constexpr float kNoMass = -1e30F;

  struct Item {
    std::string external_id;
    uint32_t events = 0;  // events counted on the item
    // log2 of the sum of 2^(ts / half-life) over those events, with the
    // learner's long and short half-lives (ItemRecord::recency, short_recency).
    float recency = kNoMass;
    float short_recency = kNoMass;
    float bias_delta = 0.0F;
    // The embedding's change, `dim` floats; empty when only counted (a
    // factorisation-free model, or an item only in co-occurrences).
    std::vector<float> embedding_delta;
  };
  // A co-occurrence increment, counted both ways: indices into `items`.
  struct Pair {
    uint32_t a = 0;
    uint32_t b = 0;
    float weight = 0.0F;
    bool operator==(const Pair&) const = default;
  };

  // One event's step of its user's session (learner/session_neighbors.h), so
  // that every instance holds every user's session as a neighbour: the user
  // by a group-wide key (Learner::UserKey of their external id), the item an
  // index into `items`. In event order; not a sum: an instance applies them
  // as they come (sessions are not compared across instances).
  struct SessionStep {
    static constexpr size_t kEncodedBytes = 20;  // user key, item, ts (EncodeItemUpdates)
    uint64_t user_key = 0;
    uint32_t item = 0;
    int64_t ts_ms = 0;
    bool operator==(const SessionStep&) const = default;
  };

  std::vector<Item> items;
  std::vector<Pair> cooc;    // items in the same users' recent histories
  std::vector<Pair> basket;  // items in the same users' recent carts and purchases
  std::vector<SessionStep> sessions;
  // The online blend's steps on the outcomes of these events (learner/blend.h):
  // a sum, applied as it comes.
  BlendSteps blend;

  bool empty() const { return items.empty(); }
  void clear() {
    items.clear();
    cooc.clear();
    basket.clear();
    sessions.clear();
    blend = {};
  }
};

// A compact, versioned binary form (little-endian, floats as their bits) for
// a Kafka record's value. `dim` is checked on decoding: an instance with
// another learner.dim cannot apply the deltas.
std::string EncodeItemUpdates(const ItemUpdates& updates, uint32_t dim);
// InvalidArgument (not retryable: the record is malformed or from another
// configuration) when `bytes` is not an encoding of updates with this `dim`;
// *out is then unspecified.
[[nodiscard]] Status DecodeItemUpdates(std::string_view bytes, uint32_t dim, ItemUpdates* out);

}  // namespace streamrec::learner
