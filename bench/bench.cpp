#include "bench/bench.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/ann.h"
#include "bench/child_broker.h"
#include "bench/cpu_usage.h"
#include "bench/latency_probe.h"
#include "bench/memory.h"
#include "bench/scoring.h"
#include "common/json.h"
#include "common/logging.h"
#include "config/config.h"
#include "ingest/event_file.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "pipeline/pipeline.h"
#include "server/status_server.h"
#include "store/store.h"
#include "traffic/generator.h"

namespace streamrec::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The embedded broker holds an empty fetch for the whole fetch.wait.max.ms even
// when data arrives (a real broker answers at once): the ceiling's consumer
// waits this long, not librdkafka's 500 ms default, as the pipeline's own do
// on it (streamrec run sets it when it meets the embedded broker).
constexpr std::string_view kFetchWaitMs = "5";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The embedded broker keeps at most ~5 MB and 100k message sets per
// partition: enough partitions that the whole run stays on the broker
// (compressed, ~100k events take ~3 MB). No more than that: the broker finds a
// fetch's offset by walking the partition's message sets from the oldest, so
// the latency runs' one-event sets cost it more the more partitions share the
// rate (at 10k events/s after 1M events: ~0.5 of a core with 41 partitions,
// ~0.3 with 11 and the latency probe no longer reading events back; perf,
// 2026-11-24).
int PartitionsFor(uint64_t events) { return static_cast<int>(std::clamp<uint64_t>(events / 100000 + 1, 4, 1024)); }

struct Report {
  // The settings that differ from `streamrec run`'s defaults, "key=value".
  std::vector<std::string> overrides;
  int partitions = 0;
  double produce_eps = 0;
  double ingest_ceiling_eps = 0;
  double pipeline_eps = 0;
  double pipeline_seconds = 0;   // from owning the partitions to the last event durable
  int commit_interval_ms = 0;    // the pipeline's; a run of a few windows waits for its last write (kShortRunWindows)
  uint64_t lists = 0;
  CpuPerEvent pipeline_cpu;      // CPU time per event while the pipeline ran, by thread group
  // How far the lists lagged when the last event was durable, and how long
  // they took from then to catch up (every owed list published).
  uint64_t lists_owed_at_end = 0;
  double list_lag_ms_at_end = 0;
  double lists_caught_up_s = 0;
  LatencyFigures latency;
  double max_rate_p99_under_100ms = 0;
  double peak_rss_mb = 0;
  ScoringFigures scoring;  // (3), (4) and memory per user and item
  AnnFigures ann;          // (7), when asked for
  AnnFigures ann_learned;  // (7) on the learned items, when asked for
  MemoryFigures memory;    // (8), when asked for
};

// Resets the peak-RSS mark (VmHWM) so the next phase is measured alone.
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// The bench created the topic: its beginning is offset 0. (The logical
// "beginning" costs a ListOffsets per partition, which librdkafka retries only
// after 500 ms when it races the assignment: 1 run in 2 of 5,000 events read
// ~9.5k events/s instead of ~0.5M.)
class FromBeginning : public kafka::PositionProvider {
 public:
  int64_t ResumeOffset(const kafka::TopicPartition&) override { return 0; }
  void OnRevoked(const std::vector<kafka::TopicPartition>&) override {}
};

Status ProduceEvents(const std::string& bootstrap, const traffic::GeneratorOptions& g, Report* r) {
  kafka::ProducerOptions popts;
  // Compressed (as shops' producers often are): the pipeline and the ceiling
  // both pay the decompression.
  popts.properties = {{"bootstrap.servers", bootstrap}, {"linger.ms", "20"}, {"batch.size", "1000000"},
                      {"partitioner", "murmur2_random"}, {"compression.type", "zstd"}};
  std::unique_ptr<kafka::Producer> producer;
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &producer));
  traffic::Generator gen(g);
  Event event;
  const auto start = Clock::now();
  while (gen.Next(&event)) {
    STREAMREC_RETURN_IF_ERROR(producer->Produce("events", event.user, ingest::EventToJson(event)));
  }
  STREAMREC_RETURN_IF_ERROR(producer->Flush(120000));
  r->produce_eps = static_cast<double>(g.events) / Seconds(Clock::now() - start);
  return Status::Ok();
}

