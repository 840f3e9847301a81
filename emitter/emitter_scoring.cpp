// Emitter::Impl, the scoring side: per Begin, the item view with the catalog's
// and the rules' adjustments, the users' queries, and their scoring on the
// caller's thread or the scoring thread against a copy of the item matrix.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>

#include "common/clock.h"
#include "common/logging.h"
#include "emitter/emitter_impl.h"

namespace streamrec::emitter {

void Emitter::Impl::Prepare(const ModelView& model, const catalog::Catalog* catalog) {
  items = model.Items();
  adjustments.Update(catalog, rules, rules_generation, items.rows);
  if (adjustments.active()) {
    const float scale = items.score_scale;
    if (items.listed_biases != nullptr) {
      items.listed_biases = adjustments.ApplyListed(items.listed_biases, items.rows, scale);
    }
    items.biases = adjustments.Apply(items.biases, items.rows, scale);
  }
  pins.clear();
  for (const auto& [external, slot] : rules.pins) {
    std::optional<ItemId> id = model.FindItem(external);
    if (id && id->value() < items.rows && adjustments.Allowed(*id)) pins.push_back({slot, *id});
  }
  fresh.clear();
  fresh_newest.clear();
  const bool variant_explores =
      ledger != nullptr && std::any_of(ledger->experiment().variants.begin(), ledger->experiment().variants.end(),
                                       [](const experiment::VariantOptions& v) { return v.exploration_slot > 0; });
  if ((rules.exploration_slot == 0 && !variant_explores) || catalog == nullptr) return;
  const int64_t oldest = NowMillis() - rules.new_item_max_age_s * 1000;
  const std::deque<catalog::Arrival>& arrivals = catalog->arrivals();
  uint32_t age = 0;
  for (auto a = arrivals.rbegin(); a != arrivals.rend(); ++a) {  // newest first
    if (a->at_ms < oldest || a->item.value() >= items.rows || !adjustments.Allowed(a->item)) continue;
    if (model.ItemEvents(a->item) > rules.new_item_max_events) continue;
    const std::optional<catalog::CategoryId> c = catalog->CategoryOf(a->item);
    fresh.push_back({c ? static_cast<int64_t>(c->value()) : -1, age++, a->item});
    if (fresh_newest.size() < kMaxNewScored) fresh_newest.push_back(a->item);
  }
  std::sort(fresh.begin(), fresh.end(), [](const FreshItem& x, const FreshItem& y) {
    return std::tie(x.category, x.age) < std::tie(y.category, y.age);
  });
}

namespace {

// Items the dense pass can list (a finite term): a flood of one-off ids, left
// out of it (learner.dense_min_events), does not make a catalogue large.
size_t DenseListable(const ItemMatrixView& items) {
  if (items.biases == nullptr) return items.rows;
  size_t n = 0;
  for (size_t i = 0; i < items.rows; ++i) n += std::isfinite(items.biases[i]) ? 1 : 0;
  return n;
}

}  // namespace

Status Emitter::Impl::SyncAnn(std::span<const ItemId> changed) {
  if (options.ann_min_items == 0 || items.rows < options.ann_min_items) return Status::Ok();
  if (!ann) {
    // Counted only while the table is at least that large and no index
    // exists, at most once a second (~1 ms a million items; not per batch).
    const int64_t now = NowMillis();
    if (now - ann_listable_counted_ms < 1000) return Status::Ok();
    ann_listable_counted_ms = now;
    const size_t listable = DenseListable(items);
    if (listable < options.ann_min_items) return Status::Ok();
    ModuleLogger("emitter")->info("building the approximate index over {} items ({} the dense pass lists)",
                                  items.rows, listable);
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

void Emitter::Impl::BuildQueries(const ModelView& model, Job& j) {
  const size_t dim = items.dim;
  const size_t n = j.requests.size();
  j.query_buffer.resize(n * dim);
  if (j.boosts.size() < n) j.boosts.resize(n);
  if (j.excluded.size() < n) j.excluded.resize(n);
  j.queries.clear();
  j.variants.assign(n, experiment::kNoVariant);
  j.experiment_tag = ledger != nullptr ? ledger->tag() : 0;
  for (size_t k = 0; k < n; ++k) {
    const UserRecord& user = *j.requests[k].user;
    if (ledger != nullptr) j.variants[k] = experiment::VariantOf(ledger->experiment(), j.requests[k].user_id, user);
    std::span<float> q(j.query_buffer.data() + k * dim, dim);
    model.QueryVector(user, q);
    std::vector<ItemId>& exclude = j.excluded[k];
    exclude.clear();
    if (options.exclude_interacted) exclude = user.history;
    if (rules.exclude_purchased) exclude.insert(exclude.end(), user.purchased.begin(), user.purchased.end());
    // A variant of the embeddings alone (or of trending only) needs no boosts.
    const auto* variant = j.variants[k] != experiment::kNoVariant ? &ledger->experiment().variants[j.variants[k]] : nullptr;
    if (variant == nullptr) {
      model.Boosts(user, BoostScales{}, &j.boosts[k]);
    } else if (variant->Model() == experiment::ListModel::kBlend) {
      model.Boosts(user, variant->Scales(), &j.boosts[k]);
    } else {
      j.boosts[k].clear();
    }
    // By item: Explain finds a list's items among them (and the scorer takes them so).
    std::sort(j.boosts[k].begin(), j.boosts[k].end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    j.queries.push_back({q, exclude, j.boosts[k]});
  }
}

void Emitter::Impl::ScoreAll(const ItemMatrixView& view, Job& j, const PackedItems* packed, const AnnIndex* index) {
  const std::vector<TopNQuery>& queries = j.queries;
  std::vector<std::vector<ScoredItem>>& results = j.results;
  results.resize(queries.size());
  if (index != nullptr) {
    for (size_t k = 0; k < queries.size(); ++k) {
      index->Search(queries[k].vector, std::max(options.ann_candidates, scorer.n()), &candidates);
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

void Emitter::Impl::RefreshCopy() {
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
    copy.packed.rows = 0;  // stale: packed again on the scoring thread
    copy.rows = items.rows;
    copy.dim = items.dim;
    copy.taken = now;
    copy.took = Clock::now() - now;
    copy.changes = 0;
  }
  if (copy.rows > copy.biases.capacity()) copy.biases.reserve(copy.rows + copy.rows / 4);
  copy.biases.assign(items.biases, items.biases + copy.rows);
  if (items.listed_biases == nullptr) {
    copy.listed_biases.clear();
    return;
  }
  if (copy.rows > copy.listed_biases.capacity()) copy.listed_biases.reserve(copy.rows + copy.rows / 4);
  copy.listed_biases.assign(items.listed_biases, items.listed_biases + copy.rows);
}

void Emitter::Impl::StartLists(const ModelView& model, const catalog::Catalog* catalog,
                               std::span<const ListRequest> requests, bool background) {
  Prepare(model, catalog);
  Job& j = jobs[(oldest + open_jobs) % jobs.size()];
  j.requests.assign(requests.begin(), requests.end());
  BuildQueries(model, j);
  j.waiting = false;
  ++open_jobs;
  if (!background || ann) {
    const auto started = std::chrono::steady_clock::now();
    ScoreAll(items, j, nullptr, ann.get());
    j.scoring_time = std::chrono::steady_clock::now() - started;
    return;
  }
  if (open_jobs == 1) {
    PostScoring(j);
  } else {
    j.waiting = true;
  }
}

void Emitter::Impl::PostScoring(Job& j) {
  RefreshCopy();
  task.Post([this, &j] {
    const auto started = std::chrono::steady_clock::now();
    // The copy changed since it was packed: pack it again (here, off the caller's thread).
    if (copy.packed.rows != copy.rows) {
      // Ordered for these queries' typical norm: the bound is right for any
      // query, but skips most blocks for queries of about that norm.
      const ByBound by{copy.biases.data(), MedianQueryNorm(j.queries)};
      if (scorer.precision() == ScoringPrecision::kBFloat16) {
        PackBf16Items(copy.embeddings.data(), copy.rows, copy.dim, &copy.packed, by);
      } else {
        PackFloat32Items(copy.embeddings.data(), copy.rows, copy.dim, &copy.packed, by);
      }
    }
    // No index here, ever: `ann` belongs to the caller's thread, which may be
    // creating or filling it right now (SyncAnn); this job is scored densely.
    ScoreAll(copy.view(), j, &copy.packed, nullptr);
    j.scoring_time = std::chrono::steady_clock::now() - started;
    return Status::Ok();
  });
}

void Emitter::Impl::WaitScoring() {
  if (!task.in_flight()) return;
  Status s = task.Wait();
  if (scored.ok()) scored = std::move(s);
}

}  // namespace streamrec::emitter
