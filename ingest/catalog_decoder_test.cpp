#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "ingest/catalog_decoder.h"

using namespace streamrec;
using namespace streamrec::ingest;

namespace {

std::string Time(int64_t ms) { return ms == kNoTime ? "none" : std::to_string(ms); }

std::string Describe(const CatalogUpdate& u) {
  if (u.removed) return "removed " + u.entry.item_id;
  const CatalogEntry& e = u.entry;
  std::string tags;
  for (const std::string& t : e.tags) tags += (tags.empty() ? "" : ",") + t;
  std::string price = e.price < 0 ? "" : (std::ostringstream() << e.price).str();
  return "ok " + e.item_id + "|" + e.category + "|" + e.brand + "|" + price + "|" + (e.in_stock ? "1" : "0") + "|" +
         Time(e.available_from_ms) + "|" + Time(e.available_until_ms) + "|" + tags;
}

}  // namespace

TEST_CASE("catalog decoder accept/reject table (golden file)") {
  std::ifstream in(STREAMREC_TESTDATA "/catalog_cases.tsv");
  REQUIRE(in);
  CatalogDecoder decoder;
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab1 = line.find('\t');
    const size_t tab2 = line.find('\t', tab1 + 1);
    REQUIRE(tab2 != std::string::npos);
    const std::string expected = line.substr(0, tab1);
    std::string key = line.substr(tab1 + 1, tab2 - tab1 - 1);
    if (key == "-") key.clear();
    const std::string payload = line.substr(tab2 + 1);
    CatalogUpdate update;
    std::optional<Rejection> r = decoder.Decode(payload, key, &update);
    INFO("key: " << key << " payload: " << payload);
    CHECK((r ? r->Reason() : Describe(update)) == expected);
    ++cases;
  }
  CHECK(cases >= 20);
}

TEST_CASE("catalog decoder bounds ids and tag lists") {
  CatalogDecoder decoder(DecoderLimits{.max_message_bytes = 4096, .max_id_bytes = 4});
  CatalogUpdate u;
  auto r = decoder.Decode(R"({"item_id":"abcde"})", "", &u);
  REQUIRE(r);
  CHECK(r->Reason() == "id_too_long:item_id");
  r = decoder.Decode("", "abcde", &u);
  REQUIRE(r);
  CHECK(r->Reason() == "id_too_long:item_id");
  std::string tags = R"({"item_id":"a","tags":[)";
  for (size_t k = 0; k <= kMaxCatalogTags; ++k) tags += (k ? ",\"t\"" : "\"t\"");
  tags += "]}";
  r = decoder.Decode(tags, "", &u);
  REQUIRE(r);
  CHECK(r->Reason() == "bad_field:tags");
}
