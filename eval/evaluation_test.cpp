#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "eval/evaluation.h"
#include "eval/variants.h"

using namespace streamrec;
using namespace streamrec::eval;

namespace {

// A log whose scored events and POP hits are known by hand (PROTOCOL.md):
//   u1 b: scored (u1 seen, b new to u1); candidates {a}, a excluded: b is no candidate, miss
//   u2 a: scored; candidates a (1 event), b (2): b excluded, a ranks first, hit
//   u3 a: scored; a (3 events: u1 twice, u2) first, hit
// u1 a (2nd) is a repeat, u2 b and u3 c are first events: not scored.
constexpr const char* kLog =
    "ts,user,item,type\n"
    "1,u1,a,click\n"
    "2,u1,b,click\n"
    "3,u2,b,click\n"
    "not,a,valid\n"
    "4,u2,a,click\n"
    "5,u1,a,cart\n"
    "6,u3,c,click\n"
    "7,u3,a,purchase\n";

std::string WriteLog() {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("streamrec_eval_test_" + std::to_string(::getpid()) + ".csv");
  std::ofstream(path) << kLog;
  return path.string();
}

// The replay of kLog with the shipped defaults.
EvalReport EvaluateLog() {
  const std::string path = WriteLog();
  config::Config config;
  REQUIRE(config::LoadConfig("", {}, &config).ok());
  EvalReport report;
  REQUIRE(Evaluate(path, config, EvalOptions{}, &report).ok());
  std::filesystem::remove(path);
  return report;
}

const ModelFigures& Find(const EvalReport& r, const std::string& name) {
  for (const ModelFigures& m : r.models) {
    if (m.name == name) return m;
  }
  FAIL("no model " << name);
  return r.models.front();
}

}  // namespace

TEST_CASE("the replay scores exactly the protocol's events, and POP hits what it should") {
  const EvalReport report = EvaluateLog();

  CHECK(report.events == 7);
  CHECK(report.invalid_lines == 1);
  CHECK(report.scored == 3);
  CHECK(report.items == 3);
  REQUIRE(report.models.size() == 4);
  CHECK(report.models[0].name == "model");
  const ModelFigures& pop = Find(report, "POP");
  CHECK(pop.scored == 3);
  CHECK(pop.hits == 2);
  CHECK(pop.recall() == Approx(2.0 / 3));
  CHECK(pop.mrr() == Approx(2.0 / 3));  // both hits at rank 0
  CHECK(pop.scored_by_type[static_cast<size_t>(EventType::kPurchase)] == 1);
  for (const ModelFigures& m : report.models) CHECK(m.scored == 3);
  // The yardsticks over the same lists: both hits at rank 0, every scored
  // user with one earlier event.
  const Yardsticks& y = pop.yardsticks;
  CHECK(y.overall.lists == 3);
  CHECK(y.overall.ndcg() == Approx(2.0 / 3));
  CHECK(y.overall.precision(20) == Approx(2.0 / 3 / 20));
  CHECK(y.by_history[0].lists == 3);
  CHECK(y.by_history[1].lists + y.by_history[2].lists + y.by_history[3].lists == 0);
  CHECK(y.by_type[static_cast<size_t>(EventType::kPurchase)].hits == 1);
  // POP's lists: u1's b: none (a, the only candidate, is u1's); u2's a: [a]
  // (1 event so far); u3's a: [a, b] (3 and 2 events).
  CHECK(y.overall.mean_popularity() == Approx((0.0 + 1.0 + 2.5) / 3));
  CHECK(y.overall.diverse_lists == 1);
}

