#include <catch2/catch.hpp>

#include "common/event.h"
#include "common/hash.h"
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
  CHECK(Mix64(0) != Mix64(1));
}
