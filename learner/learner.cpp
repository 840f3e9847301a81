#include "learner/learner.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "common/hash.h"
#include "learner/blend.h"
#include "learner/blend_learning.h"
#include "learner/frequency_sketch.h"
#include "learner/item_table.h"
#include "learner/item_update_recorder.h"
#include "learner/session_neighbors.h"
#include "learner/sgd.h"

namespace streamrec::learner {
namespace {

// Fills `out` with approximately N(0, scale^2) entries, a function of `key`
// alone (a user or item starts from the same vector on any machine). Each entry
// is an Irwin-Hall sum of four 16-bit uniforms from one SplitMix64 word,
// centred and scaled to unit variance: a few cycles per entry, where seeding a
// Mersenne Twister and Box-Muller's log and sincos cost ~10 % of learning at
// 1M new users. The tails stop at +-2*sqrt(3) sigma, which an initial
// embedding does not need.
void FillGaussian(uint64_t key, float scale, std::span<float> out) {
  constexpr float kUnitVariance = 1.7320508F / 65536.0F;  // sqrt(12 / 4) per 16-bit unit
  const float step = scale * kUnitVariance;
  uint64_t state = key;
  for (float& value : out) {
    state += 0x9e3779b97f4a7c15ULL;
    const uint64_t bits = Mix64(state);
    const uint64_t sum = (bits & 0xffff) + ((bits >> 16) & 0xffff) + ((bits >> 32) & 0xffff) + (bits >> 48);
    value = (static_cast<float>(sum) - 2.0F * 65535.0F) * step;
  }
}

// Keeps the `keep` strongest of `boosts` (ties: the smaller id, so the cut is
// deterministic), in no particular order. Boosts are finite and >= 0, so
// their bit patterns order as they do: a histogram of the top bits finds
// the bucket where the cut falls in two linear passes, and only that
// bucket is ordered. (A heap of the strongest so far, its sift-downs ~30 %
// of Boosts in the latency phase's profile, ran ~15 % slower in BM_Boosts.)
void KeepStrongest(size_t keep, std::vector<std::pair<ItemId, float>>* boosts, std::vector<uint32_t>* histogram) {
  if (boosts->size() <= keep) return;
  constexpr int kShift = 20;  // 4,096 buckets: 8 exponent bits, 3 of the mantissa
  const auto bucket = [](float value) { return std::bit_cast<uint32_t>(value) >> kShift; };
  // Zero between calls: only the buckets used are counted, scanned and
  // cleared (boosts span a few hundred of the 4,096; walking down from the
  // top one and clearing all of them each call were ~half of this function).
  histogram->resize(size_t{1} << (32 - kShift), 0);
  uint32_t* const counts = histogram->data();
  uint32_t lowest = UINT32_MAX;
  uint32_t highest = 0;
  for (const auto& b : *boosts) {
    const uint32_t at = bucket(b.second);
    ++counts[at];
    lowest = std::min(lowest, at);
    highest = std::max(highest, at);
  }
  uint32_t cut = highest + 1;
  size_t above = 0;  // boosts in buckets over `cut`
  while (above + counts[cut - 1] < keep) above += counts[--cut];
  --cut;  // the bucket holding the weakest kept boost
  std::fill(counts + lowest, counts + highest + 1, 0U);
  // Boosts over the cut's bucket to the front, then the cut's bucket.
  auto stronger_bucket = std::partition(boosts->begin(), boosts->end(), [&](const auto& b) { return bucket(b.second) > cut; });
  auto in_bucket = std::partition(stronger_bucket, boosts->end(), [&](const auto& b) { return bucket(b.second) == cut; });
  const auto stronger = [](const std::pair<ItemId, float>& a, const std::pair<ItemId, float>& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  const auto last = stronger_bucket + static_cast<std::ptrdiff_t>(keep - above);
  std::nth_element(stronger_bucket, last, in_bucket, stronger);
  boosts->erase(last, boosts->end());
}

}  // namespace

enum class Kind { kHybrid, kMf, kPop, kRpop, kIknn };

Kind ParseKind(const std::string& name) {
  if (name == "mf") return Kind::kMf;
  if (name == "pop") return Kind::kPop;
  if (name == "rpop") return Kind::kRpop;
  if (name == "iknn") return Kind::kIknn;
  return Kind::kHybrid;
}

// With kind iknn the co-occurrence must dominate; log-popularity (< ~20) only breaks its ties.
constexpr float kIknnBoostWeight = 1e6F;

struct Learner::Impl {
  explicit Impl(LearnerOptions opts)
      : options(opts),
        kind(ParseKind(opts.model)),
        items(static_cast<size_t>(opts.dim), opts.dense_min_events),
        scratch(static_cast<size_t>(opts.dim)),
        cooc_weights(CoocWeights(opts)),
        held_items(static_cast<size_t>(opts.dim)),
        sessions(SessionNeighborOptions{.max_sessions = opts.session_neighbors}),
        blend(BlendOptions{.cooc_weight = opts.cooc_weight,
                           .recency_weight = 0.0F,
                           .session_weight = opts.session_weight,
                           .learning_rate = kind == Kind::kHybrid ? opts.blend_learning_rate : 0.0F}) {}

