// The Emitter end to end at module level: lists published to the embedded
// broker and read back, for the catalog, the rules and the fallback.
#include <catch2/catch.hpp>

#include <chrono>
#include <limits>
#include <random>
#include <regex>
#include <thread>
#include <tuple>

#include "common/clock.h"

#include "emitter/emitter.h"
#include "emitter/fake_model_test.h"
#include "emitter/item_lists.h"
#include "kafka/embedded_broker.h"
#include "kafka/reader.h"

using namespace streamrec;
using namespace streamrec::emitter;

namespace {

// a..f in 2-D; a user pointing at (1, 0) scores a 1, b 0.9, c 0.8, d 0, e 0, f -1.
testing::FakeModel MakeModel() { return testing::FakeModel({1, 0, 0.9F, 0, 0.8F, 0, 0, 1, 0, 0.5F, -1, 0}, {0, 0, 0, 0, 0, 0}); }

CatalogUpdate Entry(std::string id, std::string category, bool in_stock = true, std::string brand = "") {
  CatalogUpdate u;
  u.entry.item_id = std::move(id);
  u.entry.category = std::move(category);
  u.entry.in_stock = in_stock;
  u.entry.brand = std::move(brand);
  return u;
}

UserRecord User(std::vector<uint32_t> history, uint64_t events) {
  UserRecord u;
  u.embedding = {1, 0};
  for (uint32_t h : history) u.history.push_back(ItemId(h));
  u.events = events;
  return u;
}

// Items a..f, all available, in one category.
catalog::Catalog OneCategory() {
  catalog::Catalog cat;
  for (uint32_t i = 0; i < 6; ++i) cat.Apply(ItemId(i), Entry(std::string(1, static_cast<char>('a' + i)), "x"), 0);
  return cat;
}

struct Harness {
  Harness() {
    REQUIRE(kafka::EmbeddedBroker::Start(1, &broker).ok());
    REQUIRE(broker->CreateTopic("recs", 1).ok());
  }

  // An Emitter's options: top-3 lists to "recs" on this broker.
  EmitterOptions Options() const {
    EmitterOptions o;
    o.topic = "recs";
    o.top_n = 3;
    o.ann_candidates = 6;
    o.producer_properties = {{"bootstrap.servers", broker->bootstrap()}, {"linger.ms", "1"}};
    return o;
  }

  // Publishes one list for `user` and returns "item:reason" entries read back from the topic.
  std::vector<std::string> Publish(EmitterOptions options, const ModelView& model, const catalog::Catalog* catalog,
                                   const TrendingLists* trending, UserRecord* user,
                                   std::vector<ListHolderChange>* holders, experiment::Ledger* ledger = nullptr) {
    options.topic = "recs";
    options.top_n = 3;
    options.ann_candidates = 6;
    options.producer_properties = {{"bootstrap.servers", broker->bootstrap()}, {"linger.ms", "1"}};
    Emitter emitter(options);
    REQUIRE(emitter.Start().ok());
    emitter.SetLedger(ledger);
    const ListRequest request{"u", user, 0, 7};
    REQUIRE(emitter.Publish(model, catalog, trending, {&request, 1}, {}, holders).ok());
    REQUIRE(emitter.Flush(10000).ok());
    REQUIRE(emitter.Stop().ok());
    return LastList();
  }

  // The last list on the topic, as "item:reason" entries.
  std::vector<std::string> LastList() {
    const std::string payload = LastPayload();
    std::vector<std::string> out;
    const std::regex entry(R"re("item_id":"([^"]+)","score":[^,]+,"reason":"([^"]+)")re");
    for (auto it = std::sregex_iterator(payload.begin(), payload.end(), entry); it != std::sregex_iterator(); ++it) {
      out.push_back((*it)[1].str() + ":" + (*it)[2].str());
    }
    return out;
  }

  // The last list on the topic, as published.
  std::string LastPayload() {
    std::unique_ptr<kafka::PartitionReader> reader;
    REQUIRE(kafka::PartitionReader::Create({{"bootstrap.servers", broker->bootstrap()}}, &reader).ok());
    kafka::Watermarks w;
    REQUIRE(reader->QueryWatermarks("recs", 0, 5000, &w).ok());
    std::string payload;
    REQUIRE(reader->Read("recs", 0, w.high - 1, w.high, 5000, [&](const kafka::Message& m) {
                      payload.assign(m.payload());
                    }).ok());
    return payload;
  }

  std::unique_ptr<kafka::EmbeddedBroker> broker;
};

}  // namespace

