#include "kafka/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <vector>

#include "kafka/embedded_compactor.h"

namespace streamrec::kafka {

struct EmbeddedBroker::Impl {
  ~Impl() {
    compactor.reset();  // its clients talk to the cluster: stopped first
    if (cluster) rd_kafka_mock_cluster_destroy(cluster);
    if (handle) rd_kafka_destroy(handle);
  }
  rd_kafka_t* handle = nullptr;  // the mock cluster runs on this handle's threads
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;
  std::vector<std::string> compacted;
  std::unique_ptr<EmbeddedCompactor> compactor;
};

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EmbeddedBroker::~EmbeddedBroker() = default;

Status EmbeddedBroker::Start(int broker_count, std::unique_ptr<EmbeddedBroker>* out) {
  if (broker_count < 1 || broker_count > 9) return Status::InvalidArgument("broker count must be 1..9");
  auto impl = std::make_unique<Impl>();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  // The hosting handle never connects anywhere; silence its "no bootstrap" notice.
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  // The mock brokers' sockets take their options from this handle: without
  // TCP_NODELAY a broker's second small response in a row waits for the
  // client's delayed ACK (~40 ms on Linux), as real Kafka brokers never do.
  rd_kafka_conf_set(conf, "socket.nagle.disable", "true", err, sizeof err);
  impl->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!impl->handle) {
    rd_kafka_conf_destroy(conf);
    return Status::Internal(std::string("embedded broker handle: ") + err);
  }
  impl->cluster = rd_kafka_mock_cluster_new(impl->handle, broker_count);
  if (!impl->cluster) return Status::Unavailable("could not start the mock cluster (no free port?)");
  impl->bootstrap = rd_kafka_mock_cluster_bootstraps(impl->cluster);
  out->reset(new EmbeddedBroker(std::move(impl)));
  return Status::Ok();
}

const std::string& EmbeddedBroker::bootstrap() const { return impl_->bootstrap; }

Status EmbeddedBroker::CreateTopic(const std::string& name, int partitions, bool compacted) {
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return Status::Internal("creating topic " + name + ": " + rd_kafka_err2str(err));
  }
  if (compacted) impl_->compacted.push_back(name);
  return Status::Ok();
}

Status EmbeddedBroker::StartCompaction() {
  if (impl_->compactor) return Status::InvalidArgument("compaction already started");
  EmbeddedCompactorOptions options;
  options.bootstrap = impl_->bootstrap;
  options.topics = impl_->compacted;
  impl_->compactor = std::make_unique<EmbeddedCompactor>(std::move(options));
  return impl_->compactor->Start();
}

Status EmbeddedBroker::CompactionStatus() const {
  return impl_->compactor ? impl_->compactor->status() : Status::Ok();
}

Status EmbeddedBroker::SetBrokerDown(int id, bool down) {
  rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(impl_->cluster, id)
                                 : rd_kafka_mock_broker_set_up(impl_->cluster, id);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::InvalidArgument(rd_kafka_err2str(err));
  return Status::Ok();
}

Status EmbeddedBroker::PushRequestErrors(int api_key, int error_code, int count) {
  if (count < 1 || count > 10000) return Status::InvalidArgument("error count must be in 1..10000");
  std::vector<rd_kafka_resp_err_t> errors(static_cast<size_t>(count), static_cast<rd_kafka_resp_err_t>(error_code));
  rd_kafka_mock_push_request_errors_array(impl_->cluster, static_cast<int16_t>(api_key), errors.size(), errors.data());
  return Status::Ok();
}

}  // namespace streamrec::kafka
