// Renders an EvalReport as a text table, JSON, or a self-contained HTML page.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "common/json.h"
#include "eval/evaluation.h"

namespace streamrec::eval {
namespace {

constexpr EventType kTypes[] = {EventType::kView, EventType::kCart, EventType::kRemoveFromCart, EventType::kPurchase};

const ModelFigures* BestBaseline(const EvalReport& r) {
  const ModelFigures* best = nullptr;
  for (size_t k = 1; k < r.models.size(); ++k) {
    if (!best || r.models[k].recall() > best->recall()) best = &r.models[k];
  }
  return best;
}

}  // namespace

namespace {

// The field's yardsticks per model, then recall and NDCG by the user's history length.
void AppendYardstickTables(const EvalReport& r, std::string* out) {
  *out += fmt::format("\n{:<13} {:>12} {:>10} {:>10} {:>10} {:>12}\n", "model", fmt::format("precision@{}", r.n),
                      fmt::format("ndcg@{}", r.n), "novelty", "diversity", "popularity");
  for (const ModelFigures& m : r.models) {
    const ListYardsticks& y = m.yardsticks.overall;
    *out += fmt::format("{:<13} {:>12.5f} {:>10.4f} {:>10.2f} {:>10.3f} {:>12.1f}\n", m.name, y.precision(r.n), y.ndcg(),
                        y.mean_novelty(), y.mean_diversity(), y.mean_popularity());
  }
  *out += "(novelty: mean -log2(count / events so far) of listed items; diversity: 1 - mean cosine of the model's item "
          "vectors; popularity: mean count of listed items)\n";
  const Yardsticks& model = r.models.front().yardsticks;
  *out += fmt::format("\nrecall@{0} / ndcg@{0} by the user's earlier events", r.n);
  for (size_t b = 0; b < kHistoryBuckets; ++b) {
    *out += fmt::format("{}{}: {}", b ? ", " : " (", HistoryBucketName(b), model.by_history[b].lists);
  }
  *out += fmt::format(" scored events)\n{:<13}", "model");
  for (size_t b = 0; b < kHistoryBuckets; ++b) *out += fmt::format(" {:>15}", HistoryBucketName(b));
  *out += '\n';
  for (const ModelFigures& m : r.models) {
    *out += fmt::format("{:<13}", m.name);
    for (const ListYardsticks& y : m.yardsticks.by_history) {
      *out += y.lists ? fmt::format(" {:>15}", fmt::format("{:.4f}/{:.4f}", y.recall(), y.ndcg()))
                      : fmt::format(" {:>15}", "-");
    }
    *out += '\n';
  }
}

void AppendTableRow(const EvalReport& r, const ModelFigures& m, std::string* out) {
  *out += fmt::format("{:<13} {:>10.4f} {:>10.4f} {:>12.4f}", m.name, m.recall(), m.mrr(), r.coverage(m));
  for (EventType t : kTypes) {
    *out += m.scored_by_type[static_cast<size_t>(t)] ? fmt::format(" {:>10.4f}", m.recall(t))
                                                     : fmt::format(" {:>10}", "-");
  }
  *out += fmt::format(" {:>10.0f}\n", r.events_per_s(m));
}

void AppendJsonList(size_t n, const ListYardsticks& y, std::string* out) {
  *out += fmt::format(
      "{{\"lists\":{},\"recall\":{:.6f},\"mrr\":{:.6f},\"precision\":{:.6f},\"ndcg\":{:.6f},\"novelty\":{:.4f},"
      "\"diversity\":{:.4f},\"popularity\":{:.2f}}}",
      y.lists, y.recall(), y.mrr(), y.precision(n), y.ndcg(), y.mean_novelty(), y.mean_diversity(), y.mean_popularity());
}

// {"overall": {...}, "by_history": {"1": {...}, ...}, "by_type": {"view": {...}, ...}}
void AppendJsonYardsticks(size_t n, const Yardsticks& y, std::string* out) {
  *out += "{\"overall\":";
  AppendJsonList(n, y.overall, out);
  *out += ",\"by_history\":{";
  for (size_t b = 0; b < kHistoryBuckets; ++b) {
    *out += fmt::format("{}\"{}\":", b ? "," : "", HistoryBucketName(b));
    AppendJsonList(n, y.by_history[b], out);
  }
  *out += "},\"by_type\":{";
  bool first = true;
  for (EventType t : kTypes) {
    const ListYardsticks& of_type = y.by_type[static_cast<size_t>(t)];
    if (of_type.lists == 0) continue;
    *out += fmt::format("{}\"{}\":", first ? "" : ",", EventTypeName(t));
    AppendJsonList(n, of_type, out);
    first = false;
  }
  *out += "}}";
}

void AppendJsonModels(const EvalReport& r, const std::vector<ModelFigures>& models, std::string* out) {
  for (size_t k = 0; k < models.size(); ++k) {
    const ModelFigures& m = models[k];
    if (k) *out += ',';
    AppendJsonString(m.name, out);
    *out += fmt::format(":{{\"recall\":{:.6f},\"mrr\":{:.6f},\"coverage\":{:.6f},\"by_type\":{{", m.recall(),
                        m.mrr(), r.coverage(m));
    bool first = true;
    for (EventType t : kTypes) {
      if (!m.scored_by_type[static_cast<size_t>(t)]) continue;
      *out += fmt::format("{}\"{}\":{:.6f}", first ? "" : ",", EventTypeName(t), m.recall(t));
      first = false;
    }
    *out += fmt::format("}},\"events_per_s\":{:.1f},\"yardsticks\":", r.events_per_s(m));
    AppendJsonYardsticks(r.n, m.yardsticks, out);
    *out += '}';
  }
}

}  // namespace

std::string ReportTable(const EvalReport& r) {
  std::string out = fmt::format("{}: {} events ({} invalid lines skipped), {} scored, {} items, N = {}\n\n",
                                r.events_file, r.events, r.invalid_lines, r.scored, r.items, r.n);
  out += fmt::format("{:<13} {:>10} {:>10} {:>12}", "model", fmt::format("recall@{}", r.n), fmt::format("mrr@{}", r.n),
                     fmt::format("coverage@{}", r.n));
  for (EventType t : kTypes) out += fmt::format(" {:>10}", EventTypeName(t));
  out += fmt::format(" {:>10}\n", "events/s");
  for (const ModelFigures& m : r.models) AppendTableRow(r, m, &out);
  if (!r.surfaces.empty()) {
    out += "surfaces (similar-items: the list of the user's latest item; trending: overall, without their items)\n";
    for (const ModelFigures& m : r.surfaces) AppendTableRow(r, m, &out);
  }
  AppendYardstickTables(r, &out);
  if (const ModelFigures* best = BestBaseline(r); best && best->recall() > 0) {
    out += fmt::format("\nmodel / best baseline ({}): {:.2f}x recall@{}\n", best->name,
                       r.models[0].recall() / best->recall(), r.n);
  }
  out += fmt::format("model's blend at the end: factorisation weight {:.3f}; relative to it, co-occurrence {:.2f}, "
                     "recency {:.3f}, short recency {:.3f}, session neighbours {:.3f} (learned from {} outcomes)\n",
                     r.blend_mf, r.blend_cooc, r.blend_recency, r.blend_short_recency, r.blend_session, r.blend_steps);
  return out;
}

std::string ReportJson(const EvalReport& r) {
  std::string out = fmt::format(
      "{{\"n\":{},\"events\":{},\"scored\":{},\"items\":{},\"blend\":{{\"cooc\":{:.4f},\"recency\":{:.4f},"
      "\"mf\":{:.4f},\"short_recency\":{:.4f},\"session\":{:.4f},\"steps\":{}}},\"models\":{{",
      r.n, r.events, r.scored, r.items, r.blend_cooc, r.blend_recency, r.blend_mf, r.blend_short_recency,
      r.blend_session, r.blend_steps);
  AppendJsonModels(r, r.models, &out);
  out += '}';
  if (!r.surfaces.empty()) {
    out += ",\"surfaces\":{";
    AppendJsonModels(r, r.surfaces, &out);
    out += '}';
  }
  return out + "}\n";
}

namespace {

constexpr const char* kColors[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e"};

// Cumulative recall of every model over the stream, as an SVG line chart.
std::string CurveSvg(const EvalReport& r) {
  const double w = 720, h = 300, left = 60, bottom = 30;
  double ymax = 1e-9;
  for (const ModelFigures& m : r.models) {
    for (double v : m.recall_curve) ymax = std::max(ymax, v);
  }
  ymax *= 1.1;
  const double xmax = static_cast<double>(std::max<uint64_t>(1, r.events));
  std::string svg = fmt::format(R"(<svg width="{}" height="{}" xmlns="http://www.w3.org/2000/svg">)", w + 150, h + 40);
  svg += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#444"/><line x1="{0}" y1="10" x2="{0}" y2="{1}" stroke="#444"/>)",
                     left, h - bottom + 10, w);
  for (int k = 0; k <= 4; ++k) {
    const double v = ymax * k / 4, y = h - bottom + 10 - (h - bottom) * k / 4;
    svg += fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="end">{:.4f}</text>)", left - 4, y + 4, v);
  }
  svg += fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="middle">events replayed (of {})</text>)",
                     (left + w) / 2, h + 25, r.events);
  for (size_t k = 0; k < r.models.size(); ++k) {
    std::string points;
    const ModelFigures& m = r.models[k];
    for (size_t p = 0; p < m.recall_curve.size() && p < r.curve_events.size(); ++p) {
      const double x = left + (w - left) * static_cast<double>(r.curve_events[p]) / xmax;
      const double y = h - bottom + 10 - (h - bottom) * m.recall_curve[p] / ymax;
      points += fmt::format("{:.1f},{:.1f} ", x, y);
    }
    svg += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>)", kColors[k % 4], points);
    svg += fmt::format(R"(<text x="{}" y="{}" font-size="12" fill="{}">{}</text>)", w + 10, 20 + 16 * k,
                       kColors[k % 4], m.name);
  }
  return svg + "</svg>";
}

