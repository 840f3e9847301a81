#include <algorithm>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "config/config.h"
#include "config/topics.h"
#include "kafka/admin.h"

namespace streamrec::cli {
namespace {

constexpr int kAdminTimeoutMs = 15000;

// "TOPIC:KEY=VALUE" into specs[TOPIC].config[KEY] = VALUE.
Status ApplyTopicConfigs(const std::vector<std::string>& settings, std::vector<kafka::TopicSpec>* specs) {
  for (const std::string& setting : settings) {
    const size_t colon = setting.find(':');
    const size_t equals = setting.find('=', colon == std::string::npos ? 0 : colon);
    if (colon == std::string::npos || equals == std::string::npos || colon == 0 || equals == colon + 1) {
      return Status::InvalidArgument("--topic-config " + setting + ": expected TOPIC:KEY=VALUE");
    }
    const std::string topic = setting.substr(0, colon);
    bool known = false;
    for (kafka::TopicSpec& spec : *specs) {
      if (spec.name != topic) continue;
      spec.config[setting.substr(colon + 1, equals - colon - 1)] = setting.substr(equals + 1);
      known = true;
    }
    if (!known) return Status::InvalidArgument("--topic-config " + setting + ": " + topic + " is not a topic streamrec uses");
  }
  return Status::Ok();
}

std::string Describe(const kafka::TopicInfo& info) {
  auto policy = info.config.find("cleanup.policy");
  return std::to_string(info.partitions) + " partitions, replication " + std::to_string(info.replication_factor) +
         (policy == info.config.end() ? "" : ", cleanup.policy=" + policy->second);
}

}  // namespace

int CmdTopics(const TopicsArgs& args) {
  const char* name = args.create ? "streamrec topics create" : "streamrec topics check";
  std::vector<std::string> overrides = args.overrides;
  if (!args.bootstrap.empty()) overrides.push_back("kafka.bootstrap=" + args.bootstrap);
  if (args.partitions > 0) overrides.push_back("kafka.partitions=" + std::to_string(args.partitions));
  config::Config config;
  if (Status s = config::LoadConfig(args.config_path, overrides, &config); !s.ok()) {
    std::cerr << name << ": " << s.message() << "\n";
    return 2;
  }
  if (config.kafka.bootstrap.empty() || config.kafka.bootstrap == config::kEmbeddedBootstrap) {
    std::cerr << name << ": give --bootstrap HOST:PORT of a Kafka cluster (the embedded broker makes its own topics)\n";
    return 2;
  }
  std::vector<kafka::TopicSpec> specs = config::StandardTopics(config.kafka);
  for (const std::string& group : args.groups) {
    specs.push_back(config::StateTopicSpec(config.kafka, group));
    specs.push_back(config::ItemsTopicSpec(config.kafka, group));
  }
  for (kafka::TopicSpec& spec : specs) spec.replication_factor = args.replication_factor;
  if (Status s = ApplyTopicConfigs(args.topic_configs, &specs); !s.ok()) {
    std::cerr << name << ": " << s.message() << "\n";
    return 2;
  }
  const kafka::Properties admin = kafka::Merge({{"bootstrap.servers", config.kafka.bootstrap}}, config.kafka.properties);
  std::vector<std::string> created;
  if (args.create) {
    if (Status s = kafka::EnsureTopics(admin, specs, kAdminTimeoutMs, &created); !s.ok()) {
      std::cerr << name << ": " << s.ToString() << "\n";
      return 1;
    }
  }
  std::vector<std::string> names;
  for (const kafka::TopicSpec& spec : specs) names.push_back(spec.name);
  // A broker may answer about topics it just created only a moment later.
  if (Status s = kafka::AwaitTopics(admin, created, kAdminTimeoutMs); !s.ok()) {
    std::cerr << name << ": " << s.ToString() << "\n";  // what it does show is listed below
  }
  std::map<std::string, kafka::TopicInfo> found;
  if (Status s = kafka::DescribeTopics(admin, names, true, kAdminTimeoutMs, &found); !s.ok()) {
    std::cerr << name << ": " << s.ToString() << "\n";
    return 1;
  }
  for (const std::string& topic : names) {
    const bool made = std::find(created.begin(), created.end(), topic) != created.end();
    auto it = found.find(topic);
    std::cout << (made ? "created  " : it == found.end() ? "missing  " : "exists   ") << topic
              << (it == found.end() ? "" : ": " + Describe(it->second)) << "\n";
  }
  const config::TopicProblems problems =
      config::CheckTopics(config.kafka, config.pipeline.state_handoff, config.pipeline.share_items, found);
  for (const std::string& w : problems.warnings) std::cout << "warning: " << w << "\n";
  for (const std::string& e : problems.errors) std::cout << "error: " << e << "\n";
  std::cout << (problems.errors.empty() ? "the topics keep the contract `streamrec run` needs\n"
                                        : "the topics break the contract: `streamrec run` refuses to start\n");
  return problems.errors.empty() ? 0 : 1;
}

}  // namespace streamrec::cli