  bool Factorises() const { return kind == Kind::kHybrid || kind == Kind::kMf; }
  float BoostWeight() const {
    if (kind == Kind::kHybrid) return blend.cooc_weight();
    return kind == Kind::kIknn ? kIknnBoostWeight : 0.0F;
  }

  // An item to persist with the next records (TakeDirtyItems or
  // SealDirtyItems); with its co-occurrence rows once `what` held kRowsDirty.
  static constexpr uint8_t kDirty = 1;
  static constexpr uint8_t kRowsDirty = 2;
  void MarkDirty(ItemId id, uint8_t what = kDirty) {
    if (id.value() >= dirty_flags.size()) dirty_flags.resize(id.value() + 1, 0);
    uint8_t& flags = dirty_flags[id.value()];
    if (flags == 0) {
      dirty.push_back(id);
      dirty_bytes += kRecordBytes + static_cast<size_t>(options.dim) * sizeof(float);
    }
    if ((what & kRowsDirty) != 0 && (flags & kRowsDirty) == 0) {
      dirty_bytes += (items.neighbors(id).size() + items.basket_neighbors(id).size()) * sizeof(ItemTable::Neighbor);
    }
    flags |= what;
  }
  // An ItemRecord's fixed part and its external id, about.
  static constexpr size_t kRecordBytes = 160;

  // The session neighbours' weighted scores for `user` into session_acc
  // (TakeSessionBoosts appends those not taken yet to a list of boosts).
  void AddSessionBoosts(const UserRecord& user, float scale) {
    session_scores = {};
    session_acc.resize(items.size(), 0.0F);
    const float weight = kind == Kind::kHybrid ? blend.session_weight() * scale : 0.0F;
    if (weight == 0) return;
    session_scores = sessions.Score(user.id, user.history);
    for (const auto& [c, score] : session_scores) session_acc[c.value()] = weight * score;
  }
  void TakeSessionBoosts(std::vector<std::pair<ItemId, float>>* out) {
    for (const auto& [c, score] : session_scores) {
      if (session_acc[c.value()] == 0.0F) continue;
      out->emplace_back(c, session_acc[c.value()]);
      session_acc[c.value()] = 0.0F;
    }
  }

  // Called before `id` changes: a sealed item not copied yet is copied now.
  void BeforeChange(ItemId id) {
    if (id.value() < sealed_flags.size() && sealed_flags[id.value()] != 0) CopySealed(id);
  }
  void CopySealed(ItemId id) {
    uint8_t& flags = sealed_flags[id.value()];
    items.CopyTo(id, (flags & kRowsDirty) != 0, &sealed_records[sealed_slot[id.value()]]);
    flags = 0;
  }

  // Draws up to options.negatives popular items other than `positive`.
  void SampleNegatives(ItemId positive, uint64_t event_key) {
    negative_ptrs.clear();
    negative_bias_ptrs.clear();
    negative_ids.clear();
    uint64_t state = HashCombine(options.seed, event_key);
    for (int j = 0; j < options.negatives; ++j) {
      for (int attempt = 0; attempt < 4; ++attempt) {
        state = Mix64(state);
        std::optional<ItemId> cand =
            options.popularity_negatives ? items.SamplePopular(state)
                                         : std::optional<ItemId>(ItemId(static_cast<uint32_t>(state % items.size())));
        if (!cand || *cand == positive) continue;
        negative_ids.push_back(*cand);
        negative_ptrs.push_back(items.embedding(*cand));
        negative_bias_ptrs.push_back(items.bias(*cand));
        break;
      }
    }
  }

  // The weight of a pair k steps apart in a history, cooc_decay^k, in
  // multiples of kCoocQuantum (at least one): float sums of such are exact
  // below 16,384 whatever their order, so instances that count the same
  // pairs in another order (scale-out: ApplyItemUpdates) hold the same rows.
  static constexpr float kCoocQuantum = 1.0F / 1024.0F;
  static std::vector<float> CoocWeights(const LearnerOptions& o) {
    std::vector<float> weights;
    float weight = 1.0F;
    for (int k = 0; k < o.cooc_window; ++k, weight *= o.cooc_decay) {
      weights.push_back(std::max(1.0F, std::round(weight / kCoocQuantum)) * kCoocQuantum);
    }
    return weights;
  }

