// Internal to the learner: item scores kept in an order-statistics tree, so the
// rank of any item and the best items are O(log n) to find.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>

#include "common/ids.h"

namespace streamrec::learner {

class RankedScores {
 public:
  bool Has(ItemId id) const { return id.value() < present_.size() && present_[id.value()]; }
  double Score(ItemId id) const { return scores_[id.value()]; }
  size_t size() const { return tree_.size(); }

  void Set(ItemId id, double score) {
    const uint32_t i = id.value();
    if (i >= scores_.size()) {
      scores_.resize(i + 1, 0.0);
      present_.resize(i + 1, false);
    }
    if (present_[i]) tree_.erase({-scores_[i], i});
    scores_[i] = score;
    present_[i] = true;
    tree_.insert({-score, i});
  }

  // Candidates (all present items) scored strictly higher than / equal to `score`.
  size_t CountHigher(double score) const { return tree_.order_of_key({-score, 0}); }
  size_t CountEqual(double score) const {
    // Ids never reach UINT32_MAX, so this bound sits after every item of that score.
    return tree_.order_of_key({-score, std::numeric_limits<uint32_t>::max()}) - CountHigher(score);
  }

  // Visits items best first until `visit` returns false.
  void ForEachBest(const std::function<bool(ItemId)>& visit) const {
    for (const auto& [neg, id] : tree_) {
      if (!visit(ItemId(id))) return;
    }
  }

 private:
  using Tree = __gnu_pbds::tree<std::pair<double, uint32_t>, __gnu_pbds::null_type, std::less<>,
                                __gnu_pbds::rb_tree_tag, __gnu_pbds::tree_order_statistics_node_update>;
  Tree tree_;
  std::vector<double> scores_;
  std::vector<bool> present_;
};

}  // namespace streamrec::learner