// One value per model in each of `groups`, as grouped bars.
std::string GroupedBarsSvg(const EvalReport& r, std::span<const std::string> groups,
                           const std::function<double(const ModelFigures&, size_t)>& value) {
  const double w = 720, h = 260, left = 60, bottom = 40;
  const double group = (w - left) / static_cast<double>(std::max<size_t>(groups.size(), 1));
  double ymax = 1e-9;
  for (const ModelFigures& m : r.models) {
    for (size_t g = 0; g < groups.size(); ++g) ymax = std::max(ymax, value(m, g));
  }
  ymax *= 1.1;
  std::string svg = fmt::format(R"(<svg width="{}" height="{}" xmlns="http://www.w3.org/2000/svg">)", w + 150, h);
  const double bar = group / static_cast<double>(r.models.size() + 1);
  for (size_t g = 0; g < groups.size(); ++g) {
    const double x0 = left + group * static_cast<double>(g);
    svg += fmt::format(R"(<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>)", x0 + group / 2,
                       h - bottom + 18, groups[g]);
    for (size_t k = 0; k < r.models.size(); ++k) {
      const double v = value(r.models[k], g);
      const double bh = (h - bottom - 10) * v / ymax;
      svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>{} {:.4f}</title></rect>)",
                         x0 + bar * (static_cast<double>(k) + 0.5), h - bottom - bh, bar * 0.9, bh, kColors[k % 4],
                         r.models[k].name, v);
    }
  }
  for (size_t k = 0; k < r.models.size(); ++k) {
    svg += fmt::format(R"(<text x="{}" y="{}" font-size="12" fill="{}">{}</text>)", w + 10, 20 + 16 * k,
                       kColors[k % 4], r.models[k].name);
  }
  return svg + "</svg>";
}

