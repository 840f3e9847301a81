#include "pipeline/commit_window.h"

#include <catch2/catch.hpp>

using streamrec::pipeline::CommitWindowDue;
using streamrec::pipeline::CommitWindowState;
using std::chrono::milliseconds;

TEST_CASE("commit window: due after the interval, held open for a running write up to four intervals") {
  const milliseconds interval(1000);
  const size_t capacity = 1000;
  CHECK_FALSE(CommitWindowDue({milliseconds(999), false, 10}, interval, capacity));
  CHECK(CommitWindowDue({milliseconds(1000), false, 10}, interval, capacity));
  // The last write still runs: stopping would only wait for it.
  CHECK_FALSE(CommitWindowDue({milliseconds(1000), true, 10}, interval, capacity));
  CHECK_FALSE(CommitWindowDue({milliseconds(3999), true, 10}, interval, capacity));
  CHECK(CommitWindowDue({milliseconds(4000), true, 10}, interval, capacity));  // bounded
}

TEST_CASE("commit window: half the user cache changed commits at once, write or not") {
  const milliseconds interval(1000);
  CHECK(CommitWindowDue({milliseconds(1), true, 500}, interval, 1000));
  CHECK_FALSE(CommitWindowDue({milliseconds(1), false, 499}, interval, 1000));
}

TEST_CASE("commit window: an interval of 0 commits every batch, even while a write runs") {
  CHECK(CommitWindowDue({milliseconds(0), false, 1}, milliseconds(0), 1000));
  CHECK(CommitWindowDue({milliseconds(0), true, 1}, milliseconds(0), 1000));
}
