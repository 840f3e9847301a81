#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "app/list_refresher.h"

using namespace streamrec;
using namespace streamrec::app;

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
