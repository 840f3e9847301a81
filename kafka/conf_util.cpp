#include "kafka/conf_util.h"

#include <librdkafka/rdkafka.h>

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

// A C callback from librdkafka: logging must not throw through it.
void LogEventCb::event_cb(RdKafka::Event& event) {
  try {
    LogEvent(event);
  } catch (...) {  // a log line lost; nothing else to do from here
  }
}

void LogEventCb::LogEvent(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      if (event.fatal()) {
        log_->error("fatal: {} ({})", RdKafka::err2str(event.err()), event.str());
      } else {
        log_->warn("{} ({})", RdKafka::err2str(event.err()), event.str());
      }
      break;
    case RdKafka::Event::EVENT_LOG:
      if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_ERROR) {
        log_->error("{}: {}", event.fac(), event.str());
      } else if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
        log_->warn("{}: {}", event.fac(), event.str());
      } else {
        log_->debug("{}: {}", event.fac(), event.str());
      }
      break;
    default:
      break;
  }
}

namespace {

void ReleaseMessage(void* m) { delete static_cast<RdKafka::Message*>(m); }

}  // namespace

Message WrapMessage(std::unique_ptr<RdKafka::Message> m) {
  const rd_kafka_message_t* raw = m->c_ptr();
  Message::Fields f;
  f.topic = rd_kafka_topic_name(raw->rkt);
  f.key = raw->key ? std::string_view(static_cast<const char*>(raw->key), raw->key_len) : std::string_view();
  f.payload =
      raw->payload ? std::string_view(static_cast<const char*>(raw->payload), raw->len) : std::string_view();
  f.partition = raw->partition;
  f.offset = raw->offset;
  f.c_message = raw;
  RdKafka::MessageTimestamp ts = m->timestamp();
  f.timestamp_ms = ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE ? -1 : ts.timestamp;
  return Message(f, m.release(), &ReleaseMessage);
}

}  // namespace streamrec::kafka::internal
