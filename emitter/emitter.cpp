#include "emitter/emitter.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <deque>
#include <iterator>
#include <limits>

#include <fmt/format.h>

#include "common/background_task.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/logging.h"
#include "emitter/ann_index.h"
#include "emitter/item_adjustments.h"
#include "emitter/item_lists.h"
#include "emitter/list_assembly.h"
#include "emitter/topn.h"
#include "kafka/producer.h"

namespace streamrec::emitter {
namespace {

constexpr size_t kMaxCandidates = 4000;

// Candidates scored per user: enough that pins, the exploration pick and the
// per-category limit still leave top_n items.
size_t CandidateCount(const EmitterOptions& o, const ListRules& r) {
  size_t n = o.top_n + r.pins.size() + (r.exploration_slot > 0 ? 1 : 0);
  if (r.max_per_category > 0) n += 3 * o.top_n;
  return std::min(n, kMaxCandidates);
}

bool Holds(std::span<const ItemId> ids, ItemId id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

float Dot(std::span<const float> q, const float* e) {
  float s = 0.0F;
  for (size_t d = 0; d < q.size(); ++d) s += q[d] * e[d];
  return s;
}

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

Status EmitterOptions::Validate() const {
  if (topic.empty()) return Status::InvalidArgument("emitter.topic must not be empty");
  if (top_n < 1 || top_n > 1000) return Status::InvalidArgument("emitter.top_n must be in 1..1000");
  if (score_batch < 1 || score_batch > 4096) return Status::InvalidArgument("emitter.score_batch must be in 1..4096");
  if (scoring_threads < 1 || scoring_threads > 64) {
    return Status::InvalidArgument("emitter.scoring_threads must be in 1..64");
  }
  if (ann_candidates < top_n) return Status::InvalidArgument("emitter.ann_candidates must be >= top_n");
  if (ann_updates_per_batch < 1 || ann_updates_per_batch > 1000000) {
    return Status::InvalidArgument("emitter.ann_updates_per_batch must be in 1..1000000");
  }
  if (precision != "float32" && precision != "bfloat16") {
    return Status::InvalidArgument("emitter.precision must be float32 or bfloat16, got \"" + precision + "\"");
  }
  if (min_refresh_interval_ms < 0 || min_refresh_interval_ms > 3600000) {
    return Status::InvalidArgument("emitter.min_refresh_interval_ms must be in 0..3600000");
  }
  if (max_pending_lists < 1 || max_pending_lists > 100000000) {
    return Status::InvalidArgument("emitter.max_pending_lists must be in 1..100000000");
  }
  if (!(refresh_share >= 0.01 && refresh_share <= 100)) {
    return Status::InvalidArgument("emitter.refresh_share must be in 0.01..100");
  }
  if (!(list_share >= 0.01 && list_share <= 100)) {
    return Status::InvalidArgument("emitter.list_share must be in 0.01..100");
  }
  if (snapshot_max_age_ms < 0 || snapshot_max_age_ms > 60000) {
    return Status::InvalidArgument("emitter.snapshot_max_age_ms must be in 0..60000");
  }
  return rules.Validate(top_n);
}

ScoringPrecision EmitterOptions::Precision() const {
  return precision == "bfloat16" && Bf16Available() ? ScoringPrecision::kBFloat16 : ScoringPrecision::kFloat32;
}

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
                       std::string_view model_version, int64_t generated_at_ms, int32_t partition, int64_t offset) {
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
  fmt::format_to(std::back_inserter(out), ",\"generated_at\":{},\"source\":{{\"partition\":{},\"offset\":{}}}}}",
                 generated_at_ms, partition, offset);
  return out;
}

struct Emitter::Impl {
  // One Begin's lists, from Begin to Finish: the requests, their queries
  // (vectors, exclusions, boosts and what explains them) and their results.
  struct Job {
    std::vector<ListRequest> requests;
    std::vector<float> query_buffer;
    std::vector<std::vector<std::pair<ItemId, float>>> boosts;
    std::vector<std::vector<ItemId>> excluded;
    std::vector<std::vector<ItemId>> sources;  // parallel to boosts
    std::vector<TopNQuery> queries;
    std::vector<std::vector<ScoredItem>> results;  // parallel to queries
    bool waiting = false;  // built, handed to the scoring thread when the job before it finishes
  };