  // Counts `item` as co-occurring with the user's most recent items.
  void CountCooccurrences(const UserRecord& user, ItemId item, ItemUpdateRecorder* recorder) {
    const auto& h = user.history;
    const size_t window = std::min(h.size(), static_cast<size_t>(options.cooc_window));
    items.PrefetchWindowRows(h, window, item);
    for (size_t step = 0; step < window; ++step) {
      const ItemId a = h[h.size() - 1 - step];
      if (a == item) continue;
      AddPair(a, item, cooc_weights[step], /*basket=*/false);
      if (recorder != nullptr) recorder->Pair(items, a, item, cooc_weights[step], /*basket=*/false);
    }
  }

  // cooc(a, b) and cooc(b, a) += weight (basket: the bought-together rows).
  void AddPair(ItemId a, ItemId b, float weight, bool basket) {
    BeforeChange(a);
    BeforeChange(b);
    if (basket) {
      items.AddBasketCooccurrence(a, b, weight, options.max_neighbors);
      items.AddBasketCooccurrence(b, a, weight, options.max_neighbors);
    } else {
      items.AddCooccurrence(a, b, weight, options.max_neighbors);
      items.AddCooccurrence(b, a, weight, options.max_neighbors);
    }
    MarkDirty(a, kDirty | kRowsDirty);
    MarkDirty(b, kDirty | kRowsDirty);
  }

  // The session neighbours' owner id of another instance's user: the top
  // half of UserId values, which this instance's users (numbered from 0)
  // never reach; two users in 2^31 share one.
  static UserId ForeignOwner(uint64_t user_key) {
    return UserId(0x80000000U | static_cast<uint32_t>(user_key >> 33));
  }

  static void RememberItem(UserRecord* user, ItemId item, size_t max_history) {
    auto& h = user->history;
    auto it = std::find(h.begin(), h.end(), item);
    if (it != h.end()) {
      h.erase(it);  // move to the most recent position
    } else if (h.size() >= max_history) {
      h.erase(h.begin());
    }
    h.push_back(item);
  }

  // Purchases are kept apart from the history (exclusion rules); bounded.
  static constexpr size_t kMaxPurchased = 128;
  static void RememberPurchase(UserRecord* user, ItemId item) {
    auto& p = user->purchased;
    if (std::find(p.begin(), p.end(), item) != p.end()) return;
    if (p.size() >= kMaxPurchased) p.erase(p.begin());
    p.push_back(item);
  }

  // Items of the same recent carts and purchases co-occur (bought-together).
  static constexpr size_t kBasketWindow = 10;
  // With `item_side` false only the user's basket moves.
  void CountBasket(UserRecord* user, ItemId item, bool item_side, ItemUpdateRecorder* recorder) {
    auto& b = user->basket;
    for (ItemId other : item_side ? std::span<const ItemId>(b) : std::span<const ItemId>()) {
      if (other == item) continue;
      AddPair(other, item, 1.0F, /*basket=*/true);
      if (recorder != nullptr) recorder->Pair(items, other, item, 1.0F, /*basket=*/true);
    }
    std::erase(b, item);
    if (b.size() >= kBasketWindow) b.erase(b.begin());
    b.push_back(item);
  }

  // Counts a sighting of an item once the table is half full (before,
  // nothing is replaced and the counts would not be used); returns its
  // recent sightings, 0 while not counted. Below half, the per-event cost
  // is this branch: the id is hashed only when counted.
  uint32_t Sight(std::string_view external_id) {
    if (!sketch && items.size() < options.max_items / 2) return 0;
    if (!sketch) sketch = std::make_unique<FrequencySketch>(options.max_items);
    return sketch->Add(Fnv1a64(external_id));
  }

  // Of a few unpinned slots sampled (deterministically from `key`, at most
  // `max_tries` draws), the least recently popular; nullopt if every draw was pinned.
  static constexpr int kReplaceSamples = 8;
  static constexpr int kEventTries = 4 * kReplaceSamples;
  static constexpr int kCatalogTries = 4096;  // catalog updates are rare; the table may be mostly pinned
  static constexpr uint32_t kMinSightingsToReplace = 2;
  std::optional<ItemId> ColdestSample(uint64_t key, int max_tries) const {
    std::optional<ItemId> coldest;
    uint64_t state = HashCombine(key, churn.replaced + churn.refused);
    for (int tries = 0, found = 0; tries < max_tries && found < kReplaceSamples; ++tries) {
      state = Mix64(state);
      const ItemId id(static_cast<uint32_t>(state % items.size()));
      if (items.pinned(id)) continue;
      ++found;
      if (!coldest || items.recency()[id.value()] < items.recency()[coldest->value()]) coldest = id;
    }
    return coldest;
  }

