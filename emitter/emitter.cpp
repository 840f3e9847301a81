#include "emitter/emitter.h"

#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/logging.h"
#include "emitter/topn.h"
#include "kafka/producer.h"

namespace streamrec::emitter {

Status EmitterOptions::Validate() const {
  if (topic.empty()) return Status::InvalidArgument("emitter.topic must not be empty");
  if (top_n < 1 || top_n > 1000) return Status::InvalidArgument("emitter.top_n must be in 1..1000");
  if (score_batch < 1 || score_batch > 4096) return Status::InvalidArgument("emitter.score_batch must be in 1..4096");
  return Status::Ok();
}

std::string RenderList(std::string_view user_id, std::span<const std::pair<std::string_view, float>> items,
                       uint64_t seq, std::string_view model_version, int64_t generated_at_ms, int32_t partition,
                       int64_t offset) {
  std::string out;
  out.reserve(96 + items.size() * 48);
  out += "{\"user_id\":";
  AppendJsonString(user_id, &out);
  out += ",\"items\":[";
  for (size_t k = 0; k < items.size(); ++k) {
    if (k > 0) out += ',';
    out += "{\"item_id\":";
    AppendJsonString(items[k].first, &out);
    const float score = std::isfinite(items[k].second) ? items[k].second : 0.0F;
    fmt::format_to(std::back_inserter(out), ",\"score\":{:.6g}}}", score);
  }
  fmt::format_to(std::back_inserter(out), "],\"seq\":{},\"model_version\":", seq);
  AppendJsonString(model_version, &out);
  fmt::format_to(std::back_inserter(out), ",\"generated_at\":{},\"source\":{{\"partition\":{},\"offset\":{}}}}}",
                 generated_at_ms, partition, offset);
  return out;
}

struct Emitter::Impl {
  explicit Impl(EmitterOptions opts) : options(std::move(opts)), scorer(options.top_n) {}

  Status PublishChunk(const ModelView& model, std::span<const ListRequest> chunk) {
    const size_t dim = model.items.dim;
    query_buffer.resize(chunk.size() * dim);
    if (boost_buffers.size() < chunk.size()) boost_buffers.resize(chunk.size());
    queries.clear();
    for (size_t k = 0; k < chunk.size(); ++k) {
      std::span<float> q(query_buffer.data() + k * dim, dim);
      model.query_vector(*chunk[k].user, q);
      std::span<const ItemId> exclude;
      if (options.exclude_interacted) exclude = chunk[k].user->history;
      model.boosts(*chunk[k].user, &boost_buffers[k]);
      queries.push_back({q, exclude, boost_buffers[k]});
    }
    scorer.Score(model.items, queries, &results);
    const int64_t now = NowMillis();
    for (size_t k = 0; k < chunk.size(); ++k) {
      const ListRequest& req = chunk[k];
      named.clear();
      for (const ScoredItem& s : results[k]) named.emplace_back(model.item_external_id(s.item), s.score);
      ++req.user->seq;
      std::string value = RenderList(req.user_id, named, req.user->seq, options.model_version, now,
                                     req.source_partition, req.source_offset);
      STREAMREC_RETURN_IF_ERROR(producer->Produce(options.topic, req.user_id, value));
      ++published;
    }
    return Status::Ok();
  }

  EmitterOptions options;
  TopNScorer scorer;
  std::unique_ptr<kafka::Producer> producer;
  std::vector<float> query_buffer;
  std::vector<std::vector<std::pair<ItemId, float>>> boost_buffers;
  std::vector<TopNQuery> queries;
  std::vector<std::vector<ScoredItem>> results;
  std::vector<std::pair<std::string_view, float>> named;
  uint64_t published = 0;
};

Emitter::Emitter(EmitterOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Emitter::~Emitter() = default;

Status Emitter::Start() {
  STREAMREC_RETURN_IF_ERROR(impl_->options.Validate());
  kafka::ProducerOptions popts;
  popts.properties = impl_->options.producer_properties;
  popts.idempotent = true;
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &impl_->producer).WithContext("recommendations producer"));
  ModuleLogger("emitter")->info("publishing top-{} lists to {}", impl_->options.top_n, impl_->options.topic);
  return Status::Ok();
}

Status Emitter::Publish(const ModelView& model, std::span<const ListRequest> requests) {
  const size_t step = impl_->options.score_batch;
  for (size_t first = 0; first < requests.size(); first += step) {
    STREAMREC_RETURN_IF_ERROR(impl_->PublishChunk(model, requests.subspan(first, std::min(step, requests.size() - first))));
  }
  impl_->producer->Poll(0);
  return Status::Ok();
}

Status Emitter::Flush(int timeout_ms) { return impl_->producer->Flush(timeout_ms); }

Status Emitter::Stop() {
  if (!impl_->producer) return Status::Ok();
  Status s = impl_->producer->Flush(10000);
  impl_->producer.reset();
  return s;
}

uint64_t Emitter::lists_published() const { return impl_->published; }

}  // namespace streamrec::emitter
