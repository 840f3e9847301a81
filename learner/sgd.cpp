#include "learner/sgd.h"

#include <cmath>

#include <Eigen/Core>

namespace streamrec::learner {
namespace {

using ConstVec = Eigen::Map<const Eigen::VectorXf>;
using Vec = Eigen::Map<Eigen::VectorXf>;

float Sigmoid(float x) { return 1.0F / (1.0F + std::exp(-x)); }

// log(sigmoid(x)), stable for large |x|.
float LogSigmoid(float x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

}  // namespace

float EventLoss(const SgdParams& prm) {
  const ConstVec p(prm.user, prm.dim);
  const ConstVec q(prm.item, prm.dim);
  const float s = p.dot(q) + *prm.item_bias;
  float loss = prm.weight >= 0 ? -prm.weight * LogSigmoid(s) : prm.weight * LogSigmoid(-s);
  float reg = p.squaredNorm() + q.squaredNorm();
  for (size_t j = 0; j < prm.negatives.size(); ++j) {
    const ConstVec qj(prm.negatives[j], prm.dim);
    loss -= LogSigmoid(-(p.dot(qj) + *prm.negative_biases[j]));
    reg += qj.squaredNorm();
  }
  return loss + 0.5F * prm.regularization * reg;
}

void SgdStep(const SgdParams& prm, float* scratch) {
  Vec p(prm.user, prm.dim);
  Vec q(prm.item, prm.dim);
  Vec grad_p(scratch, prm.dim);
  const float lr = prm.learning_rate;
  const float reg = prm.regularization;
  const float s = p.dot(q) + *prm.item_bias;
  // dL/ds of the event itself.
  const float g = prm.weight >= 0 ? -prm.weight * (1.0F - Sigmoid(s)) : -prm.weight * Sigmoid(s);

  grad_p = g * q + reg * p;
  q -= lr * (g * p + reg * q);  // p is still the old p here
  *prm.item_bias -= lr * g;
  for (size_t j = 0; j < prm.negatives.size(); ++j) {
    Vec qj(prm.negatives[j], prm.dim);
    const float gj = Sigmoid(p.dot(qj) + *prm.negative_biases[j]);
    grad_p += gj * qj;
    qj -= lr * (gj * p + reg * qj);
    *prm.negative_biases[j] -= lr * gj;
  }
  p -= lr * grad_p;
}

}  // namespace streamrec::learner