TEST_CASE("published lists leave out purchases and unavailable items, and explain every item") {
  Harness h;
  testing::FakeModel model = MakeModel();
  model.cooc[3] = {{ItemId(4), 0.1F}};  // e co-occurs with d
  catalog::Catalog cat;
  cat.Apply(ItemId(0), Entry("a", "x"), 0);
  cat.Apply(ItemId(1), Entry("b", "x", /*in_stock=*/false), 0);
  cat.Apply(ItemId(2), Entry("c", "y", true, "acme"), 0);
  EmitterOptions o;
  o.exclude_interacted = false;  // seen items may come back, bought ones never
  o.rules.boost["brand:acme"] = 0.05F;
  UserRecord u = User({3, 0}, 10);
  u.purchased = {ItemId(0)};
  std::vector<ListHolderChange> holders;
  const std::vector<std::string> list = h.Publish(o, model, &cat, nullptr, &u, &holders);
  CHECK(list == std::vector<std::string>{"c:boosted", "e:similar_to:d", "d:personal"});
  CHECK(u.seq == 10 * kSeqPerEvent);  // 10 events, the first list since
  // Only catalog-tracked items enter the reverse index.
  REQUIRE(holders.size() == 1);
  CHECK(holders[0].item == ItemId(2));
  CHECK(holders[0].added);
  CHECK(u.list == std::vector<ItemId>{ItemId(2)});
}

TEST_CASE("rule boosts and published scores are in the blend's units, whatever weight it gave the factorisation") {
  Harness h;
  testing::FakeModel model = MakeModel();
  catalog::Catalog cat;
  cat.Apply(ItemId(0), Entry("a", "x"), 0);
  cat.Apply(ItemId(1), Entry("b", "x"), 0);
  cat.Apply(ItemId(2), Entry("c", "x", true, "acme"), 0);
  EmitterOptions o;
  o.rules.boost["brand:acme"] = 0.05F;
  UserRecord u = User({}, 10);
  std::vector<ListHolderChange> holders;
  // At scale 1 the gentle boost does not lift c (0.8 + 0.05) above a and b.
  CHECK(h.Publish(o, model, &cat, nullptr, &u, &holders) ==
        std::vector<std::string>{"a:personal", "b:personal", "c:boosted"});
  CHECK(h.LastPayload().find(R"("item_id":"a","score":1,)") != std::string::npos);
  // The blend gave the factorisation a tenth: list scores are worth a tenth
  // of a blend unit, so the same boost is worth 0.5 of them and c comes first.
  model.score_scale = 0.1F;
  CHECK(h.Publish(o, model, &cat, nullptr, &u, &holders) ==
        std::vector<std::string>{"c:boosted", "a:personal", "b:personal"});
  // Published in blend units: a's list score 1 is 0.1.
  CHECK(h.LastPayload().find(R"("item_id":"a","score":0.1,)") != std::string::npos);
}

TEST_CASE("pins, the exploration slot and the per-category limit shape the list") {
  Harness h;
  testing::FakeModel model = MakeModel();
  model.events[4] = 0;  // e: a new catalog item nobody touched
  catalog::Catalog cat;
  for (const auto& [id, name, category] : {std::tuple{0U, "a", "x"}, {1U, "b", "x"}, {2U, "c", "y"}, {3U, "d", "z"},
                                           {4U, "e", "z"}, {5U, "f", "w"}}) {
    cat.Apply(ItemId(id), Entry(name, category), NowMillis());
  }
  EmitterOptions o;
  o.rules.pins["f"] = 1;
  o.rules.exploration_slot = 3;
  o.rules.new_item_max_events = 0;
  o.rules.max_per_category = 1;
  UserRecord u = User({3}, 10);
  std::vector<ListHolderChange> holders;
  const std::vector<std::string> list = h.Publish(o, model, &cat, nullptr, &u, &holders);
  // f pinned first; a (b is a second "x"); e, new in the user's category z, in slot 3.
  CHECK(list == std::vector<std::string>{"f:pinned", "a:personal", "e:new"});
}