  explicit Impl(EmitterOptions opts)
      : options(std::move(opts)),
        rules(options.rules),
        scorer(CandidateCount(options, rules), kMaxBlockRows, options.Precision(), options.scoring_threads) {}

  // Per Publish: the item view with catalog and rule adjustments, the pins and
  // the exploration candidates.
  void Prepare(const ModelView& model, const catalog::Catalog* catalog) {
    items = model.Items();
    adjustments.Update(catalog, rules, rules_generation, items.rows);
    if (adjustments.active()) items.biases = adjustments.Apply(items.biases, items.rows);
    pins.clear();
    for (const auto& [external, slot] : rules.pins) {
      std::optional<ItemId> id = model.FindItem(external);
      if (id && id->value() < items.rows && adjustments.Allowed(*id)) pins.push_back({slot, *id});
    }
    fresh.clear();
    if (rules.exploration_slot == 0 || catalog == nullptr) return;
    const int64_t oldest = NowMillis() - rules.new_item_max_age_s * 1000;
    for (const catalog::Arrival& a : catalog->arrivals()) {
      if (a.at_ms < oldest || a.item.value() >= items.rows || !adjustments.Allowed(a.item)) continue;
      if (model.ItemEvents(a.item) <= rules.new_item_max_events) fresh.push_back(a.item);
    }
  }

  // Builds the approximate index once the catalogue is large enough, then
  // keeps it in step: new items at once, changed ones a bounded number per call.
  Status SyncAnn(std::span<const ItemId> changed) {
    if (options.ann_min_items == 0 || items.rows < options.ann_min_items) return Status::Ok();
    if (!ann) {
      ModuleLogger("emitter")->info("building the approximate index over {} items", items.rows);
      ann = std::make_unique<AnnIndex>(items.dim, AnnOptions{});
      STREAMREC_RETURN_IF_ERROR(ann->Sync(items, {}, 2));
      ModuleLogger("emitter")->info("approximate index ready");
      return Status::Ok();
    }
    if (ann_pending_flag.size() < items.rows) ann_pending_flag.resize(items.rows, false);
    for (ItemId id : changed) {
      if (id.value() < ann->size() && !ann_pending_flag[id.value()]) {
        ann_pending_flag[id.value()] = true;
        ann_pending.push_back(id);
      }
    }
    ann_updates.clear();
    while (!ann_pending.empty() && ann_updates.size() < options.ann_updates_per_batch) {
      ann_updates.push_back(ann_pending.front());
      ann_pending_flag[ann_pending.front().value()] = false;
      ann_pending.pop_front();
    }
    return ann->Sync(items, ann_updates);
  }

  // The user's best-scoring new item in the categories of their recent history.
  std::optional<ScoredItem> PickNewItem(const UserRecord& user, std::span<const float> q,
                                        std::span<const ItemId> excluded, const catalog::Catalog* catalog) const {
    std::vector<catalog::CategoryId> liked;
    const size_t recent = std::min<size_t>(user.history.size(), 10);
    for (size_t k = user.history.size() - recent; k < user.history.size(); ++k) {
      if (auto c = catalog->CategoryOf(user.history[k])) liked.push_back(*c);
    }
    std::optional<ScoredItem> best;
    for (ItemId id : fresh) {
      if (Holds(excluded, id)) continue;
      if (!liked.empty()) {
        std::optional<catalog::CategoryId> c = catalog->CategoryOf(id);
        if (!c || std::find(liked.begin(), liked.end(), *c) == liked.end()) continue;
      }
      const float score = Dot(q, items.embeddings + id.value() * items.dim) + items.biases[id.value()];
      if (!best || score > best->score) best = ScoredItem{id, score};
    }
    return best;
  }

