#include "learner/session_neighbors.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include <catch2/catch.hpp>

#include "common/hash.h"
#include "learner/learner.h"

using streamrec::ItemId;
using streamrec::SessionRecord;
using streamrec::UserId;
using streamrec::learner::SessionNeighborOptions;
using streamrec::learner::SessionNeighbors;

namespace {

using Scores = std::map<uint32_t, float>;

std::vector<ItemId> Items(std::initializer_list<uint32_t> ids) {
  std::vector<ItemId> out;
  for (uint32_t id : ids) out.emplace_back(id);
  return out;
}

Scores ScoreOf(SessionNeighbors* s, uint32_t user, const std::vector<ItemId>& history) {
  Scores scores;
  for (const auto& [item, score] : s->Score(UserId(user), history)) {
    CHECK(scores.emplace(item.value(), score).second);  // each item once
  }
  return scores;
}

// A user's events as the learner keeps their history: distinct items, a
// repeated one moved to the end.
struct Stream {
  SessionNeighbors* sessions;
  std::map<uint32_t, std::vector<ItemId>> histories;
  void Event(uint32_t user, uint32_t item, int64_t ts) {
    auto& h = histories[user];
    std::erase(h, ItemId(item));
    h.emplace_back(item);
    sessions->Update(UserId(user), h, ts);
  }
};

}  // namespace

TEST_CASE("session neighbours: STAN's scores on a hand-made log") {
  SessionNeighbors sessions(SessionNeighborOptions{});
  Stream s{&sessions, {}};
  // Session A = 1, 2, 3 and B = 1, 4, at the same time; C has seen item 1.
  for (uint32_t item : {1, 2, 3}) s.Event(10, item, 1000);
  for (uint32_t item : {1, 4}) s.Event(11, item, 1000);
  s.Event(12, 1, 1000);
  const Scores scores = ScoreOf(&sessions, 12, s.histories[12]);
  // sim(C, A) = 1 / sqrt(3), sim(C, B) = 1 / sqrt(2); an item d places from
  // the neighbour's last shared item (item 1, first in both) weighs exp(-d / 5);
  // the sums are over the 100 neighbour slots.
  const double a = 1 / std::sqrt(3.0);
  const double b = 1 / std::sqrt(2.0);
  REQUIRE(scores.size() == 3);
  CHECK(scores.at(2) == Approx(a * std::exp(-0.2) / 100));
  CHECK(scores.at(3) == Approx(a * std::exp(-0.4) / 100));
  CHECK(scores.at(4) == Approx(b * std::exp(-0.2) / 100));
  CHECK_FALSE(scores.contains(1));  // the user's own items score nothing

  SECTION("the user's own session is not a neighbour, and position weights favour the latest item") {
    // B's session is 1, 4: its neighbours are A (via 1) and C (via 1); only A adds an item.
    const Scores of_b = ScoreOf(&sessions, 11, s.histories[11]);
    REQUIRE(of_b.size() == 2);
    CHECK(of_b.contains(2));
    CHECK(of_b.contains(3));
    // With item 4 the latest, item 1 weighs exp(-1 / 2.5) in B's session.
    const double w1 = std::exp(-1 / 2.5);
    const double sim_a = w1 / (std::sqrt(1 + w1 * w1) * std::sqrt(3.0));
    CHECK(of_b.at(2) == Approx(sim_a * std::exp(-0.2) / 100));
  }
  SECTION("older neighbours weigh less: exp(-age / 80 days)") {
    const int64_t day = 24LL * 3600 * 1000;
    s.Event(13, 9, 1000 + 40 * day);  // the clock moves on 40 days
    const Scores later = ScoreOf(&sessions, 12, s.histories[12]);
    CHECK(later.at(4) == Approx(scores.at(4) * std::exp(-0.5)));
  }
}

TEST_CASE("session neighbours: a session is the user's most recent items, and the oldest-created one makes room") {
  SessionNeighborOptions options;
  options.max_sessions = 2;
  options.session_length = 3;
  SessionNeighbors sessions(options);
  Stream s{&sessions, {}};
  for (uint32_t item : {1, 2, 3, 4}) s.Event(10, item, 1);  // A's session: 2, 3, 4 (1 dropped)
  s.Event(11, 1, 2);
  CHECK(ScoreOf(&sessions, 11, s.histories[11]).empty());  // nobody else's session holds item 1 now
  s.Event(11, 2, 3);
  CHECK(ScoreOf(&sessions, 11, s.histories[11]).contains(3));
  CHECK(sessions.session_count() == 2);
  s.Event(12, 2, 4);  // a third user: A's session (created first) gives way
  CHECK(sessions.session_count() == 2);
  const Scores of_c = ScoreOf(&sessions, 12, s.histories[12]);
  CHECK(of_c.contains(1));  // from B = 1, 2
  CHECK_FALSE(of_c.contains(3));
  s.Event(10, 5, 5);  // A's next event rebuilds A's session from A's history (3, 4, 5), evicting B
  CHECK(ScoreOf(&sessions, 12, s.histories[12]).empty());
}

