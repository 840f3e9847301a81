#include "eval/evaluation.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "common/hash.h"
#include "common/list_reference.h"
#include "emitter/item_lists.h"
#include "emitter/topn.h"
#include "ingest/event_file.h"
#include "learner/baselines.h"
#include "learner/learner.h"
#include "model/learner_model.h"

namespace streamrec::eval {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kRpopHalfLifeMs = 7LL * 24 * 3600 * 1000;
// The similar-items scorer's embedding copy is refreshed every this many
// events (the live publisher refreshes it at most once a second).
constexpr uint64_t kSimilarPrepareEvery = 1000;
// Trending lists keep this many more items than they show (as live).
constexpr size_t kTrendingDepthExtra = 200;

struct UserState {
  UserId id;
  UserRecord record;                  // the model's state for this user
  std::unordered_set<uint32_t> seen;  // every item interacted with (the protocol's exclusions)
  std::vector<ItemId> seen_list;      // the same, sorted, as the top-N code takes it
  uint64_t earlier = 0;               // the user's events so far
};

// Counts a served list towards coverage.
void Serve(const std::vector<ItemId>& list, std::vector<bool>* served, uint64_t* distinct) {
  for (ItemId id : list) {
    if (id.value() >= served->size()) served->resize(id.value() + 1, false);
    if (!(*served)[id.value()]) {
      (*served)[id.value()] = true;
      ++*distinct;
    }
  }
}

// The item surfaces under the protocol, through the code that publishes them.
class SurfaceProbe {
 public:
  SurfaceProbe(const learner::Learner* learner, const config::Config& config, size_t n, EvalReport* report)
      : model_(learner),
        n_(n),
        trending_interval_ms_(int64_t{config.surfaces.trending_interval_s} * 1000),
        similar_(n, config.surfaces.cooc_blend, config.emitter.Precision()),
        trending_(n + kTrendingDepthExtra),
        report_(report) {
    report_->surfaces.push_back({.name = "similar-items"});
    report_->surfaces.push_back({.name = "trending"});
    served_.resize(2);
  }

  void Test(const UserRecord& user, const std::vector<ItemId>& seen, std::optional<ItemId> target, EventType type,
            int64_t ts_ms, uint64_t index) {
    auto start = Clock::now();
    if (index >= next_prepare_) {
      similar_.Prepare(model_, nullptr);
      next_prepare_ = index + kSimilarPrepareEvery;
    }
    const ItemId latest = user.history.back();
    similar_.Score(model_, {&latest, 1}, {&seen, 1}, &lists_);
    Record(0, lists_[0], target, type, start);
    start = Clock::now();
    if (!trending_.built() || ts_ms >= trending_at_ + trending_interval_ms_) {
      trending_.Build(model_, nullptr, nullptr);
      trending_at_ = ts_ms;
    }
    const std::span<const emitter::ScoredItem> global = trending_.global();
    emitter::MergeTrending({&global, 1}, seen, n_, &merged_);
    Record(1, merged_, target, type, start);
  }

 private:
  void Record(size_t k, const std::vector<emitter::ScoredItem>& list, std::optional<ItemId> target, EventType type,
              Clock::time_point start) {
    std::optional<double> rank;
    top_.clear();
    for (size_t r = 0; r < list.size(); ++r) {
      top_.push_back(list[r].item);
      if (target && list[r].item == *target) rank = static_cast<double>(r);
    }
    ModelFigures& m = report_->surfaces[k];
    m.Record(type, rank);
    Serve(top_, &served_[k], &m.distinct_served);
    m.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  }