  void BuildQueries(const ModelView& model, Job& j) {
    const size_t dim = items.dim;
    const size_t n = j.requests.size();
    j.query_buffer.resize(n * dim);
    if (j.boosts.size() < n) j.boosts.resize(n);
    if (j.excluded.size() < n) j.excluded.resize(n);
    if (j.sources.size() < n) j.sources.resize(n);
    j.queries.clear();
    for (size_t k = 0; k < n; ++k) {
      const UserRecord& user = *j.requests[k].user;
      std::span<float> q(j.query_buffer.data() + k * dim, dim);
      model.QueryVector(user, q);
      std::vector<ItemId>& exclude = j.excluded[k];
      exclude.clear();
      if (options.exclude_interacted) exclude = user.history;
      if (rules.exclude_purchased) exclude.insert(exclude.end(), user.purchased.begin(), user.purchased.end());
      model.Boosts(user, &j.boosts[k], &j.sources[k]);
      j.queries.push_back({q, exclude, j.boosts[k]});
    }
  }

  // results[k] for every query of `j`: `score_batch` queries per pass over
  // `view`. Touches only the job's queries and results, the scorer and `view`
  // (the scoring thread runs it).
  void ScoreAll(const ItemMatrixView& view, Job& j, const PackedItems* packed = nullptr) {
    const std::vector<TopNQuery>& queries = j.queries;
    std::vector<std::vector<ScoredItem>>& results = j.results;
    results.resize(queries.size());
    if (ann) {
      for (size_t k = 0; k < queries.size(); ++k) {
        ann->Search(queries[k].vector, std::max(options.ann_candidates, scorer.n()), &candidates);
        RerankTopN(view, queries[k], candidates, scorer.n(), &results[k]);
      }
      return;
    }
    const size_t step = options.score_batch;
    for (size_t first = 0; first < queries.size(); first += step) {
      const size_t count = std::min(step, queries.size() - first);
      scorer.Score(view, std::span<const TopNQuery>(queries).subspan(first, count), &chunk_results, packed);
      for (size_t k = 0; k < count; ++k) results[first + k].swap(chunk_results[k]);
    }
  }

  // The copy of the item matrix the scoring thread reads: the embeddings
  // when older than snapshot_max_age_ms, the per-item terms (the catalog's
  // availability) every time.
  void RefreshCopy() {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point now = Clock::now();
    // A large catalogue is copied less often: at most ~5 % of this thread's time.
    const Clock::duration age = now - copy.taken;
    const bool due = age >= std::chrono::milliseconds(options.snapshot_max_age_ms) || copy.changes >= copy.rows;
    if (items.dim != copy.dim || items.rows < copy.rows || (due && age >= 20 * copy.took)) {
      // A growing catalogue grows the copy in steps: reallocating (and
      // faulting in) 25 MB for a few new items took ~50 ms.
      const size_t floats = items.rows * items.dim;
      if (floats > copy.embeddings.capacity()) copy.embeddings.reserve(floats + floats / 4);
      copy.embeddings.assign(items.embeddings, items.embeddings + floats);
      copy.pack = scorer.precision() == ScoringPrecision::kBFloat16;
      copy.packed.rows = 0;  // stale: packed again on the scoring thread
      copy.rows = items.rows;
      copy.dim = items.dim;
      copy.taken = now;
      copy.took = Clock::now() - now;
      copy.changes = 0;
    }
    if (copy.rows > copy.biases.capacity()) copy.biases.reserve(copy.rows + copy.rows / 4);
    copy.biases.assign(items.biases, items.biases + copy.rows);
  }

  // Builds the queries of `requests` as job and scores them: on the scoring
  // thread against the copy (`background`, below ann_min_items), at once or,
  // when a job is being scored, as soon as it is finished; else here.
  void StartLists(const ModelView& model, const catalog::Catalog* catalog, std::span<const ListRequest> requests,
                  bool background) {
    Prepare(model, catalog);
    Job& j = jobs[(oldest + open_jobs) % jobs.size()];
    j.requests.assign(requests.begin(), requests.end());
    BuildQueries(model, j);
    j.waiting = false;
    ++open_jobs;
    if (!background || ann) {
      ScoreAll(items, j);
      return;
    }
    if (open_jobs == 1) {
      PostScoring(j);
    } else {
      j.waiting = true;
    }
  }

