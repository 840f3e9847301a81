#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "emitter/bf16_product.h"
#include "emitter/topn.h"

using namespace streamrec;
using namespace streamrec::emitter;

namespace {

std::vector<float> Normal(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

// On a CPU without AVX-512 BF16 a scorer asked for bfloat16 scores in float32
// and returns float32's lists exactly.
void CheckFallsBackToFloat32() {
  const size_t dim = 16, rows = 300;
  const std::vector<float> emb = Normal(rows * dim, 41);
  const std::vector<float> bias(rows, 0.0F);
  const ItemMatrixView items{emb.data(), bias.data(), rows, dim};
  const std::vector<float> q = Normal(dim, 42);
  const std::vector<TopNQuery> queries = {{{q.data(), dim}, {}, {}}};
  TopNScorer exact(10, 4096, ScoringPrecision::kFloat32);
  TopNScorer asked(10, 4096, ScoringPrecision::kBFloat16);
  REQUIRE(asked.precision() == ScoringPrecision::kFloat32);
  std::vector<std::vector<ScoredItem>> want, got;
  exact.Score(items, queries, &want);
  asked.Score(items, queries, &got);
  REQUIRE(got.size() == 1);
  REQUIRE(got[0].size() == want[0].size());
  for (size_t k = 0; k < got[0].size(); ++k) {
    CHECK(got[0][k].item == want[0][k].item);
    CHECK(got[0][k].score == want[0][k].score);
  }
}

}  // namespace

TEST_CASE("bfloat16 rounding: nearest, ties to even") {
  CHECK(FromBf16(ToBf16(1.0F)) == 1.0F);
  CHECK(FromBf16(ToBf16(-2.5F)) == -2.5F);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even mantissa (1).
  CHECK(FromBf16(ToBf16(1.0F + 1.0F / 256)) == 1.0F);
  CHECK(FromBf16(ToBf16(1.0F + 3.0F / 512)) == 1.0F + 1.0F / 128);
}

TEST_CASE("the bfloat16 product equals bfloat16 arithmetic done by hand") {
  if (!Bf16Available()) {  // no kernel here: the portable path is float32, and must be taken
    CheckFallsBackToFloat32();
    return;
  }
  for (size_t dim : {4, 7, 32, 64, 100}) {
    const size_t rows = 37;  // a partial block of 16
    const size_t users = 13;  // a group of 8 and one of 5
    const std::vector<float> items = Normal(rows * dim, 1);
    const std::vector<float> queries = Normal(users * dim, 2);
    PackedQueries packed;
    PackBf16Queries(queries, dim, users, &packed);
    REQUIRE(packed.users == users);
    std::vector<float> scores(rows * packed.users, -1.0F);
    Bf16Product(items.data(), rows, dim, packed, scores.data());
    for (size_t u = 0; u < users; ++u) {
      for (size_t r = 0; r < rows; ++r) {
        double want = 0;
        for (size_t d = 0; d < dim; ++d) {
          want += double{FromBf16(ToBf16(items[r * dim + d]))} * FromBf16(ToBf16(queries[u * dim + d]));
        }
        INFO("dim " << dim << " user " << u << " row " << r);
        CHECK(scores[u * rows + r] == Approx(want).margin(1e-4));
      }
    }
  }
}

TEST_CASE("bfloat16 top-N: exact scores, recall against float32 above 0.95") {
  const size_t dim = 64;
  const size_t rows = 20000;
  const std::vector<float> emb = Normal(rows * dim, 3);
  std::vector<float> bias = Normal(rows, 4);
  for (float& b : bias) b *= 0.1F;
  bias[17] = -std::numeric_limits<float>::infinity();  // never listed
  const ItemMatrixView items{emb.data(), bias.data(), rows, dim};
  const std::vector<float> vecs = Normal(64 * dim, 5);
  std::vector<ItemId> exclude = {ItemId(3), ItemId(5)};
  std::vector<std::pair<ItemId, float>> boosts = {{ItemId(11), 100.0F}};
  std::vector<TopNQuery> queries;
  for (size_t k = 0; k < 64; ++k) queries.push_back({{vecs.data() + k * dim, dim}, exclude, boosts});
  TopNScorer exact(20, 4096, ScoringPrecision::kFloat32);
  TopNScorer reduced(20, 4096, ScoringPrecision::kBFloat16);
  CHECK(reduced.precision() == (Bf16Available() ? ScoringPrecision::kBFloat16 : ScoringPrecision::kFloat32));
  std::vector<std::vector<ScoredItem>> want, got;
  exact.Score(items, queries, &want);
  reduced.Score(items, queries, &got);
  size_t hits = 0;
  for (size_t k = 0; k < queries.size(); ++k) {
    REQUIRE(got[k].size() == 20);
    CHECK(got[k][0].item == ItemId(11));  // the boost still applies
    for (size_t r = 0; r < got[k].size(); ++r) {
      const ScoredItem& s = got[k][r];
      CHECK(s.item != ItemId(3));
      CHECK(s.item != ItemId(5));
      CHECK(s.item != ItemId(17));
      if (r > 0) CHECK(s.score <= got[k][r - 1].score);
      for (const ScoredItem& w : want[k]) {
        if (w.item != s.item) continue;
        ++hits;
        CHECK(s.score == Approx(w.score).epsilon(1e-5));  // re-scored in float32
      }
    }
  }
  const double recall = static_cast<double>(hits) / (20.0 * queries.size());
  INFO("recall@20 " << recall);
  CHECK(recall >= 0.95);
}

TEST_CASE("items packed once give the on-the-fly product bit for bit, over any range of whole blocks") {
  if (!Bf16Available()) {  // no kernel here: the portable path is float32, and must be taken
    CheckFallsBackToFloat32();
    return;
  }
  for (size_t dim : {7, 64, 100}) {
    const size_t rows = 16 * 7 + 5;  // an odd number of blocks, the last one partial
    const size_t users = 11;
    const std::vector<float> items = Normal(rows * dim, 6);
    const std::vector<float> queries = Normal(users * dim, 7);
    PackedQueries q;
    PackBf16Queries(queries, dim, users, &q);
    PackedItems packed;
    PackBf16Items(items.data(), rows, dim, &packed);
    REQUIRE(packed.rows == rows);
    CHECK(reinterpret_cast<uintptr_t>(packed.words()) % 64 == 0);
    for (const auto& [first, count] : {std::pair<size_t, size_t>{0, rows}, {32, 48}, {96, rows - 96}, {64, 16}}) {
      std::vector<float> want(count * users, -1.0F);
      std::vector<float> got(count * users, -2.0F);
      Bf16Product(items.data() + first * dim, count, dim, q, want.data());
      Bf16ProductPacked(packed, first, count, q, got.data());
      INFO("dim " << dim << " rows " << first << ".." << first + count);
      CHECK(got == want);
    }
  }
}

TEST_CASE("top-N over packed items returns the lists of the float32 rows") {
  const size_t dim = 32;
  const size_t rows = 5000;
  const std::vector<float> emb = Normal(rows * dim, 8);
  const std::vector<float> bias(rows, 0.0F);
  const ItemMatrixView items{emb.data(), bias.data(), rows, dim};
  const std::vector<float> vecs = Normal(40 * dim, 9);
  std::vector<TopNQuery> queries;
  for (size_t k = 0; k < 40; ++k) queries.push_back({{vecs.data() + k * dim, dim}, {}, {}});
  TopNScorer scorer(20, 1024, ScoringPrecision::kBFloat16);
  std::vector<std::vector<ScoredItem>> want, got;
  scorer.Score(items, queries, &want);
  PackedItems packed;
  if (Bf16Available()) PackBf16Items(emb.data(), rows, dim, &packed);
  scorer.Score(items, queries, &got, &packed);
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    REQUIRE(got[k].size() == want[k].size());
    for (size_t r = 0; r < got[k].size(); ++r) {
      CHECK(got[k][r].item == want[k][r].item);
      CHECK(got[k][r].score == want[k][r].score);
    }
  }
}

