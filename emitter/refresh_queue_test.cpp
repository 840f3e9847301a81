#include <catch2/catch.hpp>

#include <algorithm>

#include "emitter/refresh_queue.h"

using namespace streamrec::emitter;

namespace {

std::vector<std::string> Users(const std::vector<DueList>& due) {
  std::vector<std::string> out;
  for (const DueList& d : due) out.push_back(d.user);
  return out;
}

}  // namespace

TEST_CASE("refresh queue: each user once, latest source wins, earliest due first") {
  RefreshQueue q(0);
  q.Mark("alice", 1, 10, 100);
  q.Mark("bob", 2, 11, 101);
  const DueList& again = q.Mark("alice", 1, 15, 102);
  CHECK(again.source_offset == 15);
  CHECK(again.since_ms == 100);
  CHECK(q.pending() == 2);
  std::vector<DueList> due;
  q.TakeDue(200, 10, &due);
  REQUIRE(Users(due) == std::vector<std::string>{"alice", "bob"});
  CHECK(due[0].source_offset == 15);
  CHECK(due[1].partition == 2);
  CHECK(q.pending() == 0);
  due.clear();
  q.TakeDue(300, 10, &due);
  CHECK(due.empty());
}

TEST_CASE("refresh queue: a catalog refresh (-1) never lowers the source offset") {
  RefreshQueue q(0);
  q.Mark("alice", 0, 42, 1);
  CHECK(q.Mark("alice", 0, -1, 2).source_offset == 42);
  CHECK(q.Mark("carol", 0, -1, 3).source_offset == -1);
}

TEST_CASE("refresh queue: takes at most `max`, the rest stay owed") {
  RefreshQueue q(0);
  for (int i = 0; i < 10; ++i) q.Mark("u" + std::to_string(i), 0, i, i);
  std::vector<DueList> due;
  q.TakeDue(100, 4, &due);
  CHECK(Users(due) == std::vector<std::string>{"u0", "u1", "u2", "u3"});
  CHECK(q.pending() == 6);
  CHECK(q.LagMs(100) == 96);  // u4, due at 4
}

TEST_CASE("refresh queue: a user is refreshed at most once per interval") {
  RefreshQueue q(1000);
  q.Mark("alice", 0, 1, 0);
  std::vector<DueList> due;
  q.TakeDue(10, 10, &due);
  REQUIRE(due.size() == 1);
  // Marked again 20 ms after its refresh: due at 1010, not before.
  q.Mark("alice", 0, 2, 30);
  q.Mark("bob", 0, 3, 30);
  due.clear();
  q.TakeDue(500, 10, &due);
  CHECK(Users(due) == std::vector<std::string>{"bob"});
  CHECK_FALSE(q.HasDue(1009));
  CHECK(q.HasDue(1010));
  // Events meanwhile coalesce into the one refresh.
  q.Mark("alice", 0, 9, 900);
  due.clear();
  q.TakeDue(1010, 10, &due);
  REQUIRE(Users(due) == std::vector<std::string>{"alice"});
  CHECK(due[0].source_offset == 9);
  // Long after its last refresh, a user is due at once.
  q.Mark("alice", 0, 10, 5000);
  CHECK(q.HasDue(5000));
}

TEST_CASE("refresh queue: a revoked partition's users are dropped") {
  RefreshQueue q(0);
  q.Mark("alice", 1, 1, 0);
  q.Mark("bob", 2, 1, 0);
  q.DropPartition(1);
  CHECK(q.pending() == 1);
  std::vector<DueList> due;
  q.TakeDue(10, 10, &due);
  CHECK(Users(due) == std::vector<std::string>{"bob"});
  // Marked again later, it is owed again.
  q.Mark("alice", 1, 2, 20);
  due.clear();
  q.TakeDue(30, 10, &due);
  CHECK(Users(due) == std::vector<std::string>{"alice"});
}

TEST_CASE("refresh queue: forgotten users' places serve new users; every owed user comes out once") {
  RefreshQueue q(10);
  for (int i = 0; i < 100; ++i) q.Mark("u" + std::to_string(i), 0, i, i / 10);  // due 0..9
  std::vector<DueList> due;
  q.TakeDue(9, 50, &due);  // u0..u49 (due 0..4), refreshed at 9
  std::vector<std::string> users = Users(due);
  std::sort(users.begin(), users.end());
  std::vector<std::string> expected;
  for (int i = 0; i < 50; ++i) expected.push_back("u" + std::to_string(i));
  std::sort(expected.begin(), expected.end());
  CHECK(users == expected);
  // At 20 they are forgotten (refreshed before 10); new users take their
  // places, u0 is owed anew, u50 (still owed) coalesces.
  due.clear();
  q.TakeDue(20, 0, &due);
  for (int i = 100; i < 150; ++i) q.Mark("u" + std::to_string(i), 1, i, 20);
  q.Mark("u0", 1, 200, 20);
  q.Mark("u50", 0, 300, 20);
  CHECK(q.pending() == 50 + 50 + 1);
  q.TakeDue(20, 1000, &due);
  CHECK(q.pending() == 0);
  users = Users(due);
  REQUIRE(users.size() == 101);
  std::sort(users.begin(), users.end());
  CHECK(std::adjacent_find(users.begin(), users.end()) == users.end());
  for (const DueList& d : due) {
    if (d.user == "u0") CHECK(d.source_offset == 200);
    if (d.user == "u50") CHECK(d.source_offset == 300);
    if (d.user == "u120") CHECK(d.partition == 1);
  }
  // u0, refreshed at 20, waits for 30; u1, forgotten since, is due at once.
  q.Mark("u0", 1, 201, 21);
  q.Mark("u1", 0, 5, 21);
  due.clear();
  q.TakeDue(21, 10, &due);
  CHECK(Users(due) == std::vector<std::string>{"u1"});
  CHECK_FALSE(q.HasDue(29));
  CHECK(q.HasDue(30));
}
