#include "emitter/ann_index.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

// hnswlib 0.6.2's SSE path prefetches one link past the end of a link list
// (nmslib/hnswlib#107, #578): harmless in practice, but AddressSanitizer stops
// on the read, so sanitized builds use hnswlib's plain loops.
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#endif
#include <hnswlib/hnswlib.h>

namespace streamrec::emitter {
namespace {

bool Better(const ScoredItem& a, const ScoredItem& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}

}  // namespace

struct AnnIndex::Impl {
  Impl(size_t d, AnnOptions o) : dim(d), options(o), space(d + 1) {}

  // [embedding, term]: the inner product with [query, 1] is the exact score.
  void Row(const ItemMatrixView& items, size_t i, float* out) const {
    std::copy(items.embeddings + i * dim, items.embeddings + (i + 1) * dim, out);
    const float term = items.biases[i];
    // A -inf term (not listable) would poison the graph's distances: keep the
    // point reachable and let the exact re-rank drop it.
    out[dim] = term >= std::numeric_limits<float>::lowest() ? term : -1e6F;
  }

  void Insert(const ItemMatrixView& items, size_t i, std::vector<float>* row) {
    Row(items, i, row->data());
    graph->addPoint(row->data(), static_cast<hnswlib::labeltype>(i));
  }

  size_t dim;
  AnnOptions options;
  hnswlib::InnerProductSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  size_t count = 0;
};

AnnIndex::AnnIndex(size_t dim, AnnOptions options) : impl_(std::make_unique<Impl>(dim, options)) {}
AnnIndex::~AnnIndex() = default;

size_t AnnIndex::size() const { return impl_->count; }

Status AnnIndex::Sync(const ItemMatrixView& items, std::span<const ItemId> changed, int threads) {
  Impl& m = *impl_;
  if (items.dim != m.dim) return Status::InvalidArgument("ann index: dimension mismatch");
  // hnswlib reports misuse by throwing; nothing may escape.
  try {
    if (!m.graph) {
      m.graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          &m.space, std::max(items.rows, m.options.grow_by), m.options.m, m.options.ef_construction);
      m.graph->setEf(m.options.ef_search);
    } else if (items.rows > m.graph->max_elements_) {
      m.graph->resizeIndex(items.rows + m.options.grow_by);
    }
    std::vector<float> row(m.dim + 1);
    for (ItemId id : changed) {
      if (id.value() < m.count) m.Insert(items, id.value(), &row);
    }
    const size_t first = m.count;
    std::atomic<size_t> next{first};
    // Each thread's first failure (hnswlib throws, so may allocation): an
    // exception must not leave a thread entry (std::terminate), it is returned.
    std::vector<std::string> failures(static_cast<size_t>(std::max(threads, 1)));
    auto work = [&](size_t slot) {
      try {
        std::vector<float> r(m.dim + 1);
        for (size_t i = next++; i < items.rows; i = next++) m.Insert(items, i, &r);
      } catch (const std::exception& e) {
        failures[slot] = e.what();
        next = items.rows;  // the others stop at their next item
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work, static_cast<size_t>(t));
    work(0);
    for (std::thread& t : pool) t.join();
    for (const std::string& f : failures) {
      if (!f.empty()) return Status::Internal("ann index: " + f);
    }
    m.count = std::max(m.count, items.rows);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("ann index: ") + e.what());
  }
  return Status::Ok();
}

void AnnIndex::Search(std::span<const float> query, size_t k, std::vector<ItemId>* out) const {
  out->clear();
  if (!impl_->graph || impl_->count == 0) return;
  std::vector<float> q(impl_->dim + 1);
  std::copy(query.begin(), query.end(), q.begin());
  q[impl_->dim] = 1.0F;
  auto found = impl_->graph->searchKnn(q.data(), std::min(k, impl_->count));
  out->resize(found.size());
  // The queue pops the worst first.
  for (size_t i = found.size(); i-- > 0; found.pop()) out->at(i) = ItemId(static_cast<uint32_t>(found.top().second));
}

void RerankTopN(const ItemMatrixView& items, const TopNQuery& query, std::span<const ItemId> candidates, size_t n,
                std::vector<ScoredItem>* out) {
  out->clear();
  std::vector<ItemId> exclude(query.exclude.begin(), query.exclude.end());
  std::sort(exclude.begin(), exclude.end());
  auto excluded = [&](ItemId id) { return std::binary_search(exclude.begin(), exclude.end(), id); };
  auto score = [&](ItemId id, float term) {
    const float* e = items.embeddings + id.value() * items.dim;
    float s = term;
    for (size_t d = 0; d < items.dim; ++d) s += query.vector[d] * e[d];
    return s;
  };
  for (ItemId id : candidates) {
    if (id.value() >= items.rows || excluded(id)) continue;
    out->push_back({id, score(id, items.biases[id.value()])});
  }
  for (const auto& [id, boost] : query.boosts) {
    if (id.value() >= items.rows || excluded(id)) continue;
    auto it = std::find_if(out->begin(), out->end(), [&](const ScoredItem& s) { return s.item == id; });
    // A boosted item takes its listed term (ListedBias), not the dense pass's.
    if (it != out->end()) out->erase(it);
    out->push_back({id, score(id, items.ListedBias(id.value())) + boost});
  }
  std::erase_if(*out, [](const ScoredItem& s) { return !(s.score >= std::numeric_limits<float>::lowest()); });
  const size_t keep = std::min(n, out->size());
  std::partial_sort(out->begin(), out->begin() + static_cast<std::ptrdiff_t>(keep), out->end(), Better);
  out->resize(keep);
}

}  // namespace streamrec::emitter
