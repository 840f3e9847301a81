#include "learner/options.h"

#include <cmath>
#include <string>

namespace streamrec::learner {

Status LearnerOptions::Validate() const {
  if (dim < 4 || dim > 512) return Status::InvalidArgument("learner.dim must be in 4..512, got " + std::to_string(dim));
  if (!(learning_rate > 0 && learning_rate <= 1)) return Status::InvalidArgument("learner.learning_rate must be in (0, 1]");
  if (!(regularization >= 0 && regularization < 1)) return Status::InvalidArgument("learner.regularization must be in [0, 1)");
  if (negatives < 0 || negatives > 64) return Status::InvalidArgument("learner.negatives must be in 0..64");
  if (!(init_scale > 0 && init_scale <= 1)) return Status::InvalidArgument("learner.init_scale must be in (0, 1]");
  if (max_history < 1 || max_history > 100000) return Status::InvalidArgument("learner.max_history must be in 1..100000");
  for (float w : type_weights) {
    if (!std::isfinite(w) || std::abs(w) > 100) return Status::InvalidArgument("learner weights must be in [-100, 100]");
  }
  return Status::Ok();
}

}  // namespace streamrec::learner