TEST_CASE("by default a new catalog item takes slot 10, or a shorter list's last slot") {
  Harness h;
  testing::FakeModel model = MakeModel();
  model.events[4] = 0;  // e: a new catalog item nobody touched
  catalog::Catalog cat;
  cat.Apply(ItemId(4), Entry("e", "z"), NowMillis());
  EmitterOptions o;  // top_n 3 here: slot 10 is past the end
  REQUIRE(o.rules.exploration_slot == 10);
  REQUIRE(o.rules.Validate(o.top_n).ok());
  UserRecord u = User({3}, 10);
  std::vector<ListHolderChange> holders;
  CHECK(h.Publish(o, model, &cat, nullptr, &u, &holders) ==
        std::vector<std::string>{"a:personal", "b:personal", "e:new"});
  o.rules.exploration_slot = 0;  // off: the personal list alone
  CHECK(h.Publish(o, model, &cat, nullptr, &u, &holders) ==
        std::vector<std::string>{"a:personal", "b:personal", "c:personal"});
}

TEST_CASE("with a whole catalogue new, the exploration pick is among the newest of the user's categories") {
  Harness h;
  // 200 items, all in category z, arriving in id order; 0..2 have events, 3..199 are new.
  std::vector<float> embeddings;
  for (uint32_t i = 0; i < 200; ++i) {
    const float x = i < 3 ? 1.0F - 0.1F * static_cast<float>(i) : i == 10 ? 0.7F : i == 190 ? 0.5F : 0.1F;
    embeddings.insert(embeddings.end(), {x, 0.0F});
  }
  testing::FakeModel model(embeddings, std::vector<float>(200, 0.0F));
  catalog::Catalog cat;
  const int64_t now = NowMillis();
  for (uint32_t i = 0; i < 200; ++i) {
    model.events[i] = i < 3 ? 100 : 0;
    cat.Apply(ItemId(i), Entry(model.ItemExternalId(ItemId(i)), "z"), now - 1000 + i);
  }
  EmitterOptions o;
  o.rules.exploration_slot = 3;
  UserRecord u = User({0}, 10);
  std::vector<ListHolderChange> holders;
  // k (item 10) scores best of the new items but is not among the newest 32
  // arrivals of z: the pick is i190, the best of those.
  CHECK(h.Publish(o, model, &cat, nullptr, &u, &holders) ==
        std::vector<std::string>{"b:personal", "c:personal", "i190:new"});
}

TEST_CASE("a user with too little history gets trending items of their categories") {
  Harness h;
  testing::FakeModel model = MakeModel();
  model.SetRecency({1, 2, 3, -1e30F, 4, -1e30F});
  catalog::Catalog cat;
  cat.Apply(ItemId(3), Entry("d", "z"), 0);
  cat.Apply(ItemId(4), Entry("e", "z"), 0);
  TrendingLists trending(10);
  trending.Build(model, &cat, nullptr);
  UserRecord u = User({3}, 1);  // one event, and d co-occurs with nothing
  std::vector<ListHolderChange> holders;
  std::vector<std::string> list = h.Publish(EmitterOptions{}, model, &cat, &trending, &u, &holders);
  CHECK(list == std::vector<std::string>{"e:trending", "c:trending", "b:trending"});
  // With enough events the personal list stands.
  u.events = 3;
  list = h.Publish(EmitterOptions{}, model, &cat, &trending, &u, &holders);
  CHECK(list == std::vector<std::string>{"a:personal", "b:personal", "c:personal"});
}

