#include "learner/baselines.h"

#include <algorithm>
#include <cmath>

#include "learner/ranked_scores.h"

namespace streamrec::learner {
namespace {

bool Excluded(const RankRequest& r, ItemId id) { return r.exclude && r.exclude->count(id.value()) > 0; }

// Rank of `target` by `scores` among present items minus the excluded ones.
double RankByScores(const RankedScores& scores, const RankRequest& r) {
  const double s = scores.Score(r.target);
  double higher = static_cast<double>(scores.CountHigher(s));
  double equal = static_cast<double>(scores.CountEqual(s)) - 1;  // others only
  if (r.exclude) {
    for (uint32_t x : *r.exclude) {
      const ItemId id(x);
      if (id == r.target || !scores.Has(id)) continue;
      const double sx = scores.Score(id);
      if (sx > s) {
        higher -= 1;
      } else if (sx == s) {
        equal -= 1;
      }
    }
  }
  return higher + 0.5 * equal;
}

void TopByScores(const RankedScores& scores, const RankRequest& r, const std::unordered_set<uint32_t>* skip,
                 std::vector<ItemId>* top) {
  scores.ForEachBest([&](ItemId id) {
    if (top->size() >= r.n) return false;
    if (!Excluded(r, id) && !(skip && skip->count(id.value()))) top->push_back(id);
    return true;
  });
}

// POP (half_life 0): score = count. RPOP: score = log2(sum 2^(ts / half_life)),
// which orders items exactly as the decayed counts do at any common "now".
class PopularityModel : public BaselineModel {
 public:
  explicit PopularityModel(int64_t half_life_ms) : half_life_ms_(half_life_ms) {}

  std::string_view name() const override { return half_life_ms_ == 0 ? "POP" : "RPOP"; }

  void Rank(const RankRequest& r, RankResult* out) override {
    out->top.clear();
    out->candidate = scores_.Has(r.target);
    if (out->candidate) out->rank = RankByScores(scores_, r);
    TopByScores(scores_, r, nullptr, &out->top);
  }

  void Observe(UserId, ItemId item, int64_t ts_ms) override {
    if (half_life_ms_ == 0) {
      scores_.Set(item, scores_.Has(item) ? scores_.Score(item) + 1 : 1);
      return;
    }
    const double x = static_cast<double>(ts_ms) / static_cast<double>(half_life_ms_);
    if (!scores_.Has(item)) {
      scores_.Set(item, x);
      return;
    }
    const double a = scores_.Score(item);
    const double hi = std::max(a, x);
    scores_.Set(item, hi + std::log2(1.0 + std::exp2(-std::abs(a - x))));
  }

  const RankedScores& scores() const { return scores_; }

 private:
  int64_t half_life_ms_;
  RankedScores scores_;
};

// One item's co-occurrence counts: entries in the order first met, walked in
// sequence by Accumulate (walking a hash map's nodes was most of IKNN's
// Rank), and an index from item to entry for Observe's increments.
struct CoocRow {
  std::vector<std::pair<uint32_t, uint32_t>> entries;  // (item, count)
  std::unordered_map<uint32_t, uint32_t> index;       // item -> its position in entries

  void Increment(uint32_t c) {
    const auto [it, added] = index.try_emplace(c, static_cast<uint32_t>(entries.size()));
    if (added) entries.emplace_back(c, 0);
    ++entries[it->second].second;
  }
};

class CooccurrenceModel : public BaselineModel {
 public:
  explicit CooccurrenceModel(size_t window) : window_(window), pop_(0) {}

  std::string_view name() const override { return "IKNN"; }

  void Rank(const RankRequest& r, RankResult* out) override {
    out->top.clear();
    out->candidate = pop_.scores().Has(r.target);
    Accumulate(r.user);
    MarkExcluded(r);
    const double s_t = out->candidate ? acc_[r.target.value()] : 0.0;
    const double p_t = out->candidate ? pop_.scores().Score(r.target) : 0.0;
    double higher = 0, equal = 0;
    for (uint32_t c : touched_) {
      const ItemId id(c);
      if (id == r.target || excluded_[c] != 0) continue;
      const double s = acc_[c], p = pop_.scores().Score(id);
      if (s > s_t || (s == s_t && p > p_t)) {
        higher += 1;
      } else if (s == s_t && p == p_t) {
        equal += 1;
      }
    }
    if (out->candidate && s_t == 0.0) AddZeroScoreRivals(r, p_t, &higher, &equal);
    out->rank = higher + 0.5 * equal;
    ServedList(r, out);
    for (uint32_t c : touched_) acc_[c] = 0.0;
    if (r.exclude) {
      for (uint32_t x : *r.exclude) {
        if (x < excluded_.size()) excluded_[x] = 0;
      }
    }
  }

