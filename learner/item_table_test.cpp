#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "learner/item_table.h"

using namespace streamrec;
using namespace streamrec::learner;

namespace {

constexpr size_t kDim = 8;

// Every row's norm and dense term within its block's bounds
// (ItemMatrixView::block_norms); `tight`: each bound is its block's maximum.
void CheckBlockBounds(const ItemTable& t, bool tight) {
  const ItemMatrixView v = t.View();
  REQUIRE(v.HasBlockBounds());
  const size_t blocks = (v.rows + ItemMatrixView::kBoundRows - 1) / ItemMatrixView::kBoundRows;
  std::vector<float> norms(blocks, 0.0F);
  std::vector<float> terms(blocks, -std::numeric_limits<float>::infinity());
  size_t outside = 0;
  for (size_t i = 0; i < v.rows; ++i) {
    const size_t b = i / ItemMatrixView::kBoundRows;
    float squares = 0.0F;
    for (size_t d = 0; d < kDim; ++d) squares += v.embeddings[i * kDim + d] * v.embeddings[i * kDim + d];
    norms[b] = std::max(norms[b], std::sqrt(squares));
    terms[b] = std::max(terms[b], v.biases[i]);
    // The norms as the table rounds them (the scorer allows 0.1 % for rounding).
    outside += std::sqrt(squares) > v.block_norms[b] * (1 + 1e-6F) || v.biases[i] > v.block_biases[b] ? 1 : 0;
  }
  CHECK(outside == 0);
  if (!tight) return;
  for (size_t b = 0; b < blocks; ++b) {
    CHECK(v.block_norms[b] == Approx(norms[b]).epsilon(1e-6));
    CHECK(v.block_biases[b] == terms[b]);
  }
}

}  // namespace

TEST_CASE("item table: every row within its block's bounds through every kind of write; exact after a recency sync") {
  ItemTable t(kDim, /*dense_min_events=*/2);
  std::mt19937 rng(12);
  std::normal_distribution<float> n;
  std::vector<float> e(kDim);
  auto random_row = [&] {
    for (float& x : e) x = n(rng);
    return std::span<const float>(e);
  };
  for (int i = 0; i < 1500; ++i) t.Add("i" + std::to_string(i), random_row(), 0.1F * n(rng), rng() % 3);
  CheckBlockBounds(t, false);
  t.SetRecencyTerm(0.5F, 0.0, 0.25F, 0.0);
  CheckBlockBounds(t, true);
  int64_t ts_ms = 0;
  std::vector<ItemId> touched;
  for (int step = 1; step <= 20'000; ++step) {
    const ItemId id(static_cast<uint32_t>(rng() % t.size()));
    switch (rng() % 6) {
      case 0: {  // an SGD step: the row grows or shrinks, and the bias moves
        const float scale = rng() % 2 == 0 ? 1.5F : 0.5F;
        for (size_t d = 0; d < kDim; ++d) t.embedding(id)[d] *= scale;
        *t.bias(id) += 0.5F * n(rng);
        t.BiasWritten(id);
        break;
      }
      case 1: t.AddCount(id, 1); break;
      case 2: t.AddRecency(id, ts_ms += 60'000, 86'400'000, 3'600'000); break;
      case 3: t.AddRecencyMass(id, 5.0F + n(rng), 4.0F + n(rng)); break;
      case 4: t.SetPinned(id, rng() % 2 == 0); break;
      default: t.Replace(id, "r" + std::to_string(step), random_row(), 3.0F * n(rng), &touched); break;
    }
    if (step % 2'000 == 0) CheckBlockBounds(t, false);
    if (step % 5'000 == 0) {
      t.SetRecencyTerm(0.1F * static_cast<float>(step / 5'000), static_cast<double>(ts_ms) / 86'400'000,
                       0.3F, static_cast<double>(ts_ms) / 3'600'000);
      CheckBlockBounds(t, true);
    }
  }
  // A restart restores items at their ids, out of order: rows of the gap are zeros until theirs come.
  ItemRecord r;
  r.id = ItemId(2'200);
  r.external_id = "restored";
  r.bias = 50.0F;
  r.count = 9;
  r.recency = 3.0F;
  r.embedding.assign(kDim, 4.0F);
  t.Restore(r);
  REQUIRE(t.size() == 2'201);
  CheckBlockBounds(t, false);
}

TEST_CASE("item table: an item given a replaced item's slot lists by its own terms, not its predecessor's recency") {
  ItemTable t(kDim);
  std::vector<float> e(kDim, 0.5F);
  const ItemId id = t.Add("old", e, 0.0F, 0);
  for (int i = 0; i < 50; ++i) t.AddRecency(id, 1'000'000 + i, 86'400'000, 3'600'000);
  t.SetRecencyTerm(2.0F, t.LatestRecency(), 1.0F, t.LatestShortRecency());
  REQUIRE(t.View().listed_biases[id.value()] == Approx(0.0F));  // the most recent item: at the top
  std::vector<ItemId> touched;
  t.Replace(id, "new", e, 0.25F, &touched);
  const auto floor = static_cast<float>(ItemTable::kRecencyFloor);
  CHECK(t.View().listed_biases[id.value()] == Approx(0.25F - 2.0F * floor - 1.0F * floor));
}
