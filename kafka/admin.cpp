#include "kafka/admin.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "common/logging.h"

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
struct ConfigResourcesHolder {
  std::vector<rd_kafka_ConfigResource_t*> resources;
  ~ConfigResourcesHolder() {
    for (auto* r : resources) rd_kafka_ConfigResource_destroy(r);
  }
};
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using Event = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
using Options = std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter>;

Options MakeOptions(rd_kafka_t* handle, rd_kafka_admin_op_t op, int timeout_ms) {
  Options options(rd_kafka_AdminOptions_new(handle, op));
  char err[512];
  (void)rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err, sizeof err);
  return options;
}

// The answer to an admin request sent to `queue`, or why there is none.
Status AwaitResult(rd_kafka_queue_t* queue, const char* what, int timeout_ms, Event* out) {
  out->reset(rd_kafka_queue_poll(queue, timeout_ms + 1000));
  if (!*out) return Status::Unavailable(std::string("no answer to ") + what + " within " + std::to_string(timeout_ms) + " ms");
  if (rd_kafka_event_error(out->get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string(what) + ": " + rd_kafka_event_error_string(out->get()));
  }
  return Status::Ok();
}

// An admin handle and the last error librdkafka reported on it (served by
// rd_kafka_poll on the thread that owns the handle: no lock needed).
struct AdminHandle {
  std::unique_ptr<rd_kafka_t, HandleDeleter> handle;
  rd_kafka_resp_err_t last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string last_reason;
  // Set before the handle exists, only read after: librdkafka's threads log through it.
  std::shared_ptr<spdlog::logger> log = ModuleLogger("kafka");

  rd_kafka_t* get() const { return handle.get(); }
};

void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* admin = static_cast<AdminHandle*>(opaque);
  admin->last_error = static_cast<rd_kafka_resp_err_t>(err);
  admin->last_reason = reason ? reason : "";
}

// librdkafka's log lines (any of its threads) to the module logger, not raw to stderr.
void OnLog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  try {
    const auto* admin = static_cast<const AdminHandle*>(rd_kafka_opaque(rk));
    if (level <= 3) {
      admin->log->error("{}: {}", facility, message);
    } else if (level <= 4) {
      admin->log->warn("{}: {}", facility, message);
    } else {
      admin->log->debug("{}: {}", facility, message);
    }
  } catch (...) {  // a C callback: a lost log line, nothing more
  }
}

// The admin handle is kept at a stable address (the error callback's opaque).
Status MakeAdminHandle(const Properties& properties, std::unique_ptr<AdminHandle>* out) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka property '" + name + "': " + err);
    }
  }
  auto admin = std::make_unique<AdminHandle>();
  rd_kafka_conf_set_error_cb(conf, &OnError);
  rd_kafka_conf_set_log_cb(conf, &OnLog);
  rd_kafka_conf_set_opaque(conf, admin.get());
  rd_kafka_t* h = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!h) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("admin client: ") + err);
  }
  admin->handle.reset(h);
  *out = std::move(admin);
  return Status::Ok();
}

// A timeout spent in short tries, so that refused credentials fail at once.
class Deadline {
 public:
  explicit Deadline(int timeout_ms)
      : end_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms)) {}
  bool passed() const { return std::chrono::steady_clock::now() >= end_; }
  int next_try_ms() const {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - std::chrono::steady_clock::now());
    return static_cast<int>(std::clamp<int64_t>(left.count(), 1, 500));
  }

 private:
  std::chrono::steady_clock::time_point end_;
};

// Whether librdkafka's last error on `admin` means the settings are wrong
// (credentials, TLS), which waiting longer will not mend.
bool SettingsRefused(const AdminHandle& admin) {
  return admin.last_error == RD_KAFKA_RESP_ERR__AUTHENTICATION || admin.last_error == RD_KAFKA_RESP_ERR__SSL ||
         admin.last_error == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
         admin.last_error == RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM ||
         admin.last_error == RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE;
}