  // A slot for a new item: a new one while there is room, else a cold
  // item's (see Learner::InternItem); nullopt when refused.
  std::optional<ItemId> Place(std::string_view external_id, uint64_t key, uint32_t seen, std::span<const float> init,
                              float bias, bool catalog) {
    if (items.size() < options.max_items) {
      const ItemId id = items.Add(external_id, init, bias, 0);
      MarkDirty(id);
      return id;
    }
    // An id seen once lately never takes a slot, however cold the item in it
    // (the sketch's doorkeeper tells a first sighting): else, once aging has
    // brought the cold items' counts to nothing, a flood of one-off ids
    // churns the table (co-occurrence rows rewritten, records stored).
    const std::optional<ItemId> victim = ColdestSample(key, catalog ? kCatalogTries : kEventTries);
    if (!victim || (!catalog && (seen < kMinSightingsToReplace ||
                                 seen <= sketch->Estimate(Fnv1a64(items.external_id(*victim)))))) {
      ++churn.refused;
      return std::nullopt;
    }
    // The rows that change are copied first if sealed (BeforeChange), then persisted.
    replaced_rows.clear();
    for (bool basket : {false, true}) {
      for (const ItemTable::Neighbor& n : basket ? items.basket_neighbors(*victim) : items.neighbors(*victim)) {
        BeforeChange(n.first);
      }
    }
    BeforeChange(*victim);
    for (auto& [partition, recorder] : recorders) recorder->Forget(*victim);
    if (replaced_items.size() < Learner::kMaxReplacedKept) {
      replaced_items.push_back({items.external_id(*victim), *victim});
    }
    items.Replace(*victim, external_id, init, bias, &replaced_rows);
    for (ItemId touched : replaced_rows) MarkDirty(touched, kDirty | kRowsDirty);
    MarkDirty(*victim, kDirty | kRowsDirty);
    ++churn.replaced;
    return victim;
  }

