#include "learner/item_table.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace streamrec::learner {
namespace {

size_t LowBit(size_t i) { return i & (~i + 1); }

}  // namespace

std::optional<ItemId> ItemTable::Find(std::string_view external_id) const {
  const std::optional<uint32_t> slot = by_external_id_.Find(
      StringViewHash()(external_id), [&](uint32_t id) { return external_ids_[id] == external_id; });
  if (!slot) return std::nullopt;
  return ItemId(*slot);
}

ItemId ItemTable::Add(std::string_view external_id, std::span<const float> embedding, float bias, uint64_t count) {
  const ItemId id(static_cast<uint32_t>(size()));
  external_ids_.emplace_back(external_id);
  by_external_id_.Insert(StringViewHash()(external_id), id.value());
  embeddings_.insert(embeddings_.end(), embedding.begin(), embedding.end());
  biases_.push_back(bias);
  dense_biases_.push_back(0.0F);
  served_.push_back(bias);
  counts_.push_back(0);
  inv_sqrt_counts_.push_back(0.0F);
  neighbors_.emplace_back();
  basket_neighbors_.emplace_back();
  trimmed_cooc_.push_back(0.0);
  popularity_.push_back(0.0F);
  log_popularity_.push_back(0.0F);
  recency_.push_back(-1e30F);  // no events yet: below everything
  short_recency_.push_back(-1e30F);
  // Fenwick node i (1-based) covers counts (i - lowbit(i), i].
  const size_t i = size();
  fenwick_.push_back(Prefix(i - 1) - Prefix(i - LowBit(i)));
  SetCount(i - 1, count);
  if (count > 0) FenwickAdd(i - 1, count);
  return id;
}

void ItemTable::Restore(const ItemRecord& record) {
  const size_t index = record.id.value();
  if (index >= size()) {
    const size_t old_size = size();
    external_ids_.resize(index + 1);
    embeddings_.resize((index + 1) * dim_, 0.0F);
    biases_.resize(index + 1, 0.0F);
    dense_biases_.resize(index + 1, 0.0F);
    served_.resize(index + 1, 0.0F);
    counts_.resize(index + 1, 0);
    inv_sqrt_counts_.resize(index + 1, 0.0F);
    neighbors_.resize(index + 1);
    basket_neighbors_.resize(index + 1);
    trimmed_cooc_.resize(index + 1, 0.0);
    popularity_.resize(index + 1, 0.0F);
    log_popularity_.resize(index + 1, 0.0F);
    recency_.resize(index + 1, -1e30F);
    short_recency_.resize(index + 1, -1e30F);
    for (size_t gap = old_size; gap < index; ++gap) RaiseBlockBounds(gap);  // zero rows until restored
  }
  // The id takes this external id; neither keeps another.
  if (!external_ids_[index].empty()) by_external_id_.Erase(StringViewHash()(external_ids_[index]), record.id.value());
  if (std::optional<ItemId> other = Find(record.external_id)) {
    by_external_id_.Erase(StringViewHash()(record.external_id), other->value());
  }
  external_ids_[index] = record.external_id;
  by_external_id_.Insert(StringViewHash()(record.external_id), record.id.value());
  std::copy(record.embedding.begin(), record.embedding.end(), embeddings_.begin() + index * dim_);
  biases_[index] = record.bias;
  SetCount(index, record.count);
  recency_[index] = record.recency;
  short_recency_[index] = record.short_recency;
  SyncDenseBias(index);
  neighbors_[index] = record.neighbors;
  std::sort(neighbors_[index].begin(), neighbors_[index].end());
  basket_neighbors_[index] = record.basket_neighbors;
  std::sort(basket_neighbors_[index].begin(), basket_neighbors_[index].end());
  trimmed_cooc_[index] = record.trimmed_cooc;
  RebuildFenwick();
}

