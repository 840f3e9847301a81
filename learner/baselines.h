// Baseline recommenders of docs/../shared PROTOCOL: POP (all-time counts), RPOP
// (counts decayed with a half-life in event time) and IKNN (item co-occurrence
// over each user's last 10 items, ties broken by POP). Incremental: Observe()
// learns one event; Rank() answers with the protocol's average-tie rank.
//
// Items are dense ItemIds in order of first appearance; the candidates are the
// items observed so far. Thread-safety: none.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/ids.h"

namespace streamrec::learner {

// What a baseline needs to know about the asking user.
struct RankRequest {
  UserId user;
  ItemId target;
  const std::unordered_set<uint32_t>* exclude = nullptr;  // items the user interacted with
  size_t n = 20;                                          // length of the served list
};

struct RankResult {
  bool candidate = false;  // target was observed before
  double rank = 0;         // strictly better candidates + half the equal others
  std::vector<ItemId> top; // the served top-n list
};

class BaselineModel {
 public:
  virtual ~BaselineModel() = default;
  virtual std::string_view name() const = 0;
  virtual void Rank(const RankRequest& request, RankResult* out) = 0;
  virtual void Observe(UserId user, ItemId item, int64_t ts_ms) = 0;
};

// POP when half_life_ms == 0, RPOP otherwise.
std::unique_ptr<BaselineModel> MakePopularityModel(int64_t half_life_ms);
// IKNN over the items of each user's last `window` events.
std::unique_ptr<BaselineModel> MakeCooccurrenceModel(size_t window = 10);

}  // namespace streamrec::learner
