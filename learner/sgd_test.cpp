#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "learner/sgd.h"

using namespace streamrec::learner;

namespace {

struct Fixture {
  explicit Fixture(int dim, int negs, float weight, uint32_t seed) : dim(dim) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0F, 0.5F);
    auto fill = [&](std::vector<float>& v) {
      v.resize(static_cast<size_t>(dim));
      for (float& x : v) x = n(rng);
    };
    fill(user);
    fill(item);
    item_bias = n(rng);
    negs_data.resize(static_cast<size_t>(negs));
    neg_bias.resize(static_cast<size_t>(negs));
    for (int j = 0; j < negs; ++j) {
      fill(negs_data[j]);
      neg_bias[j] = n(rng);
    }
    this->weight = weight;
  }

  SgdParams Params(float lr) {
    neg_ptrs.clear();
    neg_bias_ptrs.clear();
    for (size_t j = 0; j < negs_data.size(); ++j) {
      neg_ptrs.push_back(negs_data[j].data());
      neg_bias_ptrs.push_back(&neg_bias[j]);
    }
    SgdParams p;
    p.user = user.data();
    p.item = item.data();
    p.item_bias = &item_bias;
    p.weight = weight;
    p.negatives = neg_ptrs;
    p.negative_biases = neg_bias_ptrs;
    p.dim = dim;
    p.learning_rate = lr;
    p.regularization = 0.05F;
    return p;
  }

  // Every parameter, in a fixed order.
  std::vector<float*> All() {
    std::vector<float*> out;
    for (float& x : user) out.push_back(&x);
    for (float& x : item) out.push_back(&x);
    out.push_back(&item_bias);
    for (auto& v : negs_data)
      for (float& x : v) out.push_back(&x);
    for (float& b : neg_bias) out.push_back(&b);
    return out;
  }

  int dim;
  float weight;
  std::vector<float> user, item;
  float item_bias;
  std::vector<std::vector<float>> negs_data;
  std::vector<float> neg_bias;
  std::vector<float*> neg_ptrs, neg_bias_ptrs;
};

void CheckStepMatchesNumericGradient(float weight) {
  const int dim = 8;
  Fixture f(dim, 3, weight, 7);
  // Numeric gradient by central differences (in double-ish precision via small h).
  std::vector<float*> params = f.All();
  std::vector<double> numeric;
  const float h = 1e-2F;
  for (float* x : params) {
    const float saved = *x;
    *x = saved + h;
    const double up = EventLoss(f.Params(0));
    *x = saved - h;
    const double down = EventLoss(f.Params(0));
    *x = saved;
    numeric.push_back((up - down) / (2 * h));
  }
  // The real update, with a tiny step: (before - after) / lr is the gradient it used.
  std::vector<float> before;
  for (float* x : params) before.push_back(*x);
  const float lr = 1e-3F;
  std::vector<float> scratch(dim);
  SgdStep(f.Params(lr), scratch.data());
  for (size_t k = 0; k < params.size(); ++k) {
    const double analytic = (before[k] - *params[k]) / lr;
    INFO("parameter " << k << " weight " << weight);
    CHECK(analytic == Approx(numeric[k]).margin(2e-3).epsilon(2e-2));
  }
}

}  // namespace

TEST_CASE("SGD step follows the numeric gradient of the event loss") {
  CheckStepMatchesNumericGradient(1.0F);
  CheckStepMatchesNumericGradient(4.0F);
  CheckStepMatchesNumericGradient(-0.5F);  // negative feedback
}

TEST_CASE("an SGD step lowers the loss") {
  Fixture f(16, 4, 2.0F, 3);
  const float before = EventLoss(f.Params(0));
  std::vector<float> scratch(16);
  SgdStep(f.Params(0.05F), scratch.data());
  CHECK(EventLoss(f.Params(0)) < before);
}