namespace {

void EraseFromRow(std::vector<ItemTable::Neighbor>& row, ItemId b) {
  auto it = std::lower_bound(row.begin(), row.end(), b,
                             [](const ItemTable::Neighbor& n, ItemId id) { return n.first < id; });
  if (it != row.end() && it->first == b) row.erase(it);
}

}  // namespace

void ItemTable::Replace(ItemId id, std::string_view external_id, std::span<const float> embedding, float bias,
                        std::vector<ItemId>* touched) {
  const size_t index = id.value();
  // Co-occurrence is counted both ways, so the item's own rows name the rows
  // that hold it (a row trimmed to max_neighbors may have dropped one: that
  // neighbour keeps a weak entry, which the next item in the slot inherits).
  for (std::vector<std::vector<Neighbor>>* rows : {&neighbors_, &basket_neighbors_}) {
    for (const Neighbor& n : (*rows)[index]) {
      if (n.first == id) continue;
      EraseFromRow((*rows)[n.first.value()], id);
      touched->push_back(n.first);
    }
    std::vector<Neighbor>().swap((*rows)[index]);  // its memory goes too
  }
  trimmed_cooc_[index] = 0.0;
  by_external_id_.Erase(StringViewHash()(external_ids_[index]), id.value());
  external_ids_[index].assign(external_id);
  by_external_id_.Insert(StringViewHash()(external_id), id.value());
  std::copy(embedding.begin(), embedding.end(), embeddings_.begin() + static_cast<std::ptrdiff_t>(index * dim_));
  biases_[index] = bias;
  FenwickAdd(index, uint64_t{0} - counts_[index]);  // modular: takes the old count out
  SetCount(index, 0);
  recency_[index] = -1e30F;
  short_recency_[index] = -1e30F;
  SetPinned(id, false);
  SyncDenseBias(index);  // its terms without the previous item's recency (SetPinned syncs pinned items only)
}

void ItemTable::SetPinned(ItemId id, bool pinned) {
  if (!pinned && id.value() >= pinned_.size()) return;
  if (id.value() >= pinned_.size()) pinned_.resize(size(), 0);
  pinned_[id.value()] = pinned ? 1 : 0;
  SyncDenseBias(id.value());
}

void ItemTable::SyncDenseBias(size_t index) {
  const bool dense = counts_[index] >= dense_min_events_ || (index < pinned_.size() && pinned_[index] != 0);
  const double relative = std::max(static_cast<double>(recency_[index]) - recency_now_, -kRecencyFloor);
  const double short_relative =
      std::max(static_cast<double>(short_recency_[index]) - short_recency_now_, -kRecencyFloor);
  served_[index] =
      biases_[index] + static_cast<float>(recency_weight_ * relative + short_recency_weight_ * short_relative);
  dense_biases_[index] = dense ? served_[index] : -std::numeric_limits<float>::infinity();
  RaiseBlockBounds(index);
}

void ItemTable::RaiseBlockBounds(size_t index) {
  const size_t block = index / ItemMatrixView::kBoundRows;
  if (block >= block_norms_.size()) {
    block_norms_.resize(block + 1, 0.0F);
    block_biases_.resize(block + 1, -std::numeric_limits<float>::infinity());
  }
  const float* e = &embeddings_[index * dim_];
  float squares = 0.0F;
  for (size_t d = 0; d < dim_; ++d) squares += e[d] * e[d];
  block_norms_[block] = std::max(block_norms_[block], std::sqrt(squares));
  if (!std::isnan(dense_biases_[index])) block_biases_[block] = std::max(block_biases_[block], dense_biases_[index]);
}

void ItemTable::SetRecencyTerm(float weight, double now, float short_weight, double short_now) {
  recency_weight_ = weight;
  recency_now_ = now;
  short_recency_weight_ = short_weight;
  short_recency_now_ = short_now;
  // The bounds are recomputed exactly: rows whose norm or term fell since
  // (regularisation, older recency) stop holding their blocks up.
  std::fill(block_norms_.begin(), block_norms_.end(), 0.0F);
  std::fill(block_biases_.begin(), block_biases_.end(), -std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < size(); ++i) SyncDenseBias(i);
}

