#include "server/status_page.h"

#include <iterator>

#include <fmt/format.h>

#include "common/json.h"

namespace streamrec::server {
namespace {

void AppendHistogram(const LatencyHistogram& h, std::string* out) {
  *out += "{\"bounds_ms\":[";
  for (size_t b = 0; b < LatencyHistogram::kBoundsMs.size(); ++b) {
    fmt::format_to(std::back_inserter(*out), "{}{:g}", b > 0 ? "," : "", LatencyHistogram::kBoundsMs[b]);
  }
  *out += "],\"counts\":[";
  for (size_t b = 0; b < LatencyHistogram::kBuckets; ++b) {
    fmt::format_to(std::back_inserter(*out), "{}{}", b > 0 ? "," : "", h.counts()[b]);
  }
  *out += "]}";
}

void AppendExperiment(const HealthSnapshot& s, std::string* out) {
  *out += ",\"experiment\":{\"name\":";
  AppendJsonString(s.experiment, out);
  *out += ",\"variants\":[";
  for (size_t v = 0; v < s.variants.size() && v < s.variant_names.size(); ++v) {
    const experiment::VariantTally& t = s.variants[v];
    *out += v > 0 ? ",{\"name\":" : "{\"name\":";
    AppendJsonString(s.variant_names[v], out);
    fmt::format_to(std::back_inserter(*out),
                   ",\"users\":{},\"lists\":{},\"clicks\":{},\"carts\":{},\"purchases\":{},\"units\":{},\"revenue\":{:.6g},"
                   "\"items_covered\":{}}}",
                   t.users, t.lists, t.clicked, t.carted, t.bought, t.units, t.revenue, t.items_covered);
  }
  *out += "]}";
}

}  // namespace

std::string StatusJson(const HealthSnapshot& s, int64_t now_ms) {
  int64_t lag = 0;
  for (const auto& [partition, messages] : s.consumer_lag) lag += messages;
  const bool lost = s.events_lost > 0 || s.dead_letters_dropped > 0;
  std::string out = fmt::format(R"({{"now_ms":{},"status":"{}","problem":)", now_ms,
                                !s.problem.empty() ? "failing" : lost ? "degraded" : "ok");
  AppendJsonString(s.problem, &out);
  fmt::format_to(std::back_inserter(out),
                 R"(,"consumed":{},"applied":{},"rejected":{},"lists":{},"lists_pending":{},"list_lag_ms":{},)"
                 R"("applied_total":{},"users_cached":{},"items":{},"partitions":{},"consumer_lag":{},)"
                 R"("last_commit_ms":{},"live":{{"scored":{},"hits":{},"reciprocal_rank_sum":{:.6g}}},)"
                 R"("blend":{{"mf":{:.4g},"cooc":{:.4g},"recency":{:.4g},"short_recency":{:.4g},"session":{:.4g}}},)"
                 R"("list_latency":)",
                 s.consumed, s.applied, s.rejected, s.lists, s.lists_pending, s.list_lag_ms, s.applied_total,
                 s.users_cached, s.items, s.partitions, lag, s.last_commit_ms, s.live_scored, s.live_hits,
                 s.live_reciprocal_rank_sum, s.blend_mf_weight, s.blend_cooc_weight, s.blend_recency_weight,
                 s.blend_short_recency_weight, s.blend_session_weight);
  AppendHistogram(s.list_stages[kTotal], &out);
  AppendExperiment(s, &out);
  out += ",\"trending\":[";
  for (size_t k = 0; k < s.trending.size(); ++k) {
    out += k > 0 ? ",{\"item_id\":" : "{\"item_id\":";
    AppendJsonString(s.trending[k].first, &out);
    fmt::format_to(std::back_inserter(out), ",\"score\":{:.4g}}}", s.trending[k].second);
  }
  return out + "]}";
}

}  // namespace streamrec::server