// librdkafka before 2.6.1 sends a SCRAM proof that Kafka 4 brokers reject
// even with the right password (confluentinc/librdkafka#4895).
constexpr int kScramFixedVersion = 0x020601ff;

std::string ScramHint(const AdminHandle& admin) {
  if (rd_kafka_version() >= kScramFixedVersion || admin.last_reason.find("SCRAM") == std::string::npos) return "";
  return "; note: this librdkafka (" + std::string(rd_kafka_version_str()) +
         ") cannot authenticate with SCRAM to Kafka 4 brokers even with the right password (fixed in 2.6.1, "
         "confluentinc/librdkafka#4895): on Kafka 4 use sasl.mechanism PLAIN over TLS (SASL_SSL), or a newer librdkafka";
}

// Why `what` got no answer: the broker refused our settings (Unauthenticated,
// e.g. a wrong password), or it could not be reached (Unavailable).
Status NoAnswer(AdminHandle* admin, const std::string& what) {
  rd_kafka_poll(admin->get(), 0);  // serves the error callbacks
  if (SettingsRefused(*admin)) {
    return Status::Unauthenticated("the cluster refused the connection: " + admin->last_reason +
                                   " (check kafka.properties: security.protocol, sasl.*, ssl.*)" + ScramHint(*admin));
  }
  std::string message = what;
  if (admin->last_error != RD_KAFKA_RESP_ERR_NO_ERROR) message += " (last error: " + admin->last_reason + ")";
  return Status::Unavailable(message);
}

// The topics that already exist, their partition counts and replicas (all
// topics are asked for: naming one could auto-create it); Unavailable if the
// cluster does not answer. Asked in short tries, so that refused credentials
// fail at once instead of at the timeout.
Status ExistingTopics(AdminHandle* admin, int timeout_ms, std::map<std::string, TopicInfo>* out) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  for (Deadline deadline(timeout_ms); !deadline.passed() && !SettingsRefused(*admin);) {
    err = rd_kafka_metadata(admin->get(), 1, nullptr, &md, deadline.next_try_ms());
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    rd_kafka_poll(admin->get(), 100);  // serves the error callbacks; a pause before the next try
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return NoAnswer(admin, std::string("metadata: ") + rd_kafka_err2str(err));
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    TopicInfo& info = (*out)[t.topic];
    info.partitions = t.partition_cnt;
    info.replication_factor = t.partition_cnt > 0 ? t.partitions[0].replica_cnt : 0;
  }
  rd_kafka_metadata_destroy(md);
  return Status::Ok();
}