  LearnerOptions options;
  Kind kind;
  ItemTable items;
  std::vector<float> scratch;
  std::vector<float> cooc_weights;  // per window step (CoocWeights)
  // While recording (Learner::RecordItemUpdates), a recorder per events partition.
  bool recording = false;
  std::map<int32_t, std::unique_ptr<ItemUpdateRecorder>> recorders;
  ItemUpdateRecorder* RecorderFor(int32_t partition) {
    if (!recording) return nullptr;
    std::unique_ptr<ItemUpdateRecorder>& r = recorders[partition];
    if (!r) r = std::make_unique<ItemUpdateRecorder>(static_cast<size_t>(options.dim));
    return r.get();
  }
  HeldItems held_items;  // the items an SGD step changes, as they were before it
  SessionNeighbors sessions;
  OnlineBlend blend;
  BlendLearning blend_learning;
  std::vector<float*> negative_ptrs;
  std::vector<float*> negative_bias_ptrs;
  std::vector<ItemId> negative_ids;
  std::vector<std::optional<ItemId>> applied_ids;  // scratch of ApplyItemUpdates: per record item, its slot
  std::vector<ItemId> stepped;  // scratch: the items an SGD step changes, while recording
  std::vector<uint8_t> dirty_flags;  // kDirty | kRowsDirty per item
  // SealDirtyItems(): the sealed items, per item its flags (0 once copied) and
  // its record's index, the records, and how far CopySealedItems got.
  std::vector<ItemId> sealed;
  std::vector<uint8_t> sealed_flags;
  std::vector<uint32_t> sealed_slot;
  std::vector<ItemRecord> sealed_records;
  size_t sealed_next = 0;
  std::vector<ItemId> dirty;
  size_t dirty_bytes = 0;  // of the dirty items' records, about (Learner::dirty_bytes)
  // Boosts() scratch: per item, the sum so far (zero between calls); every
  // neighbour visited, in order.
  std::vector<float> boost_acc;
  std::span<const SessionNeighbors::Scored> session_scores;  // during Boosts(): the sessions' answer
  std::vector<float> session_acc;  // per item, its weighted session score (zero between calls)
  std::unique_ptr<FrequencySketch> sketch;  // from half of max_items on
  ItemChurn churn;
  std::vector<ItemId> replaced_rows;  // scratch: rows that held a replaced item
  std::vector<Learner::ReplacedItem> replaced_items;  // since the last TakeReplacedItems
  std::vector<uint32_t> boost_touched;
  std::vector<uint32_t> boost_histogram;
};

Learner::Learner(LearnerOptions options) : impl_(std::make_unique<Impl>(options)) {}
Learner::~Learner() = default;

const LearnerOptions& Learner::options() const { return impl_->options; }

std::optional<ItemId> Learner::InternItem(std::string_view external_id) {
  Impl& m = *impl_;
  const uint32_t seen = m.Sight(external_id);
  if (std::optional<ItemId> id = m.items.Find(external_id)) return id;
  const uint64_t key = Fnv1a64(external_id);
  std::vector<float> init(static_cast<size_t>(m.options.dim));
  FillGaussian(HashCombine(m.options.seed, key ^ 0x17e4ULL), m.options.init_scale, init);
  return m.Place(external_id, key, seen, init, 0.0F, /*catalog=*/false);
}

std::optional<ItemId> Learner::InternItemLike(std::string_view external_id, std::span<const ItemId> peers) {
  Impl& m = *impl_;
  if (std::optional<ItemId> id = m.items.Find(external_id)) {
    m.items.SetPinned(*id, true);
    return id;
  }
  const size_t dim = static_cast<size_t>(m.options.dim);
  std::vector<double> sum(dim, 0.0);
  double bias = 0.0;
  size_t used = 0;
  for (ItemId peer : peers) {
    if (peer.value() >= m.items.size() || m.items.count(peer) == 0) continue;
    const float* e = m.items.embedding(peer);
    for (size_t d = 0; d < dim; ++d) sum[d] += e[d];
    bias += *m.items.bias(peer);
    ++used;
  }
  const uint64_t key = Fnv1a64(external_id);
  std::vector<float> init(dim);
  if (used == 0) {
    FillGaussian(HashCombine(m.options.seed, key ^ 0x17e4ULL), m.options.init_scale, init);
  } else {
    for (size_t d = 0; d < dim; ++d) init[d] = static_cast<float>(sum[d] / static_cast<double>(used));
    bias /= static_cast<double>(used);
  }
  const std::optional<ItemId> id = m.Place(external_id, key, 0, init, static_cast<float>(bias), /*catalog=*/true);
  if (id) m.items.SetPinned(*id, true);
  return id;
}

std::optional<ItemId> Learner::FindItem(std::string_view external_id) const { return impl_->items.Find(external_id); }

void Learner::RestoreItem(const ItemRecord& record) {
  impl_->BeforeChange(record.id);
  impl_->items.Restore(record);
}

void Learner::InitUser(std::string_view external_id, UserId id, UserRecord* user) const {
  user->id = id;
  user->seq = 0;
  user->events = 0;
  user->history.clear();
  user->embedding.resize(static_cast<size_t>(impl_->options.dim));
  FillGaussian(HashCombine(impl_->options.seed, Fnv1a64(external_id) ^ 0x05e7ULL), impl_->options.init_scale,
               user->embedding);
}

void Learner::Observe(UserRecord* user, ItemId item, EventType type, int64_t ts_ms, uint64_t event_key) {
  Observe(user, item, type, ts_ms, event_key, Scope{});
}

void Learner::Observe(UserRecord* user, ItemId item, EventType type, int64_t ts_ms, uint64_t event_key, Scope scope) {
  Impl& m = *impl_;
  const bool blends = m.kind == Kind::kHybrid && m.options.blend_learning_rate > 0;
  const BlendLearning::Now now = BlendLearning::At(ts_ms, m.options);
  ItemUpdateRecorder* const recorder = scope.item_side && scope.record ? m.RecorderFor(scope.partition) : nullptr;
  // The blend's step is part of the item side: an event learned for its user
  // alone had its step taken where its item side was (it came with a record).
  if (blends && scope.item_side) {
    m.blend_learning.Learn(*user, item, now, m.items, m.options, &m.sessions, &m.blend,
                           recorder != nullptr ? recorder->blend_steps() : nullptr);
  }
  const float weight = m.Factorises() ? m.options.type_weights[static_cast<size_t>(type)] : 0.0F;
  if (weight > 0) {
    m.SampleNegatives(item, event_key);
  } else {
    m.negative_ptrs.clear();
    m.negative_bias_ptrs.clear();
    m.negative_ids.clear();
  }
  if (scope.item_side) {
    m.BeforeChange(item);
    for (ItemId neg : m.negative_ids) m.BeforeChange(neg);
  }
  SgdParams params;
  params.user = user->embedding.data();
  params.item = m.items.embedding(item);
  params.item_bias = m.items.bias(item);
  params.weight = weight;
  params.negatives = m.negative_ptrs;
  params.negative_biases = m.negative_bias_ptrs;
  params.dim = m.options.dim;
  params.learning_rate = m.options.learning_rate;
  params.regularization = m.options.regularization;
  if (weight != 0 && (recorder != nullptr || !scope.item_side)) {
    // Each item once: a negative drawn twice is changed twice by the step.
    m.stepped.assign(1, item);
    for (ItemId neg : m.negative_ids) {
      if (std::find(m.stepped.begin(), m.stepped.end(), neg) == m.stepped.end()) m.stepped.push_back(neg);
    }
    m.held_items.BeforeStep(m.items, m.stepped);
    SgdStep(params, m.scratch.data());
    if (recorder != nullptr) recorder->AfterStep(m.items, m.stepped, m.held_items);
    if (!scope.item_side) m.held_items.Restore(&m.items, m.stepped);  // the user moved; the items stay
  } else if (weight != 0) {
    SgdStep(params, m.scratch.data());
  }
  if (scope.item_side) {
    m.items.IncrementCount(item);
    m.items.AddRecency(item, ts_ms, m.options.recency_half_life_ms, m.options.short_half_life_ms);
    if (recorder != nullptr) recorder->Event(m.items, item, ts_ms, m.options.recency_half_life_ms, m.options.short_half_life_ms);
    m.MarkDirty(item);
    if (m.options.cooc_window > 0) m.CountCooccurrences(*user, item, recorder);
    for (ItemId neg : m.negative_ids) {
      m.items.BiasWritten(neg);
      m.MarkDirty(neg);
    }
  }
  Impl::RememberItem(user, item, m.options.max_history);
  m.sessions.Update(user->id, user->history, ts_ms);
  if (scope.user_key != 0) {
    m.sessions.Clear(Impl::ForeignOwner(scope.user_key));
    if (recorder != nullptr) recorder->SessionStep(m.items, scope.user_key, item, ts_ms);
  }
  if (type == EventType::kPurchase) Impl::RememberPurchase(user, item);
  if (type == EventType::kCart || type == EventType::kPurchase) m.CountBasket(user, item, scope.item_side, recorder);
  ++user->events;
  if (blends) m.blend_learning.SyncTerms(now, m.blend, &m.items);
}

uint64_t Learner::UserKey(std::string_view external_id) { return std::max<uint64_t>(1, Mix64(Fnv1a64(external_id))); }

void Learner::RecordItemUpdates(bool on) { impl_->recording = on; }

void Learner::TakeItemUpdates(int32_t partition, ItemUpdates* out) {
  auto it = impl_->recorders.find(partition);
  if (it == impl_->recorders.end()) {
    out->clear();
    return;
  }
  it->second->Take(out);
}

size_t Learner::item_update_bytes(int32_t partition) const {
  auto it = impl_->recorders.find(partition);
  return it == impl_->recorders.end() ? 0 : it->second->bytes();
}

size_t Learner::ApplyItemUpdates(const ItemUpdates& updates, std::vector<ItemId>* changed) {
  Impl& m = *impl_;
  const size_t dim = static_cast<size_t>(m.options.dim);
  const uint64_t replaced_before = m.churn.replaced;
  m.applied_ids.assign(updates.items.size(), std::nullopt);
  size_t refused = 0;
  for (size_t i = 0; i < updates.items.size(); ++i) {
    const ItemUpdates::Item& u = updates.items[i];
    const std::optional<ItemId> id = InternItem(u.external_id);
    if (!id) {
      ++refused;
      continue;
    }
    m.applied_ids[i] = id;
    if (changed != nullptr) changed->push_back(*id);
    m.BeforeChange(*id);
    if (u.embedding_delta.size() == dim) {
      float* e = m.items.embedding(*id);
      for (size_t d = 0; d < dim; ++d) e[d] += u.embedding_delta[d];
    }
    *m.items.bias(*id) += u.bias_delta;
    m.items.BiasWritten(*id);
    if (u.events > 0) m.items.AddCount(*id, u.events);
    m.items.AddRecencyMass(*id, u.recency, u.short_recency);
    m.MarkDirty(*id);
  }
  if (m.kind == Kind::kHybrid) m.blend.ApplySteps(updates.blend);  // the items' terms follow at the next SyncTerms
  // A full table may have given an item of this record the slot of another
  // one of it: such a pair names an item that is gone, and is dropped.
  const bool slots_moved = m.churn.replaced != replaced_before;
  const auto slot_of = [&](uint32_t index) -> std::optional<ItemId> {
    const std::optional<ItemId> id = m.applied_ids[index];
    if (id && slots_moved && m.items.external_id(*id) != updates.items[index].external_id) return std::nullopt;
    return id;
  };
  for (bool basket : {false, true}) {
    for (const ItemUpdates::Pair& p : basket ? updates.basket : updates.cooc) {
      const std::optional<ItemId> a = slot_of(p.a);
      const std::optional<ItemId> b = slot_of(p.b);
      if (a && b && *a != *b) m.AddPair(*a, *b, p.weight, basket);
    }
  }
  for (const ItemUpdates::SessionStep& step : updates.sessions) {
    if (const std::optional<ItemId> item = slot_of(step.item)) {
      m.sessions.Append(Impl::ForeignOwner(step.user_key), *item, step.ts_ms);
    }
  }
  return refused;
}

void Learner::QueryVector(const UserRecord& user, std::span<float> out) const {
  if (impl_->Factorises()) {
    std::copy(user.embedding.begin(), user.embedding.end(), out.begin());
  } else {
    std::fill(out.begin(), out.end(), 0.0F);  // popularity kinds score by the item term alone
  }
}

void Learner::Boosts(const UserRecord& user, std::vector<std::pair<ItemId, float>>* out, BoostScales scales) const {
  Impl& m = *impl_;
  out->clear();
  m.AddSessionBoosts(user, scales.session);
  const float boost_weight = m.BoostWeight() * scales.cooc;
  if (boost_weight == 0 || m.options.cooc_window == 0) {
    m.TakeSessionBoosts(out);
    KeepStrongest(m.options.max_boosts, out, &m.boost_histogram);
    return;
  }
  m.boost_acc.resize(m.items.size(), 0.0F);
  const auto& h = user.history;
  const size_t window = std::min(h.size(), static_cast<size_t>(m.options.cooc_window));
  size_t visits = 0;
  for (size_t k = h.size() - window; k < h.size(); ++k) m.items.PrefetchRowHeader(h[k]);
  for (size_t k = h.size() - window; k < h.size(); ++k) {
    const std::span<const ItemTable::Neighbor> row = m.items.neighbors(h[k]);
    visits += row.size();
    if (!row.empty()) __builtin_prefetch(row.data());  // each row's start: the rest streams in order
  }
  m.boost_touched.resize(visits);
  // A scatter over the items' sums, one add per neighbour and nothing that
  // waits for its load, so that the cache misses overlap; which items were
  // touched, and in which order, is sorted out after.
  float* const acc = m.boost_acc.data();
  uint32_t* const touched = m.boost_touched.data();
  size_t n = 0;
  float recency = 1.0F;
  for (size_t k = h.size(); k-- > h.size() - window; recency *= m.options.cooc_decay) {
    // Summed as recency x weight / sqrt(count_a); the 1 / sqrt(count_c) of
    // each item is applied once, below.
    const float scale_a = recency * m.items.inv_sqrt_count(h[k]);
    for (const auto& [c, weight] : m.items.neighbors(h[k])) {
      // Only a first touch (a sum still 0) is kept, without a branch: the
      // pass below then visits each item about once, not once per row.
      const float before = acc[c.value()];
      touched[n] = c.value();
      n += before == 0.0F ? 1 : 0;
      acc[c.value()] = before + scale_a * weight;
    }
  }
  // Each item once, in the order first touched; its sum cleared for the next
  // call (an item whose first adds were 0 may be listed twice: its second
  // entry finds the sum cleared). The session neighbours' boosts wait in
  // session_acc.
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = touched[i];
    const float sum = acc[c];
    if (sum == 0.0F) continue;
    out->emplace_back(ItemId(c), boost_weight * m.items.inv_sqrt_count(ItemId(c)) * sum + m.session_acc[c]);
    m.session_acc[c] = 0.0F;
    acc[c] = 0.0F;
  }
  m.TakeSessionBoosts(out);
  KeepStrongest(m.options.max_boosts, out, &m.boost_histogram);
}

ItemId Learner::BoostSource(const UserRecord& user, ItemId item) const {
  // The contributions Boosts sums, in its order (most recent first): the
  // first largest wins. Rows are sorted by id: one search each.
  const Impl& m = *impl_;
  float best = 0.0F;
  ItemId source(0);
  m.items.ForEachCoocTerm(user.history, static_cast<size_t>(m.options.cooc_window), m.options.cooc_decay, item,
                          [&](ItemId a, float add) {
                            if (add > best) {
                              best = add;
                              source = a;
                            }
                          });
  return source;
}

void Learner::ItemNeighbors(ItemId item, bool basket, std::vector<std::pair<ItemId, float>>* out) const {
  const ItemTable& t = impl_->items;
  out->clear();
  if (item.value() >= t.size()) return;
  const float scale_a = t.inv_sqrt_count(item);
  for (const auto& [other, weight] : basket ? t.basket_neighbors(item) : t.neighbors(item)) {
    out->emplace_back(other, weight * scale_a * t.inv_sqrt_count(other));
  }
}

Learner::BlendWeights Learner::blend_weights() const {
  const OnlineBlend& b = impl_->blend;
  return {b.cooc_weight(), b.recency_weight(), b.mf_weight(), b.short_recency_weight(), b.session_weight(), b.steps()};
}

Learner::BlendState Learner::SaveBlend() const { return impl_->blend.Save(); }

void Learner::RestoreBlend(const BlendState& state) {
  Impl& m = *impl_;
  if (m.kind != Kind::kHybrid) return;
  m.blend.Restore(state);
  m.items.SetRecencyTerm(m.blend.recency_weight(), m.items.LatestRecency(), m.blend.short_recency_weight(),
                         m.items.LatestShortRecency());
}

Status Learner::RestoreBlend(std::span<const float> stored) {
  BlendState state = SaveBlend();
  if (stored.size() < 4 || stored.size() > state.size()) {
    return Status::InvalidArgument(fmt::format("a stored blend of {} values (4 to {} expected)", stored.size(),
                                               state.size()));
  }
  std::copy(stored.begin(), stored.end(), state.begin());
  RestoreBlend(state);
  return Status::Ok();
}

std::span<const float> Learner::ItemRecency() const { return {impl_->items.recency(), impl_->items.size()}; }

uint64_t Learner::ItemEvents(ItemId item) const {
  return item.value() < impl_->items.size() ? impl_->items.count(item) : 0;
}

ItemMatrixView Learner::Items() const {
  ItemMatrixView view = impl_->items.View();
  // The popularity kinds (the protocol's baselines) rank every item by its term alone.
  const float* popularity_term = nullptr;
  switch (impl_->kind) {
    case Kind::kPop: popularity_term = impl_->items.popularity(); break;
    case Kind::kRpop: popularity_term = impl_->items.recency(); break;
    case Kind::kIknn: popularity_term = impl_->items.log_popularity(); break;
    default: break;
  }
  if (popularity_term != nullptr) {
    view.biases = popularity_term;
    view.listed_biases = nullptr;
  }
  if (impl_->kind == Kind::kHybrid) view.score_scale = impl_->blend.mf_weight();
  return view;
}
size_t Learner::item_count() const { return impl_->items.size(); }
Learner::ItemChurn Learner::item_churn() const { return impl_->churn; }

void Learner::TakeReplacedItems(std::vector<ReplacedItem>* out) {
  out->clear();
  out->swap(impl_->replaced_items);
}
const std::string& Learner::ItemExternalId(ItemId id) const { return impl_->items.external_id(id); }

void Learner::TakeDirtyItems(std::vector<ItemRecord>* out) {
  SealDirtyItems();  // the same records, copied at once
  CopySealedItems(impl_->sealed.size());
  TakeSealedItems(out);
}

size_t Learner::dirty_bytes() const { return impl_->dirty_bytes; }

void Learner::TakeDirtySessions(std::vector<SessionRecord>* out) { impl_->sessions.TakeDirty(out); }
void Learner::RestoreSession(const SessionRecord& record) { impl_->sessions.Restore(record); }

void Learner::SealDirtyItems() {
  Impl& m = *impl_;
  m.sealed.swap(m.dirty);
  m.dirty.clear();
  m.dirty_bytes = 0;
  m.sealed_flags.resize(m.items.size(), 0);
  m.sealed_slot.resize(m.items.size(), 0);
  // The records come back from earlier commits with their storage; a vector
  // sized for a window that changed far more items than this one is let go.
  constexpr size_t kKeptRecords = 4096;
  if (m.sealed_records.capacity() > 2 * m.sealed.size() + kKeptRecords) std::vector<ItemRecord>().swap(m.sealed_records);
  m.sealed_records.resize(m.sealed.size());
  for (size_t i = 0; i < m.sealed.size(); ++i) {
    const ItemId id = m.sealed[i];
    m.sealed_flags[id.value()] = m.dirty_flags[id.value()];
    m.sealed_slot[id.value()] = static_cast<uint32_t>(i);
    m.dirty_flags[id.value()] = 0;
  }
  m.sealed_next = 0;
}

bool Learner::CopySealedItems(size_t max_items) {
  Impl& m = *impl_;
  for (size_t copied = 0; m.sealed_next < m.sealed.size() && copied < max_items; ++m.sealed_next) {
    const ItemId id = m.sealed[m.sealed_next];
    if (m.sealed_flags[id.value()] == 0) continue;  // copied before it changed
    m.CopySealed(id);
    ++copied;
  }
  return m.sealed_next == m.sealed.size();
}

void Learner::TakeSealedItems(std::vector<ItemRecord>* out) {
  Impl& m = *impl_;
  out->swap(m.sealed_records);
  m.sealed.clear();
  m.sealed_next = 0;
}

}  // namespace streamrec::learner
