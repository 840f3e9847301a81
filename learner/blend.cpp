#include "learner/blend.h"

#include <algorithm>
#include <cmath>

namespace streamrec::learner {

OnlineBlend::OnlineBlend(BlendOptions options)
    : options_(options), cooc_weight_(options.cooc_weight), recency_weight_(options.recency_weight) {}

void OnlineBlend::Learn(const BlendFeatures& positive, const BlendFeatures& cutoff) {
  if (options_.learning_rate == 0) return;
  // Ascent on sigma(margin / scale), a smooth count of hits: the events the
  // weights could turn (near misses, narrow hits) teach; items far from the
  // cut, which no weight change would list, hardly do.
  const double margin = static_cast<double>(Score(positive)) - Score(cutoff);
  const double s = 1.0 / (1.0 + std::exp(-margin / kMarginScale));
  const double slope = s * (1.0 - s) / kMarginScale;
  const double g_cooc = slope * (positive.cooc - cutoff.cooc);
  const double g_recency = slope * (positive.recency - cutoff.recency);
  const double g_mf = slope * (positive.mf - cutoff.mf);
  const double g_short = slope * (positive.short_recency - cutoff.short_recency);
  // AdaGrad: each weight's step shrinks with its own gradients' history, so
  // a component on a large scale moves no faster than one on a small scale.
  // The sums start above 0 (by a gradient of 1e-4 squared), or a weight's
  // first gradient, however small (an outcome far from the cut), would take
  // a full step.
  constexpr double kInitialSquares = 1e-8;
  cooc_squares_ += static_cast<float>(g_cooc * g_cooc);
  recency_squares_ += static_cast<float>(g_recency * g_recency);
  mf_squares_ += static_cast<float>(g_mf * g_mf);
  short_squares_ += static_cast<float>(g_short * g_short);
  const double lr = options_.learning_rate;
  cooc_weight_ = static_cast<float>(std::max(0.0, cooc_weight_ + lr * g_cooc / std::sqrt(cooc_squares_ + kInitialSquares)));
  recency_weight_ = static_cast<float>(
      std::max(0.0, recency_weight_ + lr * g_recency / std::sqrt(recency_squares_ + kInitialSquares)));
  mf_weight_ = static_cast<float>(std::max<double>(kMinMfWeight, mf_weight_ + lr * g_mf / std::sqrt(mf_squares_ + kInitialSquares)));
  short_weight_ = static_cast<float>(std::max(0.0, short_weight_ + lr * g_short / std::sqrt(short_squares_ + kInitialSquares)));
  ++steps_;
}

OnlineBlend::State OnlineBlend::Save() const {
  return {cooc_weight_, recency_weight_, cooc_squares_, recency_squares_, mf_weight_, mf_squares_, short_weight_, short_squares_};
}

void OnlineBlend::Restore(const State& state) {
  cooc_weight_ = state[0];
  recency_weight_ = state[1];
  cooc_squares_ = state[2];
  recency_squares_ = state[3];
  mf_weight_ = state[4];
  mf_squares_ = state[5];
  short_weight_ = state[6];
  short_squares_ = state[7];
}

}  // namespace streamrec::learner
