// Figure (7) of `streamrec bench`: the approximate index (emitter::AnnIndex)
// against exact top-N on a catalogue of --ann-items items.
#pragma once

#include <cstdint>
#include <span>

#include "common/state.h"
#include "common/status.h"

namespace streamrec::bench {

struct AnnFigures {
  uint64_t items = 0;        // 0: not measured
  double build_seconds = 0;  // all items inserted, two threads
  double exact_lps = 0;      // TopNScorer, batches of 64 users, one thread
  double ann_lps = 0;        // candidates from the index, exact re-rank, one thread
  double recall_at_20 = 0;   // share of the exact top-20 the approximate top-20 holds
  size_t candidates = 0;     // candidates re-ranked per list
};

// The item matrix is synthetic (items around 1,000 cluster centres, as learned
// embeddings are, with small biases); users are cluster centres plus noise.
[[nodiscard]] Status MeasureAnn(uint64_t items, int dim, AnnFigures* out);

// The same comparison on a learned item matrix, for up to 256 of `queries`
// (users' query vectors, items.dim floats each).
[[nodiscard]] Status MeasureAnnLearned(const ItemMatrixView& items, std::span<const float> queries, AnnFigures* out);

}  // namespace streamrec::bench