TEST_CASE("session neighbours: restored from the records taken, the same scores follow") {
  SessionNeighborOptions options;
  options.max_sessions = 60;  // fewer than the users: sessions are replaced
  options.session_length = 6;
  options.sample = 20;
  options.neighbors = 8;
  SessionNeighbors live(options);
  Stream s{&live, {}};
  std::map<uint32_t, SessionRecord> stored;  // by slot, the latest record
  std::vector<SessionRecord> dirty;
  uint64_t state = 7;
  for (int e = 0; e < 4000; ++e) {
    state = streamrec::Mix64(state);
    const auto user = static_cast<uint32_t>(state % 90);
    const auto item = static_cast<uint32_t>((state >> 20) % 40 * ((state >> 40) % 3 == 0 ? 1 : 0) + (state >> 48) % 12);
    s.Event(user, item, e * 1000);
    if (e % 97 == 0) {
      live.TakeDirty(&dirty);
      for (const SessionRecord& r : dirty) stored[r.slot] = r;
    }
  }
  live.TakeDirty(&dirty);
  for (const SessionRecord& r : dirty) stored[r.slot] = r;
  REQUIRE(stored.size() == 60);

  SessionNeighbors restored(options);
  for (const auto& [slot, record] : stored) restored.Restore(record);
  CHECK(restored.session_count() == live.session_count());
  for (uint32_t user = 0; user < 90; ++user) {
    CHECK(ScoreOf(&restored, user, s.histories[user]) == ScoreOf(&live, user, s.histories[user]));
  }
  // And both go on alike.
  Stream t{&restored, s.histories};
  for (int e = 0; e < 300; ++e) {
    state = streamrec::Mix64(state);
    const auto user = static_cast<uint32_t>(state % 90);
    const auto item = static_cast<uint32_t>((state >> 20) % 50);
    s.Event(user, item, 5'000'000 + e);
    t.Event(user, item, 5'000'000 + e);
  }
  for (uint32_t user = 0; user < 90; ++user) {
    CHECK(ScoreOf(&restored, user, t.histories[user]) == ScoreOf(&live, user, s.histories[user]));
  }
}

TEST_CASE("session neighbours: off with max_sessions 0") {
  SessionNeighborOptions options;
  options.max_sessions = 0;
  SessionNeighbors sessions(options);
  Stream s{&sessions, {}};
  for (uint32_t item : {1, 2}) s.Event(10, item, 1);
  s.Event(11, 1, 2);
  CHECK(ScoreOf(&sessions, 11, s.histories[11]).empty());
  std::vector<SessionRecord> dirty;
  sessions.TakeDirty(&dirty);
  CHECK(dirty.empty());
}

TEST_CASE("learner: a session neighbour's next item is boosted for a user who shares its items") {
  streamrec::learner::LearnerOptions options;
  options.cooc_window = 0;  // the co-occurrence alone would boost it too
  streamrec::learner::Learner learner(options);
  const auto event = [&](streamrec::UserRecord* user, const char* item, int64_t ts) {
    learner.Observe(user, *learner.InternItem(item), streamrec::EventType::kView, ts, streamrec::Fnv1a64(item) + ts);
  };
  streamrec::UserRecord a;
  streamrec::UserRecord b;
  learner.InitUser("a", UserId(0), &a);
  learner.InitUser("b", UserId(1), &b);
  event(&a, "shoe", 1);
  event(&a, "sock", 2);
  event(&b, "shoe", 3);
  std::vector<std::pair<ItemId, float>> boosts;
  learner.Boosts(b, &boosts);
  const ItemId sock = *learner.FindItem("sock");
  REQUIRE(boosts.size() == 1);
  CHECK(boosts[0].first == sock);
  CHECK(boosts[0].second > 0);

  SECTION("and a learner restored from its sessions boosts it the same") {
    std::vector<SessionRecord> records;
    learner.TakeDirtySessions(&records);
    CHECK(records.size() == 2);
    streamrec::learner::Learner restored(options);
    for (const char* item : {"shoe", "sock"}) restored.InternItem(item);
    for (const SessionRecord& r : records) restored.RestoreSession(r);
    std::vector<std::pair<ItemId, float>> again;
    restored.Boosts(b, &again);
    CHECK(again == boosts);
  }
}

TEST_CASE("session neighbours: ScoreItems gives Score's floats for the items asked") {
  SessionNeighborOptions options;
  options.session_length = 8;
  SessionNeighbors sessions(options);
  Stream s{&sessions, {}};
  uint64_t state = 3;
  for (int e = 0; e < 3000; ++e) {
    state = streamrec::Mix64(state);
    s.Event(static_cast<uint32_t>(state % 200), static_cast<uint32_t>((state >> 32) % 60), e);
  }
  for (uint32_t user = 0; user < 200; user += 7) {
    const std::vector<ItemId> asked = Items({0, 5, 17, 59, 60});
    std::vector<float> got(asked.size());
    s.Event(999, 1, 5000 + user);  // another user's event: Score's answer is no longer cached
    SessionNeighbors* n = s.sessions;
    n->ScoreItems(UserId(user), s.histories[user], asked, got);
    const Scores again = ScoreOf(n, user, s.histories[user]);
    for (size_t i = 0; i < asked.size(); ++i) {
      CHECK(got[i] == (again.contains(asked[i].value()) ? again.at(asked[i].value()) : 0.0F));
    }
  }
}