// (1) A consumer that only counts: the rate the broker can deliver.
Status MeasureIngestCeiling(const std::string& bootstrap, uint64_t events, Report* r) {
  FromBeginning positions;
  kafka::ConsumerOptions copts;
  copts.properties = {{"bootstrap.servers", bootstrap}, {"group.id", "streamrec-bench-ceiling"},
                      {"fetch.wait.max.ms", std::string(kFetchWaitMs)}};
  copts.topics = {"events"};
  std::unique_ptr<kafka::Consumer> consumer;
  STREAMREC_RETURN_IF_ERROR(kafka::Consumer::Create(copts, &positions, &consumer));
  std::vector<kafka::Message> batch;
  uint64_t seen = 0;
  Clock::time_point first;
  const auto deadline = Clock::now() + std::chrono::minutes(5);
  while (seen < events && Clock::now() < deadline) {
    batch.clear();
    const Clock::time_point polled = Clock::now();
    STREAMREC_RETURN_IF_ERROR(consumer->PollBatch(10000, 10, &batch));
    if (seen == 0 && !batch.empty()) first = polled;  // the clock starts with the poll that brought data
    seen += batch.size();
  }
  if (seen < events) return Status::Unavailable(fmt::format("ceiling consumer saw {} of {} events", seen, events));
  r->ingest_ceiling_eps = static_cast<double>(events) / Seconds(Clock::now() - first);
  return consumer->Close();
}

// A run meets the target when p99 < 100 ms and (nearly) every event delivered was shown.
bool UnderTarget(const LatencyFigures& f) {
  return f.events_delivered > 0 && f.p99_ms < 100.0 &&
         static_cast<double>(f.shown) >= 0.99 * static_cast<double>(f.events_delivered);
}

