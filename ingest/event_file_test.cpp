#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "ingest/event_file.h"

using namespace streamrec;
using namespace streamrec::ingest;

namespace {

std::string WriteTemp(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << content;
  return path.string();
}

}  // namespace

TEST_CASE("CSV event logs are read with seconds turned into milliseconds") {
  std::string path = WriteTemp("streamrec_csv_test.csv",
                               "ts,user,item,type\n1511539200,u1,i1,click\n1511539201,u2,i2,purchase\n"
                               "bad,u3,i3,click\n1511539202,u4,i4,fav\n1511539203,u5,i5,cart\r\n");
  EventFileReader reader;
  REQUIRE(reader.Open(path).ok());
  CHECK(reader.format() == FileFormat::kCsv);
  Event e;
  std::string raw;
  std::optional<Rejection> r;
  REQUIRE(reader.Next(&e, &raw, &r));
  CHECK_FALSE(r);
  CHECK(e.user == "u1");
  CHECK(e.ts_ms == 1511539200000);
  CHECK(e.type == EventType::kView);
  REQUIRE(reader.Next(&e, &raw, &r));
  CHECK(e.type == EventType::kPurchase);
  REQUIRE(reader.Next(&e, &raw, &r));
  REQUIRE(r);
  CHECK(r->Reason() == "bad_timestamp:ts");
  REQUIRE(reader.Next(&e, &raw, &r));
  REQUIRE(r);
  CHECK(r->Reason() == "bad_type:type");
  REQUIRE(reader.Next(&e, &raw, &r));
  CHECK_FALSE(r);
  CHECK(e.type == EventType::kCart);
  CHECK_FALSE(reader.Next(&e, &raw, &r));
}

TEST_CASE("JSON-lines logs keep raw lines and round-trip through EventToJson") {
  Event in{.user = "u\"1", .item = "i1", .type = EventType::kPurchase, .ts_ms = 42, .event_id = "e1"};
  std::string path = WriteTemp("streamrec_jsonl_test.jsonl", EventToJson(in) + "\n{broken\n");
  EventFileReader reader;
  REQUIRE(reader.Open(path).ok());
  CHECK(reader.format() == FileFormat::kJsonLines);
  Event out;
  std::string raw;
  std::optional<Rejection> r;
  REQUIRE(reader.Next(&out, &raw, &r));
  REQUIRE_FALSE(r);
  CHECK(out.user == in.user);
  CHECK(out.item == in.item);
  CHECK(out.type == in.type);
  CHECK(out.ts_ms == 42);
  CHECK(out.event_id == "e1");
  REQUIRE(reader.Next(&out, &raw, &r));
  CHECK(raw == "{broken");
  REQUIRE(r);
  CHECK(r->Reason() == "bad_json");
}

TEST_CASE("unknown file formats are refused with a clear error") {
  std::string path = WriteTemp("streamrec_bad_format.txt", "hello\n");
  EventFileReader reader;
  Status s = reader.Open(path);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(reader.Open("/nonexistent/file.csv").code() == StatusCode::kNotFound);
}
