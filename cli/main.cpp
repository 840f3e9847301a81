// streamrec: real-time recommendations from a Kafka event stream.
// The only place that reads flags, the environment, and installs signal handlers.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "bench/bench.h"
#include "cli/commands.h"
#include "config/topics.h"
#include "common/logging.h"

namespace {

// Set by SIGINT/SIGTERM; the commands poll it and shut down cleanly.
std::atomic<bool> g_stop{false};
// Set by SIGHUP: `run` re-reads the list rules of its configuration file.
std::atomic<bool> g_reload{false};

void OnSignal(int) { g_stop.store(true); }
void OnHangup(int) { g_reload.store(true); }

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = OnHangup;
  sigaction(SIGHUP, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // A file-size limit (ulimit -f) then fails the write with EFBIG, which the
  // store reports and retries like a full disk, instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
}

using namespace streamrec::cli;
namespace traffic = streamrec::traffic;

// --config FILE and repeatable --set section.key=value, shared by run and eval.
void AddConfigOptions(CLI::App* c, std::string& path, std::vector<std::string>& overrides, const char* what) {
  c->add_option("--config", path, what)->check(CLI::ExistingFile);
  c->add_option("--set", overrides, "Override one setting, e.g. --set learner.dim=64 (repeatable)");
}

void AddRun(CLI::App& app, RunArgs& a) {
  CLI::App* c = app.add_subcommand("run", "Run the pipeline: consume events, learn, store, publish lists.");
  c->footer(
      "A broker must be named: --bootstrap HOST:PORT[,...] (or kafka.bootstrap) for Kafka, or\n"
      "--bootstrap embedded for the embedded broker, in-process on a loopback port (librdkafka's mock\n"
      "cluster: in memory, ~5 MB a partition, for demos and tests only). Every other setting\n"
      "has a default; see docs/configuration.md. SIGINT/SIGTERM: finish the batch, commit state and offsets,\n"
      "flush the producers, leave the group, exit 0. SIGHUP, or saving the --config file:\n"
      "the `rules` section is re-read and applied from the next batch (other sections need a\n"
      "restart); invalid rules are logged and the current ones kept. At start the topics are\n"
      "checked (see `streamrec topics --help`): topics that break the contract, or credentials\n"
      "the cluster refuses, end the run with exit 2 and the reason; 1: a runtime failure.");
  AddConfigOptions(c, a.config_path, a.overrides, "YAML configuration file");
  c->add_option("--bootstrap", a.bootstrap,
                "Kafka bootstrap servers HOST:PORT, or 'embedded' (overrides kafka.bootstrap)");
  c->add_option("--data-dir", a.data_dir, "State directory (overrides store.path; default streamrec-data)");
  c->add_option("--exit-when-idle-ms", a.exit_when_idle_ms,
                "Stop cleanly after this long without messages (default: run until signalled)");
  c->add_flag("--print-config", a.print_config, "Print the effective configuration and exit");
  c->add_option("--crash-after-item-records", a.crash_after_item_records,
                "Testing exactly-once: exit at once (code 137, as a SIGKILL) right after this process's Nth item "
                "update record reached the group, before its window commits (default 0: never)");
}

void AddBroker(CLI::App& app, BrokerArgs& a) {
  CLI::App* c = app.add_subcommand("broker", "Run the embedded Kafka broker (librdkafka mock cluster) alone.");
  std::string topics;
  for (const streamrec::kafka::TopicSpec& t : streamrec::config::StandardTopics(streamrec::config::KafkaConfig{})) {
    topics += (topics.empty() ? "" : ", ") + t.name + (t.compacted ? " (compacted)" : "");
  }
  c->footer(
      "Creates the topics of the default configuration: " + topics + ".\n"
      "The first line printed is the bootstrap address (127.0.0.1:PORT). In memory only: data is gone when it stops, and each\n"
      "partition keeps only its newest ~5 MB (librdkafka's mock log): consume while producing,\n"
      "or use more partitions, for longer streams (events deleted before streamrec read them are\n"
      "logged as lost and counted in streamrec_events_lost_total). The compacted topics keep\n"
      "every key's latest record: the broker copies it forward before it ages out. That holds\n"
      "while a partition's latest records stay under ~2 MB (40 % of its log; a list is ~1.4 KB:\n"
      "~1,400 users a partition); past it the broker stops with an error (exit 3) naming the\n"
      "topic and partition: use more partitions or real Kafka. --no-compaction lets old keys\n"
      "age out instead (streams larger than the broker can keep, where no one reads them back).\n"
      "Fault injection for tests, one command per line on stdin (answered 'ok' or 'error: ...'):\n"
      "  down ID | up ID            take mock broker ID (1-based) down or bring it back\n"
      "  error API CODE COUNT       fail the next COUNT requests of Kafka API key API with CODE");
  c->add_option("--partitions", a.partitions, "Partitions per topic")->capture_default_str();
  c->add_option("--brokers", a.brokers, "Number of mock brokers (1..9)")->capture_default_str();
  c->add_flag("--no-compaction", a.no_compaction,
              "Do not keep compacted topics' latest records: they age out like any other");
  c->add_option("--group", a.groups,
                "Also create the state changelog <GROUP>.state (compacted) and the item updates <GROUP>.items "
                "of this consumer group (kafka.group_id); repeatable");
}

void AddProduce(CLI::App& app, ProduceArgs& a) {
  CLI::App* c = app.add_subcommand("produce", "Load an event log or a catalog into Kafka.");
  c->footer(
      "--file is the datasets' CSV (header ts,user,item,type; ts in Unix seconds) or JSON lines in\n"
      "the events-topic format (docs/events.md); keys are user ids, murmur2-partitioned.\n"
      "--catalog is JSON lines of catalog entries (docs/events.md, topic `catalog`), keyed by\n"
      "item_id. Invalid lines are sent as they are, so the pipeline dead-letters them with a reason.");
  c->add_option("--bootstrap", a.bootstrap, "Kafka bootstrap servers HOST:PORT")->required();
  CLI::Option* file = c->add_option("--file", a.file, "Event log to load")->check(CLI::ExistingFile);
  CLI::Option* catalog = c->add_option("--catalog", a.catalog_file, "Catalog file to load")->check(CLI::ExistingFile);
  file->excludes(catalog);
  c->add_option("--topic", a.topic, "Target topic (default: events, or catalog with --catalog)");
  c->add_option("--rate", a.rate, "Events per second (default: as fast as possible)");
}

void AddGenerate(CLI::App& app, GenerateArgs& a) {
  CLI::App* c = app.add_subcommand("generate", "Synthetic traffic with planted taste segments.");
  c->footer(
      "User uK is in segment K % segments; item iN is in segment N % segments. Users mostly pick\n"
      "items of their own segment (Zipf popularity), and clicks lead to carts and purchases.\n"
      "--truth writes that ground truth as CSV. Deterministic for a --seed.");
  traffic::GeneratorOptions& g = a.generator;
  c->add_option("--users", g.users, "Distinct users")->capture_default_str();
  c->add_option("--items", g.items, "Distinct items")->capture_default_str();
  c->add_option("--events", g.events, "Events to generate")->capture_default_str();
  c->add_option("--segments", g.segments, "Taste segments")->capture_default_str();
  c->add_option("--in-segment", g.in_segment, "Share of picks from the user's segment")->capture_default_str();
  c->add_option("--seed", g.seed, "Random seed")->capture_default_str();
  c->add_option("--out", a.out_file, "Write JSON lines to FILE ('-' for stdout)");
  c->add_option("--bootstrap", a.bootstrap, "Or produce to the events topic at HOST:PORT");
  c->add_option("--topic", a.topic, "Target topic with --bootstrap")->capture_default_str();
  c->add_option("--truth", a.truth_file, "Write the planted segments as CSV to FILE");
  c->add_option("--catalog", a.catalog_file, "Write a catalog of the items (category, brand, price) to FILE");
  c->add_option("--catalog-topic", a.catalog_topic, "With --bootstrap: produce that catalog to this topic first");
  c->add_option("--rate", a.rate, "Events per second with --bootstrap (default: unpaced)");
}

void AddEval(CLI::App& app, EvalArgs& a) {
  CLI::App* c = app.add_subcommand("eval", "Prequential evaluation of the model against POP, RPOP and IKNN.");
  c->footer(
      "Replays the log in file order, test-then-train, as ../shared/PROTOCOL.md fixes it: each event\n"
      "of a known user on an item new to them is scored against the model's top-N before the model\n"
      "learns it. The model is the live pipeline's learner and top-N code with the given config.\n"
      "Prints recall@N, mrr@N, coverage@N, recall per event type and events/s for every model, then\n"
      "precision@N, ndcg@N, novelty, diversity and popularity, and recall and ndcg by the user's number\n"
      "of earlier events (1, 2-3, 4-10, >10), and the model's learned blend; --json has them all, by\n"
      "event type too.");
  c->add_option("--events", a.events_files,
                "Event log: ts,user,item,type CSV or JSON lines; repeatable; a folder stands for its logs\n"
                "(<folder>/*/events.csv, then its .csv and .jsonl files): a summary table follows")
      ->required()
      ->check(CLI::ExistingPath);
  AddConfigOptions(c, a.config_path, a.overrides, "YAML configuration (the learner section is used)");
  c->add_option("--n", a.n, "List length N")->capture_default_str();
  c->add_flag("--json", a.json, "One JSON object instead of the table");
  c->add_option("--report", a.report_file, "Also write a self-contained HTML report with plots");
  c->add_option("--variant", a.variants,
                "NAME[:key=value,...]: a configuration of the model (the base one plus these overrides), "
                "repeatable; two or more are replayed over the same events and each compared with the first "
                "(recall, MRR, coverage; the difference's 95 % CI and McNemar's p). E.g. --variant shipped "
                "--variant no-sessions:learner.session_neighbors=0");
  c->add_flag("--progress", a.progress, "Show the progress bar even when stderr is not a terminal");
  c->add_flag("--surfaces", a.surfaces,
              "Also score the similar-items (the user's latest item's list) and trending surfaces");
}

void AddBench(CLI::App& app, streamrec::bench::BenchArgs& a) {
  CLI::App* c = app.add_subcommand("bench", "Measure speed and memory against ceilings measured in the same run.");
  c->footer(
      "Starts an embedded broker (a child process), produces generated Zipf traffic, and prints:\n"
      "(1) the ingest ceiling, a consumer that only counts; (2) the pipeline's events/s to durable\n"
      "state (lists refreshed meanwhile, coalesced; how far they lag when the last event is\n"
      "durable), and its ratio to (1); (3) the scoring ceiling, a bare batched matrix product;\n"
      "(4) top-N lists/s through the emitter's code, exact and with bfloat16 candidates, as ratios to (3);\n"
      "(5) event-to-list latency p50/p99/max at --rate, read by a separate consumer, and the highest\n"
      "rate whose p99 stays under 100 ms; (6) peak RSS and bytes per user and item, in memory and on\n"
      "disk. Defaults finish in about a minute; the full-size run is in docs/BENCHMARKS.md.");
  c->add_option("--events", a.events, "Events through the pipeline")->capture_default_str();
  c->add_option("--users", a.users, "Distinct users")->capture_default_str();
  c->add_option("--items", a.items, "Distinct items")->capture_default_str();
  c->add_option("--dim", a.dim, "Embedding dimension")->capture_default_str();
  c->add_option("--rate", a.rate, "Offered events/s of the latency run")->capture_default_str();
  c->add_option("--latency-seconds", a.latency_seconds, "Length of each latency run")->capture_default_str();
  c->add_option("--ann-items", a.ann_items,
                "(7) Also measure the approximate index (hnswlib) against exact top-N on this many "
                "items (synthetic clustered catalogue), e.g. 1000000; default: skipped");
  c->add_flag("--ann-learned", a.ann_learned,
              "(7) Also measure the approximate index against exact top-N on the items the run learned "
              "(users' query vectors from the run)");
  c->add_option("--memory-users", a.memory_users,
                "(8) Also measure resident memory as this many distinct users (one event each) go through "
                "the learner, the bounded user cache and the store, e.g. 10000000; default: skipped");
  c->add_flag("!--no-max-rate", a.find_max_rate, "Skip the search for the highest rate with p99 < 100 ms");
  c->add_flag("--json", a.json, "One JSON object instead of the table");
  AddConfigOptions(c, a.config_path, a.overrides, "YAML configuration for the pipeline under test");
}

void AddTopics(CLI::App& app, TopicsArgs& a) {
  CLI::App* c = app.add_subcommand("topics", "Create or check the topics on a Kafka cluster.");
  c->require_subcommand(1);
  c->footer(
      "The topics of the configuration: events and events.dlq (delete policy); recommendations,\n"
      "<group>.state (min.compaction.lag.ms 10 min), catalog, similar-items, bought-together and\n"
      "trending (compacted), each with kafka.partitions partitions. `create` makes the missing ones\n"
      "(existing ones are left as they are) and then checks them like `check`, the same check\n"
      "`run` makes at start: it refuses a compacted events topic, a state changelog that is missing,\n"
      "not compacted (or compact,delete) or has fewer partitions than events, and a recommendations\n"
      "topic that is not compacted; it warns about the rest. Exit 0 when the contract holds, 1 when\n"
      "it does not or the cluster cannot be reached, 2 on bad arguments.");
  for (const char* action : {"create", "check"}) {
    const bool create = std::string(action) == "create";
    CLI::App* sub = c->add_subcommand(action, create ? "Create the missing topics, then check them."
                                                     : "Check the topics against the contract run needs.");
    sub->callback([&a, create] { a.create = create; });
    AddConfigOptions(sub, a.config_path, a.overrides, "YAML configuration (its kafka section names the topics)");
    sub->add_option("--bootstrap", a.bootstrap, "Kafka bootstrap servers HOST:PORT (overrides kafka.bootstrap)");
    if (!create) continue;
    sub->add_option("--partitions", a.partitions, "Partitions of each topic (overrides kafka.partitions, default 4)")
        ->check(CLI::Range(1, 1024));
    sub->add_option("--replication-factor", a.replication_factor,
                    "Replicas of each partition (default: the broker's default.replication.factor)");
    sub->add_option("--group", a.groups,
                    "Also create the state changelog <GROUP>.state and the item updates <GROUP>.items of this "
                    "consumer group; repeatable");
    sub->add_option("--topic-config", a.topic_configs,
                    "TOPIC:KEY=VALUE: a topic config at creation, e.g. recommendations:segment.bytes=1048576; "
                    "repeatable");
  }
}

void AddExperiments(CLI::App& app, ExperimentsArgs& a) {
  CLI::App* c = app.add_subcommand("experiments", "Report the running A/B experiment: variants compared, with statistics.");
  c->footer(
      "Reads every user's latest record in the state changelog (<group>.state) and sums their\n"
      "experiment counts per variant: exact over the whole consumer group, whatever restarts,\n"
      "crashes and rebalances happened. Each variant is compared with the first (the control):\n"
      "clicks, add-to-carts and purchases of listed items per list served (CTR, cart rate, CVR;\n"
      "the user is the unit: delta method), revenue per user (Welch's t-test), units per\n"
      "purchase; each with its difference,\n"
      "95 % confidence interval and p-value, and the users per variant needed to see a --mde\n"
      "change. A sample-ratio p below 0.001 means the split itself is broken. Give the same\n"
      "configuration as `run` (its experiment section names the variants). docs/EXPERIMENTS.md.");
  AddConfigOptions(c, a.config_path, a.overrides, "YAML configuration of the pipeline (its experiment and topics)");
  c->add_option("--bootstrap", a.bootstrap, "Kafka bootstrap servers HOST:PORT (overrides kafka.bootstrap)");
  c->add_option("--mde", a.mde, "Relative change the sample sizes are computed for")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 10.0));
  c->add_option("--timeout-ms", a.timeout_ms, "Per partition read")->capture_default_str();
  c->add_flag("--json", a.json, "One JSON object instead of the table");
}

