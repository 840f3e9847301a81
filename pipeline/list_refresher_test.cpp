#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "pipeline/list_refresher.h"

using namespace streamrec;
using namespace streamrec::pipeline;

TEST_CASE("list refresher: an owed change says whether the user was owed before it") {
  emitter::EmitterOptions options;
  options.min_refresh_interval_ms = 0;
  ListRefresher refresher(options);
  const std::string alice = "alice";
  UserRecord record;
  auto acquire = [&](const emitter::DueList&, ListRefresher::Target* target) {
    *target = {alice, &record};
    return Status::Ok();
  };
  refresher.Owe(alice, 0, 10, 1000);
  refresher.Owe(alice, 0, 11, 1001);  // owed already
  std::vector<emitter::ListRequest> requests;
  REQUIRE(refresher.Take(2000, 10, acquire, &requests).ok());
  REQUIRE(requests.size() == 1);
  refresher.Owe(alice, 0, 12, 2001);  // delivered just before: owed anew

  const std::vector<PendingListChange>& changes = refresher.changes();
  REQUIRE(changes.size() == 4);
  CHECK((changes[0].owed && changes[0].newly_owed));
  CHECK((changes[1].owed && !changes[1].newly_owed));
  CHECK_FALSE(changes[2].owed);
  CHECK((changes[3].owed && changes[3].newly_owed));
  CHECK(changes[3].source_offset == 12);
}

TEST_CASE("list refresher: after every commit the stored owed set is the refresher's (random owes, takes, failed deliveries)") {
  for (int64_t interval : {int64_t{0}, int64_t{3}}) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("streamrec-refresher-test-" + std::to_string(interval));
    std::filesystem::remove_all(dir);
    store::StoreOptions store_options;
    store_options.path = dir.string();
    std::unique_ptr<store::Store> store;
    REQUIRE(store::Store::Open(store_options, &store).ok());
    emitter::EmitterOptions options;
    options.min_refresh_interval_ms = interval;
    ListRefresher refresher(options);
    const std::vector<std::string> users = {"u0", "u1", "u2", "u3", "u4"};
    UserRecord record;
    std::set<std::string> owed;         // the model: owed now
    std::set<std::string> taken_since;  // taken since the last commit
    std::mt19937 rng(static_cast<uint32_t>(7 + interval));
    std::vector<emitter::ListRequest> requests;
    for (int64_t now = 1; now < 3000; ++now) {
      const uint32_t op = rng() % 100;
      if (op < 60) {
        const std::string& u = users[rng() % users.size()];
        refresher.Owe(u, 0, now, now);
        owed.insert(u);
      } else if (op < 85) {
        auto acquire = [&](const emitter::DueList& due, ListRefresher::Target* target) {
          *target = {*std::find(users.begin(), users.end(), due.user), &record};
          return Status::Ok();
        };
        REQUIRE(refresher.Take(now, 1 + rng() % 3, acquire, &requests).ok());
        for (const emitter::ListRequest& r : requests) {
          owed.erase(std::string(r.user_id));
          taken_since.insert(std::string(r.user_id));
        }
      } else {
        if (op < 90) {  // the lists since the last commit failed to deliver
          refresher.OweAgain(now);
          owed.insert(taken_since.begin(), taken_since.end());
        }
        store::CommitBatch batch;
        batch.pending = refresher.changes();
        REQUIRE(store->Commit(batch).ok());
        refresher.Committed();
        taken_since.clear();
        std::set<std::string> stored;
        REQUIRE(store->LoadPendingLists(0, [&](const PendingListChange& p) { stored.emplace(p.user); }).ok());
        REQUIRE(stored == owed);
      }
    }
  }
}
