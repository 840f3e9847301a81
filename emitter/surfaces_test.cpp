// SurfaceEmitter on the embedded broker: which instance publishes which
// item's lists (its shard's owner), and that a shard changing hands leaves no
// due item unpublished.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "emitter/fake_model_test.h"
#include "emitter/surfaces.h"
#include "kafka/embedded_broker.h"
#include "kafka/producer.h"
#include "kafka/reader.h"

using namespace streamrec;
using namespace streamrec::emitter;

namespace {

constexpr int32_t kShards = 2;

// a..h in 2-D, all co-occurring with a (so that every list has items).
testing::FakeModel MakeModel() {
  testing::FakeModel model({1, 0, 0.9F, 0.1F, 0.8F, 0.2F, 0, 1, 0, 0.5F, -1, 0, 0.5F, 0.5F, 0.3F, -0.7F},
                           std::vector<float>(8, 0.0F));
  for (uint32_t i = 1; i < 8; ++i) {
    model.cooc[0].emplace_back(ItemId(i), 1.0F);
    model.cooc[i] = {{ItemId(0), 1.0F}};
  }
  return model;
}

struct Harness {
  Harness() {
    REQUIRE(kafka::EmbeddedBroker::Start(1, &broker).ok());
    for (const char* topic : {"similar-items", "bought-together", "trending"}) REQUIRE(broker->CreateTopic(topic, 1).ok());
  }

  std::unique_ptr<SurfaceEmitter> Start() const {
    SurfaceOptions o;
    o.top_n = 3;
    o.producer_properties = {{"bootstrap.servers", broker->bootstrap()}, {"linger.ms", "1"}};
    auto surfaces = std::make_unique<SurfaceEmitter>(o);
    REQUIRE(surfaces->Start().ok());
    return surfaces;
  }

  // Records per key on `topic` (a null value counts as "<tombstone>").
  std::multiset<std::string> Keys(const std::string& topic) const {
    std::unique_ptr<kafka::PartitionReader> reader;
    REQUIRE(kafka::PartitionReader::Create({{"bootstrap.servers", broker->bootstrap()}}, &reader).ok());
    kafka::Watermarks w;
    REQUIRE(reader->QueryWatermarks(topic, 0, 5000, &w).ok());
    std::multiset<std::string> keys;
    REQUIRE(reader->Read(topic, 0, w.low, w.high, 5000, [&](const kafka::Message& m) {
                      keys.insert(std::string(m.key()) + (m.payload().empty() ? "<tombstone>" : ""));
                    }).ok());
    return keys;
  }

  std::unique_ptr<kafka::EmbeddedBroker> broker;
};

SurfaceShards Owning(std::set<int32_t> owned) {
  return {.count = kShards, .owns = [owned](int32_t s) { return owned.count(s) > 0; }};
}

std::vector<ItemId> AllItems() {
  std::vector<ItemId> items;
  for (uint32_t i = 0; i < 8; ++i) items.push_back(ItemId(i));
  return items;
}

}  // namespace

TEST_CASE("each item's lists come from its shard's owner, trending from shard 0's") {
  Harness h;
  const testing::FakeModel model = MakeModel();
  std::unique_ptr<SurfaceEmitter> zero = h.Start();
  std::unique_ptr<SurfaceEmitter> one = h.Start();
  std::map<int32_t, size_t> per_shard;
  for (ItemId item : AllItems()) ++per_shard[kafka::KeyPartition(model.ItemExternalId(item), kShards)];
  REQUIRE(per_shard[0] > 0);  // both shards hold items, or the test proves little
  REQUIRE(per_shard[1] > 0);
  for (SurfaceEmitter* s : {zero.get(), one.get()}) s->Touch(AllItems(), 1000);
  zero->SetShards(Owning({0}));
  REQUIRE(zero->Publish(model, nullptr, 1000).ok());
  one->SetShards(Owning({1}));
  REQUIRE(one->Publish(model, nullptr, 1000).ok());
  for (SurfaceEmitter* s : {zero.get(), one.get()}) REQUIRE(s->Flush(10000).ok());
  CHECK(zero->item_lists_published() == 2 * per_shard[0]);
  CHECK(one->item_lists_published() == 2 * per_shard[1]);
  for (const char* topic : {"similar-items", "bought-together"}) {
    const std::multiset<std::string> keys = h.Keys(topic);
    CHECK(keys.size() == 8);
    for (ItemId item : AllItems()) CHECK(keys.count(model.ItemExternalId(item)) == 1);
  }
  CHECK(h.Keys("trending") == std::multiset<std::string>{"global"});

  // Without a count every item is shard 0's.
  zero->Touch(AllItems(), 1000 + 31000);
  zero->SetShards({.count = 0, .owns = [](int32_t s) { return s == 0; }});
  REQUIRE(zero->Publish(model, nullptr, 1000 + 31000).ok());
  CHECK(zero->item_lists_published() == 2 * per_shard[0] + 16);
}

