// OnlineBlend: the weights that combine the learner's components into one
// score, learned from the stream itself.
//
// A list ranks item c for user u by
//   mf(u, c) + cooc_weight * cooc(u, c) + recency_weight * recency(c)
// where mf is the factorisation's logit (p_u . q_c + b_c), cooc the
// co-occurrence with the user's recent items (Learner::Boosts before its
// weight) and recency the item's log2 decayed event count relative to now
// (the protocol's RPOP, in log domain). The factorisation is the anchor
// (weight 1): only the ratios rank.
//
// Every event of a known user on an item new to them is an outcome the
// pipeline would have been judged on: before learning it, the blend takes a
// pairwise logistic step (BPR) that ranks that item above a few competing
// items (the strongest co-occurring items, the trending ones, random ones),
// with AdaGrad per weight so that the components' different scales need no
// tuning. A log where popularity drifts (a grocery shop over years) moves
// weight to recency; a session log keeps it on co-occurrence.
//
// Deterministic: the same outcomes in the same order give the same weights.
// Thread-safety: none; the learner's thread owns it.
#pragma once

#include <array>
#include <cstdint>

namespace streamrec::learner {

// One item's component scores for one user.
struct BlendFeatures {
  float mf = 0.0F;
  float cooc = 0.0F;
  float recency = 0.0F;
};

struct BlendOptions {
  // Starting weights (the shipped hybrid's).
  float cooc_weight = 20.0F;
  float recency_weight = 0.0F;
  // AdaGrad step, 0..10. 0 keeps the starting weights.
  float learning_rate = 0.1F;
};

class OnlineBlend {
 public:
  // What is persisted: the weights and AdaGrad's sums of squared gradients.
  using State = std::array<float, 4>;

  explicit OnlineBlend(BlendOptions options);

  float cooc_weight() const { return cooc_weight_; }
  float recency_weight() const { return recency_weight_; }
  float Score(const BlendFeatures& f) const { return f.mf + cooc_weight_ * f.cooc + recency_weight_ * f.recency; }

  // One step: `positive` (the item the user chose) against `cutoff` (the
  // last item of the list the user was served).
  void Learn(const BlendFeatures& positive, const BlendFeatures& cutoff);
  // The margin (in score units, the factorisation's logits) over which an
  // outcome counts as near the cut. 0.5 measured best of 0.5, 1 and 2 on the
  // shared logs (docs/QUALITY.md).
  static constexpr double kMarginScale = 0.5;
  // Outcomes learned from so far.
  uint64_t steps() const { return steps_; }

  State Save() const;
  void Restore(const State& state);

 private:
  BlendOptions options_;
  float cooc_weight_;
  float recency_weight_;
  float cooc_squares_ = 0.0F;
  float recency_squares_ = 0.0F;
  uint64_t steps_ = 0;
};

}  // namespace streamrec::learner