TEST_CASE("the reports carry every model's figures") {
  const EvalReport report = EvaluateLog();
  const std::string json = ReportJson(report);
  for (const char* name : {"\"model\"", "\"POP\"", "\"RPOP\"", "\"IKNN\"", "\"scored\":3"}) {
    CHECK(json.find(name) != std::string::npos);
  }
  CHECK(ReportTable(report).find("POP") != std::string::npos);
  CHECK(ReportTable(report).find("ndcg@20") != std::string::npos);
  CHECK(ReportTable(report).find("by the user's earlier events") != std::string::npos);
  CHECK(json.find("\"by_history\":{\"1\":{\"lists\":3") != std::string::npos);
  const std::string html = ReportHtml(report);
  CHECK(html.rfind("<!doctype html>", 0) == 0);
  CHECK(html.find("IKNN") != std::string::npos);
}

TEST_CASE("a missing log is an error, not an empty report") {
  config::Config config;
  EvalReport report;
  CHECK_FALSE(Evaluate("/nonexistent/streamrec.csv", config, EvalOptions{}, &report).ok());
}

TEST_CASE("several logs: a summary row each, one JSON object, one HTML page") {
  std::vector<EvalReport> reports = {EvaluateLog(), EvaluateLog()};
  reports[0].events_file = "/data/shop_a/events.csv";
  reports[1].events_file = "/data/shop_b.jsonl";
  CHECK(LogName(reports[0].events_file) == "shop_a");
  CHECK(LogName(reports[1].events_file) == "shop_b.jsonl");
  const std::string summary = ReportSummaryTable(reports);
  CHECK(summary.find("summary of 2 logs") != std::string::npos);
  // POP is the best baseline of kLog (2 of 3 hits): both rows name it.
  size_t rows = 0;
  for (size_t at = summary.find("POP 0.6667"); at != std::string::npos; at = summary.find("POP 0.6667", at + 1)) ++rows;
  CHECK(rows == 2);
  const std::string json = ReportJson(std::span<const EvalReport>(reports));
  CHECK(json.rfind("{\"logs\":[{\"log\":\"shop_a\",\"report\":{", 0) == 0);
  CHECK(json.find("{\"log\":\"shop_b.jsonl\",\"report\":{") != std::string::npos);
  const std::string html = ReportHtml(std::span<const EvalReport>(reports));
  CHECK(html.find("<h2>summary</h2>") != std::string::npos);
  CHECK(html.find("<h2>shop_a</h2>") != std::string::npos);
  CHECK(html.find("<h2>shop_b.jsonl</h2>") != std::string::npos);
}

TEST_CASE("eval --variant: specs parse, the model alone is replayed with its hits, and compared on the same events") {
  Variant v;
  REQUIRE(ParseVariant("bare:learner.cooc_weight=0,learner.session_neighbors=0", &v).ok());
  CHECK(v.name == "bare");
  CHECK(v.overrides == std::vector<std::string>{"learner.cooc_weight=0", "learner.session_neighbors=0"});
  REQUIRE(ParseVariant("shipped", &v).ok());
  CHECK(v.overrides.empty());
  CHECK_FALSE(ParseVariant(":learner.dim=8", &v).ok());
  CHECK_FALSE(ParseVariant("x:learner.dim", &v).ok());

  const std::string path = WriteLog();
  config::Config config;
  REQUIRE(config::LoadConfig("", {}, &config).ok());
  EvalOptions options;
  options.baselines = false;
  options.keep_hits = true;
  std::vector<VariantRun> runs(2);
  runs[0].variant.name = "a";
  runs[1].variant.name = "b";
  for (VariantRun& run : runs) REQUIRE(Evaluate(path, config, options, &run.report).ok());
  std::filesystem::remove(path);
  REQUIRE(runs[0].report.models.size() == 1);  // no baselines
  CHECK(runs[0].report.model_hits.size() == 3);  // one per scored event
  const std::string table = VariantsTable(runs);
  CHECK(table.find("against 'a' on the same events") != std::string::npos);
  const std::string json = VariantsJson({runs});
  CHECK(json.find(R"("against_first":{"difference":0,)") != std::string::npos);
  CHECK(json.find(R"("p_value":1})") != std::string::npos);
}
