#include "server/status_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/logging.h"

namespace streamrec::server {

Status StatusServerOptions::Validate() const {
  if (commit_stall_s < 5 || commit_stall_s > 86400) return Status::InvalidArgument("http.commit_stall_s must be in 5..86400");
  return Status::Ok();
}

HealthSnapshot JudgeHealth(HealthSnapshot s, int64_t now_ms, int64_t commit_stall_ms) {
  if (!s.problem.empty() || s.uncommitted_since_ms == 0) return s;
  const int64_t waited_ms = now_ms - s.uncommitted_since_ms;
  if (waited_ms <= commit_stall_ms) return s;
  s.problem = fmt::format("no commit for {} s: events applied since then are not durable (last commit {} s ago)",
                          waited_ms / 1000, s.last_commit_ms > 0 ? std::to_string((now_ms - s.last_commit_ms) / 1000) : "never");
  s.problem_since_ms = s.uncommitted_since_ms + commit_stall_ms;
  return s;
}

std::string HealthJson(const HealthSnapshot& s) {
  const bool lost = s.events_lost > 0 || s.dead_letters_dropped > 0;
  const char* status = !s.problem.empty() ? "failing" : lost ? "degraded" : "ok";
  std::string out = fmt::format(R"({{"status":"{}")", status);
  if (s.problem.empty() && s.events_lost > 0) {
    out += fmt::format(R"(,"warning":"{} events were deleted by the broker before they were read")",
                       s.events_lost);
  } else if (s.problem.empty() && s.dead_letters_dropped > 0) {
    out += fmt::format(R"(,"warning":"{} rejected messages could not be written to the dead-letter topic")",
                       s.dead_letters_dropped);
  }
  if (!s.problem.empty()) {
    out += R"(,"problem":)";
    AppendJsonString(s.problem, &out);
    out += fmt::format(R"(,"problem_since_ms":{})", s.problem_since_ms);
  }
  out += fmt::format(R"(,"applied_events":{},"last_commit_ms":{},"uncommitted_since_ms":{},"partitions":{}}})",
                     s.applied_total, s.last_commit_ms, s.uncommitted_since_ms, s.partitions);
  return out + "\n";
}

namespace {

void AppendStageHistograms(const HealthSnapshot& s, std::string* out) {
  *out += "# HELP streamrec_list_stage_milliseconds where an event's time goes on its way to a list, per list "
          "published (stage total: the event's broker timestamp to the list's produce call)\n"
          "# TYPE streamrec_list_stage_milliseconds histogram\n";
  for (size_t stage = 0; stage < kListStages; ++stage) {
    const LatencyHistogram& h = s.list_stages[stage];
    uint64_t cumulative = 0;
    for (size_t b = 0; b < LatencyHistogram::kBuckets; ++b) {
      cumulative += h.counts()[b];
      const std::string le = b < LatencyHistogram::kBoundsMs.size() ? fmt::format("{}", LatencyHistogram::kBoundsMs[b])
                                                                    : std::string("+Inf");
      *out += fmt::format("streamrec_list_stage_milliseconds_bucket{{stage=\"{}\",le=\"{}\"}} {}\n",
                          kListStageNames[stage], le, cumulative);
    }
    *out += fmt::format("streamrec_list_stage_milliseconds_sum{{stage=\"{}\"}} {:.3f}\n", kListStageNames[stage],
                        h.sum_ms());
    *out += fmt::format("streamrec_list_stage_milliseconds_count{{stage=\"{}\"}} {}\n", kListStageNames[stage],
                        h.count());
  }
}

}  // namespace

std::string MetricsText(const HealthSnapshot& s, int64_t now_ms) {
  std::string out;
  auto metric = [&out](const char* name, const char* type, const char* help, uint64_t value) {
    out += fmt::format("# HELP streamrec_{0} {1}\n# TYPE streamrec_{0} {2}\nstreamrec_{0} {3}\n", name, help, type,
                       value);
  };
  metric("up", "gauge", "1 while commits and deliveries succeed, 0 while one keeps failing", s.problem.empty() ? 1 : 0);
  metric("batches_total", "counter", "micro-batches committed by this process", s.batches);
  metric("messages_consumed_total", "counter", "messages read from the events topic by this process", s.consumed);
  metric("events_applied_total", "counter", "valid events applied by this process", s.applied);
  metric("events_rejected_total", "counter", "messages sent to the dead-letter topic by this process", s.rejected);
  metric("lists_published_total", "counter", "recommendation lists published by this process", s.lists);
  metric("events_lost_total", "counter",
         "events the broker deleted (retention, size limit) before this process read them", s.events_lost);
  metric("dead_letters_resent_total", "counter",
         "dead letters produced again after a failed delivery (cut in half when too large for the topic)",
         s.dead_letters_resent);
  metric("dead_letters_dropped_total", "counter",
         "rejected messages whose dead letter no size could deliver (the topic's max.message.bytes is below its headers)",
         s.dead_letters_dropped);
  metric("events_unkeyed_total", "counter",
         "valid events without a Kafka key: the producer's partitioner spreads a user's events over partitions "
         "(key them by user_id)",
         s.events_unkeyed);
  metric("events_key_mismatch_total", "counter",
         "messages whose Kafka key is set and is not their user_id (dead-lettered as key_mismatch:user_id)",
         s.events_key_mismatch);
  metric("users_moved_partition_total", "counter",
         "events of a known user on another events partition than their previous event's: their history splits "
         "between instances",
         s.users_moved_partition);
  metric("lists_pending", "gauge", "users owed a list refresh (coalesced: each at most once)", s.lists_pending);
  metric("list_lag_milliseconds", "gauge", "how long past its due time the most overdue list is",
         static_cast<uint64_t>(s.list_lag_ms));
  metric("store_events_applied", "gauge", "valid events in the store, all runs", s.applied_total);
  metric("users_cached", "gauge", "user records in the in-memory cache", s.users_cached);
  metric("items", "gauge", "items known to the learner", s.items);
  metric("items_replaced_total", "counter", "cold items whose slot a new item took once learner.max_items was reached",
         s.items_replaced);
  metric("items_refused_total", "counter", "new items not admitted to the full item table (seen less often lately than the coldest)",
         s.items_refused);
  metric("items_retracted_total", "counter",
         "replaced items whose similar-items and bought-together records were tombstoned (surface leader only)",
         s.items_retracted);
  metric("assigned_partitions", "gauge", "events partitions this member owns", s.partitions);
  metric("last_commit_timestamp_seconds", "gauge", "wall clock of the newest durable commit",
         static_cast<uint64_t>(s.last_commit_ms / 1000));
  metric("store_memory_bytes", "gauge", "RocksDB's block cache, with the memtables charged to it",
         s.store_memory_bytes);
  metric("uncommitted_seconds", "gauge", "how long the oldest applied change not yet durable has waited (0: none)",
         s.uncommitted_since_ms > 0 ? static_cast<uint64_t>(std::max<int64_t>(0, now_ms - s.uncommitted_since_ms) / 1000) : 0);
  const auto gauge = [&out](const char* name, const char* help, double value) {
    out += fmt::format("# HELP streamrec_{0} {1}\n# TYPE streamrec_{0} gauge\nstreamrec_{0} {2:.6g}\n", name, help, value);
  };
  gauge("blend_cooc_weight", "the online blend's weight of co-occurrence relative to the factorisation's (learned from the stream)",
        s.blend_cooc_weight);
  gauge("blend_recency_weight",
        "the online blend's weight of recency (log2 decayed count) relative to the factorisation's (learned from the stream)",
        s.blend_recency_weight);
  gauge("blend_short_recency_weight",
        "the online blend's weight of recency with the short half-life (learner.short_half_life_ms) relative to the "
        "factorisation's (learned from the stream)",
        s.blend_short_recency_weight);
  gauge("blend_mf_weight", "the online blend's weight of the factorisation (1 at the start; learned from the stream)",
        s.blend_mf_weight);
  AppendStageHistograms(s, &out);
  return out;
}

struct StatusServer::Impl {
  StatusServerOptions options;
  const HealthBoard* board = nullptr;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("http");

