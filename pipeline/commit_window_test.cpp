#include "pipeline/commit_window.h"

#include <catch2/catch.hpp>

#include <limits>

using streamrec::pipeline::CommitWindowDue;
using streamrec::pipeline::CommitWindowState;
using std::chrono::milliseconds;

constexpr size_t kNoItemBound = std::numeric_limits<size_t>::max();

TEST_CASE("commit window: due after the interval, held open for a running write up to four intervals") {
  const milliseconds interval(1000);
  const size_t capacity = 1000;
  CHECK_FALSE(CommitWindowDue({milliseconds(999), false, 10}, interval, capacity, kNoItemBound));
  CHECK(CommitWindowDue({milliseconds(1000), false, 10}, interval, capacity, kNoItemBound));
  // The last write still runs: stopping would only wait for it.
  CHECK_FALSE(CommitWindowDue({milliseconds(1000), true, 10}, interval, capacity, kNoItemBound));
  CHECK_FALSE(CommitWindowDue({milliseconds(3999), true, 10}, interval, capacity, kNoItemBound));
  CHECK(CommitWindowDue({milliseconds(4000), true, 10}, interval, capacity, kNoItemBound));  // bounded
}

TEST_CASE("commit window: half the user cache changed commits at once, write or not") {
  const milliseconds interval(1000);
  CHECK(CommitWindowDue({milliseconds(1), true, 500}, interval, 1000, kNoItemBound));
  CHECK_FALSE(CommitWindowDue({milliseconds(1), false, 499}, interval, 1000, kNoItemBound));
}

TEST_CASE("commit window: an interval of 0 commits every batch, even while a write runs") {
  CHECK(CommitWindowDue({milliseconds(0), false, 1}, milliseconds(0), 1000, kNoItemBound));
  CHECK(CommitWindowDue({milliseconds(0), true, 1}, milliseconds(0), 1000, kNoItemBound));
}

TEST_CASE("commit window: changed items' records at the bound commit at once, write or not") {
  const milliseconds interval(1000);
  const size_t bound = 64u << 20;
  CommitWindowState w{milliseconds(1), true, 10};
  w.item_bytes = bound - 1;
  CHECK_FALSE(CommitWindowDue(w, interval, 1000, bound));
  w.item_bytes = bound;
  CHECK(CommitWindowDue(w, interval, 1000, bound));
}
