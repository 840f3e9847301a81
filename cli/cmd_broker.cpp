#include <poll.h>
#include <unistd.h>

#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "common/logging.h"
#include "config/topics.h"
#include "kafka/embedded_broker.h"

namespace streamrec::cli {
namespace {

// One fault-injection command from stdin: "down ID", "up ID", "error API CODE COUNT".
Status Execute(const std::string& line, kafka::EmbeddedBroker* broker) {
  std::istringstream in(line);
  std::string verb;
  in >> verb;
  int a = 0, b = 0, c = 0;
  if ((verb == "down" || verb == "up") && (in >> a)) return broker->SetBrokerDown(a, verb == "down");
  if (verb == "error" && (in >> a >> b >> c)) return broker->PushRequestErrors(a, b, c);
  return Status::InvalidArgument("unknown command '" + line + "' (down ID | up ID | error API CODE COUNT)");
}

// Serves stdin commands until `stop`, or until the compacted topics can no
// longer be kept whole (that error); stdin at EOF is simply no longer read.
Status ServeCommands(kafka::EmbeddedBroker* broker, const std::atomic<bool>& stop) {
  auto log = ModuleLogger("broker");
  bool open = true;
  std::string buffer;
  while (!stop.load()) {
    STREAMREC_RETURN_IF_ERROR(broker->CompactionStatus());
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    if (!open || poll(&fd, 1, 100) <= 0) {
      if (!open) usleep(100000);
      continue;
    }
    char chunk[256];
    const ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
    if (n <= 0) {
      open = false;
      continue;
    }
    buffer.append(chunk, static_cast<size_t>(n));
    for (size_t eol; (eol = buffer.find('\n')) != std::string::npos; buffer.erase(0, eol + 1)) {
      const std::string line = buffer.substr(0, eol);
      if (line.empty()) continue;
      Status s = Execute(line, broker);
      log->info("command '{}': {}", line, s.ToString());
      std::cout << (s.ok() ? "ok" : "error: " + s.message()) << std::endl;
    }
  }
  return Status::Ok();
}

}  // namespace

int CmdBroker(const BrokerArgs& args, const std::atomic<bool>& stop) {
  if (args.partitions < 1 || args.partitions > 1024) {
    std::cerr << "streamrec broker: --partitions must be in 1..1024\n";
    return 2;
  }
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  if (Status s = kafka::EmbeddedBroker::Start(args.brokers, &broker); !s.ok()) {
    std::cerr << "streamrec broker: " << s.ToString() << "\n";
    return 1;
  }
  config::KafkaConfig topics;
  topics.partitions = args.partitions;
  std::vector<kafka::TopicSpec> specs = config::StandardTopics(topics);
  for (const std::string& group : args.groups) {
    specs.push_back(config::StateTopicSpec(topics, group));
    specs.push_back(config::ItemsTopicSpec(topics, group));
  }
  for (const kafka::TopicSpec& t : specs) {
    if (Status s = broker->CreateTopic(t.name, t.partitions, t.compacted); !s.ok()) {
      std::cerr << "streamrec broker: " << s.ToString() << "\n";
      return 1;
    }
  }
  if (Status s = args.no_compaction ? Status::Ok() : broker->StartCompaction(); !s.ok()) {
    std::cerr << "streamrec broker: " << s.ToString() << "\n";
    return 1;
  }
  // The first line is the bootstrap address alone, for scripts.
  std::cout << broker->bootstrap() << std::endl;
  ModuleLogger("broker")->info("embedded broker ready at {} (topics with {} partitions); Ctrl-C stops it",
                               broker->bootstrap(), args.partitions);
  const Status served = ServeCommands(broker.get(), stop);
  ModuleLogger("broker")->info("stopping");
  if (!served.ok()) {
    std::cerr << "streamrec broker: " << served.message() << "\n";
    return 3;
  }
  return 0;
}

}  // namespace streamrec::cli