TEST_CASE("an experiment's variant shapes its lists, which carry its name and are recorded as served") {
  Harness h;
  testing::FakeModel model = MakeModel();
  model.cooc[3] = {{ItemId(4), 2.0F}};  // e co-occurs strongly with d
  model.SetRecency({1, 2, 3, -1e30F, 4, -1e30F});
  catalog::Catalog cat = OneCategory();
  TrendingLists trending(10);
  trending.Build(model, &cat, nullptr);
  EmitterOptions o;
  o.rules.exploration_slot = 0;
  std::vector<ListHolderChange> holders;
  const auto in_variant = [](experiment::VariantOptions v) {
    experiment::ExperimentOptions e;
    e.name = "exp";
    v.name = "only";
    v.share = 1.0;
    e.variants = {v};
    experiment::Ledger ledger;
    ledger.Reset(e);
    return ledger;
  };
  experiment::Ledger blend = in_variant({});
  UserRecord u = User({3}, 10);
  CHECK(h.Publish(o, model, &cat, &trending, &u, &holders, &blend) ==
        std::vector<std::string>{"e:similar_to:d", "a:personal", "b:personal"});
  CHECK(h.LastPayload().find(R"("experiment":"exp","variant":"only"})") != std::string::npos);
  CHECK(u.experiment->served.items == std::vector<ItemId>{ItemId(4), ItemId(0), ItemId(1)});
  CHECK(u.experiment->served.reasons == std::vector<uint8_t>{uint8_t(Reason::kSimilarTo), 0, 0});
  CHECK(u.experiment->counts.lists == 1);
  CHECK(blend.tallies()[0].reasons[size_t(Reason::kSimilarTo)].shown == 1);
  CHECK(u.list_reference != ItemId(UserRecord::kNoItem));  // the blend as learned: it learns from this list

  experiment::Ledger embeddings = in_variant({.model = "embeddings"});
  u = User({3}, 10);
  CHECK(h.Publish(o, model, &cat, &trending, &u, &holders, &embeddings) ==
        std::vector<std::string>{"a:personal", "b:personal", "c:personal"});
  CHECK(u.list_reference == ItemId(UserRecord::kNoItem));  // another model's list teaches the blend nothing
  experiment::Ledger without_cooc = in_variant({.cooc_scale = 0.0});  // the blend without its co-occurrence term
  u = User({3}, 10);
  CHECK(h.Publish(o, model, &cat, &trending, &u, &holders, &without_cooc) ==
        std::vector<std::string>{"a:personal", "b:personal", "c:personal"});
  experiment::Ledger holdout = in_variant({.model = "trending"});
  CHECK(h.Publish(o, model, &cat, &trending, &u, &holders, &holdout) ==
        std::vector<std::string>{"e:trending", "c:trending", "b:trending"});
  experiment::Ledger shorter = in_variant({.list_length = 2});
  CHECK(h.Publish(o, model, &cat, &trending, &u, &holders, &shorter).size() == 2);
  // Without an experiment: no variant on the list, nothing recorded.
  u = User({3}, 10);
  CHECK(h.Publish(o, model, &cat, &trending, &u, &holders).size() == 3);
  CHECK(h.LastPayload().find("experiment") == std::string::npos);
  CHECK_FALSE(u.experiment);
}

TEST_CASE("a newcomer's trending fallback is topped up by personal items, never empty") {
  Harness h;
  testing::FakeModel model = MakeModel();
  catalog::Catalog cat;
  UserRecord u = User({3}, 1);  // one event: the fallback applies
  std::vector<ListHolderChange> holders;
  // Trending built before the shop had events: every list empty.
  TrendingLists empty(10);
  empty.Build(model, &cat, nullptr);
  REQUIRE(empty.built());
  REQUIRE(empty.global().empty());
  CHECK(h.Publish(EmitterOptions{}, model, &cat, &empty, &u, &holders) ==
        std::vector<std::string>{"a:personal", "b:personal", "c:personal"});
  // Trending holds one item: it leads, the personal ones fill the list.
  model.SetRecency({-1e30F, -1e30F, -1e30F, -1e30F, 4, -1e30F});
  TrendingLists one(10);
  one.Build(model, &cat, nullptr);
  REQUIRE(one.global().size() == 1);
  CHECK(h.Publish(EmitterOptions{}, model, &cat, &one, &u, &holders) ==
        std::vector<std::string>{"e:trending", "a:personal", "b:personal"});
}

TEST_CASE("through the approximate index the lists are the same on a small catalogue") {
  Harness h;
  testing::FakeModel model = MakeModel();
  model.cooc[3] = {{ItemId(4), 0.1F}};
  catalog::Catalog cat;
  cat.Apply(ItemId(1), Entry("b", "x", /*in_stock=*/false), 0);
  for (size_t ann_min_items : {0UL, 1UL}) {
    EmitterOptions o;
    o.ann_min_items = ann_min_items;
    UserRecord u = User({3}, 10);
    std::vector<ListHolderChange> holders;
    CHECK(h.Publish(o, model, &cat, nullptr, &u, &holders) ==
          std::vector<std::string>{"a:personal", "c:personal", "e:similar_to:d"});
  }
}