// Adds each topic's effective configs to *topics (DescribeConfigs).
Status AddConfigs(AdminHandle* admin, int timeout_ms, std::map<std::string, TopicInfo>* topics) {
  ConfigResourcesHolder request;
  for (const auto& [name, info] : *topics) {
    request.resources.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str()));
  }
  if (request.resources.empty()) return Status::Ok();
  rd_kafka_t* handle = admin->get();
  Queue queue(rd_kafka_queue_new(handle));
  Options options = MakeOptions(handle, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
  rd_kafka_DescribeConfigs(handle, request.resources.data(), request.resources.size(), options.get(), queue.get());
  Event event;
  STREAMREC_RETURN_IF_ERROR(AwaitResult(queue.get(), "DescribeConfigs", timeout_ms, &event));
  size_t count = 0;
  const rd_kafka_ConfigResource_t** resources =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(event.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    if (rd_kafka_ConfigResource_error(resources[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Unavailable(std::string("configs of ") + rd_kafka_ConfigResource_name(resources[i]) + ": " +
                                 rd_kafka_ConfigResource_error_string(resources[i]));
    }
    std::map<std::string, std::string>& config = (*topics)[rd_kafka_ConfigResource_name(resources[i])].config;
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** entry = rd_kafka_ConfigResource_configs(resources[i], &entries);
    for (size_t e = 0; e < entries; ++e) {
      const char* value = rd_kafka_ConfigEntry_value(entry[e]);
      if (value != nullptr) config[rd_kafka_ConfigEntry_name(entry[e])] = value;
    }
  }
  return Status::Ok();
}

}  // namespace

Status EnsureTopics(const Properties& properties, const std::vector<TopicSpec>& topics, int timeout_ms,
                    std::vector<std::string>* created) {
  std::unique_ptr<AdminHandle> handle;
  STREAMREC_RETURN_IF_ERROR(MakeAdminHandle(properties, &handle));
  std::map<std::string, TopicInfo> existing;
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
    for (const auto& [key, value] : t.config) rd_kafka_NewTopic_set_config(nt, key.c_str(), value.c_str());
  }
  if (specs.topics.empty()) return Status::Ok();
  Queue queue(rd_kafka_queue_new(handle->get()));
  Options options = MakeOptions(handle->get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
  rd_kafka_CreateTopics(handle->get(), specs.topics.data(), specs.topics.size(), options.get(), queue.get());
  Event event;
  STREAMREC_RETURN_IF_ERROR(AwaitResult(queue.get(), "CreateTopics", timeout_ms, &event));
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    const std::string name = rd_kafka_topic_result_name(results[i]);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;  // another instance was quicker
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (created) created->push_back(name);
      continue;
    }
    const char* why = rd_kafka_topic_result_error_string(results[i]);
    const std::string message = "creating " + name + ": " + (why ? why : rd_kafka_err2str(e));
    const bool refused = e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR || e == RD_KAFKA_RESP_ERR_INVALID_CONFIG ||
                         e == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS || e == RD_KAFKA_RESP_ERR_POLICY_VIOLATION ||
                         e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                         e == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED;
    return refused ? Status::InvalidArgument(message) : Status::Unavailable(message);
  }
  return Status::Ok();
}

Status AwaitTopics(const Properties& properties, const std::vector<std::string>& topics, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::map<std::string, TopicInfo> found;
  std::vector<std::string> missing = topics;
  while (!missing.empty()) {
    found.clear();
    STREAMREC_RETURN_IF_ERROR(DescribeTopics(properties, missing, /*with_configs=*/false, timeout_ms, &found));
    std::erase_if(missing, [&](const std::string& t) { return found.contains(t); });
    if (missing.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string names;
      for (const std::string& t : missing) names += (names.empty() ? "" : ", ") + t;
      return Status::Unavailable(fmt::format("the cluster does not show {} after {} ms", names, timeout_ms));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Ok();
}

Status DescribeTopics(const Properties& properties, const std::vector<std::string>& topics, bool with_configs,
                      int timeout_ms, std::map<std::string, TopicInfo>* out) {
  std::unique_ptr<AdminHandle> handle;
  STREAMREC_RETURN_IF_ERROR(MakeAdminHandle(properties, &handle));
  std::map<std::string, TopicInfo> existing;
  STREAMREC_RETURN_IF_ERROR(ExistingTopics(handle.get(), timeout_ms, &existing));
  out->clear();
  for (const std::string& t : topics) {
    if (auto it = existing.find(t); it != existing.end()) (*out)[t] = it->second;
  }
  return with_configs ? AddConfigs(handle.get(), timeout_ms, out) : Status::Ok();
}

Status ClusterId(const Properties& properties, int timeout_ms, std::string* out) {
  std::unique_ptr<AdminHandle> handle;
  STREAMREC_RETURN_IF_ERROR(MakeAdminHandle(properties, &handle));
    char* id = nullptr;
  for (Deadline deadline(timeout_ms); id == nullptr && !deadline.passed() && !SettingsRefused(*handle);) {
    id = rd_kafka_clusterid(handle->get(), deadline.next_try_ms());
    if (id == nullptr) rd_kafka_poll(handle->get(), 100);
  }
  if (id == nullptr) return NoAnswer(handle.get(), "the cluster's id: no answer in " + std::to_string(timeout_ms) + " ms");
  out->assign(id);
  rd_kafka_mem_free(handle->get(), id);
  return Status::Ok();
}

}  // namespace streamrec::kafka
