#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/event.h"
#include "common/status.h"

namespace streamrec::learner {

// Online implicit-feedback matrix factorisation: score(u, i) = p_u . q_i + b_i,
// logistic loss on each event and on `negatives` popularity-sampled items.
struct LearnerOptions {
  // What serves the lists (and what `streamrec eval` calls "model"):
  //   hybrid  factorisation + co-occurrence boosts (default, best measured)
  //   mf      factorisation alone
  //   pop     all-time popularity           (the protocol's POP)
  //   rpop    popularity decayed in event time with recency_half_life_ms (RPOP)
  //   iknn    co-occurrence with the recent items, ties by popularity (IKNN-style)
  // All kinds keep every signal up to date, so switching needs no rebuild.
  std::string model = "hybrid";
  // Half-life of the rpop decay in event time, ms. Default 7 days.
  int64_t recency_half_life_ms = 7LL * 24 * 3600 * 1000;
  // A second decayed popularity, with a short half-life, for the online
  // blend's second recency term: with the two weights it learns, the stream
  // picks the mix of decays that serves it (this week's demand, today's).
  // Default 1 day; >= 1000 ms and below recency_half_life_ms. 1 hour hurt
  // logs whose timestamps are days (docs/QUALITY.md).
  int64_t short_half_life_ms = 24LL * 3600 * 1000;
  // Embedding dimension, 4..512. Default 32: more captures finer taste and
  // costs memory and scoring time linearly.
  int dim = 32;
  // SGD step size, (0, 1]. Default 0.15: one online pass needs large steps
  // (0.05 learned the planted segments of `streamrec generate` at half the
  // precision); above ~0.3 updates overshoot.
  float learning_rate = 0.15F;
  // L2 penalty per update, [0, 1). Default 0.002.
  float regularization = 0.002F;
  // Negatives sampled in proportion to item popularity per event, 0..64. Default 4.
  int negatives = 4;
  // Loss weight per event type, indexed by EventType: view, cart,
  // remove_from_cart, purchase. A negative weight makes the event a negative
  // example of that strength (remove_from_cart: "not this one").
  std::array<float, kEventTypeCount> type_weights = {1.0F, 2.0F, -0.5F, 4.0F};
  // Standard deviation of initial embedding entries. Default 0.1.
  float init_scale = 0.1F;
  // Seeds initial embeddings and negative sampling. Same seed + same input
  // order = same model, bit for bit.
  uint64_t seed = 42;
  // Distinct recent items kept per user (for exclusion), 1..100000. Default 500.
  size_t max_history = 500;
  // Where negatives come from: uniform over known items (default: item biases
  // then learn popularity, which ranks well) or in proportion to popularity
  // (debiases popular items; better coverage, lower recall in our measurements).
  bool popularity_negatives = false;
  // Weight of the co-occurrence signal added to the factorisation score,
  // 0..1000 (0 turns it off). See Learner::Boosts. At 20 the co-occurrence
  // ranks the items it knows and the factorisation orders the rest (and breaks
  // ties); measured in docs/QUALITY.md.
  float cooc_weight = 20.0F;
  // Step of the online blend (learner/blend.h), 0..10: the weights of the
  // co-occurrence (starting at cooc_weight) and of recency (starting at 0,
  // log2 of the item's decayed count with recency_half_life_ms) move with
  // every event of a known user on an item new to them, towards ranking it
  // above its competitors. 0 keeps cooc_weight and no recency term. Default
  // 0.1 (AdaGrad: the step shrinks as evidence accumulates).
  float blend_learning_rate = 0.1F;
  // Sessions kept for the session-neighbour component (learner/session_neighbors.h,
  // a streaming STAN: a user's 20 most recent items are their session, and a
  // list adds the items of the most similar recent sessions), 0..10,000,000;
  // 0 turns it off. Default 100,000: at most ~80 MB; a new user's session
  // replaces the oldest-created one.
  size_t session_neighbors = 100'000;
  // Its starting weight in the online blend, relative to the factorisation's,
  // 0..100,000. Its scores are small (a mean over 100 neighbour slots); 100
  // measured best of 5..200 on the shared logs and lost on none
  // (docs/QUALITY.md); the blend moves it from there.
  float session_weight = 100.0F;
  // Recent items of a user whose co-occurrences are counted and used, 0..100.
  int cooc_window = 25;
  // Recency decay, (0, 1]: a pair of items k steps apart in a history counts
  // cooc_decay^(k-1), and the k-th most recent item weighs cooc_decay^k when
  // scoring. 1 treats the whole window alike.
  float cooc_decay = 0.88F;
  // Most boosted items per list request, 1..100000: the strongest are kept.
  // Bounds the scoring work per user; beyond a few hundred the weak boosts
  // no longer change a top-20 list.
  size_t max_boosts = 256;
  // Neighbours kept per item, 1..10000: memory is 8 bytes each, so the
  // default bounds a popular item's row at 2 KiB (rows grow to twice this
  // before the weakest half is dropped). A list's boosts visit the rows of
  // the user's recent items, and every event inserts into cooc_window rows:
  // the cost of both follows this. 250 measured the same recall as 500 on the
  // shared logs (MovieLens, the longest histories: 0.5 % lower; 125: 3.8 %
  // lower) at half the row memory and boost work (docs/QUALITY.md).
  size_t max_neighbors = 250;
  // Items kept, 1000..100,000,000. Default 1,000,000 (about 0.4-1.2 KB each at
  // dim 32 with their co-occurrence rows, plus the emitter's copy: see the
  // memory budget in docs/RELIABILITY.md). Once the table is full a new item
  // replaces a cold one (the least recently popular of a few sampled items
  // no catalog entry holds) if it was seen more often lately than that one
  // (a frequency sketch: TinyLFU's admission); otherwise it is refused and
  // its event teaches nothing about it (the user still gets a list). A flood
  // of made-up item ids, seen once each, is refused: the model keeps the items
  // shoppers come back to. Catalog items always get a slot.
  size_t max_items = 1'000'000;
  // Events an item needs, 1..1000000, before lists rank it by its embedding
  // in the dense pass over all items; until then it reaches a list only
  // through co-occurrence with the user's recent items (its boost), and
  // catalog items are ranked from the start. Default 2: an embedding moved by
  // one event tells little about other users (recall on the shared logs is
  // the same, docs/QUALITY.md), and the dense pass skips such items, so a
  // flood of one-off ids costs the lists nothing (docs/BENCHMARKS.md).
  // 1: every item from its first event.
  uint64_t dense_min_events = 2;

  [[nodiscard]] Status Validate() const;
};

}  // namespace streamrec::learner
