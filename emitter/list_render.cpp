// The recommendations topic's value: one list as JSON (emitter.h).
#include <charconv>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "common/json.h"
#include "emitter/emitter.h"

namespace streamrec::emitter {
namespace {

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kPersonal: return "personal";
    case Reason::kSimilarTo: return "similar_to:";
    case Reason::kTrending: return "trending";
    case Reason::kNew: return "new";
    case Reason::kPinned: return "pinned";
    case Reason::kBoosted: return "boosted";
  }
  return "personal";
}

}  // namespace

std::string ReasonText(Reason reason, std::string_view source) {
  std::string text(ReasonName(reason));
  if (reason == Reason::kSimilarTo) text += source;
  return text;
}

void AppendScore(float score, std::string* out) {
  char digits[32];
  const std::to_chars_result end = std::to_chars(digits, digits + sizeof digits, score, std::chars_format::general, 6);
  out->append(digits, end.ptr);
}

std::string RenderList(std::string_view user_id, std::span<const RenderedItem> items, uint64_t seq,
                       std::string_view model_version, int64_t generated_at_ms, int32_t partition, int64_t offset,
                       std::string_view experiment, std::string_view variant) {
  std::string out;
  out.reserve(96 + items.size() * 64);
  out += "{\"user_id\":";
  AppendJsonString(user_id, &out);
  out += ",\"items\":[";
  for (size_t k = 0; k < items.size(); ++k) {
    if (k > 0) out += ',';
    out += "{\"item_id\":";
    AppendJsonString(items[k].item_id, &out);
    out += ",\"score\":";
    AppendScore(std::isfinite(items[k].score) ? items[k].score : 0.0F, &out);
    out += ",\"reason\":";
    if (items[k].reason == Reason::kSimilarTo) {
      AppendJsonString(ReasonText(items[k].reason, items[k].source), &out);
    } else {
      out += '"';
      out += ReasonName(items[k].reason);  // plain ASCII: no escaping needed
      out += '"';
    }
    out += '}';
  }
  fmt::format_to(std::back_inserter(out), "],\"seq\":{},\"model_version\":", seq);
  AppendJsonString(model_version, &out);
  fmt::format_to(std::back_inserter(out), ",\"generated_at\":{},\"source\":{{\"partition\":{},\"offset\":{}}}",
                 generated_at_ms, partition, offset);
  if (!experiment.empty()) {
    out += ",\"experiment\":";
    AppendJsonString(experiment, &out);
    out += ",\"variant\":";
    AppendJsonString(variant, &out);
  }
  out += '}';
  return out;
}

}  // namespace streamrec::emitter