void AddState(CLI::App& app, StateArgs& a) {
  CLI::App* c = app.add_subcommand("state", "Summarise a stopped instance's store.");
  c->footer("Prints applied events, stored offsets, user and item counts, a checksum of all embeddings, and the item side's totals (events counted on items, the co-occurrence rows' summed weights: equal on instances whose item side learned from the same events).");
  c->add_option("--data-dir", a.data_dir, "State directory")->capture_default_str();
  c->add_flag("--json", a.json, "One JSON object instead of text");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"streamrec: real-time recommendations from a Kafka event stream"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "streamrec 0.1.0");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  RunArgs run;
  BrokerArgs broker;
  ProduceArgs produce;
  GenerateArgs generate;
  StateArgs state;
  ExperimentsArgs experiments;
  TopicsArgs topics;
  EvalArgs eval;
  streamrec::bench::BenchArgs bench;
  AddRun(app, run);
  AddBroker(app, broker);
  AddProduce(app, produce);
  AddGenerate(app, generate);
  AddEval(app, eval);
  AddState(app, state);
  AddExperiments(app, experiments);
  AddTopics(app, topics);
  AddBench(app, bench);
  CLI11_PARSE(app, argc, argv);

  streamrec::SetLogLevel(log_level);
  // Given on the command line, --log-level wins over the config file's log_level.
  if (app.count("--log-level") > 0) run.overrides.push_back("log_level=" + log_level);
  InstallSignalHandlers();
  try {
    if (app.got_subcommand("run")) return CmdRun(run, g_stop, g_reload);
    if (app.got_subcommand("broker")) return CmdBroker(broker, g_stop);
    if (app.got_subcommand("produce")) return CmdProduce(produce, g_stop);
    if (app.got_subcommand("generate")) return CmdGenerate(generate, g_stop);
    if (app.got_subcommand("eval")) return CmdEval(eval);
    if (app.got_subcommand("state")) return CmdState(state);
    if (app.got_subcommand("experiments")) return CmdExperiments(experiments);
    if (app.got_subcommand("topics")) return CmdTopics(topics);
    if (app.got_subcommand("bench")) {
      bench.executable = "/proc/self/exe";
      return streamrec::bench::CmdBench(bench, g_stop);
    }
  } catch (const std::exception& e) {
    std::cerr << "streamrec: unexpected error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