  // Hands `j` to the scoring thread, with the item copy refreshed first.
  // Precondition: nothing is being scored.
  void PostScoring(Job& j) {
    RefreshCopy();
    task.Post([this, &j] {
      const auto started = std::chrono::steady_clock::now();
      // The copy changed since it was packed: pack it again (here, off the caller's thread).
      if (copy.pack && copy.packed.rows != copy.rows) {
        // Ordered for these queries' typical norm: the bound is right for any
        // query, but skips most blocks for queries of about that norm.
        PackBf16Items(copy.embeddings.data(), copy.rows, copy.dim, &copy.packed,
                      ByBound{copy.biases.data(), MedianQueryNorm(j.queries)});
      }
      ScoreAll(copy.view(), j, copy.pack ? &copy.packed : nullptr);
      scoring_time = std::chrono::steady_clock::now() - started;
      return Status::Ok();
    });
  }

  // Waits for the scoring in flight, if any; its status stays in `scored`.
  void WaitScoring() {
    if (!task.in_flight()) return;
    Status s = task.Wait();
    if (scored.ok()) scored = std::move(s);
  }

  // The trending fallback of a user the personal model knows too little
  // about; false when the personal list stands.
  bool Fallback(const UserRecord& user, std::span<const std::pair<ItemId, float>> boosts,
                std::span<const ItemId> excluded, const catalog::Catalog* catalog, const TrendingLists* trending) {
    if (trending == nullptr || !trending->built() || user.events >= rules.personal_min_events || !boosts.empty()) {
      return false;
    }
    sources.clear();
    const size_t recent = std::min<size_t>(user.history.size(), 10);
    for (size_t k = user.history.size(); catalog && k-- > user.history.size() - recent;) {
      if (auto c = catalog->CategoryOf(user.history[k])) sources.push_back(trending->category(*c));
    }
    sources.push_back(trending->global());
    MergeTrending(sources, excluded, scorer.n(), &fallback);
    std::erase_if(fallback, [&](const ScoredItem& s) { return !adjustments.Allowed(s.item); });
    return true;
  }

  // A personal entry is "boosted" when a rule lifted it, "similar_to" when
  // co-occurrence with a recent item contributed.
  void Explain(const ModelView& model, std::span<const std::pair<ItemId, float>> boosts,
               std::span<const ItemId> sources) {
    rendered.clear();
    for (const ListEntry& e : entries) {
      RenderedItem r{model.ItemExternalId(e.item), e.score, e.reason, {}};
      if (r.reason == Reason::kPersonal) {
        auto cooc = std::find_if(boosts.begin(), boosts.end(), [&](const auto& b) { return b.first == e.item; });
        if (adjustments.Boosted(e.item)) {
          r.reason = Reason::kBoosted;
        } else if (cooc != boosts.end()) {
          r.reason = Reason::kSimilarTo;
          r.source = model.ItemExternalId(sources[static_cast<size_t>(cooc - boosts.begin())]);
        }
      }
      rendered.push_back(r);
    }
  }

  // Keeps, in the user's record, the items of the new list that the catalog
  // tracks, and reports the reverse-index changes. Only tracked items can stop
  // being available: a shop without a catalog pays nothing for the index.
  void RecordList(const ListRequest& req, const catalog::Catalog* catalog, std::vector<ListHolderChange>* holders) {
    std::vector<ItemId>& old = req.user->list;
    new_list.clear();
    for (const ListEntry& e : entries) {
      if (catalog != nullptr && catalog->Tracks(e.item)) new_list.push_back(e.item);
    }
    for (ItemId id : old) {
      if (!Holds(new_list, id)) holders->push_back({id, req.user_id, req.source_partition, false});
    }
    for (ItemId id : new_list) {
      if (!Holds(old, id)) holders->push_back({id, req.user_id, req.source_partition, true});
    }
    if (old != new_list) old = new_list;
  }

