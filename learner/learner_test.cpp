#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <map>
#include <memory>

#include "common/hash.h"
#include "learner/item_table.h"
#include "learner/learner.h"

using namespace streamrec;
using namespace streamrec::learner;

namespace {

float Score(const Learner& l, const UserRecord& u, ItemId i) {
  ItemMatrixView v = l.Items();
  float s = v.biases[i.value()];
  for (size_t d = 0; d < v.dim; ++d) s += u.embedding[d] * v.embeddings[i.value() * v.dim + d];
  return s;
}

// Two taste groups: users u0..u9 like items a0..a9, users v0..v9 like b0..b9.
void Train(Learner* l, std::map<std::string, UserRecord>* users, int rounds) {
  uint64_t key = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int u = 0; u < 10; ++u) {
      for (const char* group : {"u", "v"}) {
        std::string uid = group + std::to_string(u);
        auto [it, created] = users->try_emplace(uid);
        if (created) l->InitUser(uid, UserId(static_cast<uint32_t>(users->size())), &it->second);
        std::string iid = (group[0] == 'u' ? "a" : "b") + std::to_string((u + r) % 10);
        l->Observe(&it->second, *l->InternItem(iid), EventType::kView, 0, ++key);
      }
    }
  }
}

}  // namespace

TEST_CASE("learner separates planted taste groups") {
  Learner l(LearnerOptions{});
  std::map<std::string, UserRecord> users;
  Train(&l, &users, 60);
  int correct = 0;
  for (int u = 0; u < 10; ++u) {
    const UserRecord& ur = users["u" + std::to_string(u)];
    const UserRecord& vr = users["v" + std::to_string(u)];
    ItemId a = *l.FindItem("a" + std::to_string((u + 5) % 10));
    ItemId b = *l.FindItem("b" + std::to_string((u + 5) % 10));
    correct += Score(l, ur, a) > Score(l, ur, b);
    correct += Score(l, vr, b) > Score(l, vr, a);
  }
  CHECK(correct >= 19);
}

TEST_CASE("learner is deterministic for a seed and input order") {
  Learner l1(LearnerOptions{}), l2(LearnerOptions{});
  std::map<std::string, UserRecord> u1, u2;
  Train(&l1, &u1, 10);
  Train(&l2, &u2, 10);
  CHECK(u1["u3"].embedding == u2["u3"].embedding);
  ItemMatrixView v1 = l1.Items(), v2 = l2.Items();
  REQUIRE(v1.rows == v2.rows);
  CHECK(std::equal(v1.embeddings, v1.embeddings + v1.rows * v1.dim, v2.embeddings));

  LearnerOptions other;
  other.seed = 7;
  Learner l3(other);
  std::map<std::string, UserRecord> u3;
  Train(&l3, &u3, 10);
  CHECK(u1["u3"].embedding != u3["u3"].embedding);
}

TEST_CASE("restored items continue exactly like the originals") {
  Learner original(LearnerOptions{});
  std::map<std::string, UserRecord> users;
  Train(&original, &users, 5);
  std::vector<ItemRecord> records;
  original.TakeDirtyItems(&records);
  REQUIRE(records.size() == 20);
  std::vector<ItemRecord> none = records;  // replaced, not appended to
  original.TakeDirtyItems(&none);
  CHECK(none.empty());

  Learner restored(LearnerOptions{});
  for (auto it = records.rbegin(); it != records.rend(); ++it) restored.RestoreItem(*it);
  std::map<std::string, UserRecord> users2 = users;
  // Same next event on both: same result, including the sampled negatives.
  original.Observe(&users["u1"], *original.FindItem("a1"), EventType::kPurchase, 0, 999);
  restored.Observe(&users2["u1"], *restored.FindItem("a1"), EventType::kPurchase, 0, 999);
  CHECK(users["u1"].embedding == users2["u1"].embedding);
  ItemMatrixView a = original.Items(), b = restored.Items();
  CHECK(std::equal(a.embeddings, a.embeddings + a.rows * a.dim, b.embeddings));
}