  HealthSnapshot Judged() const {
    return JudgeHealth(board->Get(), NowMillis(), static_cast<int64_t>(options.commit_stall_s) * 1000);
  }
};

StatusServer::StatusServer(StatusServerOptions options, const HealthBoard* board) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->board = board;
}

StatusServer::~StatusServer() { Stop(); }

Status StatusServer::Start() {
  STREAMREC_RETURN_IF_ERROR(impl_->options.Validate());
  const std::string& listen = impl_->options.listen;
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
      port = -1;
    }
  }
  if (colon == std::string::npos || port < 0 || port > 65535) {
    return Status::InvalidArgument("http.listen must be host:port, got '" + listen + "'");
  }
  const std::string host = listen.substr(0, colon);
  impl_->server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const HealthSnapshot s = impl_->Judged();
    res.status = s.problem.empty() ? 200 : 503;
    res.set_content(HealthJson(s), "application/json");
  });
  impl_->server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(MetricsText(impl_->Judged(), NowMillis()), "text/plain; version=0.0.4");
  });
  // cpp-httplib's default socket options add SO_REUSEPORT: a second instance
  // on this host would then share the port and answer half the probes for
  // the first. SO_REUSEADDR alone (restart while old connections linger).
  impl_->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  impl_->port = port == 0 ? impl_->server.bind_to_any_port(host) : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (impl_->port <= 0) {
    return Status::InvalidArgument("http.listen " + listen + ": cannot bind (address in use? port 0 picks a free one)");
  }
  impl_->thread = std::thread([this] {
    try {
      impl_->server.listen_after_bind();
    } catch (const std::exception& e) {  // never let an exception leave the thread
      impl_->log->error("status server stopped: {}", e.what());
    }
  });
  // cpp-httplib's stop() does nothing until listening has begun: a Stop()
  // right after Start() would leave the thread listening and the join
  // hanging. Return only once it listens (microseconds; bounded).
  for (int i = 0; i < 2000 && !impl_->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->log->info("status endpoint at http://{}:{}/health and /metrics", host, impl_->port);
  return Status::Ok();
}

void StatusServer::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

int StatusServer::port() const { return impl_->port; }

}  // namespace streamrec::server
