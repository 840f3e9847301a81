// OnlineBlend: the weights that combine the learner's components into one
// score, learned from the stream itself.
//
// The blend scores item c for user u as
//   w_mf * mf(u, c) + w_cooc * cooc(u, c) + w_recency * recency(c)
//     + w_short * short_recency(c) + w_session * session(u, c)
// where mf is the factorisation's logit (p_u . q_c + b_c), cooc the
// co-occurrence with the user's recent items (Learner::Boosts before its
// weight), recency the item's log2 decayed event count relative to now
// (the protocol's RPOP, in log domain) and short_recency the same with the
// short half-life (a day): the two recency weights pick the decay;
// session the session neighbours' score (learner/session_neighbors.h). Only
// the ratios rank, so lists use the factorisation unscaled and the others
// relative to it (cooc_weight(), recency_weight(), short_recency_weight()):
// the items' served terms and the boosts carry those.
//
// Every event of a known user on an item new to them is an outcome the
// pipeline would have been judged on: before learning it, the blend takes an
// ascent step on a smoothed win, sigmoid((score(chosen) - score(listed)) /
// kMarginScale), where listed is an item of the list the user was last served
// (common/list_reference.h: a position weighted to the head, so that both
// getting into the list and the order within it are learned); AdaGrad per weight, so that the components' different scales need
// no tuning. A log where popularity drifts (a grocery shop over years) moves
// weight to recency and away from the factorisation; a session log moves it
// to co-occurrence.
//
// Deterministic: the same outcomes in the same order give the same weights.
// Thread-safety: none; the learner's thread owns it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace streamrec::learner {

// One item's component scores for one user.
struct BlendFeatures {
  float mf = 0.0F;
  float cooc = 0.0F;
  float recency = 0.0F;
  float short_recency = 0.0F;  // the same with the short half-life
  float session = 0.0F;        // the session neighbours' score (learner/session_neighbors.h)
};

// A run of Learn steps as sums, per weight (co-occurrence, recency, the
// factorisation, short recency, session neighbours): the changes the steps
// made to the weights (as the item updates carry the factors' changes) and
// their squared gradients (AdaGrad's sums). Recorded with an instance's item
// updates, so that every instance of a group applies every other's outcomes
// (OnlineBlend::ApplySteps) and the group learns one blend (docs/SCALE_OUT.md).
struct BlendSteps {
  static constexpr size_t kWeights = 5;
  uint32_t steps = 0;
  std::array<float, kWeights> deltas{};
  std::array<float, kWeights> squares{};
  bool operator==(const BlendSteps&) const = default;
};

struct BlendOptions {
  // Starting weights (the shipped hybrid's); the factorisation's starts at 1.
  float cooc_weight = 20.0F;
  float recency_weight = 0.0F;
  float session_weight = 0.0F;
  // AdaGrad step, 0..10. 0 keeps the starting weights.
  float learning_rate = 0.1F;
};

class OnlineBlend {
 public:
  // What is persisted: the weights and AdaGrad's sums of squared gradients
  // (co-occurrence, recency, their sums; the factorisation's weight and sum;
  // the short recency's; the session neighbours': a state saved before those
  // existed is a prefix).
  using State = std::array<float, 10>;

  explicit OnlineBlend(BlendOptions options);

  // The weights lists use, relative to the factorisation's.
  float cooc_weight() const { return cooc_weight_ / mf_weight_; }
  float recency_weight() const { return recency_weight_ / mf_weight_; }
  // The short half-life's recency weight, relative as the others.
  float short_recency_weight() const { return short_weight_ / mf_weight_; }
  float session_weight() const { return session_weight_ / mf_weight_; }
  // The factorisation's own weight, at least kMinMfWeight: how far the blend
  // moved away from it (1 at the start).
  float mf_weight() const { return mf_weight_; }
  static constexpr float kMinMfWeight = 0.01F;
  float Score(const BlendFeatures& f) const {
    return mf_weight_ * f.mf + cooc_weight_ * f.cooc + recency_weight_ * f.recency + short_weight_ * f.short_recency +
           session_weight_ * f.session;
  }

  // One step: `positive` (the item the user chose) against `listed` (an item
  // of the list the user was served).
  // With `record`, what the step changed on each weight and its squared
  // gradients are added to it too.
  void Learn(const BlendFeatures& positive, const BlendFeatures& listed, BlendSteps* record = nullptr);
  // Another instance's steps: their changes added to the weights (at least
  // the factorisation's floor) and their squared gradients to AdaGrad's sums.
  // A blend that only applies another's steps holds its weights up to float
  // sums; instances that each learn some of the outcomes hold the same
  // weights up to the order of the steps (each step's size follows its
  // learner's sums of squares, which hold everyone's steps but the latest).
  void ApplySteps(const BlendSteps& steps);
  // The margin (in score units, the factorisation's logits) over which an
  // outcome counts as near the cut. 0.5 measured best of 0.5, 1 and 2 on the
  // shared logs (docs/QUALITY.md).
  static constexpr double kMarginScale = 0.5;
  // Outcomes learned from so far.
  uint64_t steps() const { return steps_; }

  State Save() const;
  void Restore(const State& state);

 private:
  // The five weights in BlendSteps' order, and the least each may take.
  std::array<float*, BlendSteps::kWeights> Weights() {
    return {&cooc_weight_, &recency_weight_, &mf_weight_, &short_weight_, &session_weight_};
  }
  static constexpr std::array<float, BlendSteps::kWeights> kFloors = {0.0F, 0.0F, kMinMfWeight, 0.0F, 0.0F};

  BlendOptions options_;
  float cooc_weight_;
  float recency_weight_;
  float mf_weight_ = 1.0F;
  float mf_squares_ = 0.0F;
  float short_weight_ = 0.0F;
  float short_squares_ = 0.0F;
  float cooc_squares_ = 0.0F;
  float recency_squares_ = 0.0F;
  float session_weight_;
  float session_squares_ = 0.0F;
  uint64_t steps_ = 0;
};

}  // namespace streamrec::learner
