#include "eval/variants.h"

#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "common/json.h"
#include "experiment/statistics.h"

namespace streamrec::eval {
namespace {

// The variant against the first, on the events both scored; nullopt when
// they did not score the same events (an item table that refused differently).
std::optional<experiment::Comparison> AgainstFirst(const VariantRun& first, const VariantRun& run) {
  const std::vector<bool>& a = first.report.model_hits;
  const std::vector<bool>& b = run.report.model_hits;
  if (a.size() != b.size() || a.empty()) return std::nullopt;
  uint64_t hits_a = 0, hits_b = 0, only_a = 0, only_b = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    hits_a += a[k];
    hits_b += b[k];
    only_a += a[k] && !b[k];
    only_b += b[k] && !a[k];
  }
  return experiment::CompareMatched(hits_a, hits_b, only_a, only_b, a.size());
}

std::string PValue(double p) { return p < 0.0001 ? "< 0.0001" : fmt::format("{:.4f}", p); }

}  // namespace

Status ParseVariant(const std::string& spec, Variant* out) {
  *out = Variant{};
  const size_t colon = spec.find(':');
  out->name = spec.substr(0, colon);
  if (out->name.empty()) return Status::InvalidArgument("--variant " + spec + ": expected NAME[:key=value,...]");
  if (colon == std::string::npos) return Status::Ok();
  for (size_t start = colon + 1; start <= spec.size();) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string setting = spec.substr(start, comma - start);
    if (setting.find('=') == std::string::npos || setting.front() == '=') {
      return Status::InvalidArgument("--variant " + spec + ": '" + setting + "' is not key=value");
    }
    out->overrides.push_back(setting);
    start = comma + 1;
  }
  return Status::Ok();
}

std::string VariantsTable(const std::vector<VariantRun>& runs) {
  if (runs.empty()) return "";
  const EvalReport& base = runs.front().report;
  std::string out = fmt::format("{}: {} events, {} scored, N = {}; each variant against '{}' on the same events "
                                "(McNemar):\n",
                                LogName(base.events_file), base.events, base.scored, base.n, runs.front().variant.name);
  out += fmt::format("{:<20} {:>10} {:>9} {:>9} {:>10} {:>26} {:>10} {:>9}\n", "variant", "recall@N", "mrr@N",
                     "coverage", "change", "95 % CI of the difference", "p", "events/s");
  for (const VariantRun& run : runs) {
    const ModelFigures& m = run.report.models.front();
    std::string versus = fmt::format("{:>10} {:>26} {:>10}", "", "", "");
    if (&run != &runs.front()) {
      if (const auto c = AgainstFirst(runs.front(), run)) {
        versus = fmt::format("{:>+9.2f}% {:>26} {:>10}", c->relative * 100,
                             fmt::format("[{:+.4f}, {:+.4f}]", c->ci_low, c->ci_high), PValue(c->p_value));
      } else {
        versus = fmt::format("{:>10} {:>26} {:>10}", "-", "(other events scored)", "-");
      }
    }
    out += fmt::format("{:<20} {:>10.4f} {:>9.4f} {:>9.3f} {} {:>9.0f}\n", run.variant.name, m.recall(), m.mrr(),
                       run.report.coverage(m), versus, run.report.events_per_s(m));
  }
  return out;
}

std::string VariantsJson(const std::vector<std::vector<VariantRun>>& logs) {
  std::string out = "{\"logs\":[";
  for (size_t l = 0; l < logs.size(); ++l) {
    if (l > 0) out += ',';
    out += "{\"log\":";
    AppendJsonString(logs[l].empty() ? "" : LogName(logs[l].front().report.events_file), &out);
    out += ",\"variants\":[";
    for (size_t v = 0; v < logs[l].size(); ++v) {
      const VariantRun& run = logs[l][v];
      const ModelFigures& m = run.report.models.front();
      out += v > 0 ? ",{\"name\":" : "{\"name\":";
      AppendJsonString(run.variant.name, &out);
      out += ",\"overrides\":[";
      for (size_t k = 0; k < run.variant.overrides.size(); ++k) {
        if (k > 0) out += ',';
        AppendJsonString(run.variant.overrides[k], &out);
      }
      fmt::format_to(std::back_inserter(out), "],\"scored\":{},\"recall\":{:.6g},\"mrr\":{:.6g},\"coverage\":{:.6g}",
                     m.scored, m.recall(), m.mrr(), run.report.coverage(m));
      if (v > 0) {
        if (const auto c = AgainstFirst(logs[l].front(), run)) {
          fmt::format_to(std::back_inserter(out),
                         ",\"against_first\":{{\"difference\":{:.6g},\"ci_low\":{:.6g},\"ci_high\":{:.6g},"
                         "\"relative\":{:.6g},\"p_value\":{:.6g}}}",
                         c->difference, c->ci_low, c->ci_high, c->relative, c->p_value);
        }
      }
      out += '}';
    }
    out += "]}";
  }
  return out + "]}\n";
}

}  // namespace streamrec::eval