  model::LearnerModel model_;
  size_t n_;
  int64_t trending_interval_ms_;
  emitter::SimilarItemsScorer similar_;
  emitter::TrendingLists trending_;
  EvalReport* report_;
  uint64_t next_prepare_ = 0;
  int64_t trending_at_ = 0;
  std::vector<std::vector<emitter::ScoredItem>> lists_;
  std::vector<emitter::ScoredItem> merged_;
  std::vector<std::vector<bool>> served_;
  std::vector<ItemId> top_;
};

class Replay {
 public:
  Replay(const config::Config& config, const EvalOptions& options, EvalReport* report)
      : options_(options), report_(report), learner_(config.learner), probe_(&learner_, options.n, config.emitter.Precision()) {
    if (options.surfaces) surfaces_.emplace(&learner_, config, options.n, report);
    if (options.baselines) {
      baselines_.push_back(learner::MakePopularityModel(0));
      baselines_.push_back(learner::MakePopularityModel(kRpopHalfLifeMs));
      baselines_.push_back(learner::MakeCooccurrenceModel(10));
    }
    report_->models.push_back({.name = "model"});
    for (const auto& b : baselines_) report_->models.push_back({.name = std::string(b->name())});
    served_.resize(report_->models.size());
  }

  void Step(const Event& e, uint64_t index) {
    auto [it, new_user] = users_.try_emplace(e.user);
    UserState& u = it->second;
    if (new_user) {
      u.id = UserId(static_cast<uint32_t>(users_.size() - 1));
      learner_.InitUser(e.user, u.id, &u.record);
    }
    std::optional<ItemId> item = learner_.FindItem(e.item);
    const bool scored = !new_user && !(item && u.seen.count(item->value()));
    if (scored) {
      ++report_->scored;
      TestModel(u, item, e.type, index);
      for (size_t b = 0; b < baselines_.size(); ++b) TestBaseline(b, u, item, e.type, index);
      if (surfaces_) surfaces_->Test(u.record, u.seen_list, item, e.type, e.ts_ms, index);
    }
    Train(u, e, index);
    ++u.earlier;
  }

  void Finish() {
    report_->items = learner_.item_count();
    const learner::Learner::BlendWeights blend = learner_.blend_weights();
    report_->blend_cooc = blend.cooc;
    report_->blend_recency = blend.recency;
    report_->blend_mf = blend.mf;
    report_->blend_short_recency = blend.short_recency;
    report_->blend_session = blend.session;
    report_->blend_steps = blend.steps;
    for (size_t m = 0; m < report_->models.size(); ++m) report_->models[m].seconds = seconds_[m];
  }

  void SampleCurve(uint64_t index) {
    report_->curve_events.push_back(index);
    for (ModelFigures& m : report_->models) m.recall_curve.push_back(m.recall());
  }

 private:
  void TestModel(UserState& u, std::optional<ItemId> target, EventType type, uint64_t index) {
    const auto start = Clock::now();
    const std::optional<size_t> rank = probe_.Rank(u.record, u.seen_list, target);
    report_->models[0].Record(type, rank ? std::optional<double>(static_cast<double>(*rank)) : std::nullopt);
    if (options_.keep_hits) report_->model_hits.push_back(rank.has_value());
    top_.clear();
    for (const emitter::ScoredItem& s : probe_.list()) top_.push_back(s.item);
    u.record.list_reference = top_.size() >= options_.n
                                  ? top_[ListReferencePosition(options_.n, ListReferenceSalt(u.record))]
                                  : ItemId(UserRecord::kNoItem);
    Serve(top_, &served_[0], &report_->models[0].distinct_served);
    seconds_[0] += std::chrono::duration<double>(Clock::now() - start).count();
    // The yardsticks are the evaluation's work, not the model's: not in its events/s.
    Measure(0, top_, rank ? std::optional<double>(static_cast<double>(*rank)) : std::nullopt, u, type, index);
  }