double ItemTable::LatestRecency() const {
  if (recency_.empty()) return 0.0;
  return *std::max_element(recency_.begin(), recency_.end());
}

double ItemTable::LatestShortRecency() const {
  if (short_recency_.empty()) return 0.0;
  return *std::max_element(short_recency_.begin(), short_recency_.end());
}

namespace {

// row[b] += weight; a row over 2 * max_neighbors keeps its max_neighbors strongest.
// Returns the weight trimming dropped (0 when the row was not trimmed).
double AddToRow(std::vector<ItemTable::Neighbor>& row, ItemId b, float weight, size_t max_neighbors) {
  using Neighbor = ItemTable::Neighbor;
  auto it = std::lower_bound(row.begin(), row.end(), b, [](const Neighbor& n, ItemId id) { return n.first < id; });
  if (it != row.end() && it->first == b) {
    it->second += weight;
    return 0.0;
  }
  row.insert(it, {b, weight});
  if (row.size() <= 2 * max_neighbors) return 0.0;
  // Keep the strongest (ties: smaller id, so the result is deterministic).
  std::nth_element(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(max_neighbors), row.end(),
                   [](const Neighbor& x, const Neighbor& y) {
                     return x.second > y.second || (x.second == y.second && x.first < y.first);
                   });
  double dropped = 0.0;
  for (size_t i = max_neighbors; i < row.size(); ++i) dropped += row[i].second;
  row.resize(max_neighbors);
  std::sort(row.begin(), row.end());
  return dropped;
}

}  // namespace

void ItemTable::PrefetchWindowRows(std::span<const ItemId> history, size_t window, ItemId item) const {
  const std::span<const ItemId> recent = history.subspan(history.size() - std::min(window, history.size()));
  const bool known = item.value() < neighbors_.size();
  if (known) PrefetchRowHeader(item);
  for (ItemId a : recent) PrefetchRowHeader(a);
  const auto search_lines = [this](ItemId id) {
    const std::vector<Neighbor>& row = neighbors_[id.value()];
    const size_t n = row.size();
    if (n < 16) return;  // two lines at most: the first probe brings them
    for (size_t eighth = 1; eighth < 8; ++eighth) __builtin_prefetch(row.data() + n * eighth / 8);
  };
  if (known) search_lines(item);
  for (ItemId a : recent) search_lines(a);
}

void ItemTable::AddCooccurrence(ItemId a, ItemId b, float weight, size_t max_neighbors) {
  trimmed_cooc_[a.value()] += AddToRow(neighbors_[a.value()], b, weight, max_neighbors);
}

void ItemTable::AddBasketCooccurrence(ItemId a, ItemId b, float weight, size_t max_neighbors) {
  trimmed_cooc_[a.value()] += AddToRow(basket_neighbors_[a.value()], b, weight, max_neighbors);
}

void ItemTable::SetCount(size_t index, uint64_t count) {
  counts_[index] = count;
  inv_sqrt_counts_[index] = count > 0 ? 1.0F / std::sqrt(static_cast<float>(count)) : 0.0F;
  SyncDenseBias(index);
  popularity_[index] = static_cast<float>(count);
  log_popularity_[index] = std::log1p(static_cast<float>(count));
}

void ItemTable::AddCount(ItemId id, uint64_t events) {
  SetCount(id.value(), counts_[id.value()] + events);
  FenwickAdd(id.value(), events);
}

float ItemTable::Log2Add(float a, double x) {
  // log2(2^a + 2^x) = max + log2(1 + 2^-(|a - x|)).
  const double hi = std::max<double>(a, x);
  return static_cast<float>(hi + std::log2(1.0 + std::exp2(-std::abs(static_cast<double>(a) - x))));
}

