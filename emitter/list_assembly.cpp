#include "emitter/list_assembly.h"

#include <algorithm>
#include <unordered_map>

namespace streamrec::emitter {
namespace {

bool Contains(const std::vector<ListEntry>& fixed, ItemId item) {
  return std::any_of(fixed.begin(), fixed.end(), [&](const ListEntry& e) { return e.item == item; });
}

}  // namespace

void AssembleList(const AssemblyLimits& limits, std::span<const ScoredItem> ranked,
                  std::span<const SlottedItem> slotted, std::vector<ListEntry>* out) {
  out->clear();
  if (slotted.empty() && limits.max_per_category == 0) {  // no rules: the ranked head
    for (size_t k = 0; k < ranked.size() && k < limits.top_n; ++k) {
      out->push_back({ranked[k].item, ranked[k].score, Reason::kPersonal});
    }
    return;
  }
  std::vector<ListEntry> fixed(limits.top_n, ListEntry{ItemId(0), 0.0F, Reason::kPersonal});
  std::vector<bool> has_fixed(limits.top_n, false);
  std::vector<ListEntry> placed;
  std::unordered_map<int64_t, size_t> per_category;
  auto category = [&](ItemId item) { return limits.category_of ? limits.category_of(item) : int64_t{-1}; };
  for (const SlottedItem& s : slotted) {
    if (s.slot < 1 || s.slot > limits.top_n || has_fixed[s.slot - 1] || Contains(placed, s.item.item)) continue;
    has_fixed[s.slot - 1] = true;
    fixed[s.slot - 1] = {s.item.item, s.item.score, s.reason};
    placed.push_back(fixed[s.slot - 1]);
    if (const int64_t c = category(s.item.item); c >= 0) ++per_category[c];
  }
  auto next = ranked.begin();
  auto take_ranked = [&]() -> std::optional<ListEntry> {
    for (; next != ranked.end(); ++next) {
      if (Contains(placed, next->item)) continue;
      const int64_t c = category(next->item);
      if (limits.max_per_category > 0 && c >= 0 && per_category[c] >= limits.max_per_category) continue;
      if (c >= 0) ++per_category[c];
      ListEntry e{next->item, next->score, Reason::kPersonal};
      ++next;
      return e;
    }
    return std::nullopt;
  };
  for (size_t pos = 0; pos < limits.top_n; ++pos) {
    if (has_fixed[pos]) {
      out->push_back(fixed[pos]);
    } else if (std::optional<ListEntry> e = take_ranked()) {
      out->push_back(*e);
    }
  }
}

}  // namespace streamrec::emitter