  // Assembles, renders and produces the lists of the job, with the live
  // items, the catalog and the rules as they are now.
  Status FinishLists(const ModelView& model, const catalog::Catalog* catalog, const TrendingLists* trending,
                     std::vector<ListHolderChange>* holders) {
    if (open_jobs == 0) return Status::Ok();
    WaitScoring();
    Job& j = jobs[oldest];
    oldest = (oldest + 1) % jobs.size();
    --open_jobs;
    Prepare(model, catalog);  // also the item terms the next job's copy takes
    // The next job is scored while this one is assembled and published.
    if (open_jobs > 0 && jobs[oldest].waiting) {
      jobs[oldest].waiting = false;
      PostScoring(jobs[oldest]);
    }
    if (!scored.ok()) return std::exchange(scored, Status::Ok()).WithContext("scoring lists");
    const int64_t now = NowMillis();
    AssemblyLimits limits{options.top_n, rules.max_per_category, {}};
    if (catalog != nullptr) {
      limits.category_of = [catalog](ItemId id) {
        std::optional<catalog::CategoryId> c = catalog->CategoryOf(id);
        return c ? static_cast<int64_t>(c->value()) : int64_t{-1};
      };
    }
    for (size_t k = 0; k < j.requests.size(); ++k) {
      const ListRequest& req = j.requests[k];
      std::span<const float> q = j.queries[k].vector;
      std::vector<ScoredItem>& result = j.results[k];
      const std::vector<ItemId>& excluded = j.excluded[k];
      // Withdrawn since the scoring (Begin's copy): left out.
      std::erase_if(result, [&](const ScoredItem& c) { return !adjustments.Allowed(c.item); });
      slotted.clear();
      for (const auto& [slot, id] : pins) {
        if (Holds(excluded, id)) continue;
        const float score = Dot(q, items.embeddings + id.value() * items.dim) + items.biases[id.value()];
        slotted.push_back({slot, {id, score}, Reason::kPinned});
      }
      if (!fresh.empty()) {
        if (auto pick = PickNewItem(*req.user, q, excluded, catalog)) {
          slotted.push_back({rules.exploration_slot, *pick, Reason::kNew});
        }
      }
      const bool fell_back = Fallback(*req.user, j.boosts[k], excluded, catalog, trending);
      AssembleList(limits, fell_back ? fallback : result, slotted, &entries);
      if (fell_back) {
        for (ListEntry& e : entries) e.reason = e.reason == Reason::kPersonal ? Reason::kTrending : e.reason;
      }
      Explain(model, j.boosts[k], j.sources[k]);
      RecordList(req, catalog, holders);
      ++req.user->seq;
      std::string value = RenderList(req.user_id, rendered, req.user->seq, options.model_version, now,
                                     req.source_partition, req.source_offset);
      STREAMREC_RETURN_IF_ERROR(producer->Produce(options.topic, req.user_id, value));
      ++published;
    }
    producer->Poll(0);
    return Status::Ok();
  }

