#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "config/config.h"

using namespace streamrec;
using namespace streamrec::config;

namespace {

std::string Write(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / "streamrec_config_test.yaml";
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("defaults need no file") {
  Config c;
  REQUIRE(LoadConfig("", {}, &c).ok());
  CHECK(c.kafka.bootstrap.empty());
  CHECK(c.learner.dim == 32);
  CHECK(c.emitter.top_n == 20);
}

TEST_CASE("file values and --set overrides apply, overrides last") {
  std::string path = Write(
      "kafka:\n  bootstrap: 'h:1'\n  properties:\n    security.protocol: SASL_SSL\n    sasl.password: hunter2\n"
      "learner:\n  dim: 16\n  weights:\n    purchase: 8\n");
  Config c;
  Status s = LoadConfig(path, {"learner.dim=24", "emitter.top_n=5"}, &c);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(c.kafka.bootstrap == "h:1");
  CHECK(c.learner.dim == 24);
  CHECK(c.learner.type_weights[static_cast<size_t>(EventType::kPurchase)] == 8.0F);
  CHECK(c.emitter.top_n == 5);
  REQUIRE(c.kafka.properties.size() == 2);
  const std::string dump = DumpConfig(c);
  CHECK(dump.find("hunter2") == std::string::npos);  // secrets never printed
  CHECK(dump.find("SASL_SSL") != std::string::npos);
  // The dump is itself a valid configuration that reads back the same.
  Config again;
  REQUIRE(LoadConfig(Write(dump), {}, &again).ok());
  CHECK(again.learner.dim == 24);
  CHECK(again.emitter.top_n == 5);
}

TEST_CASE("an override of a librdkafka property keeps the dots of its name") {
  std::string path = Write("kafka:\n  consumer_properties:\n    session.timeout.ms: '6000'\n");
  Config c;
  Status s = LoadConfig(path, {"kafka.consumer_properties.fetch.wait.max.ms=5",
                               "kafka.producer_properties.linger.ms=2", "kafka.properties.client.id=shop"}, &c);
  INFO(s.ToString());
  REQUIRE(s.ok());
  const kafka::Properties consumer{{"session.timeout.ms", "6000"}, {"fetch.wait.max.ms", "5"}};
  CHECK(c.kafka.consumer_properties == consumer);
  CHECK(c.kafka.producer_properties == kafka::Properties{{"linger.ms", "2"}});
  CHECK(c.kafka.properties == kafka::Properties{{"client.id", "shop"}});
}

TEST_CASE("mistakes are reported, not ignored") {
  Config c;
  Status s = LoadConfig(Write("learner:\n  dimm: 16\n"), {}, &c);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("learner.dimm") != std::string::npos);
  s = LoadConfig(Write("learner:\n  dim: lots\n"), {}, &c);
  CHECK(s.message().find("learner.dim") != std::string::npos);
  s = LoadConfig("", {"learner.dim=1"}, &c);
  CHECK(s.message().find("learner.dim must be in 4..512") != std::string::npos);
  s = LoadConfig("", {"pipeline.batch_linger_ms=5000"}, &c);
  CHECK(s.message().find("pipeline.batch_linger_ms must be in 0..1000") != std::string::npos);
  REQUIRE(LoadConfig("", {"pipeline.batch_linger_ms=3"}, &c).ok());
  CHECK(c.pipeline.batch_linger_ms == 3);
  s = LoadConfig("", {"emitter.list_share=0"}, &c);
  CHECK(s.message().find("emitter.list_share must be in 0.01..100") != std::string::npos);
  s = LoadConfig("", {"learner.session_neighbors=20000000"}, &c);
  CHECK(s.message().find("learner.session_neighbors must be in 0..10000000") != std::string::npos);
  s = LoadConfig("", {"learner.session_weight=-1"}, &c);
  CHECK(s.message().find("learner.session_weight must be in [0, 100000]") != std::string::npos);
  REQUIRE(LoadConfig("", {"learner.session_neighbors=0"}, &c).ok());
  CHECK(c.learner.session_neighbors == 0);
  REQUIRE(LoadConfig("", {"emitter.list_share=2"}, &c).ok());
  CHECK(c.emitter.list_share == 2.0);
  s = LoadConfig("", {"nonsense"}, &c);
  CHECK_FALSE(s.ok());
  CHECK(LoadConfig("/no/such/file.yaml", {}, &c).code() == StatusCode::kNotFound);
}

TEST_CASE("--set values are taken as typed values, not pasted YAML") {
  Config c;
  // A ':' or '#' is part of the value: no key is added, nothing is cut off.
  REQUIRE(LoadConfig("", {"kafka.group_id=shop: a # b", "kafka.bootstrap=h1:9092,h2:9092"}, &c).ok());
  CHECK(c.kafka.group_id == "shop: a # b");
  CHECK(c.kafka.bootstrap == "h1:9092,h2:9092");
  REQUIRE(LoadConfig("", {"kafka.properties={sasl.password: 'p#ss:w'}", "learner.dim=48", "emitter.list_share=0.5"},
                     &c).ok());
  REQUIRE(c.kafka.properties.size() == 1);
  CHECK(c.kafka.properties[0].second == "p#ss:w");
  CHECK(c.learner.dim == 48);
  CHECK(c.emitter.list_share == 0.5);
  CHECK(LoadConfig("", {"learner.dim=forty"}, &c).message().find("learner.dim") != std::string::npos);
}

TEST_CASE("a malformed or misshapen file is an error, never an escaped exception") {
  Config c;
  for (const char* text : {"learner: [unclosed\n", "learner: 5\n", "kafka:\n  properties:\n    a: {b: c}\n",
                           "- just\n- a list\n"}) {
    Status s;
    REQUIRE_NOTHROW(s = LoadConfig(Write(text), {}, &c));
    INFO(text);
    CHECK(s.code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("an experiment's variants load from the file or --set, are checked and dumped back") {
  std::string path = Write(
      "experiment:\n  name: ranking-2026\n  attribution_window_s: 1800\n  variants:\n"
      "    - {name: control, share: 0.45}\n    - {name: shorter, share: 0.45, list_length: 10}\n"
      "    - {name: holdout, share: 0.1, model: trending, exploration_slot: 0}\n");
  Config c;
  Status s = LoadConfig(path, {}, &c);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(c.experiment.name == "ranking-2026");
  CHECK(c.experiment.attribution_window_s == 1800);
  REQUIRE(c.experiment.variants.size() == 3);
  CHECK(c.experiment.variants[1].list_length == 10);
  CHECK(c.experiment.variants[2].Model() == experiment::ListModel::kTrending);
  CHECK(c.experiment.variants[2].exploration_slot == 0);
  // The dump loads back as the same experiment.
  Config again;
  REQUIRE(LoadConfig(Write(DumpConfig(c)), {}, &again).ok());
  CHECK(again.experiment == c.experiment);
  // --set takes a flow list.
  REQUIRE(LoadConfig("", {"experiment.name=x", "experiment.variants=[{name: a, share: 0.5}, {name: b, share: 0.5}]"},
                     &c).ok());
  CHECK(c.experiment.variants.size() == 2);
  // Mistakes are errors, naming the place.
  s = LoadConfig("", {"experiment.name=x", "experiment.variants=[{name: a, share: 1, colour: red}]"}, &c);
  CHECK(s.message().find("experiment.variants[0].colour") != std::string::npos);
  s = LoadConfig("", {"experiment.name=x", "experiment.variants=[{name: a, share: 0.7}]"}, &c);
  CHECK(s.message().find("sum to 1") != std::string::npos);
  s = LoadConfig("", {"experiment.name=x"}, &c);
  CHECK_FALSE(s.ok());
  CHECK(LoadConfig("", {}, &c).ok());
  CHECK_FALSE(c.experiment.enabled());
}
