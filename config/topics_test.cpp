#include <catch2/catch.hpp>

#include "config/topics.h"

using namespace streamrec;
using namespace streamrec::config;

namespace {

kafka::TopicInfo Topic(int partitions, const char* policy) {
  kafka::TopicInfo info;
  info.partitions = partitions;
  info.replication_factor = 1;
  if (policy != nullptr) info.config["cleanup.policy"] = policy;
  return info;
}

// Every standard topic as `topics create` makes it.
std::map<std::string, kafka::TopicInfo> Healthy(const KafkaConfig& config) {
  std::map<std::string, kafka::TopicInfo> found;
  for (const kafka::TopicSpec& spec : StandardTopics(config)) {
    found[spec.name] = Topic(spec.partitions, spec.compacted ? "compact" : "delete");
  }
  return found;
}

bool Mentions(const std::vector<std::string>& lines, const std::string& text) {
  for (const std::string& line : lines) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("StandardTopics: what topics create makes") {
  KafkaConfig config;
  config.partitions = 6;
  std::vector<kafka::TopicSpec> specs = StandardTopics(config);
  REQUIRE(specs.size() == 9);
  for (const kafka::TopicSpec& s : specs) {
    INFO(s.name);
    CHECK(s.partitions == 6);
    CHECK(s.replication_factor == -1);  // the broker's default
    CHECK(s.compacted == (s.name != "events" && s.name != "events.dlq" && s.name != "streamrec.items"));
  }
  CHECK(specs[3].name == "streamrec.state");
  CHECK(specs[3].config.at("min.compaction.lag.ms") == kStateCompactionLagMs);
  CHECK(StateTopicSpec(config, "other").name == "other.state");
  CHECK(specs[4].name == "streamrec.items");
  CHECK(ItemsTopicSpec(config, "other").name == "other.items");
}

TEST_CASE("CheckTopics: healthy topics pass") {
  KafkaConfig config;
  TopicProblems p = CheckTopics(config, true, true, Healthy(config));
  CHECK(p.errors.empty());
  CHECK(p.warnings.empty());
}

// One breach at a time: {topic, partitions (0 = missing), cleanup.policy, error?, text}.
TEST_CASE("CheckTopics: each breach and its verdict") {
  struct Case {
    const char* topic;
    int partitions;
    const char* policy;
    bool error;
    const char* text;
  };
  const Case cases[] = {
      {"events", 0, nullptr, true, "events topic events does not exist"},
      {"events", 4, "compact", true, "events is compacted"},
      {"events", 4, "compact,delete", true, "events is compacted"},
      {"streamrec.state", 0, nullptr, true, "streamrec.state does not exist"},
      {"streamrec.state", 4, "delete", true, "streamrec.state is not compacted"},
      {"streamrec.state", 4, "compact,delete", true, "streamrec.state is compact,delete"},
      {"streamrec.state", 2, "compact", true, "has 2 partitions, fewer than the 4 of events"},
      {"streamrec.state", 8, "compact", false, "has 8 partitions, more than the 4 of events"},
      {"streamrec.items", 0, nullptr, true, "streamrec.items does not exist"},
      {"streamrec.items", 4, "compact", true, "streamrec.items is compacted"},
      {"streamrec.items", 2, "delete", true, "has 2 partitions, fewer than the 4 of events"},
      {"recommendations", 4, "delete", true, "recommendations is not compacted"},
      {"recommendations", 4, "compact,delete", false, "recommendations is compact,delete"},
      {"recommendations", 0, nullptr, false, "recommendations does not exist"},
      {"trending", 4, "delete", false, "trending is not compacted"},
      {"catalog", 4, "delete", false, "catalog is not compacted"},
      {"similar-items", 0, nullptr, false, "similar-items does not exist"},
  };
  KafkaConfig config;
  for (const Case& c : cases) {
    INFO(c.topic << " " << c.partitions << " " << (c.policy ? c.policy : "-"));
    std::map<std::string, kafka::TopicInfo> found = Healthy(config);
    if (c.partitions == 0) {
      found.erase(c.topic);
    } else {
      found[c.topic] = Topic(c.partitions, c.policy);
    }
    TopicProblems p = CheckTopics(config, true, true, found);
    CHECK(p.errors.size() == (c.error ? 1u : 0u));
    CHECK(p.warnings.size() == (c.error ? 0u : 1u));
    CHECK(Mentions(c.error ? p.errors : p.warnings, c.text));
  }
}

TEST_CASE("CheckTopics: unknown configs check existence and partitions only") {
  KafkaConfig config;
  std::map<std::string, kafka::TopicInfo> found;
  for (const kafka::TopicSpec& spec : StandardTopics(config)) found[spec.name] = Topic(spec.partitions, nullptr);
  CHECK(CheckTopics(config, true, true, found).errors.empty());
  found["streamrec.state"].partitions = 1;
  CHECK(CheckTopics(config, true, true, found).errors.size() == 1);
}

TEST_CASE("CheckTopics: without state hand-off the changelog is not needed") {
  KafkaConfig config;
  std::map<std::string, kafka::TopicInfo> found = Healthy(config);
  found.erase("streamrec.state");
  CHECK(CheckTopics(config, false, true, found).errors.empty());
  CHECK(CheckTopics(config, true, true, found).errors.size() == 1);
}

TEST_CASE("CheckTopics: without shared items their topic is not needed") {
  KafkaConfig config;
  std::map<std::string, kafka::TopicInfo> found = Healthy(config);
  found.erase("streamrec.items");
  CHECK(CheckTopics(config, true, false, found).errors.empty());
  CHECK(CheckTopics(config, true, true, found).errors.size() == 1);
}

TEST_CASE("CheckTopics: the names come from the configuration") {
  KafkaConfig config;
  config.group_id = "shop-a";
  config.catalog_topic = "";  // no catalog: not checked
  std::map<std::string, kafka::TopicInfo> found = Healthy(config);
  CHECK(found.contains("shop-a.state"));
  CHECK(!found.contains("catalog"));
  CHECK(CheckTopics(config, true, true, found).warnings.empty());
  found.erase("shop-a.state");
  CHECK(Mentions(CheckTopics(config, true, true, found).errors, "shop-a.state does not exist"));
}