TEST_CASE("items packed by bound, no biases: rows in descending norm, each group's bound holds, products of the rows in that order") {
  if (!Bf16Available()) {  // no kernel here: the portable path is float32, and must be taken
    CheckFallsBackToFloat32();
    return;
  }
  const size_t dim = 24;
  const size_t rows = 16 * 9 + 3;
  std::vector<float> items = Normal(rows * dim, 10);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t d = 0; d < dim; ++d) items[r * dim + d] *= static_cast<float>(1 + (r * 37) % 11);
  }
  auto rounded_norm = [&](size_t r) {
    double sum = 0;
    for (size_t d = 0; d < dim; ++d) sum += std::pow(double{FromBf16(ToBf16(items[r * dim + d]))}, 2);
    return std::sqrt(sum);
  };
  PackedItems packed;
  PackBf16Items(items.data(), rows, dim, &packed, ByBound{nullptr, 1.0F});
  const std::span<const uint32_t> order = packed.order();
  REQUIRE(order.size() == rows);
  REQUIRE(packed.group_norms().size() == (rows + 15) / 16);
  std::vector<uint32_t> sorted(order.begin(), order.end());
  std::sort(sorted.begin(), sorted.end());
  for (size_t r = 0; r < rows; ++r) CHECK(sorted[r] == r);  // a permutation
  for (size_t r = 0; r < rows; ++r) {
    CHECK(rounded_norm(order[r]) <= packed.group_norms()[r / 16]);
    if (r > 0) CHECK(rounded_norm(order[r]) <= rounded_norm(order[r - 1]) * 1.01);
  }
  for (size_t g = 1; g < packed.group_norms().size(); ++g) CHECK(packed.group_norms()[g] <= packed.group_norms()[g - 1]);
  // The product over the packing is the product over the rows gathered in its order.
  std::vector<float> gathered(rows * dim);
  for (size_t r = 0; r < rows; ++r) std::copy_n(items.begin() + order[r] * dim, dim, gathered.begin() + r * dim);
  PackedQueries q;
  PackBf16Queries(Normal(5 * dim, 11), dim, 5, &q);
  std::vector<float> want(rows * 5, -1.0F);
  std::vector<float> got(rows * 5, -2.0F);
  Bf16Product(gathered.data(), rows, dim, q, want.data());
  Bf16ProductPacked(packed, 0, rows, q, got.data());
  CHECK(got == want);
  // Packing again by id forgets the order.
  PackBf16Items(items.data(), rows, dim, &packed);
  CHECK(packed.order().empty());
  CHECK(packed.group_norms().empty());
}
