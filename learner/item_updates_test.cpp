#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/hash.h"
#include "learner/item_updates.h"
#include "learner/learner.h"

using namespace streamrec;
using namespace streamrec::learner;

namespace {

struct LogEvent {
  std::string user;
  std::string item;
  EventType type;
  int64_t ts_ms;
};

// 30 users over 60 items in three taste groups, with carts and purchases;
// deterministic.
std::vector<LogEvent> HandMadeLog(size_t events) {
  std::vector<LogEvent> log;
  uint64_t state = 7;
  for (size_t i = 0; i < events; ++i) {
    state = Mix64(state + i);
    const uint32_t user = static_cast<uint32_t>(state % 30);
    const uint32_t group = user % 3;
    const uint32_t item = group * 20 + static_cast<uint32_t>((state >> 20) % 20);
    const uint32_t kind = static_cast<uint32_t>((state >> 40) % 10);
    const EventType type = kind < 7 ? EventType::kView : kind < 9 ? EventType::kCart : EventType::kPurchase;
    log.push_back({"u" + std::to_string(user), "i" + std::to_string(item), type,
                   1'700'000'000'000LL + static_cast<int64_t>(i) * 60'000});
  }
  return log;
}

LearnerOptions Options() {
  LearnerOptions o;
  o.max_neighbors = 10'000;  // no row is trimmed: which neighbours a trimmed row keeps depends on arrival order
  o.dense_min_events = 1;
  // The online blend is learned per instance (docs/SCALE_OUT.md); held still
  // here, the items' served term is their bias alone, which the test compares.
  o.blend_learning_rate = 0.0F;
  return o;
}

// An instance: a learner and the users it owns.
struct Instance {
  explicit Instance(bool record, const LearnerOptions& options = Options()) : learner(options) {
    learner.RecordItemUpdates(record);
  }
  // `shared`: as the pipeline learns a shared instance's events, the user's session goes with the updates.
  void Learn(const LogEvent& e, uint64_t key, bool shared = false) {
    auto [it, created] = users.try_emplace(e.user);
    if (created) learner.InitUser(e.user, UserId(static_cast<uint32_t>(users.size())), &it->second);
    const std::optional<ItemId> item = learner.InternItem(e.item);
    REQUIRE(item);
    learner.Observe(&it->second, *item, e.type, e.ts_ms, key,
                    Learner::Scope{.partition = 0, .user_key = shared ? Learner::UserKey(e.user) : 0});
  }
  void LearnAll(const std::vector<LogEvent>& log) {
    for (size_t i = 0; i < log.size(); ++i) Learn(log[i], i);
  }
  Learner learner;
  std::map<std::string, UserRecord> users;
};

// Each instance's updates since the last exchange go to the other.
void Exchange(Instance* a, Instance* b) {
  ItemUpdates from_a, from_b;
  a->learner.TakeItemUpdates(&from_a);
  b->learner.TakeItemUpdates(&from_b);
  CHECK(b->learner.ApplyItemUpdates(from_a) == 0);
  CHECK(a->learner.ApplyItemUpdates(from_b) == 0);
}

std::map<std::string, float> Row(const Learner& l, const std::string& item, bool basket) {
  std::vector<std::pair<ItemId, float>> row;
  l.ItemNeighbors(*l.FindItem(item), basket, &row);
  std::map<std::string, float> by_name;
  for (const auto& [id, weight] : row) by_name[l.ItemExternalId(id)] = weight;
  return by_name;
}

std::vector<float> Factors(const Learner& l, const std::string& item) {
  const ItemMatrixView v = l.Items();
  const size_t i = l.FindItem(item)->value();
  return {v.embeddings + i * v.dim, v.embeddings + (i + 1) * v.dim};
}

}  // namespace

TEST_CASE("two instances exchanging item updates hold one instance's counts and co-occurrences") {
  const std::vector<LogEvent> log = HandMadeLog(3000);
  Instance one(/*record=*/false);
  Instance a(/*record=*/true);
  Instance b(/*record=*/true);
  // The exchange lags by a few events, as a record per batch would.
  const size_t exchange_every = GENERATE(1, 7, 100);
  for (size_t i = 0; i < log.size(); ++i) {
    const uint64_t key = Fnv1a64(log[i].user) + i;
    one.Learn(log[i], key);
    (Fnv1a64(log[i].user) % 2 == 0 ? a : b).Learn(log[i], key);
    if ((i + 1) % exchange_every == 0) Exchange(&a, &b);
  }
  Exchange(&a, &b);
  REQUIRE(a.learner.item_count() == one.learner.item_count());
  REQUIRE(b.learner.item_count() == one.learner.item_count());
  size_t rows_checked = 0;
  float max_factor_gap = 0.0F;
  for (uint32_t i = 0; i < one.learner.item_count(); ++i) {
    const std::string& name = one.learner.ItemExternalId(ItemId(i));
    const ItemId in_one(i);
    for (const Instance* x : {&a, &b}) {
      const ItemId id = *x->learner.FindItem(name);
      CHECK(x->learner.ItemEvents(id) == one.learner.ItemEvents(in_one));
      CHECK(x->learner.ItemRecency()[id.value()] == Approx(one.learner.ItemRecency()[i]).epsilon(1e-6));
      for (bool basket : {false, true}) {
        // Equal floats: the same pairs' weights, summed exactly in any order.
        CHECK(Row(x->learner, name, basket) == Row(one.learner, name, basket));
        ++rows_checked;
      }
    }
    // The two instances' factors agree up to float sums in another order
    // (each is a different asynchronous SGD than the single instance's).
    const std::vector<float> fa = Factors(a.learner, name);
    const std::vector<float> fb = Factors(b.learner, name);
    for (size_t d = 0; d < fa.size(); ++d) max_factor_gap = std::max(max_factor_gap, std::abs(fa[d] - fb[d]));
    const size_t ia = a.learner.FindItem(name)->value();
    const size_t ib = b.learner.FindItem(name)->value();
    CHECK(a.learner.Items().biases[ia] == Approx(b.learner.Items().biases[ib]).margin(1e-4));
  }
  CHECK(rows_checked == 4 * one.learner.item_count());
  CHECK(max_factor_gap < 1e-4F);
  // The rows are not empty: the check above compared something.
  CHECK(Row(one.learner, "i0", false).size() > 5);
  CHECK(Row(one.learner, "i0", true).size() > 2);
}

TEST_CASE("item updates are recorded only when asked, and only an instance's own events") {
  const std::vector<LogEvent> log = HandMadeLog(200);
  Instance quiet(/*record=*/false);
  Instance a(/*record=*/true);
  quiet.LearnAll(log);
  a.LearnAll(log);
  ItemUpdates updates;
  quiet.learner.TakeItemUpdates(&updates);
  CHECK(updates.empty());
  a.learner.TakeItemUpdates(&updates);
  REQUIRE_FALSE(updates.empty());
  uint64_t events = 0;
  for (const ItemUpdates::Item& item : updates.items) events += item.events;
  CHECK(events == log.size());
  // Applying them to the quiet learner records nothing there, and a take empties the recorder.
  quiet.learner.RecordItemUpdates(true);
  CHECK(quiet.learner.ApplyItemUpdates(updates) == 0);
  ItemUpdates echoed;
  quiet.learner.TakeItemUpdates(&echoed);
  CHECK(echoed.empty());
  a.learner.TakeItemUpdates(&echoed);
  CHECK(echoed.empty());
  // Applied on top of the same events, every count doubles.
  for (const ItemUpdates::Item& item : updates.items) {
    CHECK(quiet.learner.ItemEvents(*quiet.learner.FindItem(item.external_id)) == 2 * item.events);
  }
}

TEST_CASE("item updates survive their encoding and malformed records are refused") {
  const std::vector<LogEvent> log = HandMadeLog(300);
  Instance a(/*record=*/true);
  a.LearnAll(log);
  ItemUpdates updates;
  a.learner.TakeItemUpdates(&updates);
  const uint32_t dim = static_cast<uint32_t>(a.learner.options().dim);
  const std::string bytes = EncodeItemUpdates(updates, dim);
  ItemUpdates decoded;
  REQUIRE(DecodeItemUpdates(bytes, dim, &decoded).ok());
  REQUIRE(decoded.items.size() == updates.items.size());
  for (size_t i = 0; i < updates.items.size(); ++i) {
    CHECK(decoded.items[i].external_id == updates.items[i].external_id);
    CHECK(decoded.items[i].events == updates.items[i].events);
    CHECK(decoded.items[i].recency == updates.items[i].recency);
    CHECK(decoded.items[i].short_recency == updates.items[i].short_recency);
    CHECK(decoded.items[i].bias_delta == updates.items[i].bias_delta);
    CHECK(decoded.items[i].embedding_delta == updates.items[i].embedding_delta);
  }
  CHECK(decoded.cooc == updates.cooc);
  CHECK(decoded.basket == updates.basket);
  CHECK_FALSE(decoded.basket.empty());
  CHECK(decoded.sessions == updates.sessions);
  CHECK(decoded.sessions.empty());  // learned without user keys

  const Status other_dim = DecodeItemUpdates(bytes, dim * 2, &decoded);
  CHECK(other_dim.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(other_dim.message(), Catch::Contains("learner.dim"));
  CHECK_FALSE(DecodeItemUpdates(bytes.substr(0, bytes.size() - 1), dim, &decoded).ok());
  CHECK_FALSE(DecodeItemUpdates(bytes + "x", dim, &decoded).ok());
  CHECK_FALSE(DecodeItemUpdates("", dim, &decoded).ok());
  CHECK_FALSE(DecodeItemUpdates("not a record at all", dim, &decoded).ok());
  // A pair naming an item the record does not hold.
  ItemUpdates bad = updates;
  bad.cooc.push_back({0, static_cast<uint32_t>(bad.items.size()), 1.0F});
  CHECK_FALSE(DecodeItemUpdates(EncodeItemUpdates(bad, dim), dim, &decoded).ok());
  // Every truncation fails cleanly (no crash, no partial success).
  for (size_t cut = 0; cut < bytes.size(); cut += 97) CHECK_FALSE(DecodeItemUpdates(bytes.substr(0, cut), dim, &decoded).ok());
}

TEST_CASE("the blend's steps go with the item updates: an instance applying them learns the same blend") {
  LearnerOptions options = Options();
  options.blend_learning_rate = 0.1F;  // the shipped step
  Instance a(/*record=*/true, options);
  Instance b(/*record=*/true, options);
  const std::vector<LogEvent> log = HandMadeLog(2000);
  const uint32_t dim = static_cast<uint32_t>(options.dim);
  size_t recorded_steps = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    // As if each user was last served a list: its reference an item of the other taste group.
    auto [it, created] = a.users.try_emplace(log[i].user);
    if (created) a.learner.InitUser(log[i].user, UserId(static_cast<uint32_t>(a.users.size())), &it->second);
    if (const std::optional<ItemId> ref = a.learner.FindItem("i" + std::to_string((i * 7 + 30) % 60))) {
      it->second.list_reference = *ref;
    }
    a.Learn(log[i], i);
    if ((i + 1) % 50 == 0 || i + 1 == log.size()) {
      ItemUpdates updates;
      a.learner.TakeItemUpdates(&updates);
      recorded_steps += updates.blend.steps;
      ItemUpdates decoded;
      REQUIRE(DecodeItemUpdates(EncodeItemUpdates(updates, dim), dim, &decoded).ok());
      CHECK(decoded.blend == updates.blend);
      REQUIRE(b.learner.ApplyItemUpdates(decoded) == 0);
    }
  }
  const Learner::BlendWeights wa = a.learner.blend_weights();
  const Learner::BlendWeights wb = b.learner.blend_weights();
  REQUIRE(wa.steps > 500);  // outcomes were learned
  CHECK(recorded_steps == wa.steps);
  CHECK(wb.steps == wa.steps);
  CHECK(wa.cooc != Approx(options.cooc_weight).epsilon(0.01));  // and moved the weights
  CHECK(wb.cooc == Approx(wa.cooc).epsilon(1e-4));
  CHECK(wb.mf == Approx(wa.mf).epsilon(1e-4));
  CHECK(wb.session == Approx(wa.session).epsilon(1e-4));
  CHECK(wb.recency == Approx(wa.recency).epsilon(1e-4).margin(1e-5));
  CHECK(wb.short_recency == Approx(wa.short_recency).epsilon(1e-4).margin(1e-5));

  // An event learned for its user alone takes no step: it came with its record.
  UserRecord& user = a.users.at("u0");
  user.list_reference = *a.learner.FindItem("i59");
  a.learner.Observe(&user, *a.learner.FindItem("i58"), EventType::kView, log.back().ts_ms + 1000, 99,
                    Learner::Scope{.partition = 0, .item_side = false});
  CHECK(a.learner.blend_weights().steps == wa.steps);
}

TEST_CASE("an event learned for its user alone leaves the item side as it was") {
  const std::vector<LogEvent> log = HandMadeLog(500);
  Instance a(/*record=*/true);
  a.LearnAll(log);
  ItemUpdates drained;
  a.learner.TakeItemUpdates(&drained);
  const ItemMatrixView v = a.learner.Items();
  const std::vector<float> embeddings(v.embeddings, v.embeddings + v.rows * v.dim);
  const std::vector<float> biases(v.biases, v.biases + v.rows);
  std::vector<uint64_t> counts;
  for (uint32_t i = 0; i < a.learner.item_count(); ++i) counts.push_back(a.learner.ItemEvents(ItemId(i)));
  const auto rows = Row(a.learner, "i3", false);
  const auto basket_rows = Row(a.learner, "i3", true);

  UserRecord& user = a.users.at("u0");
  const std::vector<float> user_before = user.embedding;
  const uint64_t events_before = user.events;
  const ItemId item = *a.learner.FindItem("i3");
  a.learner.Observe(&user, item, EventType::kCart, log.back().ts_ms + 1000, 99,
                    Learner::Scope{.partition = 0, .item_side = false});
  CHECK(user.embedding != user_before);
  CHECK(user.events == events_before + 1);
  CHECK(user.history.back() == item);
  CHECK(user.basket.back() == item);
  const ItemMatrixView after = a.learner.Items();
  CHECK(std::vector<float>(after.embeddings, after.embeddings + after.rows * after.dim) == embeddings);
  CHECK(std::vector<float>(after.biases, after.biases + after.rows) == biases);
  for (uint32_t i = 0; i < a.learner.item_count(); ++i) CHECK(a.learner.ItemEvents(ItemId(i)) == counts[i]);
  CHECK(Row(a.learner, "i3", false) == rows);
  CHECK(Row(a.learner, "i3", true) == basket_rows);
  ItemUpdates recorded;
  a.learner.TakeItemUpdates(&recorded);
  CHECK(recorded.empty());
}

TEST_CASE("item updates are summed per events partition, and an event can be learned without being recorded") {
  const std::vector<LogEvent> log = HandMadeLog(300);
  Learner l(Options());
  l.RecordItemUpdates(true);
  std::map<std::string, UserRecord> users;
  uint64_t per_partition[3] = {0, 0, 0};
  for (size_t i = 0; i < log.size(); ++i) {
    auto [it, created] = users.try_emplace(log[i].user);
    if (created) l.InitUser(log[i].user, UserId(static_cast<uint32_t>(users.size())), &it->second);
    const int32_t partition = static_cast<int32_t>(Fnv1a64(log[i].user) % 3);
    const bool record = partition != 2;  // partition 2's events: already published (a replay)
    l.Observe(&it->second, *l.InternItem(log[i].item), log[i].type, log[i].ts_ms, i,
              Learner::Scope{.partition = partition, .item_side = true, .record = record});
    if (record) ++per_partition[partition];
  }
  CHECK(l.item_update_bytes(0) > 0);
  CHECK(l.item_update_bytes(2) == 0);
  for (int32_t p = 0; p < 3; ++p) {
    ItemUpdates updates;
    l.TakeItemUpdates(p, &updates);
    uint64_t events = 0;
    for (const ItemUpdates::Item& item : updates.items) events += item.events;
    CHECK(events == per_partition[p]);
    CHECK(l.item_update_bytes(p) == 0);
  }
  CHECK(per_partition[0] > 0);
  CHECK(per_partition[1] > 0);
}

TEST_CASE("an instance that took over a partition replays its published events for their users alone") {
  // Instance a learned events 0..n of a partition and published them; b applied
  // them, then adopted the partition and replays the same events (its stored
  // position was behind): for their users only, so every item counts each once.
  const std::vector<LogEvent> log = HandMadeLog(400);
  Instance a(/*record=*/true);
  Instance b(/*record=*/true);
  a.LearnAll(log);
  ItemUpdates published;
  a.learner.TakeItemUpdates(&published);
  REQUIRE(b.learner.ApplyItemUpdates(published) == 0);
  for (size_t i = 0; i < log.size(); ++i) {
    auto [it, created] = b.users.try_emplace(log[i].user);
    if (created) b.learner.InitUser(log[i].user, UserId(static_cast<uint32_t>(b.users.size())), &it->second);
    b.learner.Observe(&it->second, *b.learner.InternItem(log[i].item), log[i].type, log[i].ts_ms, i,
                      Learner::Scope{.partition = 0, .item_side = false});
  }
  for (uint32_t i = 0; i < a.learner.item_count(); ++i) {
    const std::string& name = a.learner.ItemExternalId(ItemId(i));
    CHECK(b.learner.ItemEvents(*b.learner.FindItem(name)) == a.learner.ItemEvents(ItemId(i)));
    CHECK(Row(b.learner, name, false) == Row(a.learner, name, false));
    CHECK(Row(b.learner, name, true) == Row(a.learner, name, true));
  }
  // The users' histories are whole again.
  for (const auto& [name, user] : a.users) CHECK(b.users.at(name).history == user.history);
}

namespace {

// Per item (by external id): its rows' weights plus what trimming dropped;
// *trimmed counts the items whose rows were trimmed.
std::map<std::string, double> PairTotals(Learner* l, size_t* trimmed = nullptr) {
  std::vector<ItemRecord> records;
  l->TakeDirtyItems(&records);
  std::map<std::string, double> totals;
  for (const ItemRecord& r : records) {
    double sum = r.trimmed_cooc;
    for (const auto& [id, weight] : r.neighbors) sum += weight;
    for (const auto& [id, weight] : r.basket_neighbors) sum += weight;
    totals[r.external_id] = sum;
    if (trimmed != nullptr && r.trimmed_cooc > 0) ++*trimmed;
  }
  return totals;
}

}  // namespace

TEST_CASE("trimmed rows keep what they dropped: every instance's pair totals equal one instance's") {
  const std::vector<LogEvent> log = HandMadeLog(3000);
  LearnerOptions small = Options();
  small.max_neighbors = 4;  // rows of 9 are trimmed to 4: which ones stay depends on the order of arrival
  Instance one(/*record=*/false, small);
  Instance a(/*record=*/true, small);
  Instance b(/*record=*/true, small);
  for (size_t i = 0; i < log.size(); ++i) {
    one.Learn(log[i], i);
    (Fnv1a64(log[i].user) % 2 == 0 ? a : b).Learn(log[i], i);
    if ((i + 1) % 50 == 0) Exchange(&a, &b);
  }
  Exchange(&a, &b);
  size_t trimmed = 0;
  const std::map<std::string, double> totals = PairTotals(&one.learner, &trimmed);
  CHECK(trimmed > 10);  // trimming happened, so equal totals are more than equal rows
  CHECK(totals.size() == one.learner.item_count());
  CHECK(PairTotals(&a.learner) == totals);
  CHECK(PairTotals(&b.learner) == totals);
}

namespace {

// The session neighbours' part of each of `users`' boosts, by item name.
std::map<std::string, std::map<std::string, float>> SessionBoosts(const Instance& x,
                                                                  const std::map<std::string, UserRecord>& users) {
  std::map<std::string, std::map<std::string, float>> out;
  std::vector<std::pair<ItemId, float>> boosts;
  for (const auto& [name, user] : users) {
    x.learner.Boosts(x.users.at(name), &boosts, BoostScales{.cooc = 0.0F, .session = 1.0F});
    for (const auto& [item, score] : boosts) out[name][x.learner.ItemExternalId(item)] = score;
  }
  return out;
}

}  // namespace

TEST_CASE("instances exchanging item updates hold every user's session: their session neighbours score as one instance's") {
  const std::vector<LogEvent> log = HandMadeLog(900);
  Instance one(/*record=*/false);
  Instance a(/*record=*/true);
  Instance b(/*record=*/true);
  const bool shared = GENERATE(true, false);
  for (size_t i = 0; i < log.size(); ++i) {
    one.Learn(log[i], i);
    (Fnv1a64(log[i].user) % 2 == 0 ? a : b).Learn(log[i], i, shared);
    if ((i + 1) % 7 == 0) Exchange(&a, &b);
  }
  Exchange(&a, &b);
  REQUIRE(!a.users.empty());
  REQUIRE(!b.users.empty());
  size_t scores = 0;
  size_t differ = 0;
  for (const Instance* x : {&a, &b}) {
    const auto got = SessionBoosts(*x, x->users);
    const auto want = SessionBoosts(one, x->users);
    for (const auto& [user, items] : want) {
      const auto it = got.find(user);
      const bool same = it != got.end() && it->second.size() == items.size() &&
                        std::all_of(items.begin(), items.end(), [&](const auto& kv) {
                          const auto g = it->second.find(kv.first);
                          return g != it->second.end() && g->second == Approx(kv.second).epsilon(1e-5);
                        });
      scores += items.size();
      if (!same) ++differ;
    }
  }
  CHECK(scores > 100);
  if (shared) {
    CHECK(differ == 0);
  } else {
    CHECK(differ > 0);  // each instance's own users' sessions alone: other neighbours
  }
}

TEST_CASE("a user's session steps go with the updates, and a user who became this instance's drops the copy") {
  const std::vector<LogEvent> log = HandMadeLog(300);
  Instance a(/*record=*/true);
  for (size_t i = 0; i < log.size(); ++i) a.Learn(log[i], i, /*shared=*/true);
  ItemUpdates updates;
  a.learner.TakeItemUpdates(&updates);
  REQUIRE(updates.sessions.size() == log.size());
  CHECK(updates.sessions.front().user_key == Learner::UserKey(log.front().user));
  CHECK(updates.items[updates.sessions.back().item].external_id == log.back().item);
  const uint32_t dim = static_cast<uint32_t>(a.learner.options().dim);
  const std::string bytes = EncodeItemUpdates(updates, dim);
  ItemUpdates decoded;
  REQUIRE(DecodeItemUpdates(bytes, dim, &decoded).ok());
  CHECK(decoded.sessions == updates.sessions);
  for (size_t cut = 0; cut < bytes.size(); cut += 61) CHECK_FALSE(DecodeItemUpdates(bytes.substr(0, cut), dim, &decoded).ok());
  ItemUpdates bad = updates;
  bad.sessions.push_back({1, static_cast<uint32_t>(bad.items.size()), 0});
  CHECK_FALSE(DecodeItemUpdates(EncodeItemUpdates(bad, dim), dim, &decoded).ok());
  // Version 2 and 1 records (no blend steps; no session steps either, as
  // written before them) still apply.
  constexpr size_t kBlendBytes = 4 + 2 * BlendSteps::kWeights * sizeof(float);
  std::string v2 = EncodeItemUpdates(updates, dim);
  v2.resize(v2.size() - kBlendBytes);
  v2[4] = 2;
  REQUIRE(DecodeItemUpdates(v2, dim, &decoded).ok());
  CHECK(decoded.sessions == updates.sessions);
  std::string v1 = v2;
  v1.resize(v1.size() - 4 - updates.sessions.size() * ItemUpdates::SessionStep::kEncodedBytes);
  v1[4] = 1;
  REQUIRE(DecodeItemUpdates(v1, dim, &decoded).ok());
  CHECK(decoded.sessions.empty());
  CHECK(decoded.cooc == updates.cooc);

  // b holds a's users' sessions; once one of them is b's own, their copy empties.
  Instance b(/*record=*/true);
  REQUIRE(b.learner.ApplyItemUpdates(updates) == 0);
  std::vector<SessionRecord> sessions;
  b.learner.TakeDirtySessions(&sessions);
  std::set<uint32_t> owners;
  for (const SessionRecord& r : sessions) {
    CHECK(r.owner.value() >= 0x80000000U);  // keyed apart from b's own users
    CHECK_FALSE(r.items.empty());
    owners.insert(r.owner.value());
  }
  std::set<std::string> users;
  for (const LogEvent& e : log) users.insert(e.user);
  CHECK(owners.size() == users.size());
  const LogEvent& e = log.back();
  b.Learn({e.user, e.item, e.type, e.ts_ms + 1000}, 7, /*shared=*/true);
  b.learner.TakeDirtySessions(&sessions);
  size_t emptied = 0;
  size_t own = 0;
  for (const SessionRecord& r : sessions) {
    if (r.owner.value() >= 0x80000000U) emptied += r.items.empty() ? 1 : 0;
    if (r.owner.value() < 0x80000000U) own += r.items.empty() ? 0 : 1;
  }
  CHECK(emptied == 1);
  CHECK(own == 1);
}
