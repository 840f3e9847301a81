#include "kafka/admin.h"

#include <memory>

#include <librdkafka/rdkafka.h>

namespace streamrec::kafka {
namespace {

struct HandleDeleter {
  void operator()(rd_kafka_t* h) const { rd_kafka_destroy(h); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct OptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct NewTopicsHolder {
  std::vector<rd_kafka_NewTopic_t*> topics;
  ~NewTopicsHolder() {
    for (auto* t : topics) rd_kafka_NewTopic_destroy(t);
  }
};

Status MakeAdminHandle(const Properties& properties, std::unique_ptr<rd_kafka_t, HandleDeleter>* out) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka property '" + name + "': " + err);
    }
  }
  rd_kafka_t* h = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!h) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("admin client: ") + err);
  }
  out->reset(h);
  return Status::Ok();
}

// The topics that already exist and their partition counts (all topics are
// asked for: naming one could auto-create it); Unavailable if the cluster does not answer.
Status ExistingTopics(rd_kafka_t* handle, int timeout_ms, std::map<std::string, int>* out) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(handle, 1, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Unavailable(std::string("metadata: ") + rd_kafka_err2str(err));
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) (*out)[md->topics[i].topic] = md->topics[i].partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  return Status::Ok();
}

}  // namespace

Status EnsureTopics(const Properties& properties, const std::vector<TopicSpec>& topics, int timeout_ms) {
  std::unique_ptr<rd_kafka_t, HandleDeleter> handle;
  STREAMREC_RETURN_IF_ERROR(MakeAdminHandle(properties, &handle));
  std::map<std::string, int> existing;
  STREAMREC_RETURN_IF_ERROR(ExistingTopics(handle.get(), timeout_ms, &existing));
  NewTopicsHolder specs;
  char err[512];
  for (const TopicSpec& t : topics) {
    if (existing.contains(t.name)) continue;
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, t.replication_factor, err, sizeof err);
    if (!nt) return Status::InvalidArgument("topic " + t.name + ": " + err);
    specs.topics.push_back(nt);
    if (t.compacted) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
  }
  if (specs.topics.empty()) return Status::Ok();
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(handle.get()));
  std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter> options(
      rd_kafka_AdminOptions_new(handle.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err, sizeof err);
  rd_kafka_CreateTopics(handle.get(), specs.topics.data(), specs.topics.size(), options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(rd_kafka_queue_poll(queue.get(), timeout_ms + 1000));
  if (!event) return Status::Unavailable("no answer to CreateTopics within " + std::to_string(timeout_ms) + " ms");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("CreateTopics: ") + rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      return Status::Unavailable(std::string("creating ") + rd_kafka_topic_result_name(results[i]) + ": " +
                                 rd_kafka_err2str(e));
    }
  }
  return Status::Ok();
}

Status PartitionCounts(const Properties& properties, const std::vector<std::string>& topics, int timeout_ms,
                       std::map<std::string, int>* out) {
  std::unique_ptr<rd_kafka_t, HandleDeleter> handle;
  STREAMREC_RETURN_IF_ERROR(MakeAdminHandle(properties, &handle));
  std::map<std::string, int> existing;
  STREAMREC_RETURN_IF_ERROR(ExistingTopics(handle.get(), timeout_ms, &existing));
  out->clear();
  for (const std::string& t : topics) {
    if (auto it = existing.find(t); it != existing.end()) (*out)[t] = it->second;
  }
  return Status::Ok();
}

Status ClusterId(const Properties& properties, int timeout_ms, std::string* out) {
  std::unique_ptr<rd_kafka_t, HandleDeleter> handle;
  STREAMREC_RETURN_IF_ERROR(MakeAdminHandle(properties, &handle));
  char* id = rd_kafka_clusterid(handle.get(), timeout_ms);
  if (id == nullptr) return Status::Unavailable("the cluster's id: no answer in " + std::to_string(timeout_ms) + " ms");
  out->assign(id);
  rd_kafka_mem_free(handle.get(), id);
  return Status::Ok();
}

}  // namespace streamrec::kafka