  EmitterOptions options;
  ListRules rules;
  uint64_t rules_generation = 0;
  TopNScorer scorer;
  ItemAdjustments adjustments;
  std::unique_ptr<kafka::Producer> producer;
  ItemMatrixView items;
  std::vector<std::pair<size_t, ItemId>> pins;  // resolved, available
  std::vector<ItemId> fresh;                    // exploration candidates
  std::array<Job, 2> jobs;  // begun and not finished: jobs[oldest], then the next
  size_t oldest = 0;
  size_t open_jobs = 0;
  std::vector<std::vector<ScoredItem>> chunk_results;  // one pass of the scorer
  Status scored;                                       // the scoring thread's status, once waited for
  std::chrono::steady_clock::duration scoring_time{};  // the last job's, on the scoring thread
  struct ItemCopy {
    std::vector<float> embeddings;
    std::vector<float> biases;
    size_t rows = 0;
    size_t dim = 0;
    std::chrono::steady_clock::time_point taken{};
    std::chrono::steady_clock::duration took{};  // the last copy's time
    size_t changes = 0;   // items the events touched since (see EmitterOptions::snapshot_max_age_ms)
    bool pack = false;    // bfloat16 scoring: the copy is packed once for all its products
    PackedItems packed;   // valid when packed.rows == rows
    ItemMatrixView view() const { return {embeddings.data(), biases.data(), rows, dim}; }
  } copy;  // what the scoring thread reads (see RefreshCopy)
  std::vector<SlottedItem> slotted;
  std::vector<ListEntry> entries;
  std::vector<RenderedItem> rendered;
  std::vector<ItemId> new_list;
  std::vector<std::span<const ScoredItem>> sources;  // trending lists a fallback draws on
  std::vector<ScoredItem> fallback;
  std::unique_ptr<AnnIndex> ann;  // null until the catalogue reaches ann_min_items
  std::deque<ItemId> ann_pending;  // changed items not yet re-inserted, oldest first
  std::vector<bool> ann_pending_flag;
  std::vector<ItemId> ann_updates;
  std::vector<ItemId> candidates;
  uint64_t published = 0;
  BackgroundTask task{"streamrec-score"};  // last: joined before the buffers it uses go
};

Emitter::Emitter(EmitterOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Emitter::~Emitter() = default;

Status Emitter::Start() {
  STREAMREC_RETURN_IF_ERROR(impl_->options.Validate());
  kafka::ProducerOptions popts;
  popts.properties = impl_->options.producer_properties;
  popts.idempotent = true;
  popts.warm_topics = {impl_->options.topic};
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &impl_->producer).WithContext("recommendations producer"));
  ModuleLogger("emitter")->info("publishing top-{} lists to {}", impl_->options.top_n, impl_->options.topic);
  return Status::Ok();
}

Status Emitter::Publish(const ModelView& model, const catalog::Catalog* catalog, const TrendingLists* trending,
                        std::span<const ListRequest> requests, std::span<const ItemId> changed,
                        std::vector<ListHolderChange>* holders) {
  if (impl_->open_jobs > 0) return Status::Internal("Emitter::Publish while a Begin is not finished");
  STREAMREC_RETURN_IF_ERROR(UpdateIndex(model, changed));
  const size_t step = impl_->options.score_batch;
  for (size_t first = 0; first < requests.size(); first += step) {
    impl_->StartLists(model, catalog, requests.subspan(first, std::min(step, requests.size() - first)),
                      /*background=*/false);
    STREAMREC_RETURN_IF_ERROR(impl_->FinishLists(model, catalog, trending, holders));  // polls the producer
  }
  return Status::Ok();
}

Status Emitter::Begin(const ModelView& model, const catalog::Catalog* catalog, std::span<const ListRequest> requests) {
  if (!can_begin()) return Status::Internal("Emitter::Begin while two are not finished");
  impl_->StartLists(model, catalog, requests, /*background=*/true);
  return Status::Ok();
}

bool Emitter::busy() const { return impl_->open_jobs > 0; }

bool Emitter::can_begin() const { return impl_->open_jobs < impl_->jobs.size(); }

std::chrono::steady_clock::duration Emitter::last_scoring_time() const { return impl_->scoring_time; }

bool Emitter::ready() { return impl_->open_jobs == 0 || impl_->task.Done(); }

Status Emitter::Finish(const ModelView& model, const catalog::Catalog* catalog, const TrendingLists* trending,
                       std::vector<ListHolderChange>* holders) {
  return impl_->FinishLists(model, catalog, trending, holders);
}

Status Emitter::UpdateIndex(const ModelView& model, std::span<const ItemId> changed) {
  impl_->items = model.Items();
  impl_->copy.changes += changed.size();
  return impl_->SyncAnn(changed);
}

Status Emitter::SetRules(const ListRules& rules) {
  STREAMREC_RETURN_IF_ERROR(rules.Validate(impl_->options.top_n));
  if (rules == impl_->rules) return Status::Ok();
  impl_->WaitScoring();  // the scorer is replaced
  impl_->rules = rules;
  ++impl_->rules_generation;
  impl_->scorer = TopNScorer(CandidateCount(impl_->options, rules), kMaxBlockRows, impl_->options.Precision(),
                             impl_->options.scoring_threads);
  return Status::Ok();
}

const ListRules& Emitter::rules() const { return impl_->rules; }

Status Emitter::Flush(int timeout_ms) { return impl_->producer->Flush(timeout_ms); }

Status Emitter::Stop() {
  impl_->task.Stop();
  impl_->open_jobs = 0;
  if (!impl_->producer) return Status::Ok();
  Status s = impl_->producer->Flush(10000);
  impl_->producer.reset();
  return s;
}

uint64_t Emitter::lists_published() const { return impl_->published; }

}  // namespace streamrec::emitter