TEST_CASE("initial embeddings: a function of the id, mean 0, std-dev init_scale") {
  LearnerOptions opts;
  opts.dim = 64;
  opts.init_scale = 0.2F;
  Learner l(opts);
  UserRecord a;
  UserRecord again;
  UserRecord b;
  l.InitUser("alice", UserId(1), &a);
  l.InitUser("alice", UserId(2), &again);
  l.InitUser("bob", UserId(3), &b);
  CHECK(a.embedding == again.embedding);
  CHECK(a.embedding != b.embedding);
  double sum = 0;
  double squares = 0;
  double largest = 0;
  size_t n = 0;
  for (int u = 0; u < 2000; ++u) {
    UserRecord r;
    l.InitUser("u" + std::to_string(u), UserId(static_cast<uint32_t>(u)), &r);
    REQUIRE(r.embedding.size() == 64);
    for (float x : r.embedding) {
      sum += x;
      squares += static_cast<double>(x) * x;
      largest = std::max(largest, static_cast<double>(std::abs(x)));
      ++n;
    }
  }
  const double mean = sum / static_cast<double>(n);
  CHECK(std::abs(mean) < 0.005);
  CHECK(std::sqrt(squares / static_cast<double>(n) - mean * mean) == Approx(0.2).epsilon(0.02));
  CHECK(largest > 0.5);             // not a narrow uniform: tails past 2.5 sigma
  CHECK(largest <= 0.2 * 1.7321 * 2 + 1e-6);  // Irwin-Hall(4) stops at 2 sqrt(3) sigma
}

TEST_CASE("history keeps distinct recent items, bounded") {
  LearnerOptions opts;
  opts.max_history = 3;
  Learner l(opts);
  UserRecord u;
  l.InitUser("u", UserId(1), &u);
  for (const char* item : {"x", "y", "x", "z", "w"}) l.Observe(&u, *l.InternItem(item), EventType::kView, 0, 1);
  REQUIRE(u.history.size() == 3);
  CHECK(l.ItemExternalId(u.history[0]) == "x");
  CHECK(l.ItemExternalId(u.history[2]) == "w");
  CHECK(u.events == 5);
}

TEST_CASE("popularity sampler draws in proportion to counts") {
  ItemTable t(4);
  std::vector<float> e(4, 0.0F);
  for (int i = 0; i < 5; ++i) t.Add("i" + std::to_string(i), e, 0, 0);
  for (int k = 0; k < 10; ++k) t.IncrementCount(ItemId(3));
  for (int k = 0; k < 30; ++k) t.IncrementCount(ItemId(1));
  t.Add("late", e, 0, 60);  // an item restored with a count
  std::map<uint32_t, int> hist;
  for (uint64_t r = 0; r < 100000; ++r) hist[t.SamplePopular(Mix64(r))->value()]++;
  CHECK(hist.size() == 3);
  CHECK(hist[5] == Approx(60000).epsilon(0.03));
  CHECK(hist[1] == Approx(30000).epsilon(0.03));
  CHECK(hist[3] == Approx(10000).epsilon(0.05));
}

TEST_CASE("a record reused for a smaller row keeps at most twice its storage") {
  ItemTable t(4);
  std::vector<float> e(4, 0.0F);
  const ItemId popular = t.Add("popular", e, 0, 0);
  const ItemId quiet = t.Add("quiet", e, 0, 0);
  for (uint32_t b = 0; b < 900; ++b) t.AddCooccurrence(popular, ItemId(1000 + b), 1.0F, 500);
  for (uint32_t b = 0; b < 100; ++b) t.AddCooccurrence(quiet, ItemId(1000 + b), 1.0F, 500);
  ItemRecord r;
  t.CopyTo(popular, /*with_neighbors=*/true, &r);
  REQUIRE(r.neighbors.size() == 900);
  // Commits reuse records for other items: the popular row's storage must not stay pinned.
  t.CopyTo(quiet, /*with_neighbors=*/true, &r);
  CHECK(r.neighbors.size() == 100);
  CHECK(r.neighbors.capacity() <= 200);
  CHECK(r.neighbors.front().first == ItemId(1000));
  t.CopyTo(popular, /*with_neighbors=*/false, &r);
  CHECK(r.neighbors.empty());
  CHECK(r.neighbors.capacity() <= 64);
}