void AppendEscaped(std::string_view text, std::string* html) {
  for (char c : text) {
    if (c == '<') *html += "&lt;";
    else if (c == '&') *html += "&amp;";
    else *html += c;
  }
}

// One log's table and plots.
void AppendHtmlSection(const EvalReport& r, std::string* html) {
  *html += "<pre>";
  AppendEscaped(ReportTable(r), html);
  *html += fmt::format("</pre><h3>recall@{} over the stream (cumulative)</h3>", r.n);
  *html += CurveSvg(r);
  std::vector<std::string> groups;
  for (EventType t : kTypes) groups.emplace_back(EventTypeName(t));
  *html += fmt::format("<h3>recall@{} per event type</h3>", r.n);
  *html += GroupedBarsSvg(r, groups, [](const ModelFigures& m, size_t g) { return m.recall(kTypes[g]); });
  groups.clear();
  for (size_t b = 0; b < kHistoryBuckets; ++b) groups.emplace_back(fmt::format("{} earlier events", HistoryBucketName(b)));
  *html += fmt::format("<h3>recall@{} by the user's earlier events</h3>", r.n);
  *html += GroupedBarsSvg(r, groups, [](const ModelFigures& m, size_t g) { return m.yardsticks.by_history[g].recall(); });
  *html += fmt::format("<h3>ndcg@{} by the user's earlier events</h3>", r.n);
  *html += GroupedBarsSvg(r, groups, [](const ModelFigures& m, size_t g) { return m.yardsticks.by_history[g].ndcg(); });
}

}  // namespace

