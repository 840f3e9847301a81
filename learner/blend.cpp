#include "learner/blend.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace streamrec::learner {

OnlineBlend::OnlineBlend(BlendOptions options)
    : options_(options), cooc_weight_(options.cooc_weight), recency_weight_(options.recency_weight),
      session_weight_(options.session_weight) {}

namespace {

// AdaGrad: each weight's step shrinks with its own gradients' history, so a
// component on a large scale moves no faster than one on a small scale. The
// sum starts above 0 (by a gradient of 1e-4 squared), or a weight's first
// gradient, however small (an outcome far from the cut), would take a full step.
constexpr double kInitialSquares = 1e-8;

void AdaGradStep(double lr, double gradient, double floor, float* weight, float* squares) {
  *squares += static_cast<float>(gradient * gradient);
  *weight = static_cast<float>(std::max(floor, *weight + lr * gradient / std::sqrt(*squares + kInitialSquares)));
}

}  // namespace

void OnlineBlend::Learn(const BlendFeatures& positive, const BlendFeatures& listed, BlendSteps* record) {
  if (options_.learning_rate == 0) return;
  // Ascent on sigma(margin / scale), a smooth count of wins over the listed
  // item: the events the weights could turn (near misses, narrow wins) teach;
  // items far from it, whose place no weight change would move, hardly do.
  const double margin = static_cast<double>(Score(positive)) - Score(listed);
  const double s = 1.0 / (1.0 + std::exp(-margin / kMarginScale));
  const double slope = s * (1.0 - s) / kMarginScale;
  const double g_cooc = slope * (positive.cooc - listed.cooc);
  const double g_recency = slope * (positive.recency - listed.recency);
  const double g_mf = slope * (positive.mf - listed.mf);
  const double g_short = slope * (positive.short_recency - listed.short_recency);
  const double g_session = slope * (positive.session - listed.session);
  const double lr = options_.learning_rate;
  const std::array<float*, BlendSteps::kWeights> weights = Weights();
  std::array<float, BlendSteps::kWeights> before{};
  if (record != nullptr) {
    for (size_t i = 0; i < weights.size(); ++i) before[i] = *weights[i];
  }
  AdaGradStep(lr, g_cooc, 0.0, &cooc_weight_, &cooc_squares_);
  AdaGradStep(lr, g_recency, 0.0, &recency_weight_, &recency_squares_);
  AdaGradStep(lr, g_mf, kMinMfWeight, &mf_weight_, &mf_squares_);
  AdaGradStep(lr, g_short, 0.0, &short_weight_, &short_squares_);
  AdaGradStep(lr, g_session, 0.0, &session_weight_, &session_squares_);
  ++steps_;
  if (record == nullptr) return;
  const std::array<double, BlendSteps::kWeights> g = {g_cooc, g_recency, g_mf, g_short, g_session};
  for (size_t i = 0; i < g.size(); ++i) {
    record->deltas[i] += *weights[i] - before[i];
    record->squares[i] += static_cast<float>(g[i] * g[i]);
  }
  ++record->steps;
}

void OnlineBlend::ApplySteps(const BlendSteps& steps) {
  if (options_.learning_rate == 0 || steps.steps == 0) return;
  const std::array<float*, BlendSteps::kWeights> weights = Weights();
  const std::array<float*, BlendSteps::kWeights> squares = {&cooc_squares_, &recency_squares_, &mf_squares_,
                                                            &short_squares_, &session_squares_};
  for (size_t i = 0; i < weights.size(); ++i) {
    *weights[i] = std::max(kFloors[i], *weights[i] + steps.deltas[i]);
    *squares[i] += steps.squares[i];
  }
  steps_ += steps.steps;
}

OnlineBlend::State OnlineBlend::Save() const {
  return {cooc_weight_, recency_weight_, cooc_squares_, recency_squares_, mf_weight_, mf_squares_, short_weight_, short_squares_,
          session_weight_, session_squares_};
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
  session_weight_ = state[8];
  session_squares_ = state[9];
}

}  // namespace streamrec::learner
