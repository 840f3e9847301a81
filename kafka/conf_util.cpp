#include "kafka/conf_util.h"

#include "common/logging.h"

namespace streamrec::kafka::internal {

Status BuildConf(const Properties& properties, std::unique_ptr<RdKafka::Conf>* out) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& [name, value] : properties) {
    if (conf->set(name, value, err) != RdKafka::Conf::CONF_OK) {
      return Status::InvalidArgument("kafka property '" + name + "': " + err);
    }
  }
  *out = std::move(conf);
  return Status::Ok();
}

void LogEventCb::event_cb(RdKafka::Event& event) {
  static const auto log = ModuleLogger("kafka");
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      if (event.fatal()) {
        log->error("fatal: {} ({})", RdKafka::err2str(event.err()), event.str());
      } else {
        log->warn("{} ({})", RdKafka::err2str(event.err()), event.str());
      }
      break;
    case RdKafka::Event::EVENT_LOG:
      if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_ERROR) {
        log->error("{}: {}", event.fac(), event.str());
      } else if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
        log->warn("{}: {}", event.fac(), event.str());
      } else {
        log->debug("{}: {}", event.fac(), event.str());
      }
      break;
    default:
      break;
  }
}

}  // namespace streamrec::kafka::internal
