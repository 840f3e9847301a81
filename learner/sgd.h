// One SGD step of the event loss, in place and without allocation, and the
// loss itself so tests can check the step against a numeric gradient.
#pragma once

#include <span>
#include <vector>

namespace streamrec::learner {

// The parameters one event touches. Pointers are to `dim` floats.
struct SgdParams {
  float* user = nullptr;       // p_u
  float* item = nullptr;       // q_i
  float* item_bias = nullptr;  // b_i
  float weight = 1.0F;         // > 0: positive example; < 0: negative example
  std::span<float* const> negatives;        // q_j of sampled negatives
  std::span<float* const> negative_biases;  // b_j
  int dim = 0;
  float learning_rate = 0.05F;
  float regularization = 0.0F;
};

// L = -w log s(p.q + b)  (w > 0)   or   -|w| log s(-(p.q + b))  (w < 0)
//     - sum_j log s(-(p.q_j + b_j))  + lambda/2 (|p|^2 + |q|^2 + sum_j |q_j|^2)
float EventLoss(const SgdParams& params);

// theta -= learning_rate * dL/dtheta for every parameter, all gradients taken
// at the values before the step. `scratch` holds `dim` floats.
void SgdStep(const SgdParams& params, float* scratch);

}  // namespace streamrec::learner
