#include "traffic/generator.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace streamrec::traffic {
namespace {

// Cumulative Zipf weights over ranks 1..n.
std::vector<double> ZipfCdf(uint64_t n, double exponent) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (uint64_t r = 0; r < n; ++r) {
    sum += 1.0 / std::pow(static_cast<double>(r + 1), exponent);
    cdf[r] = sum;
  }
  for (double& c : cdf) c /= sum;
  return cdf;
}

uint64_t Draw(const std::vector<double>& cdf, double u) {
  auto it = std::lower_bound(cdf.begin(), cdf.end(), u);
  return static_cast<uint64_t>(std::min<std::ptrdiff_t>(it - cdf.begin(), static_cast<std::ptrdiff_t>(cdf.size()) - 1));
}

}  // namespace

Status GeneratorOptions::Validate() const {
  if (users < 1 || items < 1) return Status::InvalidArgument("--users and --items must be >= 1");
  if (segments < 1 || segments > 1000) return Status::InvalidArgument("--segments must be in 1..1000");
  if (items < static_cast<uint64_t>(segments)) return Status::InvalidArgument("need at least one item per segment");
  if (categories_per_segment < 1) return Status::InvalidArgument("categories per segment must be >= 1");
  for (double p : {in_segment, cart_rate, purchase_rate}) {
    if (p < 0 || p > 1) return Status::InvalidArgument("probabilities must be in [0, 1]");
  }
  return Status::Ok();
}

struct Generator::Impl {
  GeneratorOptions o;
  std::mt19937_64 rng;
  std::uniform_real_distribution<double> uniform{0.0, 1.0};
  std::vector<double> global_cdf;   // over all items by index
  std::vector<double> segment_cdf;  // over the items of one segment by rank
  std::vector<double> user_cdf;     // user activity skew
  uint64_t emitted = 0;
  // The funnel: the next event may continue the last one.
  bool pending = false;
  Event pending_event;
};

Generator::Generator(GeneratorOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->o = options;
  impl_->rng.seed(options.seed);
  impl_->global_cdf = ZipfCdf(options.items, options.zipf_exponent);
  impl_->segment_cdf = ZipfCdf(options.items / static_cast<uint64_t>(options.segments), options.zipf_exponent);
  impl_->user_cdf = ZipfCdf(options.users, 0.5);
}

Generator::~Generator() = default;

int Generator::UserSegment(uint64_t user_index) const {
  return static_cast<int>(user_index % static_cast<uint64_t>(impl_->o.segments));
}

int Generator::ItemSegment(uint64_t item_index) const {
  return static_cast<int>(item_index % static_cast<uint64_t>(impl_->o.segments));
}

int Generator::ItemCategory(uint64_t item_index) const {
  const auto s = static_cast<uint64_t>(impl_->o.segments);
  const auto cps = static_cast<uint64_t>(impl_->o.categories_per_segment);
  return static_cast<int>(ItemSegment(item_index) * cps + (item_index / s) % cps);
}

bool Generator::Next(Event* out) {
  Impl& m = *impl_;
  if (m.emitted >= m.o.events) return false;
  const int64_t ts = m.o.start_ts_ms + static_cast<int64_t>(m.emitted) * m.o.step_ms;
  ++m.emitted;
  if (m.pending) {
    m.pending = false;
    *out = m.pending_event;
    out->ts_ms = ts;
    out->event_id = "e" + std::to_string(m.emitted);
    if (out->type == EventType::kCart && m.uniform(m.rng) < m.o.purchase_rate) {
      m.pending = true;
      m.pending_event = *out;
      m.pending_event.type = EventType::kPurchase;
    }
    return true;
  }
  // Users are permuted by a fixed stride so activity is not tied to segment.
  const uint64_t user = (Draw(m.user_cdf, m.uniform(m.rng)) * 7919) % m.o.users;
  uint64_t item = 0;
  if (m.uniform(m.rng) < m.o.in_segment) {
    const auto segs = static_cast<uint64_t>(m.o.segments);
    const uint64_t rank = Draw(m.segment_cdf, m.uniform(m.rng));
    item = rank * segs + static_cast<uint64_t>(UserSegment(user));
  } else {
    item = Draw(m.global_cdf, m.uniform(m.rng));
  }
  out->user = UserName(user);
  out->item = ItemName(item);
  out->type = EventType::kView;
  out->ts_ms = ts;
  out->event_id = "e" + std::to_string(m.emitted);
  if (m.uniform(m.rng) < m.o.cart_rate) {
    m.pending = true;
    m.pending_event = *out;
    m.pending_event.type = EventType::kCart;
  }
  return true;
}

}  // namespace streamrec::traffic