// Waits until no user is owed a list (or `stop`, or `deadline`).
void WaitForLists(const server::HealthBoard& board, const std::atomic<bool>& stop, Clock::time_point deadline) {
  while (board.Get().lists_pending > 0 && !stop.load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// (5) At the offered rate; then, while p99 stays under 100 ms, doubling it,
// or, when it did not, halving it until it does (down to kLowestProbedRate).
// Each run starts once the lists owed by the one before are published: a
// rate is measured on its own, not on the backlog a higher one left.
Status MeasureLatencyRuns(const std::string& bootstrap, const BenchArgs& args, const server::HealthBoard& board,
                          traffic::Generator* gen, const std::atomic<bool>& stop, Report* r) {
  constexpr double kLowestProbedRate = 100;
  LatencyProbeOptions o;
  o.bootstrap = bootstrap;
  o.rate = args.rate;
  o.seconds = args.latency_seconds;
  ModuleLogger("bench")->info("measuring latency at {:.0f} events/s", o.rate);
  STREAMREC_RETURN_IF_ERROR(MeasureLatency(o, gen, stop, &r->latency));
  const bool met = UnderTarget(r->latency);
  if (met) r->max_rate_p99_under_100ms = r->latency.achieved_rate;
  if (!args.find_max_rate) return Status::Ok();
  const double step = met ? 2.0 : 0.5;
  for (double rate = args.rate * step; rate <= 1e6 && rate >= kLowestProbedRate && !stop.load(); rate *= step) {
    o.rate = rate;
    WaitForLists(board, stop, Clock::now() + std::chrono::minutes(5));
    LatencyFigures f;
    STREAMREC_RETURN_IF_ERROR(MeasureLatency(o, gen, stop, &f));
    ModuleLogger("bench")->info("latency at {:.0f} events/s (sent {:.0f}/s): p50 {:.1f} ms, p99 {:.1f} ms, {} of {} shown",
                                rate, f.achieved_rate, f.p50_ms, f.p99_ms, f.shown, f.events);
    if (UnderTarget(f)) r->max_rate_p99_under_100ms = f.achieved_rate;
    if (UnderTarget(f) != met) break;  // going up: the first miss; going down: the first hit
  }
  return Status::Ok();
}

// (2) The real pipeline from the events topic to durable state, lists published.
Status MeasurePipeline(const config::Config& config, const BenchArgs& args, const std::atomic<bool>& stop,
                       const traffic::GeneratorOptions& g, pid_t broker_pid, Report* r) {
  const uint64_t events = args.events;
  server::HealthBoard board;
  pipeline::Pipeline pipeline(config, &board);
  STREAMREC_RETURN_IF_ERROR(pipeline.Start());
  std::atomic<bool> pipeline_stop{false};
  Status ran;
  std::thread worker([&] {
    try {
      ran = pipeline.Run(pipeline_stop);
    } catch (const std::exception& e) {
      ran = Status::Internal(std::string("pipeline: ") + e.what());
    }
  });
  pthread_setname_np(worker.native_handle(), "pipeline");  // its CPU time is told apart (CpuGroupOf)
  // The clock starts when the pipeline owns its partitions (joining the group
  // is not its work; the events wait in the topic from the start), every event
  // counts, and it stops when the last one is durable.
  Clock::time_point first;
  CpuSample cpu_first;
  bool assigned = false;
  const auto deadline = Clock::now() + std::chrono::minutes(30);
  for (;;) {
    const server::HealthSnapshot h = board.Get();
    if (!assigned && (h.partitions > 0 || h.applied > 0)) {
      first = Clock::now();
      cpu_first = SampleCpu(broker_pid);
      assigned = true;
    }
    if (h.applied_total >= events || stop.load() || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const server::HealthSnapshot done = board.Get();
  const Clock::time_point durable = Clock::now();
  if (assigned) r->pipeline_cpu = PerEvent(cpu_first, SampleCpu(broker_pid), static_cast<double>(done.applied_total));
  r->pipeline_seconds = assigned ? Seconds(durable - first) : 0.0;
  r->pipeline_eps = assigned ? static_cast<double>(done.applied_total) / r->pipeline_seconds : 0.0;
  r->commit_interval_ms = config.pipeline.commit_interval_ms;
  r->lists_owed_at_end = done.lists_pending;
  r->list_lag_ms_at_end = static_cast<double>(done.list_lag_ms);
  // The lists catch up (the latency runs start from fresh lists).
  WaitForLists(board, stop, deadline);
  r->lists_caught_up_s = Seconds(Clock::now() - durable);
  r->lists = board.Get().lists;
  r->peak_rss_mb = ProcStatusMb("VmHWM:");

  // (5) Latency at the offered rate, then the highest rate that keeps p99 under 100 ms.
  traffic::GeneratorOptions live = g;
  live.events = UINT64_MAX / 2;
  live.seed = g.seed + 1;
  traffic::Generator gen(live);
  Status probed = MeasureLatencyRuns(config.kafka.bootstrap, args, board, &gen, stop, r);
  pipeline_stop = true;
  worker.join();
  STREAMREC_RETURN_IF_ERROR(ran);
  STREAMREC_RETURN_IF_ERROR(probed);
  return pipeline.Stop();
}

}  // namespace

namespace {

double Ratio(double x, double ceiling) { return ceiling > 0 ? x / ceiling : 0.0; }

// A pipeline phase of fewer commit windows than this is flagged as short: the
// wait for its last write weighs on its rate. (Ten flagged the full-size run
// once it passed ~100k events/s.)
constexpr double kShortRunWindows = 5;

// Where (2)'s CPU went, per event, and the rate the cores would allow at that cost.
std::string CpuLine(const CpuPerEvent& c) {
  if (c.total_us <= 0) return {};
  std::string groups;
  auto add = [&](const char* g) {
    auto it = c.by_group_us.find(g);
    if (it != c.by_group_us.end()) groups += fmt::format("{}{} {:.1f}", groups.empty() ? "" : ", ", g, it->second);
  };
  for (const char* g : kCpuGroups) add(g);
  add("broker");
  return fmt::format("      CPU per event {:.1f} us ({}); the machine {:.0f} % busy; {:.0f} cores at this cost: "
                     "at most {:.0f} events/s\n",
                     c.total_us, groups, 100 * c.machine_busy, c.cores, c.cores * 1e6 / c.total_us);
}

std::string CpuJson(const CpuPerEvent& c) {
  std::string groups;
  for (const auto& [g, us] : c.by_group_us) groups += fmt::format("{}\"{}\":{:.2f}", groups.empty() ? "" : ",", g, us);
  return fmt::format(R"("cpu_us_per_event":{:.2f},"cpu_us_by_thread":{{{}}},"machine_busy":{:.3f})", c.total_us, groups,
                     c.machine_busy);
}

std::string OverridesJson(const std::vector<std::string>& overrides) {
  std::string out;
  for (const std::string& o : overrides) {
    if (!out.empty()) out += ',';
    AppendJsonString(o, &out);
  }
  return out;
}

std::string ReportJson(const Report& r) {
  const ScoringFigures& f = r.scoring;
  return fmt::format(
      R"({{"ingest_ceiling_eps":{:.0f},"pipeline_eps":{:.0f},"pipeline_ratio":{:.4g},"scoring_ceiling_lps":{:.0f},)"
      R"("topn_lps":{:.0f},"topn_ratio":{:.4g},"latency_ms":{{"rate":{:.0f},"p50":{:.1f},"p99":{:.1f},"max":{:.1f}}},)"
      R"("max_rate_p99_under_100ms":{:.0f},"peak_rss_mb":{:.0f},"bytes_per_user":{:.0f},"bytes_per_item":{:.0f},)"
      R"("disk_bytes_per_user":{:.0f},"disk_bytes_per_item":{:.0f},"partitions":{},"lists":{},"produce_eps":{:.0f},)"
      R"("lists_owed_at_end":{},"list_lag_ms_at_end":{:.0f},"lists_caught_up_s":{:.2f},)"
      R"("topn_bf16_lps":{:.0f},"topn_bf16_ratio":{:.4g},"bf16_recall":{:.4f},"scoring_threads":{},)"
      R"("topn_by_bound_lps":{:.0f},"topn_by_bound_ratio":{:.4g},"by_bound_scored":{:.4f},"by_bound_pack_ms":{:.1f},)"
      R"("by_bound_recall":{:.4f},"overrides":[{}],{}}})",
      r.ingest_ceiling_eps, r.pipeline_eps, Ratio(r.pipeline_eps, r.ingest_ceiling_eps), f.scoring_ceiling_lps,
      f.topn_lps, Ratio(f.topn_lps, f.scoring_ceiling_lps), r.latency.rate, r.latency.p50_ms, r.latency.p99_ms,
      r.latency.max_ms, r.max_rate_p99_under_100ms, r.peak_rss_mb, f.bytes_per_user, f.bytes_per_item,
      f.disk_bytes_per_user, f.disk_bytes_per_item, r.partitions, r.lists, r.produce_eps, r.lists_owed_at_end,
      r.list_lag_ms_at_end, r.lists_caught_up_s, f.topn_bf16_lps, Ratio(f.topn_bf16_lps, f.scoring_ceiling_lps),
      f.bf16_recall, f.threads, f.topn_by_bound_lps, Ratio(f.topn_by_bound_lps, f.scoring_ceiling_lps), f.by_bound_scored,
      f.by_bound_pack_ms, f.by_bound_recall, OverridesJson(r.overrides), CpuJson(r.pipeline_cpu));
}

// The report's JSON with the approximate index's and the memory budget's
// figures added when measured.
std::string WithOptional(std::string json, const AnnFigures& synthetic, const AnnFigures& learned,
                         const MemoryFigures& m) {
  for (const auto& [key, a] : {std::pair{"ann", &synthetic}, std::pair{"ann_learned", &learned}}) {
    if (a->items == 0) continue;
    json.pop_back();  // the closing brace
    json += fmt::format(
        R"(,"{}":{{"items":{},"build_s":{:.1f},"exact_lps":{:.1f},"ann_lps":{:.1f},"speedup":{:.1f},)"
        R"("recall_at_20":{:.4f},"candidates":{}}}}})",
        key, a->items, a->build_seconds, a->exact_lps, a->ann_lps, Ratio(a->ann_lps, a->exact_lps), a->recall_at_20,
        a->candidates);
  }
  if (m.users > 0) {
    std::string samples;
    for (const auto& [users, mb] : m.rss_mb) samples += fmt::format("{}[{},{:.0f}]", samples.empty() ? "" : ",", users, mb);
    json.pop_back();
    json += fmt::format(R"(,"memory_budget":{{"users":{},"cache_capacity":{},"rss_mb":[{}],"users_per_s":{:.0f},)"
                        R"("disk_mb":{:.0f}}}}})",
                        m.users, m.cache_capacity, samples, m.users_per_second, m.disk_mb);
  }
  return json;
}

void PrintOptional(const Report& r);

void PrintTable(const BenchArgs& a, const Report& r) {
  std::cout << fmt::format("streamrec bench: {} events, {} users, {} items, dim {}, {} partitions\n", a.events, a.users,
                           a.items, a.dim, r.partitions)
            << fmt::format("  settings: streamrec run's defaults, except {}\n", fmt::join(r.overrides, ", "))
            << fmt::format("  (1) ingest ceiling    {:>12.0f} events/s   (a consumer that only counts)\n",
                           r.ingest_ceiling_eps)
            << fmt::format("  (2) pipeline          {:>12.0f} events/s   {:.3f} of (1); {} lists published\n",
                           r.pipeline_eps, Ratio(r.pipeline_eps, r.ingest_ceiling_eps), r.lists)
            << (r.pipeline_seconds < kShortRunWindows * r.commit_interval_ms / 1000.0
                    ? fmt::format("      (a short run: {:.2f} s, a few commit windows of {} ms, the last one's write "
                                  "waited for; the documented figure is --events 1000000)\n",
                                  r.pipeline_seconds, r.commit_interval_ms)
                    : std::string())
            << CpuLine(r.pipeline_cpu)
            << fmt::format("      lists when the last event was durable: {} owed, the oldest {:.0f} ms overdue; "
                           "all published {:.2f} s later\n",
                           r.lists_owed_at_end, r.list_lag_ms_at_end, r.lists_caught_up_s)
            << fmt::format("  (3) scoring ceiling   {:>12.0f} lists/s    (bare batched product, no selection; {} thread{})\n",
                           r.scoring.scoring_ceiling_lps, r.scoring.threads, r.scoring.threads == 1 ? "" : "s")
            << fmt::format("  (4) top-N             {:>12.0f} lists/s    {:.3f} of (3), exact, with boosts and exclusions\n",
                           r.scoring.topn_lps, Ratio(r.scoring.topn_lps, r.scoring.scoring_ceiling_lps))
            << fmt::format("      bfloat16       {:>12.0f} lists/s    {:.3f} of (3); recall of the exact lists {:.4f}{}\n",
                           r.scoring.topn_bf16_lps, Ratio(r.scoring.topn_bf16_lps, r.scoring.scoring_ceiling_lps),
                           r.scoring.bf16_recall, r.scoring.topn_bf16_lps > 0 ? "" : " (no AVX-512 BF16 here)")
            << fmt::format("      by bound       {:>12.0f} lists/s    {:.3f} of (3); recall {:.4f}; {:.1f} % of the "
                           "item-user pairs scored; packing {:.1f} ms (as the emitter scores)\n",
                           r.scoring.topn_by_bound_lps, Ratio(r.scoring.topn_by_bound_lps, r.scoring.scoring_ceiling_lps),
                           r.scoring.by_bound_recall, 100 * r.scoring.by_bound_scored, r.scoring.by_bound_pack_ms)
            << fmt::format("  (5) latency at {:.0f}/s  p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms\n", r.latency.rate,
                           r.latency.p50_ms, r.latency.p99_ms, r.latency.max_ms)
            << fmt::format("      ({} events sent, {} delivered, {} shown by a list within the run)\n",
                           r.latency.events, r.latency.events_delivered, r.latency.shown)
            << fmt::format("      highest rate with p99 < 100 ms: {:.0f} events/s\n", r.max_rate_p99_under_100ms)
            << fmt::format("  (6) memory            peak RSS {:.0f} MB; per user {:.0f} B in memory, {:.0f} B on disk; "
                           "per item {:.0f} B in memory, {:.0f} B on disk\n",
                           r.peak_rss_mb, r.scoring.bytes_per_user, r.scoring.disk_bytes_per_user, r.scoring.bytes_per_item,
                           r.scoring.disk_bytes_per_item);
  PrintOptional(r);
}

void PrintOptional(const Report& r) {
  if (r.ann.items > 0) {
    std::cout << fmt::format("  (7) {} items, approximate (hnswlib, {} candidates re-ranked exactly): recall@20 {:.4f}\n",
                             r.ann.items, r.ann.candidates, r.ann.recall_at_20)
              << fmt::format("      {:.0f} lists/s vs exact {:.1f} lists/s: {:.0f}x; index built in {:.0f} s (2 threads)\n",
                             r.ann.ann_lps, r.ann.exact_lps, Ratio(r.ann.ann_lps, r.ann.exact_lps), r.ann.build_seconds);
  }
  if (r.ann_learned.items > 0) {
    const AnnFigures& a = r.ann_learned;
    std::cout << fmt::format("  (7) learned, {} items: recall@20 {:.4f}; {:.0f} lists/s vs exact {:.1f} lists/s: {:.1f}x; "
                             "built in {:.0f} s\n",
                             a.items, a.recall_at_20, a.ann_lps, a.exact_lps, Ratio(a.ann_lps, a.exact_lps),
                             a.build_seconds);
  }
  if (r.memory.users > 0) {
    std::string samples;
    for (const auto& [users, mb] : r.memory.rss_mb) samples += fmt::format(" {:.1f}M: {:.0f} MB;", users / 1e6, mb);
    std::cout << fmt::format("  (8) {} distinct users through a cache of {} users, resident:{}\n", r.memory.users,
                             r.memory.cache_capacity, samples)
              << fmt::format("      {:.0f} users/s (learn + commit + evict); user state on disk {:.0f} MB\n",
                             r.memory.users_per_second, r.memory.disk_mb);
  }
}

Status RunBench(const BenchArgs& args, const std::atomic<bool>& stop, Report* r) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    fmt::format("streamrec-bench-{}", static_cast<long>(getpid()));
  std::vector<std::string> overrides = args.overrides;
  // No status lines in the bench's output. (The live quality probe runs as
  // shipped: pipeline.quality_max_per_s bounds its cost.)
  overrides.push_back("pipeline.status_interval_s=0");
  overrides.push_back(fmt::format("learner.dim={}", args.dim));
  r->overrides = overrides;
  overrides.push_back("store.path=" + (dir / "state").string());
  config::Config config;
  STREAMREC_RETURN_IF_ERROR(config::LoadConfig(args.config_path, overrides, &config));
  r->partitions = PartitionsFor(args.events);
  ChildBroker broker;
  STREAMREC_RETURN_IF_ERROR(broker.Start(args.executable, r->partitions));
  config.kafka.bootstrap = broker.bootstrap();

  traffic::GeneratorOptions g;
  g.users = args.users;
  g.items = args.items;
  g.events = args.events;
  STREAMREC_RETURN_IF_ERROR(g.Validate());
  auto log = ModuleLogger("bench");
  log->info("producing {} events to {} partitions", args.events, r->partitions);
  STREAMREC_RETURN_IF_ERROR(ProduceEvents(broker.bootstrap(), g, r));
  log->info("measuring the ingest ceiling");
  STREAMREC_RETURN_IF_ERROR(MeasureIngestCeiling(broker.bootstrap(), args.events, r));
  log->info("running the pipeline");
  ResetPeakRss();
  Status s = MeasurePipeline(config, args, stop, g, broker.pid(), r);
  if (s.ok()) {
    log->info("measuring scoring and memory");
    s = MeasureScoring(config, args.users, &r->scoring, args.ann_learned ? &r->ann_learned : nullptr);
  }
  if (s.ok() && args.memory_users > 0) {
    log->info("measuring memory with {} distinct users", args.memory_users);
    config::Config memory_config = config;
    memory_config.store.path = (dir / "memory").string();
    s = MeasureMemory(memory_config, args.memory_users, args.items, &r->memory);
  }
  if (s.ok() && args.ann_items > 0) {
    log->info("measuring the approximate index");
    s = MeasureAnn(args.ann_items, args.dim, &r->ann);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return s;
}

}  // namespace

int CmdBench(const BenchArgs& args, const std::atomic<bool>& stop) {
  if (args.events < 1000 || args.users < 1 || args.items < 1 || args.rate <= 0 || args.latency_seconds < 1) {
    std::cerr << "streamrec bench: --events >= 1000, --users and --items >= 1, --rate > 0, --latency-seconds >= 1\n";
    return 2;
  }
  Report r;
  if (Status s = RunBench(args, stop, &r); !s.ok()) {
    std::cerr << "streamrec bench: " << s.ToString() << "\n";
    return 1;
  }
  if (args.json) {
    std::cout << WithOptional(ReportJson(r), r.ann, r.ann_learned, r.memory) << std::endl;
  } else {
    PrintTable(args, r);
  }
  return 0;
}

}  // namespace streamrec::bench
