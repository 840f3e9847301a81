#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "pipeline/changelog_scan.h"

using namespace streamrec;
using namespace streamrec::pipeline;

namespace {

// A changelog written in memory: records as a broker would deliver them.
class Changelog {
 public:
  explicit Changelog(ItemNames* items) : items_(items) {}

  void User(const std::string& id, uint64_t seq) {
    UserRecord user;
    user.seq = seq;
    user.events = seq;
    user.embedding.assign(32, 0.5f);
    user.history = {ItemId(0), ItemId(1)};
    Append(id, EncodeChangelogUser(user, *items_));
  }
  void Marker(const std::string& writer, int64_t next_offset) {
    Append(std::string(kChangelogMarkerKey),
           fmt::format(R"({{"writer":"{}","partition":0,"from":-1,"next_offset":{}}})", writer, next_offset));
  }
  void Tombstone(const std::string& id) { Append(id, ""); }

  // Feeds every record to `scan`, ending a slice every `slice` records.
  Status ScanAll(ChangelogScan* scan, size_t slice) const {
    for (size_t i = 0; i < records_.size(); ++i) {
      const auto& [key, value] = records_[i];
      kafka::Message::Fields f;
      f.topic = "g.state";
      f.key = key;
      f.payload = value;
      f.partition = 0;
      f.offset = static_cast<int64_t>(i);
      scan->Visit(kafka::Message(f, nullptr, [](void*) {}));
      if ((i + 1) % slice == 0) STREAMREC_RETURN_IF_ERROR(scan->EndOfSlice());
    }
    STREAMREC_RETURN_IF_ERROR(scan->EndOfSlice());
    return scan->Finish();
  }
  size_t size() const { return records_.size(); }

 private:
  void Append(std::string key, std::string value) { records_.emplace_back(std::move(key), std::move(value)); }
  ItemNames* items_;
  std::vector<std::pair<std::string, std::string>> records_;
};

ItemNames TwoItems() {
  static const std::vector<std::string> names = {"a", "b"};
  return {[](ItemId id) -> const std::string& { return names[id.value()]; },
          [](std::string_view name) -> std::optional<ItemId> { return ItemId(name == "a" ? 0 : 1); }};
}

// The latest seq handed over per user, in hand-over order.
struct Adopted {
  std::unordered_map<std::string, uint64_t> seq;
  size_t chunks = 0;
  AdoptUsers fn = [this](std::vector<RestoredUser>* users) {
    ++chunks;
    for (const RestoredUser& u : *users) seq[u.external_id] = u.record.seq;
    return Status::Ok();
  };
};

}  // namespace

TEST_CASE("a user's experiment counts and served list travel in the changelog, a refused item keeping its place") {
  const std::vector<std::string> names = {"a", "b", "c"};
  const ItemNames items{[&](ItemId id) -> const std::string& { return names[id.value()]; },
                        [](std::string_view name) -> std::optional<ItemId> {
                          if (name == "c") return std::nullopt;  // refused by a full item table
                          return ItemId(name == "a" ? 0 : 1);
                        }};
  UserRecord user;
  user.embedding = {1, 2};
  user.history = {ItemId(0)};
  user.experiment.Ensure().counts = {77, 1, 5, 2, 1, 1, 3, 42.0};
  user.experiment->served = {{ItemId(1), ItemId(2), ItemId(0)}, {0, 1, 2}, 1000, 5000, {{ItemId(1), 0, 1, 900}, {ItemId(2), 1, 3, 950}}, 1200};
  UserRecord got;
  REQUIRE(DecodeChangelogUser(EncodeChangelogUser(user, items), items, &got));
  REQUIRE(got.experiment);
  CHECK(got.experiment->counts == user.experiment->counts);
  CHECK(got.experiment->served.items == std::vector<ItemId>{ItemId(1), ItemId(UserRecord::kNoItem), ItemId(0)});
  CHECK(got.experiment->served.reasons == user.experiment->served.reasons);
  CHECK(got.experiment->served.at_ms == 1000);
  CHECK(got.experiment->served.last_event_ms == 1200);
  REQUIRE(got.experiment->served.credited.size() == 2);
  CHECK(got.experiment->served.credited[0] == user.experiment->served.credited[0]);
  CHECK(got.experiment->served.credited[1].item == ItemId(UserRecord::kNoItem));  // "c", refused, keeps its place
  CHECK(got.experiment->served.credited[1].outcomes == 3);
  // Without an experiment the record ends before the tail, and reads back without one.
  user.experiment.reset();
  REQUIRE(DecodeChangelogUser(EncodeChangelogUser(user, items), items, &got));
  CHECK_FALSE(got.experiment);
}