  void Observe(UserId user, ItemId item, int64_t ts_ms) override {
    std::deque<uint32_t>& recent = Recent(user);
    const uint32_t b = item.value();
    if (b >= cooc_.size()) cooc_.resize(b + 1);
    for (uint32_t a : recent) {
      if (a == b) continue;
      cooc_[a].Increment(b);
      cooc_[b].Increment(a);
    }
    pop_.Observe(user, item, ts_ms);
    // The window holds the items of the last `window` events, repeats included:
    // this reading of the protocol reproduces its reference figures exactly.
    recent.push_back(b);
    if (recent.size() > window_) recent.pop_front();
  }

 private:
  std::deque<uint32_t>& Recent(UserId user) {
    if (user.value() >= recent_.size()) recent_.resize(user.value() + 1);
    return recent_[user.value()];
  }

  // acc_[c] = sum over the user's recent items a of cooc(a, c) / sqrt(count(a) count(c)).
  void Accumulate(UserId user) {
    touched_.clear();
    if (acc_.size() < cooc_.size()) acc_.resize(cooc_.size(), 0.0);
    for (uint32_t a : Recent(user)) {
      const double ca = pop_.scores().Score(ItemId(a));
      for (const auto& [c, k] : cooc_[a].entries) {
        if (acc_[c] == 0.0) touched_.push_back(c);
        acc_[c] += k / std::sqrt(ca * pop_.scores().Score(ItemId(c)));
      }
    }
  }

  // excluded_[c] = 1 for the request's excluded items: each touched item is
  // checked twice, and marking them once instead of two hash set look-ups
  // took IKNN on MovieLens from 7,311 to 8,865 events/s.
  void MarkExcluded(const RankRequest& r) {
    if (excluded_.size() < acc_.size()) excluded_.resize(acc_.size(), 0);
    if (!r.exclude) return;
    for (uint32_t x : *r.exclude) {
      if (x < excluded_.size()) excluded_[x] = 1;
    }
  }

  // Candidates with no co-occurrence rank by POP; those among touched_ or excluded were handled.
  void AddZeroScoreRivals(const RankRequest& r, double p_t, double* higher, double* equal) const {
    const RankedScores& pop = pop_.scores();
    double h = static_cast<double>(pop.CountHigher(p_t));
    double e = static_cast<double>(pop.CountEqual(p_t)) - 1;
    auto remove = [&](uint32_t c) {
      const double p = pop.Score(ItemId(c));
      if (p > p_t) h -= 1;
      else if (p == p_t) e -= 1;
    };
    for (uint32_t c : touched_) {
      if (c != r.target.value()) remove(c);
    }
    if (r.exclude) {
      for (uint32_t x : *r.exclude) {
        if (x != r.target.value() && pop.Has(ItemId(x)) && acc_[x] == 0.0) remove(x);
      }
    }
    *higher += h;
    *equal += e;
  }

  void ServedList(const RankRequest& r, RankResult* out) {
    ranked_.clear();
    for (uint32_t c : touched_) {
      if (excluded_[c] == 0) ranked_.push_back(c);
    }
    const size_t keep = std::min(r.n, ranked_.size());
    std::partial_sort(ranked_.begin(), ranked_.begin() + static_cast<std::ptrdiff_t>(keep), ranked_.end(),
                      [&](uint32_t a, uint32_t b) {
                        if (acc_[a] != acc_[b]) return acc_[a] > acc_[b];
                        const double pa = pop_.scores().Score(ItemId(a)), pb = pop_.scores().Score(ItemId(b));
                        return pa != pb ? pa > pb : a < b;  // the list alike whatever the walk's order
                      });
    for (size_t k = 0; k < keep; ++k) out->top.push_back(ItemId(ranked_[k]));
    if (out->top.size() < r.n) {
      touched_set_.clear();
      touched_set_.insert(touched_.begin(), touched_.end());
      RankRequest rest = r;
      rest.n = r.n - out->top.size();
      std::vector<ItemId> fill;
      TopByScores(pop_.scores(), rest, &touched_set_, &fill);
      out->top.insert(out->top.end(), fill.begin(), fill.end());
    }
  }

  size_t window_;
  PopularityModel pop_;
  std::vector<CoocRow> cooc_;
  std::vector<std::deque<uint32_t>> recent_;
  std::vector<double> acc_;
  std::vector<uint8_t> excluded_;  // during Rank: MarkExcluded
  std::vector<uint32_t> touched_;
  std::vector<uint32_t> ranked_;
  std::unordered_set<uint32_t> touched_set_;
};

}  // namespace

std::unique_ptr<BaselineModel> MakePopularityModel(int64_t half_life_ms) {
  return std::make_unique<PopularityModel>(half_life_ms);
}

std::unique_ptr<BaselineModel> MakeCooccurrenceModel(size_t window) {
  return std::make_unique<CooccurrenceModel>(window);
}

}  // namespace streamrec::learner