TEST_CASE("options are validated with clear messages") {
  LearnerOptions o;
  CHECK(o.Validate().ok());
  o.dim = 2;
  CHECK(o.Validate().message().find("learner.dim") != std::string::npos);
}

TEST_CASE("baseline kinds serve through the same item view") {
  for (const char* kind : {"pop", "rpop", "iknn"}) {
    LearnerOptions o;
    o.model = kind;
    REQUIRE(o.Validate().ok());
    Learner l(o);
    UserRecord u;
    l.InitUser("u", UserId(0), &u);
    // "old" is popular long ago, "new" less popular but recent; "pair" follows "new".
    for (int k = 0; k < 5; ++k) l.Observe(&u, *l.InternItem("old"), EventType::kView, 0, k);
    for (int k = 0; k < 3; ++k) l.Observe(&u, *l.InternItem("new"), EventType::kView, 30LL * 24 * 3600 * 1000, 10 + k);
    l.Observe(&u, *l.InternItem("pair"), EventType::kView, 30LL * 24 * 3600 * 1000, 20);
    std::vector<float> q(static_cast<size_t>(o.dim), 1.0F);
    l.QueryVector(u, q);
    CHECK(std::all_of(q.begin(), q.end(), [](float x) { return x == 0.0F; }));
    ItemMatrixView v = l.Items();
    const uint32_t old_id = l.FindItem("old")->value(), new_id = l.FindItem("new")->value();
    INFO(kind);
    if (std::string(kind) == "pop") CHECK(v.biases[old_id] > v.biases[new_id]);
    if (std::string(kind) == "rpop") CHECK(v.biases[new_id] > v.biases[old_id]);
    std::vector<std::pair<ItemId, float>> boosts;
    l.Boosts(u, &boosts);
    CHECK(boosts.empty() == (std::string(kind) != "iknn"));
  }
  LearnerOptions bad;
  bad.model = "magic";
  CHECK(bad.Validate().message().find("learner.model") != std::string::npos);
}

TEST_CASE("a catalog-only item starts from its peers' mean and is scored like them") {
  LearnerOptions o;
  o.dim = 8;
  Learner l(o);
  std::map<std::string, UserRecord> users;
  Train(&l, &users, 30);
  std::vector<ItemId> group_a;
  for (int k = 0; k < 10; ++k) group_a.push_back(*l.FindItem("a" + std::to_string(k)));
  const ItemId fresh = *l.InternItemLike("a-new", group_a);
  CHECK(l.ItemEvents(fresh) == 0);
  CHECK(*l.InternItemLike("a-new", {}) == fresh);  // existing: unchanged
  // The a-group user prefers the new a-like item to every b item.
  const UserRecord& u = users.at("u0");
  for (int k = 0; k < 10; ++k) CHECK(Score(l, u, fresh) > Score(l, u, *l.FindItem("b" + std::to_string(k))));
  // Without peers that have events it starts like any new item.
  const ItemId lonely = *l.InternItemLike("c-new", std::vector<ItemId>{fresh});
  CHECK(lonely != fresh);
}

TEST_CASE("purchases are remembered apart from the history, once each") {
  Learner l(LearnerOptions{});
  UserRecord u;
  l.InitUser("u", UserId(0), &u);
  const ItemId a = *l.InternItem("a");
  const ItemId b = *l.InternItem("b");
  l.Observe(&u, a, EventType::kView, 0, 1);
  l.Observe(&u, b, EventType::kPurchase, 0, 2);
  l.Observe(&u, b, EventType::kPurchase, 0, 3);
  CHECK(u.purchased == std::vector<ItemId>{b});
  CHECK(u.history.size() == 2);
}