void ItemTable::AddRecency(ItemId id, int64_t ts_ms, int64_t half_life_ms, int64_t short_half_life_ms) {
  const size_t i = id.value();
  recency_[i] = Log2Add(recency_[i], static_cast<double>(ts_ms) / static_cast<double>(half_life_ms));
  short_recency_[i] = Log2Add(short_recency_[i], static_cast<double>(ts_ms) / static_cast<double>(short_half_life_ms));
  SyncDenseBias(i);
}

void ItemTable::AddRecencyMass(ItemId id, float log2_mass, float log2_short_mass) {
  const size_t i = id.value();
  recency_[i] = Log2Add(recency_[i], log2_mass);
  short_recency_[i] = Log2Add(short_recency_[i], log2_short_mass);
  SyncDenseBias(i);
}

void ItemTable::FenwickAdd(size_t index, uint64_t delta) {
  total_count_ += delta;
  for (size_t i = index + 1; i <= fenwick_.size(); i += LowBit(i)) fenwick_[i - 1] += delta;
}

uint64_t ItemTable::Prefix(size_t n) const {
  uint64_t sum = 0;
  for (size_t i = n; i > 0; i -= LowBit(i)) sum += fenwick_[i - 1];
  return sum;
}

void ItemTable::RebuildFenwick() {
  fenwick_.assign(counts_.size(), 0);
  total_count_ = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    fenwick_[i] += counts_[i];
    total_count_ += counts_[i];
    const size_t parent = (i + 1) + LowBit(i + 1);
    if (parent <= fenwick_.size()) fenwick_[parent - 1] += fenwick_[i];
  }
}

std::optional<ItemId> ItemTable::SamplePopular(uint64_t random) const {
  if (total_count_ == 0) return std::nullopt;
  uint64_t target = random % total_count_;  // find the first index whose prefix sum exceeds target
  size_t pos = 0;
  for (size_t step = std::bit_floor(fenwick_.size()); step > 0; step >>= 1) {
    if (pos + step <= fenwick_.size() && fenwick_[pos + step - 1] <= target) {
      pos += step;
      target -= fenwick_[pos - 1];
    }
  }
  return ItemId(static_cast<uint32_t>(pos));
}

void ItemTable::CopyTo(ItemId id, bool with_neighbors, ItemRecord* out) const {
  ItemRecord& r = *out;
  r.id = id;
  r.external_id = external_ids_[id.value()];
  r.bias = biases_[id.value()];
  r.count = counts_[id.value()];
  r.recency = recency_[id.value()];
  r.short_recency = short_recency_[id.value()];
  const float* e = &embeddings_[id.value() * dim_];
  r.embedding.assign(e, e + dim_);
  r.with_neighbors = with_neighbors;
  CopyRow(with_neighbors ? &neighbors_[id.value()] : nullptr, &r.neighbors);
  CopyRow(with_neighbors ? &basket_neighbors_[id.value()] : nullptr, &r.basket_neighbors);
  r.trimmed_cooc = with_neighbors ? trimmed_cooc_[id.value()] : 0.0;
}

void ItemTable::CopyRow(const std::vector<Neighbor>* row, std::vector<Neighbor>* out) {
  // Records are reused from commit to commit for other items: a record keeps
  // small rows' storage, and at most twice what it holds now, so that the
  // records in flight cannot pin the largest row each ever held (a flood of
  // new ids fills popular items' rows: 700 MB pinned at 200k items before).
  constexpr size_t kKeptCapacity = 64;
  const size_t needed = row != nullptr ? row->size() : 0;
  if (out->capacity() > kKeptCapacity && out->capacity() > 2 * needed) std::vector<Neighbor>().swap(*out);
  if (row != nullptr) {
    out->assign(row->begin(), row->end());
  } else {
    out->clear();
  }
}

}  // namespace streamrec::learner
