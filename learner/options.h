#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/event.h"
#include "common/status.h"

namespace streamrec::learner {

// Online implicit-feedback matrix factorisation: score(u, i) = p_u . q_i + b_i,
// logistic loss on each event and on `negatives` popularity-sampled items.
struct LearnerOptions {
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

  [[nodiscard]] Status Validate() const;
};

}  // namespace streamrec::learner
