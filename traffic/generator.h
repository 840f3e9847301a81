// Generator: synthetic shop traffic with a planted structure, so a learner
// can be checked against known truth.
//
// Users belong to taste segments (user k: segment k % segments); items belong
// to categories, each category to one segment (item i: segment i % segments).
// A user picks an item of their own segment with probability `in_segment`,
// Zipf-distributed by popularity within it, otherwise any item by global
// popularity. Clicks lead to carts and carts to purchases (the funnel).
// Deterministic for a seed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/event.h"
#include "common/status.h"

namespace streamrec::traffic {

struct GeneratorOptions {
  uint64_t users = 1000;
  uint64_t items = 2000;
  uint64_t events = 50000;
  int segments = 8;                 // taste segments, 1..1000
  int categories_per_segment = 4;   // item categories per segment
  double zipf_exponent = 1.0;       // item popularity skew
  double in_segment = 0.9;          // share of picks from the user's own segment
  double cart_rate = 0.15;          // P(cart | click)
  double purchase_rate = 0.3;       // P(purchase | cart)
  uint64_t seed = 7;
  int64_t start_ts_ms = 1700000000000;
  int64_t step_ms = 50;             // event-time spacing

  [[nodiscard]] Status Validate() const;
};

class Generator {
 public:
  explicit Generator(GeneratorOptions options);
  ~Generator();

  // Produces the next event; false after options.events events.
  bool Next(Event* out);

  static std::string UserName(uint64_t index) { return "u" + std::to_string(index); }
  static std::string ItemName(uint64_t index) { return "i" + std::to_string(index); }
  int UserSegment(uint64_t user_index) const;
  int ItemSegment(uint64_t item_index) const;
  int ItemCategory(uint64_t item_index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::traffic