TEST_CASE("lists scored on the scoring thread are Publish's lists; an item withdrawn meanwhile is left out") {
  Harness h;
  testing::FakeModel model = MakeModel();
  catalog::Catalog cat = OneCategory();
  Emitter emitter(h.Options());
  REQUIRE(emitter.Start().ok());
  std::vector<ListHolderChange> holders;
  UserRecord first = User({}, 10);
  const ListRequest publish{"u1", &first, 0, 1};
  REQUIRE(emitter.Publish(model, &cat, nullptr, {&publish, 1}, {}, &holders).ok());
  REQUIRE(emitter.Flush(10000).ok());
  const std::vector<std::string> published = h.LastList();
  CHECK(published == std::vector<std::string>{"a:personal", "b:personal", "c:personal"});

  UserRecord second = User({}, 10);
  const ListRequest begun{"u2", &second, 0, 2};
  CHECK_FALSE(emitter.busy());
  REQUIRE(emitter.Begin(model, &cat, {&begun, 1}).ok());
  CHECK(emitter.busy());
  CHECK(emitter.can_begin());
  // A second job is built while the first is scored, and scored once it is finished.
  UserRecord third = User({}, 10);
  const ListRequest next{"u3", &third, 0, 3};
  REQUIRE(emitter.Begin(model, &cat, {&next, 1}).ok());
  CHECK_FALSE(emitter.can_begin());
  CHECK_FALSE(emitter.Begin(model, &cat, {&begun, 1}).ok());  // two at a time
  CHECK_FALSE(emitter.Publish(model, &cat, nullptr, {&publish, 1}, {}, &holders).ok());
  REQUIRE(emitter.Finish(model, &cat, nullptr, &holders).ok());  // the older: u2's
  CHECK(second.seq == 10 * kSeqPerEvent);
  CHECK(third.seq == 0);
  CHECK(emitter.busy());
  CHECK(emitter.can_begin());
  REQUIRE(emitter.Finish(model, &cat, nullptr, &holders).ok());
  CHECK_FALSE(emitter.busy());
  CHECK(third.seq == 10 * kSeqPerEvent);
  CHECK(third.list == second.list);
  REQUIRE(emitter.Flush(10000).ok());
  CHECK(h.LastList() == published);

  // "a" goes out of stock while the list is scored: it never reaches the topic.
  REQUIRE(emitter.Begin(model, &cat, {&begun, 1}).ok());
  cat.Apply(ItemId(0), Entry("a", "x", /*in_stock=*/false), 1);
  REQUIRE(emitter.Finish(model, &cat, nullptr, &holders).ok());
  REQUIRE(emitter.Flush(10000).ok());
  // d: the spare candidate scored for the exploration slot (on by default) fills in.
  CHECK(h.LastList() == std::vector<std::string>{"b:personal", "c:personal", "d:personal"});
  CHECK(second.seq == 10 * kSeqPerEvent + 1);  // a second list without a new event
  CHECK(second.list == std::vector<ItemId>{ItemId(1), ItemId(2), ItemId(3)});
  REQUIRE(emitter.Finish(model, &cat, nullptr, &holders).ok());  // nothing in flight: nothing to do
  REQUIRE(emitter.Stop().ok());
}

TEST_CASE("the scoring thread's item copy is taken again once the events touched as many items as it holds") {
  Harness h;
  testing::FakeModel model = MakeModel();
  const catalog::Catalog cat = OneCategory();
  EmitterOptions o = h.Options();
  o.snapshot_max_age_ms = 60000;  // never by age within this test
  Emitter emitter(o);
  REQUIRE(emitter.Start().ok());
  std::vector<ListHolderChange> holders;
  UserRecord user = User({}, 10);
  const ListRequest request{"u", &user, 0, 1};
  auto list = [&] {
    REQUIRE(emitter.Begin(model, &cat, {&request, 1}).ok());
    REQUIRE(emitter.Finish(model, &cat, nullptr, &holders).ok());
    return user.list;
  };
  const std::vector<ItemId> before = {ItemId(0), ItemId(1), ItemId(2)};
  CHECK(list() == before);
  model.SetEmbedding(5, 2, 0);  // "f" now scores highest
  const std::vector<ItemId> one_change = {ItemId(5)};
  REQUIRE(emitter.UpdateIndex(model, one_change).ok());
  CHECK(list() == before);  // one of six items touched: the copy is young enough
  const std::vector<ItemId> many_changes = {ItemId(5), ItemId(0), ItemId(1), ItemId(2), ItemId(3)};
  REQUIRE(emitter.UpdateIndex(model, many_changes).ok());
  CHECK(list() == std::vector<ItemId>{ItemId(5), ItemId(0), ItemId(1)});
  REQUIRE(emitter.Stop().ok());
}

