#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "learner/baselines.h"

using namespace streamrec;
using namespace streamrec::learner;

namespace {

struct Ev {
  uint32_t user, item;
  int64_t ts;
};

// The protocol's definitions, computed naively from the whole history.
class NaiveReference {
 public:
  void Observe(const Ev& e) { history_.push_back(e); }

  std::map<uint32_t, double> PopScores(double half_life_ms, int64_t now) const {
    std::map<uint32_t, double> s;
    for (const Ev& e : history_) {
      s[e.item] += half_life_ms == 0 ? 1.0 : std::exp2(-static_cast<double>(now - e.ts) / half_life_ms);
    }
    return s;
  }

  // (iknn score, pop) per candidate for `user`.
  std::map<uint32_t, std::pair<double, double>> IknnScores(uint32_t user) const {
    std::map<std::pair<uint32_t, uint32_t>, double> cooc;
    std::map<uint32_t, std::vector<uint32_t>> recent;
    std::map<uint32_t, double> count;
    for (const Ev& e : history_) {
      for (uint32_t a : recent[e.user]) {
        if (a == e.item) continue;
        cooc[{a, e.item}] += 1;
        cooc[{e.item, a}] += 1;
      }
      count[e.item] += 1;
      auto& r = recent[e.user];
      r.push_back(e.item);
      if (r.size() > 10) r.erase(r.begin());
    }
    std::map<uint32_t, std::pair<double, double>> out;
    for (const auto& [c, n] : count) {
      double s = 0;
      for (uint32_t a : recent[user]) {
        auto it = cooc.find({a, c});
        if (it != cooc.end()) s += it->second / std::sqrt(count.at(a) * n);
      }
      out[c] = {s, n};
    }
    return out;
  }

  template <class Score>
  static double Rank(const std::map<uint32_t, Score>& scores, uint32_t target, const std::set<uint32_t>& exclude) {
    double higher = 0, equal = 0;
    const Score& st = scores.at(target);
    for (const auto& [c, s] : scores) {
      if (c == target || exclude.count(c)) continue;
      if (s > st) higher += 1;
      else if (s == st) equal += 1;
    }
    return higher + 0.5 * equal;
  }

 private:
  std::vector<Ev> history_;
};

}  // namespace

TEST_CASE("POP, RPOP and IKNN ranks equal the protocol's definitions computed naively") {
  std::mt19937 rng(11);
  auto pop = MakePopularityModel(0);
  const int64_t half_life = 7LL * 24 * 3600 * 1000;
  auto rpop = MakePopularityModel(half_life);
  auto iknn = MakeCooccurrenceModel(10);
  NaiveReference ref;
  std::map<uint32_t, std::set<uint32_t>> seen_by_user;
  std::set<uint32_t> seen_items;
  int64_t ts = 1'500'000'000'000;
  int checked = 0;
  for (int k = 0; k < 600; ++k) {
    // Small id spaces make repeats and ties common, which is what needs checking.
    Ev e{static_cast<uint32_t>(rng() % 12), static_cast<uint32_t>(rng() % 40), ts};
    ts += (rng() % 4) * 3600 * 1000;  // equal timestamps happen too
    auto& mine = seen_by_user[e.user];
    const bool scored = !mine.empty() && !mine.count(e.item) && seen_items.count(e.item);
    if (scored) {
      std::unordered_set<uint32_t> exclude(mine.begin(), mine.end());
      RankRequest req{UserId(e.user), ItemId(e.item), &exclude, 5};
      RankResult res;
      pop->Rank(req, &res);
      REQUIRE(res.candidate);
      CHECK(res.rank == NaiveReference::Rank(ref.PopScores(0, e.ts), e.item, mine));
      CHECK(res.top.size() == std::min<size_t>(5, seen_items.size() - mine.size()));
      rpop->Rank(req, &res);
      CHECK(res.rank == Approx(NaiveReference::Rank(ref.PopScores(half_life, e.ts), e.item, mine)).margin(0.51));
      iknn->Rank(req, &res);
      CHECK(res.rank == NaiveReference::Rank(ref.IknnScores(e.user), e.item, mine));
      for (ItemId t : res.top) CHECK_FALSE(mine.count(t.value()));
      ++checked;
    }
    pop->Observe(UserId(e.user), ItemId(e.item), e.ts);
    rpop->Observe(UserId(e.user), ItemId(e.item), e.ts);
    iknn->Observe(UserId(e.user), ItemId(e.item), e.ts);
    ref.Observe(e);
    mine.insert(e.item);
    seen_items.insert(e.item);
  }
  CHECK(checked > 100);
}

TEST_CASE("IKNN's served list orders ties by popularity, then by smaller id, whatever order it met them in") {
  auto iknn = MakeCooccurrenceModel(10);
  int64_t ts = 1'500'000'000'000;
  // User 1 meets 10, then 30 before 20: row 10 holds 30 first.
  for (uint32_t item : {10U, 30U, 20U}) iknn->Observe(UserId(1), ItemId(item), ts++);
  iknn->Observe(UserId(2), ItemId(10), ts++);
  std::unordered_set<uint32_t> exclude = {10};
  RankRequest req{UserId(2), ItemId(20), &exclude, 5};
  RankResult res;
  iknn->Rank(req, &res);
  REQUIRE(res.top.size() == 2);
  CHECK(res.top[0] == ItemId(20));  // equal co-occurrence and popularity: the smaller id first
  CHECK(res.top[1] == ItemId(30));
  CHECK(res.rank == 0.5);  // tied with 30
}
