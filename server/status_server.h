// StatusServer: the pipeline's health and metrics over HTTP.
//
//   GET /health   200 {"status":"ok",...} or 503 {"status":"failing","problem":...}
//                 while a commit or a delivery keeps failing (a full disk, the
//                 broker gone), or while events have waited longer than
//                 http.commit_stall_s for a durable commit (a hung disk or
//                 writer that reports no error): orchestrators see it.
//                 200 {"status":"degraded","warning":...} once events were lost
//                 to the broker's retention before they were read (a restart
//                 would not bring them back, so no 503).
//   GET /metrics  Prometheus text format: counters, gauges and the histograms
//                 of where an event's time goes on its way to a list.
//   GET /         the status page (status_page.h), which polls
//   GET /status.json  and looks one user up with
//   GET /api/user?id=U  {"user_id", "events", "list": <the list they would get
//                 now, as published>}; 404 for an unknown user, 503 when the
//                 pipeline does not answer within 2 s (UserLookups).
//
// Binds to 127.0.0.1 unless configured otherwise (http.listen); nothing
// secret is ever served. Lifecycle: Start(), Stop(). The server runs its own
// threads; HealthBoard and UserLookups are the only state it shares with the
// pipeline.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/latency_histogram.h"
#include "common/status.h"
#include "experiment/experiment.h"
#include "server/user_lookups.h"

namespace streamrec::server {

// Where an event's time goes on its way to a list, per list published (the
// oldest event it shows): the broker (its timestamp to the poll that read it),
// learning its batch, waiting among the owed users, scoring (the scoring
// thread's work for the list's job), and the rest until it is produced
// (waiting for the scoring thread or for the pipeline's thread, rendering);
// kTotal is the event's broker timestamp to the list's produce call. The
// delivery to the broker and the reader's fetch come after.
enum ListStage : size_t { kFetch, kLearn, kQueue, kScore, kPublish, kTotal, kListStages };
inline constexpr std::array<const char*, kListStages> kListStageNames = {"fetch", "learn",   "queue",
                                                                         "score", "publish", "total"};

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
  uint64_t items_replaced = 0;  // cold items whose slot a new item took (learner.max_items reached)
  uint64_t items_refused = 0;   // new items not admitted to a full table
  uint64_t items_retracted = 0;  // replaced items whose surface records were tombstoned
  uint64_t item_lists_published = 0;  // similar-items and bought-together records
  uint64_t partitions = 0;
  int64_t last_commit_ms = 0;  // wall clock of the newest durable commit
  // Wall clock when the oldest applied event that is not yet durable was
  // applied; 0 while everything applied is committed (an idle pipeline owes nothing).
  int64_t uncommitted_since_ms = 0;
  uint64_t store_memory_bytes = 0;  // RocksDB's block cache, memtables charged to it
  float blend_cooc_weight = 0.0F;     // the learner's online blend (learner/blend.h)
  float blend_recency_weight = 0.0F;
  float blend_mf_weight = 1.0F;
  float blend_short_recency_weight = 0.0F;
  float blend_session_weight = 0.0F;
  uint64_t events_lost = 0;    // deleted by the broker before they were read, this run
  uint64_t dead_letters_resent = 0;   // produced again after a failed delivery, this run
  uint64_t dead_letters_dropped = 0;  // too large for the topic even empty, this run
  // Producer-side partitioning, this run (ingest::IngestCounters, Pipeline::Impl::CheckPartition).
  uint64_t events_unkeyed = 0;
  uint64_t events_key_mismatch = 0;
  uint64_t users_moved_partition = 0;
  // The item side shared through kafka.items_topic (pipeline::ItemExchange), this run.
  uint64_t item_records_published = 0;
  uint64_t item_record_bytes_published = 0;
  uint64_t item_records_applied = 0;
  uint64_t item_records_skipped = 0;
  uint64_t item_records_malformed = 0;
  // The live prequential test (pipeline.quality_sample), this run: events
  // tested, hits in the user's top-N, the sum of the hits' 1/rank.
  uint64_t live_scored = 0;
  uint64_t live_hits = 0;
  double live_reciprocal_rank_sum = 0.0;
  std::array<LatencyHistogram, kListStages> list_stages;  // this run
  // Per commit, this run: sealing on the pipeline's thread, the write on the writer's.
  LatencyHistogram commit_seal;
  LatencyHistogram commit_write;
  // (partition, messages behind the partition's end), per assigned events partition.
  std::vector<std::pair<int32_t, int64_t>> consumer_lag;
  // The running experiment ("" none), its variants' names and this run's
  // attribution counts per variant (experiment::Ledger).
  std::string experiment;
  std::vector<std::string> variant_names;
  std::vector<experiment::VariantTally> variants;
  // The top of the overall trending list (item id, score), for the status page.
  std::vector<std::pair<std::string, float>> trending;
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
  // /health turns 503 once applied events have waited this long for a durable
  // commit, s, 5..86400. Default 60: commits come every
  // pipeline.commit_interval_ms (1 s) and a slow disk stretches one to a few
  // seconds; a minute without one is a stall, not a hiccup. A rebalance's
  // changelog adoption begins with a commit, so it does not count.
  int commit_stall_s = 60;

  [[nodiscard]] Status Validate() const;
};

class StatusServer {
 public:
  // `board` (and `lookups`, when given: else /api/user answers 404) must outlive the server.
  StatusServer(StatusServerOptions options, const HealthBoard* board, UserLookups* lookups = nullptr);
  ~StatusServer();  // stops

  // Binds (InvalidArgument if the address is taken or malformed) and serves.
  [[nodiscard]] Status Start();
  void Stop();
  int port() const;

 private:
  void Route();  // the status page's routes
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `s` with its problem set if it has none and applied events have waited more
// than `commit_stall_ms` at `now_ms` for a durable commit.
HealthSnapshot JudgeHealth(HealthSnapshot s, int64_t now_ms, int64_t commit_stall_ms);
std::string HealthJson(const HealthSnapshot& s);
std::string MetricsText(const HealthSnapshot& s, int64_t now_ms = 0);

}  // namespace streamrec::server
