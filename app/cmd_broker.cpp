#include <chrono>
#include <iostream>
#include <thread>

#include "app/commands.h"
#include "app/topics.h"
#include "common/logging.h"
#include "kafka/embedded_broker.h"

namespace streamrec::app {

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
  KafkaConfig topics;
  topics.partitions = args.partitions;
  for (const kafka::TopicSpec& t : StandardTopics(topics)) {
    if (Status s = broker->CreateTopic(t.name, t.partitions); !s.ok()) {
      std::cerr << "streamrec broker: " << s.ToString() << "\n";
      return 1;
    }
  }
  // The first line is the bootstrap address alone, for scripts.
  std::cout << broker->bootstrap() << std::endl;
  ModuleLogger("broker")->info("embedded broker ready at {} (topics with {} partitions); Ctrl-C stops it",
                               broker->bootstrap(), args.partitions);
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ModuleLogger("broker")->info("stopping");
  return 0;
}

}  // namespace streamrec::app
