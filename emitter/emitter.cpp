#include "emitter/emitter.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <limits>

#include "common/clock.h"
#include "common/list_reference.h"
#include "common/logging.h"
#include "emitter/emitter_impl.h"

namespace streamrec::emitter {

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

std::optional<ScoredItem> Emitter::Impl::PickNewItem(const UserRecord& user, std::span<const float> q,
                                                     std::span<const ItemId> excluded,
                                                     const catalog::Catalog* catalog) const {
  std::vector<int64_t> liked;  // distinct categories of the last 10 items
  const size_t recent = std::min<size_t>(user.history.size(), 10);
  for (size_t k = user.history.size() - recent; k < user.history.size(); ++k) {
    std::optional<catalog::CategoryId> c = catalog->CategoryOf(user.history[k]);
    if (c && std::find(liked.begin(), liked.end(), static_cast<int64_t>(c->value())) == liked.end()) {
      liked.push_back(static_cast<int64_t>(c->value()));
    }
  }
  std::optional<ScoredItem> best;
  const auto consider = [&](ItemId id) {
    const float score = Dot(q, items.embeddings + id.value() * items.dim) + items.ListedBias(id.value());
    if ((!best || score > best->score) && !Holds(excluded, id)) best = ScoredItem{id, score};
  };
  if (liked.empty()) {
    for (ItemId id : fresh_newest) consider(id);
    return best;
  }
  const size_t per_category = std::max<size_t>(1, kMaxNewScored / liked.size());
  for (int64_t c : liked) {
    auto at = std::lower_bound(fresh.begin(), fresh.end(), c,
                               [](const FreshItem& f, int64_t category) { return f.category < category; });
    for (size_t taken = 0; at != fresh.end() && at->category == c && taken < per_category; ++at, ++taken) {
      consider(at->item);
    }
  }
  return best;
}

bool Emitter::Impl::Fallback(const UserRecord& user, std::span<const ScoredItem> personal,
                             std::span<const std::pair<ItemId, float>> boosts, std::span<const ItemId> excluded,
                             const catalog::Catalog* catalog, const TrendingLists* trending, bool forced) {
  if (trending == nullptr || !trending->built()) return false;
  if (!forced && (user.events >= rules.personal_min_events || !boosts.empty())) return false;
  sources.clear();
  const size_t recent = std::min<size_t>(user.history.size(), 10);
  for (size_t k = user.history.size(); catalog && k-- > user.history.size() - recent;) {
    if (auto c = catalog->CategoryOf(user.history[k])) sources.push_back(trending->category(*c));
  }
  sources.push_back(trending->global());
  MergeTrending(sources, excluded, scorer.n(), &fallback);
  std::erase_if(fallback, [&](const ScoredItem& s) { return !adjustments.Allowed(s.item); });
  // Trending may be empty or short (built before the shop had events, or a
  // catalogue mostly withdrawn): the personal candidates fill the rest, so a
  // user with any listable item never gets an empty list.
  fallback_trending = fallback.size();
  for (const ScoredItem& s : personal) {
    if (fallback.size() >= scorer.n()) break;
    if (std::none_of(fallback.begin(), fallback.end(), [&](const ScoredItem& f) { return f.item == s.item; })) {
      fallback.push_back(s);
    }
  }
  return true;
}

void Emitter::Impl::MarkTrending() {
  const std::span<const ScoredItem> trending(fallback.data(), fallback_trending);
  for (ListEntry& e : entries) {
    const bool from_trending =
        std::any_of(trending.begin(), trending.end(), [&](const ScoredItem& t) { return t.item == e.item; });
    if (e.reason == Reason::kPersonal && from_trending) e.reason = Reason::kTrending;
  }
}

void Emitter::Impl::Explain(const ModelView& model, const UserRecord& user,
                            std::span<const std::pair<ItemId, float>> boosts) {
  rendered.clear();
  for (const ListEntry& e : entries) {
    // Trending entries carry the trend's own score; the model's, in blend units.
    const float score = e.reason == Reason::kTrending ? e.score : e.score * items.score_scale;
    RenderedItem r{model.ItemExternalId(e.item), score, e.reason, {}};
    if (r.reason == Reason::kPersonal) {
      const auto cooc = std::lower_bound(boosts.begin(), boosts.end(), e.item,
                                         [](const auto& b, ItemId id) { return b.first < id; });
      if (adjustments.Boosted(e.item)) {
        r.reason = Reason::kBoosted;
      } else if (cooc != boosts.end() && cooc->first == e.item) {
        r.reason = Reason::kSimilarTo;
        r.source = model.ItemExternalId(model.BoostSource(user, e.item));
      }
    }
    rendered.push_back(r);
  }
}

const experiment::VariantOptions* Emitter::Impl::VariantAt(const Job& j, size_t k) const {
  if (ledger == nullptr || k >= j.variants.size() || j.experiment_tag != ledger->tag()) return nullptr;
  const std::vector<experiment::VariantOptions>& variants = ledger->experiment().variants;
  return j.variants[k] < variants.size() ? &variants[j.variants[k]] : nullptr;
}

size_t Emitter::Impl::ExplorationSlot(const experiment::VariantOptions* variant) const {
  const size_t slot = variant != nullptr && variant->exploration_slot >= 0 ? static_cast<size_t>(variant->exploration_slot)
                                                                          : rules.exploration_slot;
  return std::min(slot, options.top_n);
}

void Emitter::Impl::RecordServed(const Job& j, size_t k, int64_t now_ms) {
  served_items.clear();
  served_reasons.clear();
  for (size_t e = 0; e < entries.size(); ++e) {
    served_items.push_back(entries[e].item);
    served_reasons.push_back(rendered[e].reason);
  }
  ledger->Served(j.variants[k], served_items, served_reasons, now_ms, j.requests[k].user->seq, j.requests[k].user);
}

void Emitter::Impl::RecordList(const ListRequest& req, const catalog::Catalog* catalog,
                               std::vector<ListHolderChange>* holders) {
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

Status Emitter::Impl::FinishLists(const ModelView& model, const catalog::Catalog* catalog,
                                  const TrendingLists* trending, std::vector<ListHolderChange>* holders) {
  if (open_jobs == 0) return Status::Ok();
  WaitScoring();
  Job& j = jobs[oldest];
  finished_scoring_time = j.scoring_time;
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
      const float score = Dot(q, items.embeddings + id.value() * items.dim) + items.ListedBias(id.value());
      slotted.push_back({slot, {id, score}, Reason::kPinned});
    }
    const experiment::VariantOptions* variant = VariantAt(j, k);
    const size_t exploration_slot = ExplorationSlot(variant);
    if (!fresh.empty() && exploration_slot > 0) {
      if (auto pick = PickNewItem(*req.user, q, excluded, catalog)) {
        slotted.push_back({exploration_slot, *pick, Reason::kNew});
      }
    }
    const bool trending_only = variant != nullptr && variant->Model() == experiment::ListModel::kTrending;
    const bool fell_back = Fallback(*req.user, result, j.boosts[k], excluded, catalog, trending, trending_only);
    limits.top_n = variant != nullptr && variant->list_length > 0 ? variant->list_length : options.top_n;
    AssembleList(limits, fell_back ? fallback : result, slotted, &entries);
    if (fell_back) MarkTrending();
    Explain(model, *req.user, j.boosts[k]);
    RecordList(req, catalog, holders);
    // An item of this list the user's next new item is compared with: what
    // the learner's blend learns from, only from lists the blend made as
    // learned (a variant that reweighs it or lists otherwise would teach it
    // its own bias).
    const bool as_learned = variant == nullptr || variant->AsLearned();
    req.user->list_reference =
        as_learned && !fell_back && result.size() >= options.top_n
            ? result[ListReferencePosition(options.top_n, ListReferenceSalt(*req.user))].item
            : ItemId(UserRecord::kNoItem);
    req.user->seq = NextListSeq(req.user->seq, req.user->events);
    if (variant != nullptr && preview == nullptr) RecordServed(j, k, now);
    std::string value =
        RenderList(req.user_id, rendered, req.user->seq, options.model_version, now, req.source_partition,
                   req.source_offset, variant != nullptr ? std::string_view(ledger->experiment().name) : "",
                   variant != nullptr ? std::string_view(variant->name) : "");
    if (preview != nullptr) {
      *preview = std::move(value);
      continue;
    }
    STREAMREC_RETURN_IF_ERROR(producer->Produce(options.topic, req.user_id, value));
    ++published;
  }
  producer->Poll(0);
  return Status::Ok();
}


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

