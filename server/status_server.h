// StatusServer: the pipeline's health and metrics over HTTP.
//
//   GET /health   200 {"status":"ok",...} or 503 {"status":"failing","problem":...}
//                 while a commit or a delivery keeps failing (a full disk, the
//                 broker gone): orchestrators see it, the log says the same.
//                 200 {"status":"degraded","warning":...} once events were lost
//                 to the broker's retention before they were read (a restart
//                 would not bring them back, so no 503).
//   GET /metrics  Prometheus text format: counters and gauges of the pipeline.
//
// Binds to 127.0.0.1 unless configured otherwise (http.listen); nothing
// secret is ever served. Lifecycle: Start(), Stop(). The server runs its own
// threads; HealthBoard is the only state it shares with the pipeline.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace streamrec::server {

struct HealthSnapshot {
  std::string problem;          // empty while healthy
  int64_t problem_since_ms = 0; // wall clock, ms since the epoch
  uint64_t batches = 0;
  uint64_t consumed = 0;
  uint64_t applied = 0;   // this run
  uint64_t rejected = 0;  // this run
  uint64_t lists = 0;     // this run
  uint64_t lists_pending = 0;  // users owed a list refresh
  int64_t list_lag_ms = 0;     // how long past due the most overdue list is
  uint64_t applied_total = 0;  // in the store, all runs
  uint64_t users_cached = 0;
  uint64_t items = 0;
  uint64_t partitions = 0;
  int64_t last_commit_ms = 0;  // wall clock of the newest durable commit
  uint64_t events_lost = 0;    // deleted by the broker before they were read, this run
};

// Thread-safe: written by the pipeline, read by the server.
class HealthBoard {
 public:
  template <class Fn>
  void Update(Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    fn(snapshot_);
  }
  HealthSnapshot Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return snapshot_;
  }

 private:
  mutable std::mutex mu_;
  HealthSnapshot snapshot_;
};

struct StatusServerOptions {
  // host:port. Default 127.0.0.1:8088; port 0 picks a free port (logged).
  // 0.0.0.0 exposes it beyond this host: only behind a firewall.
  std::string listen = "127.0.0.1:8088";
};

class StatusServer {
 public:
  // `board` must outlive the server.
  StatusServer(StatusServerOptions options, const HealthBoard* board);
  ~StatusServer();  // stops

  // Binds (InvalidArgument if the address is taken or malformed) and serves.
  [[nodiscard]] Status Start();
  void Stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string HealthJson(const HealthSnapshot& s);
std::string MetricsText(const HealthSnapshot& s);

}  // namespace streamrec::server
