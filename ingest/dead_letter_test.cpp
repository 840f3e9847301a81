#include <catch2/catch.hpp>

#include <string>

#include "common/hash.h"
#include "ingest/ingest.h"

using namespace streamrec;
using namespace streamrec::ingest;

TEST_CASE("a dead letter within its limits is the message as it was") {
  const DeadLetter d = MakeDeadLetter("u1", "{\"user_id\":", 1024);
  CHECK(d.key == "u1");
  CHECK(d.value == "{\"user_id\":");
  CHECK_FALSE(d.truncated);
  CHECK(d.original_value_bytes.empty());
}

TEST_CASE("an oversized value or key is cut to its limit and says what it was") {
  const std::string value(2'000'000, 'x');
  const std::string key(10'000, 'k');
  const DeadLetter d = MakeDeadLetter(key, value, 256 * 1024);
  CHECK(d.value.size() == 256 * 1024);
  CHECK(d.key.size() == kDeadLetterMaxKeyBytes);
  CHECK(d.truncated);
  CHECK(d.original_value_bytes == "2000000");
  CHECK(d.original_key_bytes == "10000");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(Fnv1a64(value)));
  CHECK(d.value_fnv1a64 == hex);
  // Exactly at the limit: kept whole.
  CHECK_FALSE(MakeDeadLetter("", std::string(1024, 'y'), 1024).truncated);
  CHECK(MakeDeadLetter("", std::string(1025, 'y'), 1024).truncated);
}