TEST_CASE("a shard taken over publishes the items its previous owner left due") {
  Harness h;
  const testing::FakeModel model = MakeModel();
  std::unique_ptr<SurfaceEmitter> survivor = h.Start();
  // Both members saw every item change; shard 1's owner stopped before publishing.
  survivor->Touch(AllItems(), 1000);
  survivor->SetShards(Owning({0}));
  REQUIRE(survivor->Publish(model, nullptr, 1000).ok());
  const uint64_t own = survivor->item_lists_published();
  CHECK(own < 16);
  REQUIRE(survivor->Publish(model, nullptr, 1500).ok());
  CHECK(survivor->item_lists_published() == own);  // shard 1's items wait
  survivor->SetShards(Owning({0, 1}));
  REQUIRE(survivor->Publish(model, nullptr, 2000).ok());
  REQUIRE(survivor->Flush(10000).ok());
  CHECK(survivor->item_lists_published() == 16);
  const std::multiset<std::string> keys = h.Keys("similar-items");
  CHECK(keys.size() == 8);  // every item once: none lost, none twice
  for (ItemId item : AllItems()) CHECK(keys.count(model.ItemExternalId(item)) == 1);
}

TEST_CASE("a replaced item's records are retracted by its shard's owner only") {
  Harness h;
  const testing::FakeModel model = MakeModel();
  std::unique_ptr<SurfaceEmitter> zero = h.Start();
  std::unique_ptr<SurfaceEmitter> one = h.Start();
  std::string gone = "gone-0";
  for (int k = 1; kafka::KeyPartition(gone, kShards) != 1; ++k) gone = "gone-" + std::to_string(k);
  // The new item in slot 2 ("c") was touched in the batch that replaced `gone`, as the pipeline does.
  const std::string& c = model.ItemExternalId(ItemId(2));
  const std::vector<ItemId> slot = {ItemId(2)};
  for (SurfaceEmitter* s : {zero.get(), one.get()}) s->Touch(slot, 1000);
  zero->SetShards(Owning({0}));
  REQUIRE(zero->Forget(gone, ItemId(2), 1000).ok());
  one->SetShards(Owning({1}));
  REQUIRE(one->Forget(gone, ItemId(2), 1000).ok());
  REQUIRE(zero->Publish(model, nullptr, 1000).ok());
  REQUIRE(one->Publish(model, nullptr, 1000).ok());
  for (SurfaceEmitter* s : {zero.get(), one.get()}) REQUIRE(s->Flush(10000).ok());
  CHECK(zero->items_retracted() == 0);
  CHECK(one->items_retracted() == 1);
  const bool c_of_one = kafka::KeyPartition(c, kShards) == 1;
  CHECK(one->item_lists_published() == (c_of_one ? 2 : 0));
  CHECK(zero->item_lists_published() == (c_of_one ? 0 : 2));
  CHECK(h.Keys("similar-items") == std::multiset<std::string>{gone + "<tombstone>", c});
  CHECK(h.Keys("bought-together") == std::multiset<std::string>{gone + "<tombstone>", c});
}
