// The scoring ceiling, the real top-N, and memory per user and item, measured
// on the state a pipeline run left in its store.
#pragma once

#include <cstdint>

#include "bench/ann.h"
#include "common/status.h"
#include "config/config.h"

namespace streamrec::bench {

struct ScoringFigures {
  // Threads of (3) and (4): emitter.scoring_threads where the catalogue is
  // large enough (emitter::kMinRowsPerThread items per thread), else 1.
  size_t threads = 1;
  double scoring_ceiling_lps = 0;  // bare batched product, no selection
  double topn_lps = 0;             // query vector, boosts and exact fused top-N, as the emitter runs them
  // The same with bfloat16 candidates re-scored exactly (0 where the CPU lacks
  // AVX-512 BF16), and the share of the exact lists' items it finds.
  double topn_bf16_lps = 0;
  double bf16_recall = 0;
  // As the emitter scores: bfloat16 over the items packed by bound (blocks no
  // list can reach skipped), the share of item-user pairs it scored, the
  // packing's time (once per item snapshot in the emitter) and its recall.
  double topn_by_bound_lps = 0;
  double by_bound_scored = 0;
  double by_bound_pack_ms = 0;
  double by_bound_recall = 0;
  uint64_t users_measured = 0;
  double bytes_per_user = 0;       // heap bytes of a cached user (record, key, LRU and map nodes)
  double bytes_per_item = 0;       // heap bytes of an item in the learner (all its tables)
  double disk_bytes_per_user = 0;  // SST bytes per stored user (embedding and history)
  double disk_bytes_per_item = 0;
};

// Opens config.store.path (the pipeline must have stopped); `users` and `items`
// are the generator's counts (user ids u0.., item ids i0..).
// With `learned_ann`, also measures the approximate index on the learned items.
[[nodiscard]] Status MeasureScoring(const config::Config& config, uint64_t users, ScoringFigures* out,
                                    AnnFigures* learned_ann = nullptr);

}  // namespace streamrec::bench
