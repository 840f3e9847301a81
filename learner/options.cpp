#include "learner/options.h"

#include <cmath>
#include <string>

namespace streamrec::learner {

Status LearnerOptions::Validate() const {
  if (model != "hybrid" && model != "mf" && model != "pop" && model != "rpop" && model != "iknn") {
    return Status::InvalidArgument("learner.model must be one of hybrid, mf, pop, rpop, iknn; got '" + model + "'");
  }
  if (recency_half_life_ms < 1000) return Status::InvalidArgument("learner.recency_half_life_ms must be >= 1000");
  if (short_half_life_ms < 1000 || short_half_life_ms >= recency_half_life_ms) {
    return Status::InvalidArgument("learner.short_half_life_ms must be >= 1000 and below learner.recency_half_life_ms");
  }
  if (dim < 4 || dim > 512) return Status::InvalidArgument("learner.dim must be in 4..512, got " + std::to_string(dim));
  if (!(learning_rate > 0 && learning_rate <= 1)) return Status::InvalidArgument("learner.learning_rate must be in (0, 1]");
  if (!(regularization >= 0 && regularization < 1)) return Status::InvalidArgument("learner.regularization must be in [0, 1)");
  if (negatives < 0 || negatives > 64) return Status::InvalidArgument("learner.negatives must be in 0..64");
  if (!(init_scale > 0 && init_scale <= 1)) return Status::InvalidArgument("learner.init_scale must be in (0, 1]");
  if (max_history < 1 || max_history > 100000) return Status::InvalidArgument("learner.max_history must be in 1..100000");
  if (!(cooc_weight >= 0 && cooc_weight <= 1000)) return Status::InvalidArgument("learner.cooc_weight must be in [0, 1000]");
  if (!(blend_learning_rate >= 0 && blend_learning_rate <= 10)) {
    return Status::InvalidArgument("learner.blend_learning_rate must be in [0, 10]");
  }
  if (session_neighbors > 10'000'000) return Status::InvalidArgument("learner.session_neighbors must be in 0..10000000");
  if (!(session_weight >= 0 && session_weight <= 100000)) {
    return Status::InvalidArgument("learner.session_weight must be in [0, 100000]");
  }
  if (!(cooc_decay > 0 && cooc_decay <= 1)) return Status::InvalidArgument("learner.cooc_decay must be in (0, 1]");
  if (cooc_window < 0 || cooc_window > 100) return Status::InvalidArgument("learner.cooc_window must be in 0..100");
  if (max_boosts < 1 || max_boosts > 100000) return Status::InvalidArgument("learner.max_boosts must be in 1..100000");
  if (max_neighbors < 1 || max_neighbors > 10000) return Status::InvalidArgument("learner.max_neighbors must be in 1..10000");
  if (max_items < 1000 || max_items > 100'000'000) return Status::InvalidArgument("learner.max_items must be in 1000..100000000");
  if (dense_min_events < 1 || dense_min_events > 1'000'000) {
    return Status::InvalidArgument("learner.dense_min_events must be in 1..1000000");
  }
  for (float w : type_weights) {
    if (!std::isfinite(w) || std::abs(w) > 100) return Status::InvalidArgument("learner weights must be in [-100, 100]");
  }
  return Status::Ok();
}

}  // namespace streamrec::learner