// [hnswlib-locks]: 600 equal embeddings make hnswlib take its per-element locks
// in both orders (one thread, no deadlock possible), a report without stacks
// from TSan's detector; scripts/sanitize.sh thread leaves it out (the threads of
// the index are covered by the next case).
TEST_CASE("items the dense pass never lists do not count towards ann_min_items", "[hnswlib-locks]") {
  // A flood of one-off ids (learner.dense_min_events: bias -inf) fills the
  // table past the threshold: no index is built over them (a minute per
  // million items, blocking), until enough listable items are there.
  constexpr uint32_t kItems = 600;
  std::vector<float> embeddings(2 * kItems, 0.5F);
  std::vector<float> biases(kItems, -std::numeric_limits<float>::infinity());
  for (uint32_t i = 0; i < 100; ++i) biases[i] = 0.0F;
  const testing::FakeModel flooded(embeddings, biases);
  Harness h;
  EmitterOptions o = h.Options();
  o.ann_min_items = 500;
  Emitter emitter(o);
  REQUIRE(emitter.Start().ok());
  REQUIRE(emitter.UpdateIndex(flooded, {}).ok());
  CHECK(emitter.approximate_index_items() == 0);
  for (uint32_t i = 0; i < 500; ++i) biases[i] = 0.0F;
  const testing::FakeModel listable(embeddings, biases);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // counted at most once a second
  REQUIRE(emitter.UpdateIndex(listable, {}).ok());
  CHECK(emitter.approximate_index_items() == kItems);
  REQUIRE(emitter.Stop().ok());
}

TEST_CASE("the approximate index built while a job is scored is not read by that job") {
  // A job posted below emitter.ann_min_items is scored on the scoring thread
  // while the caller's UpdateIndex crosses the threshold and builds the index:
  // the job must be scored densely (exact lists) and touch no index (TSan).
  Harness h;
  constexpr uint32_t kItems = 4000;
  constexpr size_t kUsers = 256;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> embeddings(2 * kItems);
  for (float& x : embeddings) x = normal(rng);
  const testing::FakeModel model(embeddings, std::vector<float>(kItems, 0.0F));
  catalog::Catalog cat;
  for (uint32_t i = 0; i < kItems; ++i) cat.Apply(ItemId(i), Entry(model.ItemExternalId(ItemId(i)), "x"), 0);
  std::vector<UserRecord> exact(kUsers);
  for (UserRecord& u : exact) u.embedding = {normal(rng), normal(rng)};
  std::vector<UserRecord> crossing = exact;
  std::vector<std::string> ids(kUsers);  // the requests view them
  std::vector<ListRequest> exact_requests, crossing_requests;
  for (size_t k = 0; k < kUsers; ++k) {
    ids[k] = "u" + std::to_string(k);
    exact_requests.push_back({ids[k], &exact[k], 0, 1});
    crossing_requests.push_back({ids[k], &crossing[k], 0, 1});
  }
  std::vector<ListHolderChange> holders;
  EmitterOptions exact_options = h.Options();
  exact_options.precision = "float32";
  Emitter dense(exact_options);
  REQUIRE(dense.Start().ok());
  REQUIRE(dense.Publish(model, &cat, nullptr, exact_requests, {}, &holders).ok());
  REQUIRE(dense.Stop().ok());

  EmitterOptions o = h.Options();
  o.ann_min_items = kItems;
  o.precision = "float32";
  Emitter emitter(o);
  REQUIRE(emitter.Start().ok());
  REQUIRE(emitter.Begin(model, &cat, crossing_requests).ok());
  REQUIRE(emitter.UpdateIndex(model, {}).ok());  // builds the index now, on this thread
  REQUIRE(emitter.Finish(model, &cat, nullptr, &holders).ok());
  size_t same = 0;
  for (size_t k = 0; k < kUsers; ++k) same += crossing[k].list == exact[k].list;
  CHECK(same == kUsers);
  REQUIRE(emitter.Stop().ok());
}

TEST_CASE("NextListSeq: events set the seq, lists without a new event count on top, bounded") {
  CHECK(NextListSeq(0, 1) == 1000);
  CHECK(NextListSeq(1000, 1) == 1001);     // a refresh: no new event
  CHECK(NextListSeq(1001, 3) == 3000);     // new events: whatever the batches were
  CHECK(NextListSeq(3998, 3) == 3999);
  CHECK(NextListSeq(3999, 3) == 3999);     // refreshes never reach the next event's seq
  CHECK(NextListSeq(3999, 4) == 4000);
  // A replay after a crash: the state is back at 2 events (seq 2000) while lists
  // up to 3001 went out; replayed events give no more than those, the next new
  // event more than all of them.
  uint64_t seq = 2000;
  seq = NextListSeq(seq, 3);
  CHECK(seq == 3000);
  CHECK(NextListSeq(seq, 4) > 3001);
  CHECK(NextListSeq(5000, 2) == 5000);  // a seq above the events' allowance: never goes down
}