TEST_CASE("a changelog of over 1M records is adopted in bounded memory, each user's latest record winning") {
  ItemNames items = TwoItems();
  Changelog log(&items);
  // 100k users, each written 10 times by another instance in batches of 1,000
  // users; then a batch that never completed (no marker).
  constexpr int kUsers = 100000;
  for (int round = 1; round <= 10; ++round) {
    for (int u = 0; u < kUsers; ++u) {
      log.User("u" + std::to_string(u), static_cast<uint64_t>(round));
      if ((u + 1) % 1000 == 0) log.Marker("other", round * kUsers + u + 1);
    }
  }
  for (int u = 0; u < 500; ++u) log.User("u" + std::to_string(u), 99);
  REQUIRE(log.size() > 1000000);

  RestoreOutcome out;
  Adopted adopted;
  constexpr size_t kMaxBytes = size_t{4} << 20;
  ChangelogScan scan("me", kMaxBytes, items, adopted.fn, &out);
  REQUIRE(log.ScanAll(&scan, 16384).ok());
  CHECK(out.adopted);
  CHECK(out.batches == 1000);
  CHECK(out.next_event_offset == 10 * kUsers + kUsers);
  REQUIRE(adopted.seq.size() == kUsers);
  size_t not_latest = 0;  // the incomplete batch's 99 never counts
  for (const auto& [id, seq] : adopted.seq) not_latest += seq != 10;
  CHECK(not_latest == 0);
  CHECK(adopted.chunks > 10);
  CHECK(adopted.chunks == out.chunks);
  // A slice's records (~200 bytes each) past the bound at most, never the whole log (~230 MB).
  CHECK(scan.peak_buffered_bytes() < kMaxBytes + 16384 * 200);
  INFO("peak " << scan.peak_buffered_bytes());
  CHECK(scan.buffered_bytes() < 500 * 200);
}

TEST_CASE("only this instance's own uncommitted batches: nothing adopted unless they pass the bound") {
  ItemNames items = TwoItems();
  Changelog log(&items);
  for (int u = 0; u < 100; ++u) log.User("u" + std::to_string(u), 1);
  log.Marker("me", 100);
  {
    RestoreOutcome out;
    Adopted adopted;
    ChangelogScan scan("me", size_t{1} << 20, items, adopted.fn, &out);
    REQUIRE(log.ScanAll(&scan, 16).ok());
    CHECK_FALSE(out.adopted);
    CHECK(out.batches == 1);
    CHECK(adopted.seq.empty());
  }
  {
    RestoreOutcome out;
    Adopted adopted;
    ChangelogScan scan("me", 1000, items, adopted.fn, &out);  // ~5 users' records
    REQUIRE(log.ScanAll(&scan, 16).ok());
    CHECK(out.adopted);
    CHECK(adopted.seq.size() == 100);
  }
}

TEST_CASE("a tombstone erases a user from the restore; a bad marker fails it") {
  ItemNames items = TwoItems();
  Changelog log(&items);
  log.User("kept", 3);
  log.User("erased", 4);
  log.Tombstone("erased");
  log.Marker("other", 7);
  RestoreOutcome out;
  Adopted adopted;
  ChangelogScan scan("me", size_t{1} << 20, items, adopted.fn, &out);
  REQUIRE(log.ScanAll(&scan, 2).ok());
  CHECK(adopted.seq == std::unordered_map<std::string, uint64_t>{{"kept", 3}});

  Changelog bad(&items);
  bad.User("x", 1);
  bad.Marker("other", 1);
  std::string broken = "{not json";
  RestoreOutcome out2;
  ChangelogScan scan2("me", size_t{1} << 20, items, adopted.fn, &out2);
  kafka::Message::Fields f;
  f.key = kChangelogMarkerKey;
  f.payload = broken;
  scan2.Visit(kafka::Message(f, nullptr, [](void*) {}));
  CHECK(scan2.Finish().code() == StatusCode::kCorruption);
}