TEST_CASE("each boost names the history item contributing most to it") {
  LearnerOptions o;
  o.model = "hybrid";
  Learner l(o);
  const ItemId w = *l.InternItem("w");
  const ItemId x = *l.InternItem("x");
  const ItemId y = *l.InternItem("y");
  uint64_t key = 0;
  // y co-occurs with x three times, with w once.
  for (int r = 0; r < 3; ++r) {
    UserRecord other;
    l.InitUser("o" + std::to_string(r), UserId(r), &other);
    l.Observe(&other, x, EventType::kView, 0, ++key);
    l.Observe(&other, y, EventType::kView, 0, ++key);
  }
  UserRecord once;
  l.InitUser("once", UserId(9), &once);
  l.Observe(&once, w, EventType::kView, 0, ++key);
  l.Observe(&once, y, EventType::kView, 0, ++key);
  UserRecord u;
  l.InitUser("u", UserId(10), &u);
  l.Observe(&u, x, EventType::kView, 0, ++key);
  l.Observe(&u, w, EventType::kView, 0, ++key);  // w is the more recent
  std::vector<std::pair<ItemId, float>> boosts;
  l.Boosts(u, &boosts);
  auto it = std::find_if(boosts.begin(), boosts.end(), [&](const auto& b) { return b.first == y; });
  REQUIRE(it != boosts.end());
  CHECK(l.BoostSource(u, y) == x);
  std::vector<std::pair<ItemId, float>> again;
  l.Boosts(u, &again);
  CHECK(again == boosts);  // asking for a source changes nothing
  // An experiment's variant may weigh the terms otherwise: 1 is as learned, 0 leaves them out.
  l.Boosts(u, &again, BoostScales{1.0F, 1.0F});
  CHECK(again == boosts);
  std::vector<std::pair<ItemId, float>> cooc_only;  // the session neighbours' term left out
  l.Boosts(u, &cooc_only, BoostScales{1.0F, 0.0F});
  l.Boosts(u, &again, BoostScales{2.0F, 0.0F});
  const auto find_y = [&](const std::vector<std::pair<ItemId, float>>& b) {
    return std::find_if(b.begin(), b.end(), [&](const auto& e) { return e.first == y; });
  };
  REQUIRE(find_y(cooc_only) != cooc_only.end());
  REQUIRE(find_y(again) != again.end());
  CHECK(find_y(again)->second == Approx(2 * find_y(cooc_only)->second));
  l.Boosts(u, &again, BoostScales{0.0F, 0.0F});
  CHECK(again.empty());
}