Status Emitter::Preview(const ModelView& model, const catalog::Catalog* catalog, const TrendingLists* trending,
                        std::string_view user_id, UserRecord user, std::string* out) {
  if (impl_->open_jobs > 0) return Status::Internal("Emitter::Preview while a Begin is not finished");
  const ListRequest request{user_id, &user, user.partition, -1};
  std::vector<ListHolderChange> ignored;
  impl_->preview = out;
  impl_->StartLists(model, catalog, {&request, 1}, /*background=*/false);
  Status s = impl_->FinishLists(model, catalog, trending, &ignored);
  impl_->preview = nullptr;
  return s;
}

Status Emitter::Begin(const ModelView& model, const catalog::Catalog* catalog, std::span<const ListRequest> requests) {
  if (!can_begin()) return Status::Internal("Emitter::Begin while two are not finished");
  impl_->StartLists(model, catalog, requests, /*background=*/true);
  return Status::Ok();
}

bool Emitter::busy() const { return impl_->open_jobs > 0; }

bool Emitter::can_begin() const { return impl_->open_jobs < impl_->jobs.size(); }

std::chrono::steady_clock::duration Emitter::last_scoring_time() const { return impl_->finished_scoring_time; }

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

void Emitter::SetLedger(experiment::Ledger* ledger) { impl_->ledger = ledger; }

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
size_t Emitter::approximate_index_items() const { return impl_->ann ? impl_->ann->size() : 0; }

}  // namespace streamrec::emitter

