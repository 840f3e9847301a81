#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "ingest/decoder.h"

using namespace streamrec;
using namespace streamrec::ingest;

namespace {

std::string Describe(const Event& e) {
  std::string out =
      "ok " + e.user + " " + e.item + " " + std::string(EventTypeName(e.type)) + " " + std::to_string(e.ts_ms);
  if (e.price >= 0) out += " price " + std::to_string(e.price);
  if (e.quantity > 0) out += " x" + std::to_string(e.quantity);
  if (e.list_seq >= 0) out += " list " + std::to_string(e.list_seq);
  return out;
}

}  // namespace

TEST_CASE("decoder accept/reject table (golden file)") {
  std::ifstream in(STREAMREC_TESTDATA "/decoder_cases.tsv");
  REQUIRE(in);
  EventDecoder decoder;
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    const std::string expected = line.substr(0, tab);
    const std::string payload = line.substr(tab + 1);
    Event event;
    std::optional<Rejection> r = decoder.Decode(payload, "", 777, &event);
    INFO("payload: " << payload);
    CHECK((r ? r->Reason() : Describe(event)) == expected);
    ++cases;
  }
  CHECK(cases >= 35);
}

TEST_CASE("decoder enforces size limits and the key contract") {
  EventDecoder decoder(DecoderLimits{.max_message_bytes = 100, .max_id_bytes = 4});
  Event e;
  auto r = decoder.Decode(std::string(101, ' '), "", 0, &e);
  REQUIRE(r);
  CHECK(r->Reason() == "oversized");
  r = decoder.Decode(R"({"user_id":"abcde","item_id":"i","type":"view"})", "", 0, &e);
  REQUIRE(r);
  CHECK(r->Reason() == "id_too_long:user_id");
  r = decoder.Decode(R"({"user_id":"u1","item_id":"i","type":"view"})", "u2", 0, &e);
  REQUIRE(r);
  CHECK(r->Reason() == "key_mismatch:user_id");
  CHECK_FALSE(decoder.Decode(R"({"user_id":"u1","item_id":"i","type":"view"})", "u1", 0, &e));
  // No ts in the event and no message timestamp: nothing to order it by.
  r = decoder.Decode(R"({"user_id":"u1","item_id":"i","type":"view"})", "", -1, &e);
  REQUIRE(r);
  CHECK(r->Reason() == "missing_field:ts");
}

TEST_CASE("decoder survives arbitrary bytes") {
  EventDecoder decoder;
  Event e;
  std::string junk;
  uint64_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    junk.push_back(static_cast<char>(x >> 56));
    if (junk.size() > 300) junk.clear();
    (void)decoder.Decode(junk, "", 0, &e);
  }
  // A valid event still decodes after all that.
  CHECK_FALSE(decoder.Decode(R"({"user_id":"u","item_id":"i","type":"cart","ts":5})", "", 0, &e));
  CHECK(e.type == EventType::kCart);
}

TEST_CASE("ISO-8601 parsing") {
  CHECK(ParseIso8601Millis("1970-01-01T00:00:00Z") == 0);
  CHECK(ParseIso8601Millis("2000-02-29T12:00:00.5Z") == 951825600500);
  CHECK(ParseIso8601Millis("2024-01-02T03:04:05-0130") == 1704164645000 + 5400000);
  CHECK_FALSE(ParseIso8601Millis("2024-01-02T03:04"));
  CHECK_FALSE(ParseIso8601Millis("2024-01-02T03:04:05Zjunk"));
  CHECK_FALSE(ParseIso8601Millis("1969-12-31T23:59:59Z"));
}
