#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "common/background_task.h"
#include "common/event.h"
#include "common/flat_index.h"
#include "common/hash.h"
#include "common/latency_histogram.h"
#include "common/list_reference.h"
#include "common/status.h"

using namespace streamrec;

TEST_CASE("status codes say whether to retry") {
  CHECK(Status::Ok().ok());
  CHECK(Status::Unavailable("broker down").retryable());
  CHECK(Status::IOError("disk full").retryable());
  CHECK_FALSE(Status::InvalidArgument("bad").retryable());
  CHECK_FALSE(Status::Corruption("bad").retryable());
  Status s = Status::IOError("no space").WithContext("writing batch");
  CHECK(s.code() == StatusCode::kIOError);
  CHECK(s.ToString() == "IOError: writing batch: no space");
}

TEST_CASE("event types parse with their aliases and round-trip") {
  CHECK(ParseEventType("click") == EventType::kView);
  CHECK(ParseEventType("view") == EventType::kView);
  CHECK(ParseEventType("purchase") == EventType::kPurchase);
  CHECK_FALSE(ParseEventType("Purchase").has_value());
  CHECK_FALSE(ParseEventType("").has_value());
  for (auto t : {EventType::kView, EventType::kCart, EventType::kRemoveFromCart, EventType::kPurchase}) {
    CHECK(ParseEventType(EventTypeName(t)) == t);
  }
}

TEST_CASE("hashes are stable across builds") {
  // Persisted checksums depend on these exact values.
  CHECK(Fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(Fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(Mix64(0) == 0xe220a8397b1dcdafULL);  // SplitMix64's first output from state 0
  CHECK(Mix64(1) != Mix64(0));
}

TEST_CASE("a list's reference position is drawn with probability 1 / (rank + 1), the same for the same salt") {
  constexpr size_t kSize = 20;
  constexpr int kDraws = 200000;
  std::vector<int> counts(kSize, 0);
  for (int i = 0; i < kDraws; ++i) {
    const size_t r = streamrec::ListReferencePosition(kSize, static_cast<uint64_t>(i));
    REQUIRE(r < kSize);
    ++counts[r];
  }
  double harmonic = 0;
  for (size_t r = 0; r < kSize; ++r) harmonic += 1.0 / static_cast<double>(r + 1);
  for (size_t r = 0; r < kSize; ++r) {
    const double expected = kDraws / static_cast<double>(r + 1) / harmonic;
    CHECK(std::abs(counts[r] - expected) < 5 * std::sqrt(expected));  // five standard deviations
  }
  CHECK(streamrec::ListReferencePosition(kSize, 42) == streamrec::ListReferencePosition(kSize, 42));
  CHECK(streamrec::ListReferencePosition(1, 42) == 0);
  streamrec::UserRecord user;
  user.id = streamrec::UserId(7);
  user.events = 3;
  const uint64_t salt = streamrec::ListReferenceSalt(user);
  user.events = 4;
  CHECK(streamrec::ListReferenceSalt(user) != salt);  // a new draw after each event
}

TEST_CASE("a flat index finds what it holds and nothing else, through growth, collisions and erasure") {
  // Keys are numbers; `hash_of` folds them into few hashes for collisions.
  for (uint64_t distinct_hashes : {uint64_t{7}, uint64_t{1} << 40}) {
    FlatIndex index;
    std::map<uint64_t, uint32_t> expected;  // key -> slot
    std::vector<uint64_t> key_of_slot;
    auto hash_of = [&](uint64_t key) { return Mix64(key % distinct_hashes); };
    auto find = [&](uint64_t key) {
      return index.Find(hash_of(key), [&](uint32_t slot) { return key_of_slot[slot] == key; });
    };
    std::mt19937_64 rng(42);
    for (int step = 0; step < 20000; ++step) {
      const uint64_t key = rng() % 3000;
      auto it = expected.find(key);
      if (it == expected.end()) {
        key_of_slot.push_back(key);
        const auto slot = static_cast<uint32_t>(key_of_slot.size() - 1);
        index.Insert(hash_of(key), slot);
        expected[key] = slot;
      } else if (rng() % 2 == 0) {
        REQUIRE(index.Erase(hash_of(key), it->second));
        CHECK_FALSE(index.Erase(hash_of(key), it->second));
        expected.erase(it);
      }
      REQUIRE(index.size() == expected.size());
    }
    for (uint64_t key = 0; key < 3000; ++key) {
      auto it = expected.find(key);
      const std::optional<uint32_t> found = find(key);
      if (it == expected.end()) {
        CHECK_FALSE(found.has_value());
      } else {
        REQUIRE(found.has_value());
        CHECK(*found == it->second);
      }
    }
    index.Clear();
    CHECK(index.size() == 0);
    CHECK_FALSE(find(expected.begin()->first).has_value());
  }
}

TEST_CASE("a background task runs one job at a time off the owner's thread") {
  BackgroundTask task("test-task");
  CHECK(task.Done());
  CHECK(task.Wait().ok());  // nothing in flight
  std::atomic<bool> release{false};
  std::thread::id ran_on;
  task.Post([&] {
    ran_on = std::this_thread::get_id();
    while (!release.load()) std::this_thread::yield();
    return Status::IOError("disk full");
  });
  CHECK(task.in_flight());
  CHECK_FALSE(task.Done());  // held until released
  release = true;
  Status s = task.Wait();
  CHECK(s.code() == StatusCode::kIOError);
  CHECK(ran_on != std::this_thread::get_id());
  CHECK_FALSE(task.in_flight());
  // An exception stays on the task's thread and comes back as a status.
  task.Post([]() -> Status { throw std::runtime_error("boom"); });
  s = task.Wait();
  CHECK(s.code() == StatusCode::kInternal);
  CHECK(s.message().find("boom") != std::string::npos);
  // Stop finishes the job in flight.
  std::atomic<int> runs{0};
  task.Post([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ++runs;
    return Status::Ok();
  });
  task.Stop();
  CHECK(runs == 1);
}

TEST_CASE("a background task asked to be nice lowers its own thread's priority, not its owner's") {
  const int owner_before = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  BackgroundTask task("test-nice", 7);
  int task_nice = -100;
  task.Post([&] {
    task_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
    return Status::Ok();
  });
  REQUIRE(task.Wait().ok());
  CHECK(task_nice == std::min(owner_before + 7, 19));
  CHECK(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())) == owner_before);
}

TEST_CASE("latency histogram: buckets, quantile bounds and differences") {
  LatencyHistogram h;
  CHECK(h.QuantileBoundMs(0.5) == 0);
  for (int i = 0; i < 98; ++i) h.Record(4.0);  // the (3, 5] bucket
  h.Record(120.0);                             // (100, 150]
  h.Record(1e6);                               // +Inf
  CHECK(h.count() == 100);
  CHECK(h.sum_ms() == Approx(98 * 4.0 + 120.0 + 1e6));
  CHECK(h.counts()[3] == 98);
  CHECK(h.counts().back() == 1);
  CHECK(h.QuantileBoundMs(0.5) == 5);
  CHECK(h.QuantileBoundMs(0.99) == 150);
  CHECK(h.QuantileBoundMs(1.0) == 30000);  // the +Inf bucket reports the last finite bound
  const LatencyHistogram before = h;
  h.Record(0.5);
  const LatencyHistogram since = h.Since(before);
  CHECK(since.count() == 1);
  CHECK(since.counts()[0] == 1);
  CHECK(since.QuantileBoundMs(0.5) == 1);
}