  void TestBaseline(size_t b, const UserState& u, std::optional<ItemId> target, EventType type, uint64_t index) {
    const auto start = Clock::now();
    learner::RankResult res;
    // An unseen target is no candidate; rank it anyway against id 0 for the list.
    learner::RankRequest req{u.id, target.value_or(ItemId(0)), &u.seen, options_.n};
    baselines_[b]->Rank(req, &res);
    const bool hit = target && res.candidate && res.rank < static_cast<double>(options_.n);
    report_->models[b + 1].Record(type, hit ? std::optional<double>(res.rank) : std::nullopt);
    Serve(res.top, &served_[b + 1], &report_->models[b + 1].distinct_served);
    seconds_[b + 1] += std::chrono::duration<double>(Clock::now() - start).count();
    Measure(b + 1, res.top, hit ? std::optional<double>(res.rank) : std::nullopt, u, type, index);
  }

  // The yardsticks of model m's list served at a scored event (before training on it).
  void Measure(size_t m, const std::vector<ItemId>& list, std::optional<double> hit_rank, const UserState& u,
               EventType type, uint64_t index) {
    const YardstickMeter::Served served{list, hit_rank, u.earlier, type, index};
    meter_.Measure(served, [this](ItemId id) { return learner_.ItemEvents(id); }, learner_.Items(),
                   &report_->models[m].yardsticks);
  }

  void Train(UserState& u, const Event& e, uint64_t index) {
    auto start = Clock::now();
    const std::optional<ItemId> interned = learner_.InternItem(e.item);
    if (!interned) return;  // refused as live (learner.max_items): nothing learned from it
    const ItemId item = *interned;
    learner_.Observe(&u.record, item, e.type, e.ts_ms, Mix64(index));
    seconds_[0] += std::chrono::duration<double>(Clock::now() - start).count();
    for (size_t b = 0; b < baselines_.size(); ++b) {
      start = Clock::now();
      baselines_[b]->Observe(u.id, item, e.ts_ms);
      seconds_[b + 1] += std::chrono::duration<double>(Clock::now() - start).count();
    }
    if (u.seen.insert(item.value()).second) {
      u.seen_list.insert(std::upper_bound(u.seen_list.begin(), u.seen_list.end(), item), item);
    }
  }

  const EvalOptions& options_;
  EvalReport* report_;
  learner::Learner learner_;
  model::ListProbe probe_;
  std::optional<SurfaceProbe> surfaces_;
  std::vector<std::unique_ptr<learner::BaselineModel>> baselines_;
  std::unordered_map<std::string, UserState> users_;
  std::vector<std::vector<bool>> served_;
  std::array<double, 4> seconds_{};
  std::vector<ItemId> top_;
  YardstickMeter meter_;
};

uint64_t CountLines(const std::string& path) {
  std::ifstream in(path);
  uint64_t n = 0;
  std::string line;
  while (std::getline(in, line)) n += !line.empty();
  return n;
}

}  // namespace

Status Evaluate(const std::string& events_file, const config::Config& config, const EvalOptions& options,
                EvalReport* out) {
  ingest::EventFileReader reader;
  STREAMREC_RETURN_IF_ERROR(reader.Open(events_file));
  *out = EvalReport{};
  out->events_file = events_file;
  out->n = options.n;
  const uint64_t total = CountLines(events_file) - (reader.format() == ingest::FileFormat::kCsv ? 1 : 0);
  const uint64_t curve_every = std::max<uint64_t>(1, total / std::max<size_t>(1, options.curve_points));
  Replay replay(config, options, out);
  Event event;
  std::string raw;
  std::optional<ingest::Rejection> rejection;
  uint64_t index = 0;
  while (reader.Next(&event, &raw, &rejection)) {
    if (rejection) {
      ++out->invalid_lines;
      continue;
    }
    replay.Step(event, index++);
    if (index % curve_every == 0) replay.SampleCurve(index);
    if (options.progress && index % 1000 == 0) options.progress(index, total);
  }
  out->events = index;
  if (out->curve_events.empty() || out->curve_events.back() != index) replay.SampleCurve(index);
  replay.Finish();
  if (options.progress) options.progress(index, total);
  return Status::Ok();
}

}  // namespace streamrec::eval