TEST_CASE("boosts keep the max_boosts strongest, ties to the smaller id") {
  // The same events through learners that differ only in max_boosts: each
  // cut list must be the head of the full one in (boost desc, id asc) order.
  LearnerOptions full_options;
  full_options.max_boosts = 100000;
  Learner full(full_options);
  std::vector<std::unique_ptr<Learner>> cut;
  const size_t keeps[] = {1, 3, 7, 40};
  for (size_t keep : keeps) {
    LearnerOptions o;
    o.max_boosts = keep;
    cut.push_back(std::make_unique<Learner>(o));
  }
  std::vector<Learner*> all{&full};
  for (auto& l : cut) all.push_back(l.get());
  std::vector<std::vector<UserRecord>> users(all.size(), std::vector<UserRecord>(40));
  uint64_t key = 0;
  auto observe = [&](size_t u, const std::string& item) {
    ++key;
    for (size_t l = 0; l < all.size(); ++l) {
      if (users[l][u].embedding.empty()) all[l]->InitUser("u" + std::to_string(u), UserId(static_cast<uint32_t>(u)), &users[l][u]);
      all[l]->Observe(&users[l][u], *all[l]->InternItem(item), EventType::kView, 0, key);
    }
  };
  // Ties: t0..t9 each co-occur once with x, as one user each, and have one event each.
  for (int t = 0; t < 10; ++t) {
    observe(static_cast<size_t>(t), "x");
    observe(static_cast<size_t>(t), "t" + std::to_string(t));
  }
  // Skewed traffic for the rest.
  uint64_t state = 1;
  for (int e = 0; e < 3000; ++e) {
    state = Mix64(state + 0x9e3779b97f4a7c15ULL);
    const uint64_t r = (state >> 32) % 200;
    observe(10 + state % 30, "i" + std::to_string(r * r / 200));
  }
  observe(39, "x");  // the last user's window holds x and skewed items
  const auto stronger = [](const std::pair<ItemId, float>& a, const std::pair<ItemId, float>& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  size_t checked = 0;
  for (size_t u = 0; u < 40; ++u) {
    std::vector<std::pair<ItemId, float>> reference;
    full.Boosts(users[0][u], &reference);
    std::vector<std::pair<std::pair<ItemId, float>, ItemId>> ranked;
    for (size_t i = 0; i < reference.size(); ++i) {
      ranked.push_back({reference[i], full.BoostSource(users[0][u], reference[i].first)});
    }
    std::sort(ranked.begin(), ranked.end(), [&](const auto& a, const auto& b) { return stronger(a.first, b.first); });
    for (size_t l = 0; l < cut.size(); ++l) {
      std::vector<std::pair<ItemId, float>> got;
      cut[l]->Boosts(users[l + 1][u], &got);
      REQUIRE(got.size() == std::min(keeps[l], ranked.size()));
      std::vector<std::pair<std::pair<ItemId, float>, ItemId>> with_sources;
      for (size_t i = 0; i < got.size(); ++i) {
        with_sources.push_back({got[i], cut[l]->BoostSource(users[l + 1][u], got[i].first)});
      }
      std::sort(with_sources.begin(), with_sources.end(), [&](const auto& a, const auto& b) { return stronger(a.first, b.first); });
      for (size_t i = 0; i < got.size(); ++i) CHECK(with_sources[i] == ranked[i]);
      checked += got.size();
    }
  }
  CHECK(checked > 500);
  // User 9's window is {x, t9}: t0..t8 tie on x's row; the cut of 3 takes the smallest ids.
  std::vector<std::pair<ItemId, float>> three;
  cut[1]->Boosts(users[2][9], &three);
  std::sort(three.begin(), three.end(), stronger);
  REQUIRE(three.size() == 3);
  CHECK(three[1].second == three[2].second);
}

TEST_CASE("changed items come with their co-occurrence rows only when the rows changed") {
  LearnerOptions o;
  o.negatives = 4;
  Learner l(o);
  std::vector<ItemId> items;
  for (int i = 0; i < 50; ++i) items.push_back(*l.InternItem("i" + std::to_string(i)));
  UserRecord u;
  l.InitUser("u", UserId(0), &u);
  uint64_t key = 0;
  l.Observe(&u, items[0], EventType::kView, 0, ++key);
  std::vector<ItemRecord> taken;
  l.TakeDirtyItems(&taken);  // the 50 new items and the first event's
  l.Observe(&u, items[1], EventType::kView, 0, ++key);  // co-occurs with items[0]
  l.TakeDirtyItems(&taken);  // replaces the records taken before
  size_t with_rows = 0;
  for (const ItemRecord& r : taken) {
    const bool co_occurred = r.id == items[0] || r.id == items[1];
    CHECK(r.with_neighbors == co_occurred);
    CHECK(r.neighbors.empty() != co_occurred);
    with_rows += r.with_neighbors ? 1 : 0;
  }
  CHECK(with_rows == 2);
  CHECK(taken.size() > 2);  // the negatives, embedding only
  // A new user's first event moves items without co-occurrence: records
  // reused from the last call hold no stale rows.
  UserRecord other;
  l.InitUser("other", UserId(1), &other);
  l.Observe(&other, items[0], EventType::kView, 0, ++key);
  l.TakeDirtyItems(&taken);
  REQUIRE_FALSE(taken.empty());
  for (const ItemRecord& r : taken) {
    CHECK_FALSE(r.with_neighbors);
    CHECK(r.neighbors.empty());
    CHECK(r.basket_neighbors.empty());
  }
  l.TakeDirtyItems(&taken);
  CHECK(taken.empty());
}

TEST_CASE("sealed items are copied as they were when sealed, whatever changes them after") {
  // Two learners see the same events; one takes its changed items at once,
  // the other seals them and copies them while later events change them.
  LearnerOptions o;
  o.negatives = 4;
  Learner direct(o);
  Learner sealed(o);
  std::vector<UserRecord> direct_users(6);
  std::vector<UserRecord> sealed_users(6);
  uint64_t key = 0;
  auto observe = [&](size_t u, int item, EventType type) {
    ++key;
    for (auto [l, users] : {std::pair{&direct, &direct_users}, std::pair{&sealed, &sealed_users}}) {
      UserRecord& user = (*users)[u];
      if (user.embedding.empty()) l->InitUser("u" + std::to_string(u), UserId(static_cast<uint32_t>(u)), &user);
      l->Observe(&user, *l->InternItem("i" + std::to_string(item)), type, 0, key);
    }
  };
  for (int e = 0; e < 200; ++e) observe(static_cast<size_t>(e % 6), (e * 7) % 30, e % 5 == 0 ? EventType::kCart : EventType::kView);
  std::vector<ItemRecord> expected;
  direct.TakeDirtyItems(&expected);
  sealed.SealDirtyItems();
  REQUIRE_FALSE(sealed.CopySealedItems(3));  // a slice, then events change sealed items
  for (int e = 0; e < 100; ++e) observe(static_cast<size_t>(e % 6), (e * 11) % 30, e % 4 == 0 ? EventType::kPurchase : EventType::kView);
  while (!sealed.CopySealedItems(5)) {
    observe(0, 1, EventType::kCart);
  }
  std::vector<ItemRecord> got;
  sealed.TakeSealedItems(&got);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].id == expected[i].id);
    CHECK(got[i].embedding == expected[i].embedding);
    CHECK(got[i].bias == expected[i].bias);
    CHECK(got[i].count == expected[i].count);
    CHECK(got[i].recency == expected[i].recency);
    CHECK(got[i].with_neighbors == expected[i].with_neighbors);
    CHECK(got[i].neighbors == expected[i].neighbors);
    CHECK(got[i].basket_neighbors == expected[i].basket_neighbors);
  }
  // The events after the seal are the next records', in both.
  direct.TakeDirtyItems(&expected);
  sealed.SealDirtyItems();
  REQUIRE(sealed.CopySealedItems(1000000));
  sealed.TakeSealedItems(&got);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].embedding == expected[i].embedding);
}

