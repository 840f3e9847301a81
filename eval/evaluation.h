// Prequential (test-then-train) evaluation, exactly as ../shared/PROTOCOL.md
// fixes it, of the configured model (the live pipeline's learner and top-N
// code) and the POP, RPOP and IKNN baselines, over one event log in file order.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/event.h"
#include "common/status.h"
#include "config/config.h"
#include "eval/yardsticks.h"
#include "model/prequential.h"

namespace streamrec::eval {

struct EvalOptions {
  size_t n = 20;                    // list length N
  size_t curve_points = 50;         // samples of cumulative recall over the stream
  // Also score the item surfaces under the same protocol: "similar-items"
  // (the similar list of the user's latest item) and "trending" (the overall
  // trending list without the user's items), each computed by the code that
  // publishes them. Costs about one more list per scored event.
  bool surfaces = false;
  // Also replay the baselines (POP, RPOP, IKNN). Default true; `eval
  // --variant` compares configurations of the model alone.
  bool baselines = true;
  // Keep, per scored event, whether the model hit it (EvalReport::model_hits):
  // what a paired comparison of two configurations needs. 1 bit an event.
  bool keep_hits = false;
  // Called now and then with (events done, events in file or 0 if unknown).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct ModelFigures : model::HitCounts {
  std::string name;
  uint64_t distinct_served = 0;      // items that appeared in any served list
  double seconds = 0;                // time in this model's test and train steps
  std::vector<double> recall_curve;  // cumulative recall at each curve point
  Yardsticks yardsticks;             // precision, NDCG, novelty, diversity, popularity; by history and type
};

struct EvalReport {
  std::string events_file;
  size_t n = 20;
  uint64_t events = 0;
  uint64_t invalid_lines = 0;
  uint64_t scored = 0;
  uint64_t items = 0;
  std::vector<uint64_t> curve_events;  // event index of each curve point
  std::vector<ModelFigures> models;    // "model" first, then POP, RPOP, IKNN
  std::vector<ModelFigures> surfaces;  // "similar-items", "trending" when asked for
  std::vector<bool> model_hits;        // per scored event, with EvalOptions::keep_hits
  // The model's online blend at the end (learner/blend.h): its weights and
  // the outcomes it learned from.
  float blend_cooc = 0.0F;
  float blend_recency = 0.0F;
  float blend_mf = 1.0F;
  float blend_short_recency = 0.0F;
  float blend_session = 0.0F;
  uint64_t blend_steps = 0;

  double coverage(const ModelFigures& m) const {
    return items ? static_cast<double>(m.distinct_served) / static_cast<double>(items) : 0;
  }
  double events_per_s(const ModelFigures& m) const {
    return m.seconds > 0 ? static_cast<double>(events) / m.seconds : 0;
  }
};

[[nodiscard]] Status Evaluate(const std::string& events_file, const config::Config& config, const EvalOptions& options,
                              EvalReport* out);

std::string ReportTable(const EvalReport& report);
std::string ReportJson(const EvalReport& report);
std::string ReportHtml(const EvalReport& report);
// Several logs: a summary table (per log the model, the best baseline and
// their ratio), JSON {"logs": [{"log": name, "report": {...}}, ...]}, and one
// HTML page with the summary and every log's section.
std::string ReportSummaryTable(std::span<const EvalReport> reports);
std::string ReportJson(std::span<const EvalReport> reports);
std::string ReportHtml(std::span<const EvalReport> reports);
// A log's short name: its folder for ".../NAME/events.csv", else its file name.
std::string LogName(const std::string& path);

}  // namespace streamrec::eval
