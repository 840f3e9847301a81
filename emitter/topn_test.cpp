#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "emitter/topn.h"

using namespace streamrec;
using namespace streamrec::emitter;

namespace {

struct Items {
  Items(size_t rows, size_t dim, uint32_t seed) : rows(rows), dim(dim) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n;
    emb.resize(rows * dim);
    for (float& x : emb) x = n(rng);
    bias.resize(rows);
    for (float& b : bias) b = 0.1F * n(rng);
  }
  ItemMatrixView View() const { return {emb.data(), bias.data(), rows, dim}; }
  size_t rows, dim;
  std::vector<float> emb, bias;
};

}  // namespace

TEST_CASE("batched top-N equals brute force, with exclusions and partial blocks") {
  const size_t dim = 16;
  Items items(10'000 + 37, dim, 5);  // not a multiple of the block size
  std::mt19937 rng(9);
  std::normal_distribution<float> n;
  std::vector<std::vector<float>> vecs(70, std::vector<float>(dim));
  std::vector<std::vector<ItemId>> excl(70);
  for (size_t k = 0; k < vecs.size(); ++k) {
    for (float& x : vecs[k]) x = n(rng);
    for (int e = 0; e < static_cast<int>(k % 30); ++e) excl[k].push_back(ItemId(rng() % items.rows));
  }
  // Boosts on some queries, some on excluded items (which must stay out).
  std::vector<std::vector<std::pair<ItemId, float>>> boosts(vecs.size());
  for (size_t k = 0; k < vecs.size(); k += 3) {
    for (int b = 0; b < 15; ++b) boosts[k].push_back({ItemId(static_cast<uint32_t>(rng() % 500) * 20 + b), 2.0F + b});
    if (!excl[k].empty()) boosts[k].push_back({excl[k][0], 50.0F});
    std::sort(boosts[k].begin(), boosts[k].end());
    boosts[k].erase(std::unique(boosts[k].begin(), boosts[k].end(),
                                [](auto& a, auto& b) { return a.first == b.first; }),
                    boosts[k].end());
  }
  std::vector<TopNQuery> queries;
  for (size_t k = 0; k < vecs.size(); ++k) queries.push_back({vecs[k], excl[k], boosts[k]});
  // Exclude exactly the true best item of query 0, so exclusion is exercised.
  std::vector<ScoredItem> best0 = BruteForceTopN(items.View(), {vecs[0], {}}, 1);
  excl[0] = {best0[0].item};
  queries[0].exclude = excl[0];

  TopNScorer scorer(20, 1024);
  std::vector<std::vector<ScoredItem>> got;
  scorer.Score(items.View(), queries, &got);
  REQUIRE(got.size() == queries.size());
  for (size_t k = 0; k < queries.size(); ++k) {
    std::vector<ScoredItem> want = BruteForceTopN(items.View(), queries[k], 20);
    REQUIRE(got[k].size() == 20);
    for (size_t r = 0; r < 20; ++r) {
      INFO("query " << k << " rank " << r);
      CHECK(got[k][r].item == want[r].item);
      CHECK(got[k][r].score == Approx(want[r].score).epsilon(1e-4));
    }
    for (const ScoredItem& s : got[k]) {
      CHECK(std::find(excl[k].begin(), excl[k].end(), s.item) == excl[k].end());
    }
  }
  CHECK(got[0][0].item != best0[0].item);
}

TEST_CASE("top-N with fewer eligible items than N, and ties broken by id") {
  std::vector<float> emb(5 * 4, 1.0F), bias(5, 0.0F);
  ItemMatrixView v{emb.data(), bias.data(), 5, 4};
  std::vector<float> q(4, 1.0F);
  std::vector<ItemId> excl = {ItemId(1)};
  TopNQuery query{q, excl};
  TopNScorer scorer(10);
  std::vector<std::vector<ScoredItem>> got;
  scorer.Score(v, {&query, 1}, &got);
  REQUIRE(got[0].size() == 4);
  CHECK(got[0][0].item == ItemId(0));
  CHECK(got[0][1].item == ItemId(2));
  CHECK(got[0][3].item == ItemId(4));
  ItemMatrixView empty{};
  empty.dim = 4;
  scorer.Score(empty, {&query, 1}, &got);
  CHECK(got[0].empty());
}

TEST_CASE("the dense pass split over threads gives the lists of one thread, in both precisions") {
  const size_t dim = 24;
  Items items(3 * kMinRowsPerThread + 101, dim, 11);  // three shares, the last one ragged
  std::mt19937 rng(3);
  std::normal_distribution<float> n;
  std::vector<std::vector<float>> vecs(45, std::vector<float>(dim));
  std::vector<std::vector<ItemId>> excl(vecs.size());
  std::vector<std::vector<std::pair<ItemId, float>>> boosts(vecs.size());
  for (size_t k = 0; k < vecs.size(); ++k) {
    for (float& x : vecs[k]) x = n(rng);
    for (int e = 0; e < 10; ++e) excl[k].push_back(ItemId(rng() % items.rows));
    if (k % 4 == 0) boosts[k].push_back({ItemId(static_cast<uint32_t>(k * 1000 + 7)), 3.0F});
  }
  // Equal scores across the shares' boundary: ties must still go to the smaller id.
  for (size_t d = 0; d < dim; ++d) {
    items.emb[(kMinRowsPerThread - 1) * dim + d] = items.emb[(2 * kMinRowsPerThread + 5) * dim + d] = 9.0F;
  }
  items.bias[kMinRowsPerThread - 1] = items.bias[2 * kMinRowsPerThread + 5] = 0.0F;
  std::vector<TopNQuery> queries;
  for (size_t k = 0; k < vecs.size(); ++k) queries.push_back({vecs[k], excl[k], boosts[k]});
  for (ScoringPrecision precision : {ScoringPrecision::kFloat32, ScoringPrecision::kBFloat16}) {
    TopNScorer one(20, kMaxBlockRows, precision, 1);
    TopNScorer three(20, kMaxBlockRows, precision, 3);
    std::vector<std::vector<ScoredItem>> expected;
    std::vector<std::vector<ScoredItem>> got;
    one.Score(items.View(), queries, &expected);
    for (int round = 0; round < 2; ++round) {  // a second call reuses the shares' buffers
      three.Score(items.View(), queries, &got);
      REQUIRE(got.size() == expected.size());
      for (size_t k = 0; k < got.size(); ++k) {
        REQUIRE(got[k].size() == expected[k].size());
        for (size_t i = 0; i < got[k].size(); ++i) {
          CHECK(got[k][i].item == expected[k][i].item);
          CHECK(got[k][i].score == expected[k][i].score);
        }
      }
    }
  }
}

TEST_CASE("a boost lifts an item from the bottom of the catalogue, in both precisions; excluded or unavailable boosted items stay out") {
  const size_t dim = 16;
  Items items(5000, dim, 21);
  std::mt19937 rng(4);
  std::normal_distribution<float> n;
  std::vector<float> q(dim);
  for (float& x : q) x = n(rng);
  std::vector<ScoredItem> all = BruteForceTopN(items.View(), {q, {}, {}}, items.rows);
  const ItemId worst = all[items.rows - 1].item;
  const ItemId excluded = all[items.rows - 2].item;
  const ItemId unavailable = all[items.rows - 3].item;
  items.bias[unavailable.value()] = -std::numeric_limits<float>::infinity();
  std::vector<std::pair<ItemId, float>> boosts = {{worst, 1000.0F}, {excluded, 2000.0F}, {unavailable, 3000.0F}};
  std::vector<ItemId> exclude = {excluded};
  const TopNQuery query{q, exclude, boosts};
  const std::vector<ScoredItem> want = BruteForceTopN(items.View(), query, 20);
  REQUIRE(want[0].item == worst);
  for (ScoringPrecision precision : {ScoringPrecision::kFloat32, ScoringPrecision::kBFloat16}) {
    TopNScorer scorer(20, 1024, precision);
    std::vector<std::vector<ScoredItem>> got;
    scorer.Score(items.View(), {&query, 1}, &got);
    REQUIRE(got[0].size() == 20);
    CHECK(got[0][0].item == worst);
    CHECK(got[0][0].score == Approx(want[0].score).epsilon(1e-5));  // exact, boost included
    for (const ScoredItem& s : got[0]) {
      CHECK(s.item != excluded);
      CHECK(s.item != unavailable);
    }
  }
}

TEST_CASE("bfloat16 with items packed up to a point: the rows added since are scored too, as unpacked") {
  // Without the kernel nothing is packed and kBFloat16 falls back to float32:
  // the same lists must come out of that path.
  const size_t dim = 32;
  Items items(10000, dim, 21);
  PackedItems packed;
  if (Bf16Available()) PackBf16Items(items.emb.data(), 5000, dim, &packed);  // then 5,000 more items arrived
  // The best item for the query is among the unpacked ones.
  std::vector<float> q(dim, 0.0F);
  for (size_t d = 0; d < dim; ++d) q[d] = items.emb[9876 * dim + d];
  const std::vector<ItemId> none;
  const std::vector<std::pair<ItemId, float>> no_boosts;
  const std::vector<TopNQuery> queries = {{q, none, no_boosts}};
  TopNScorer scorer(20, kMaxBlockRows, ScoringPrecision::kBFloat16);
  std::vector<std::vector<ScoredItem>> unpacked;
  std::vector<std::vector<ScoredItem>> partly;
  scorer.Score(items.View(), queries, &unpacked);
  scorer.Score(items.View(), queries, &partly, &packed);
  REQUIRE(partly.size() == 1);
  REQUIRE(partly[0].size() == unpacked[0].size());
  CHECK(partly[0][0].item == ItemId(9876));
  for (size_t i = 0; i < partly[0].size(); ++i) {
    CHECK(partly[0][i].item == unpacked[0][i].item);
    CHECK(partly[0][i].score == unpacked[0][i].score);
  }
}

TEST_CASE("bfloat16 over items packed by bound: the lists of items packed by id, far fewer items scored") {
  // Without the kernel nothing is packed and kBFloat16 falls back to float32,
  // scoring every row: the lists must still be the same.
  const size_t dim = 16;
  Items items(40'000 + 37, dim, 31);  // two threads' worth, a partial block
  std::mt19937 rng(32);
  std::normal_distribution<float> n;
  // Norms as skewed as popularity makes them: log-normal row scales.
  for (size_t i = 0; i < items.rows; ++i) {
    const float scale = std::exp(n(rng));
    for (size_t d = 0; d < dim; ++d) items.emb[i * dim + d] *= scale;
    if (i % 97 == 0) items.bias[i] = -std::numeric_limits<float>::infinity();  // unavailable
  }
  // A weak item with a large per-item term (a merchandising rule) tops every list.
  size_t weakest = 0;
  for (size_t i = 1; i < items.rows; ++i) {
    if (std::abs(items.emb[i * dim]) < std::abs(items.emb[weakest * dim])) weakest = i;
  }
  items.bias[weakest] = 1000.0F;
  std::vector<std::vector<float>> vecs(60, std::vector<float>(dim));
  std::vector<std::vector<ItemId>> excl(vecs.size());
  std::vector<std::vector<std::pair<ItemId, float>>> boosts(vecs.size());
  std::vector<TopNQuery> queries;
  for (size_t k = 0; k < vecs.size(); ++k) {
    for (float& x : vecs[k]) x = n(rng);
    for (size_t e = 0; e < k % 20; ++e) excl[k].push_back(ItemId(rng() % items.rows));
    for (size_t b = 0; k % 3 == 0 && b < 10; ++b) boosts[k].push_back({ItemId(static_cast<uint32_t>(b * 3001)), 500.0F + b});
    queries.push_back({vecs[k], excl[k], boosts[k]});
  }
  for (size_t threads : {1, 2}) {
    for (size_t packed_rows : {items.rows, size_t{30'000}}) {  // all, or some added since the packing
      INFO(threads << " threads, " << packed_rows << " rows packed");
      PackedItems by_id;
      PackedItems by_bound;
      if (Bf16Available()) {
        PackBf16Items(items.emb.data(), packed_rows, dim, &by_id);
        PackBf16Items(items.emb.data(), packed_rows, dim, &by_bound,
                      ByBound{items.bias.data(), MedianQueryNorm(queries)});
      }
      TopNScorer scorer(20, 1024, ScoringPrecision::kBFloat16, threads);
      CHECK(scorer.precision() == (Bf16Available() ? ScoringPrecision::kBFloat16 : ScoringPrecision::kFloat32));
      std::vector<std::vector<ScoredItem>> want;
      std::vector<std::vector<ScoredItem>> got;
      scorer.Score(items.View(), queries, &want, &by_id);
      CHECK(scorer.scored_fraction() == 1.0);
      scorer.Score(items.View(), queries, &got, &by_bound);
      // Rows added since the packing are all scored; of the packed, few.
      const double unpacked = static_cast<double>(items.rows - packed_rows) / static_cast<double>(items.rows);
      if (Bf16Available()) CHECK(scorer.scored_fraction() < unpacked + 0.3);
      REQUIRE(got.size() == want.size());
      for (size_t k = 0; k < got.size(); ++k) {
        INFO("query " << k);
        REQUIRE(got[k].size() == want[k].size());
        const bool weakest_excluded =
            std::find(excl[k].begin(), excl[k].end(), ItemId(static_cast<uint32_t>(weakest))) != excl[k].end();
        if (!weakest_excluded && boosts[k].empty()) CHECK(got[k][0].item == ItemId(static_cast<uint32_t>(weakest)));
        for (size_t r = 0; r < got[k].size(); ++r) {
          CHECK(got[k][r].item == want[k][r].item);
          CHECK(got[k][r].score == want[k][r].score);
        }
      }
    }
  }
}

// Items the dense pass never lists (ItemMatrixView::biases -inf, e.g. seen
// once) but that stay listable through their boost (listed_biases).
TEST_CASE("float32 rows packed by bound: the lists of the pass by id; items the dense pass leaves out cost nothing "
          "and still reach lists through their boosts") {
  const size_t dim = 16;
  Items items(40'000 + 11, dim, 21);
  std::vector<float> listed = items.bias;
  std::mt19937 rng(4);
  std::normal_distribution<float> n;
  for (size_t i = 0; i < items.rows; ++i) {
    const float scale = std::exp(n(rng));  // norms as skewed as popularity makes them
    for (size_t d = 0; d < dim; ++d) items.emb[i * dim + d] *= scale;
    // A flood: the last half of the ids, and one in three of the rest.
    if (i >= items.rows / 2 || i % 3 == 0) items.bias[i] = -std::numeric_limits<float>::infinity();
  }
  ItemMatrixView view = items.View();
  view.listed_biases = listed.data();
  std::vector<std::vector<float>> vecs(40, std::vector<float>(dim));
  std::vector<std::vector<ItemId>> excl(vecs.size());
  std::vector<std::vector<std::pair<ItemId, float>>> boosts(vecs.size());
  std::vector<TopNQuery> queries;
  for (size_t k = 0; k < vecs.size(); ++k) {
    for (float& x : vecs[k]) x = n(rng);
    for (size_t e = 0; e < k % 7; ++e) excl[k].push_back(ItemId(rng() % items.rows));
    // Boosts on left-out items (ids divisible by 3, and past the half) and on listed ones.
    for (size_t b = 0; k % 2 == 0 && b < 6; ++b) {
      boosts[k].push_back({ItemId(static_cast<uint32_t>(b * 3 * 1009)), 1000.0F + static_cast<float>(b)});
      boosts[k].push_back({ItemId(static_cast<uint32_t>(items.rows / 2 + b * 7)), 900.0F});
      boosts[k].push_back({ItemId(static_cast<uint32_t>(b * 3 * 1009 + 1)), 0.5F});
    }
    queries.push_back({vecs[k], excl[k], boosts[k]});
  }
  TopNScorer scorer(20, 1024, ScoringPrecision::kFloat32);
  std::vector<std::vector<ScoredItem>> by_id;
  std::vector<std::vector<ScoredItem>> by_bound;
  scorer.Score(view, queries, &by_id);
  PackedItems packed;
  PackFloat32Items(items.emb.data(), items.rows, dim, &packed, ByBound{items.bias.data(), MedianQueryNorm(queries)});
  REQUIRE(packed.layout() == PackedItems::Layout::kFloat32);
  scorer.Score(view, queries, &by_bound, &packed);
  CHECK(scorer.scored_fraction() < 0.3);  // of 40k items, two thirds left out: those blocks are never scored
  for (size_t k = 0; k < queries.size(); ++k) {
    INFO("query " << k);
    const std::vector<ScoredItem> want = BruteForceTopN(view, queries[k], 20);
    REQUIRE(by_id[k].size() == want.size());
    REQUIRE(by_bound[k].size() == want.size());
    for (size_t r = 0; r < want.size(); ++r) {
      CHECK(by_id[k][r].item == want[r].item);
      CHECK(by_bound[k][r].item == want[r].item);
      CHECK(by_bound[k][r].score == Approx(want[r].score).epsilon(1e-4));
      const bool dense = view.biases[by_id[k][r].item.value()] > -1e30F;
      CHECK((dense || std::any_of(boosts[k].begin(), boosts[k].end(),
                                  [&](auto& b) { return b.first == want[r].item; })));
    }
    // The strongly boosted left-out items head the list (unless excluded).
    if (!boosts[k].empty() && std::find(excl[k].begin(), excl[k].end(), ItemId(0)) == excl[k].end()) {
      CHECK(std::any_of(by_bound[k].begin(), by_bound[k].begin() + 12,
                        [](const ScoredItem& s) { return s.item == ItemId(0); }));
    }
  }
  SECTION("every item left out: nothing scored, the boosted items alone listed") {
    std::fill(items.bias.begin(), items.bias.end(), -std::numeric_limits<float>::infinity());
    PackFloat32Items(items.emb.data(), items.rows, dim, &packed, ByBound{items.bias.data(), 1.0F});
    for (const PackedItems* p : {static_cast<const PackedItems*>(nullptr), static_cast<const PackedItems*>(&packed)}) {
      scorer.Score(view, queries, &by_bound, p);
      if (p != nullptr) CHECK(scorer.scored_fraction() == 0.0);
      for (size_t k = 0; k < queries.size(); ++k) {
        size_t boosted_allowed = 0;
        for (const auto& [id, boost] : boosts[k]) {
          if (std::find(excl[k].begin(), excl[k].end(), id) == excl[k].end()) ++boosted_allowed;
        }
        CHECK(by_bound[k].size() == boosted_allowed);
      }
    }
  }
}

namespace {

// Items with the learner's block bounds (ItemMatrixView::block_norms), as
// learner::ItemTable keeps them: recent items (the last ids) carry large
// terms, the rest small ones, the way a drifting catalogue's recency does.
// Queries point along `along`. Bounds() after changing rows.
struct BoundedItems : Items {
  BoundedItems(size_t rows, size_t dim, uint32_t seed, const std::vector<float>& along) : Items(rows, dim, seed) {
    for (float& x : emb) x *= 0.25F;
    for (size_t i = 0; i < rows; ++i) bias[i] += i + 600 >= rows ? 3.0F : -5.0F;
    // An old item in every 8th block still makes the lists, by its product
    // alone: its block is needed, and only its norm bound says so.
    for (size_t i = 100; i + 600 < rows; i += 8 * ItemMatrixView::kBoundRows) {
      bias[i] = 4.0F;
      for (size_t d = 0; d < dim; ++d) emb[i * dim + d] = 3.0F * along[d];
    }
    bias[17] = -std::numeric_limits<float>::infinity();  // never listed by the dense pass
    Bounds();
  }
  void Bounds() {
    const size_t blocks = (rows + ItemMatrixView::kBoundRows - 1) / ItemMatrixView::kBoundRows;
    norms.assign(blocks, 0.0F);
    terms.assign(blocks, -std::numeric_limits<float>::infinity());
    for (size_t i = 0; i < rows; ++i) {
      float squares = 0.0F;
      for (size_t d = 0; d < dim; ++d) squares += emb[i * dim + d] * emb[i * dim + d];
      const size_t b = i / ItemMatrixView::kBoundRows;
      norms[b] = std::max(norms[b], std::sqrt(squares));
      terms[b] = std::max(terms[b], bias[i]);
    }
  }
  ItemMatrixView Bounded() const {
    ItemMatrixView view = View();
    view.block_norms = norms.data();
    view.block_biases = terms.data();
    view.bounded_biases = bias.data();
    return view;
  }
  std::vector<float> norms, terms;
};

}  // namespace

TEST_CASE("block bounds by id: the lists of the pass without them, boosts included, with blocks skipped") {
  const size_t dim = 16;
  std::mt19937 rng(8);
  std::normal_distribution<float> n;
  std::vector<float> along(dim);
  for (float& x : along) x = n(rng);
  const float length = std::sqrt(std::inner_product(along.begin(), along.end(), along.begin(), 0.0F));
  for (float& x : along) x /= length;
  BoundedItems items(2 * kMinRowsPerThread + 333, dim, 31, along);
  const size_t count = 12;  // more than kMinUsersToPackBf16: batches of 1 and of 12
  std::vector<std::vector<float>> vecs(count, std::vector<float>(dim));
  std::vector<std::vector<ItemId>> excl(count);
  std::vector<std::vector<std::pair<ItemId, float>>> boosts(count);
  for (size_t k = 0; k < count; ++k) {
    for (size_t d = 0; d < dim; ++d) vecs[k][d] = 0.8F * along[d] + 0.05F * n(rng);
    for (int e = 0; e < 40; ++e) excl[k].push_back(ItemId(rng() % items.rows));
    // Boosts everywhere, strong and weak: on old items (skipped blocks: more
    // strong ones than the scorer keeps, so that some are not taken first),
    // on excluded ones, on the item the dense pass never lists.
    // The strong ones on old items facing away from the queries: their lower
    // bounds (the floor) are tight, and they make the lists.
    for (int b = 0; b < 60; ++b) {
      const ItemId id(static_cast<uint32_t>(rng() % (items.rows - 600)));
      boosts[k].push_back({id, b < 45 ? 10.5F : 0.1F * (b % 7)});
      if (b < 45) {
        for (size_t d = 0; d < dim; ++d) items.emb[id.value() * dim + d] = -2.0F * along[d];
      }
    }
    // A weak boost on an old item facing the query: listed by its product,
    // its block skipped.
    const ItemId facing(static_cast<uint32_t>(rng() % (items.rows - 600)));
    boosts[k].push_back({facing, 7.0F});
    for (size_t d = 0; d < dim; ++d) items.emb[facing.value() * dim + d] = 3.0F * along[d];
    boosts[k].push_back({excl[k][0], 500.0F});
    boosts[k].push_back({ItemId(17), 400.0F});
    std::sort(boosts[k].begin(), boosts[k].end());
    boosts[k].erase(std::unique(boosts[k].begin(), boosts[k].end(), [](auto& a, auto& b) { return a.first == b.first; }),
                    boosts[k].end());
  }
  items.Bounds();
  std::vector<TopNQuery> queries;
  for (size_t k = 0; k < count; ++k) queries.push_back({vecs[k], excl[k], boosts[k]});
  // The bounds are only for the biases they were kept with.
  ItemMatrixView replaced = items.Bounded();
  std::vector<float> other_terms = items.bias;
  replaced.biases = other_terms.data();
  CHECK(items.Bounded().HasBlockBounds());
  CHECK_FALSE(replaced.HasBlockBounds());
  for (ScoringPrecision precision : {ScoringPrecision::kFloat32, ScoringPrecision::kBFloat16}) {
    for (size_t threads : {1, 2}) {
      TopNScorer plain(20, kMaxBlockRows, precision, threads);
      TopNScorer bounded(20, kMaxBlockRows, precision, threads);
      std::vector<std::vector<ScoredItem>> want, got;
      for (size_t batch : {size_t{1}, count}) {
        double fraction = 0.0;
        ptrdiff_t mid_listed = 0;  // old items of needed blocks listed
        for (size_t first = 0; first < count; first += batch) {
          const std::span<const TopNQuery> some(queries.data() + first, batch);
          plain.Score(items.View(), some, &want);
          bounded.Score(items.Bounded(), some, &got);
          fraction += bounded.scored_fraction() * static_cast<double>(batch) / count;
          for (size_t k = 0; k < batch; ++k) {
            const std::vector<ScoredItem> brute = BruteForceTopN(items.View(), queries[first + k], 20);
            REQUIRE(got[k].size() == 20);
            REQUIRE(want[k].size() == 20);
            mid_listed += std::count_if(got[k].begin(), got[k].end(), [](const ScoredItem& s) {
              return s.item.value() % (8 * ItemMatrixView::kBoundRows) == 100;
            });
            for (size_t i = 0; i < 20; ++i) {
              CHECK(got[k][i].item == want[k][i].item);
              CHECK(got[k][i].score == Approx(want[k][i].score).epsilon(1e-6));
              CHECK(got[k][i].item == brute[i].item);
              CHECK(got[k][i].item != ItemId(17));
              CHECK(got[k][i].item != excl[first + k][0]);
            }
          }
        }
        CHECK(mid_listed > 0);
        // Single queries skip most old items' blocks. A batch scores a block
        // any of its queries needs; a bfloat16 batch of 12 packs its rows
        // and is never bounded (its products are not exact).
        if (batch == 1) {
          CHECK(fraction < 0.3);
        } else if (precision == ScoringPrecision::kBFloat16) {
          CHECK(fraction == 1.0);
        }
      }
    }
  }
}