TEST_CASE("an item seen fewer than dense_min_events times is left out of the dense pass, listable through boosts") {
  for (uint64_t min_events : {uint64_t{1}, uint64_t{2}, uint64_t{3}}) {
    INFO("dense_min_events " << min_events);
    LearnerOptions o;
    o.dim = 8;
    o.dense_min_events = min_events;
    Learner l(o);
    UserRecord a;
    UserRecord b;
    l.InitUser("a", UserId(1), &a);
    l.InitUser("b", UserId(2), &b);
    const ItemId popular = *l.InternItem("popular");
    for (int k = 0; k < 5; ++k) l.Observe(&a, popular, EventType::kView, 0, 100 + k);  // the negatives drawn
    const ItemId once = *l.InternItem("once");
    const ItemId catalog = *l.InternItemLike("catalog", {});  // a catalog item: ranked from the start
    l.Observe(&b, once, EventType::kView, 0, 1);
    const auto dense = [&](ItemId id) { return l.Items().biases[id.value()] > -1e30F; };
    const auto listed = [&](ItemId id) { return l.Items().ListedBias(id.value()); };
    CHECK(dense(popular));
    CHECK(dense(catalog));
    CHECK(dense(once) == (min_events <= 1));
    CHECK(std::isfinite(listed(once)));
    l.Observe(&a, once, EventType::kView, 0, 2);
    CHECK(dense(once) == (min_events <= 2));
    // The dense term follows the bias the SGD steps move, negatives' included.
    for (ItemId id : {popular, once, catalog}) {
      if (dense(id)) CHECK(l.Items().biases[id.value()] == listed(id));
    }
  }
  LearnerOptions bad;
  bad.dense_min_events = 0;
  CHECK(bad.Validate().message().find("learner.dense_min_events") != std::string::npos);
}