std::string LogName(const std::string& path) {
  const std::filesystem::path p(path);
  if (p.filename() == "events.csv" && p.has_parent_path() && !p.parent_path().filename().empty()) {
    return p.parent_path().filename().string();
  }
  return p.filename().string();
}

std::string ReportSummaryTable(std::span<const EvalReport> reports) {
  if (reports.empty()) return {};
  const size_t n = reports.front().n;
  std::string out = fmt::format("summary of {} logs (ratio = model / best baseline)\n", reports.size());
  out += fmt::format("{:<30} {:>9} {:>10} {:>16} {:>7} {:>10} {:>10}\n", "log", "scored", fmt::format("recall@{}", n),
                     "best baseline", "ratio", fmt::format("mrr@{}", n), "best mrr");
  for (const EvalReport& r : reports) {
    const ModelFigures& model = r.models.front();
    const ModelFigures* best = BestBaseline(r);
    const double ratio = best && best->recall() > 0 ? model.recall() / best->recall() : 0.0;
    out += fmt::format("{:<30} {:>9} {:>10.4f} {:>16} {:>6.2f}x {:>10.4f} {:>10.4f}\n", LogName(r.events_file), r.scored,
                       model.recall(), best ? fmt::format("{} {:.4f}", best->name, best->recall()) : "-", ratio,
                       model.mrr(), best ? best->mrr() : 0.0);
  }
  return out;
}

std::string ReportJson(std::span<const EvalReport> reports) {
  std::string out = "{\"logs\":[";
  for (size_t k = 0; k < reports.size(); ++k) {
    if (k > 0) out += ',';
    std::string one = ReportJson(reports[k]);
    while (!one.empty() && one.back() == '\n') one.pop_back();
    out += "{\"log\":";
    AppendJsonString(LogName(reports[k].events_file), &out);
    out += ",\"report\":" + one + "}";
  }
  return out + "]}\n";
}

std::string ReportHtml(std::span<const EvalReport> reports) {
  std::string html = R"(<!doctype html><html><head><meta charset="utf-8"><title>streamrec eval</title>
<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}</style></head><body>)";
  html += "<h1>streamrec prequential evaluation</h1>";
  if (reports.size() > 1) {
    html += "<h2>summary</h2><pre>";
    AppendEscaped(ReportSummaryTable(reports), &html);
    html += "</pre>";
  }
  for (const EvalReport& r : reports) {
    if (reports.size() > 1) {
      html += "<h2>";
      AppendEscaped(LogName(r.events_file), &html);
      html += "</h2>";
    }
    AppendHtmlSection(r, &html);
  }
  return html + "</body></html>\n";
}

std::string ReportHtml(const EvalReport& r) { return ReportHtml(std::span<const EvalReport>(&r, 1)); }

}  // namespace streamrec::eval
