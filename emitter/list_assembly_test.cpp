#include <catch2/catch.hpp>

#include "emitter/list_assembly.h"

using namespace streamrec;
using namespace streamrec::emitter;

namespace {

std::vector<ScoredItem> Ranked(std::initializer_list<uint32_t> ids) {
  std::vector<ScoredItem> out;
  float score = 10.0F;
  for (uint32_t id : ids) out.push_back({ItemId(id), score--});
  return out;
}

std::vector<uint32_t> Ids(const std::vector<ListEntry>& list) {
  std::vector<uint32_t> out;
  for (const ListEntry& e : list) out.push_back(e.item.value());
  return out;
}

}  // namespace

TEST_CASE("without rules the list is the ranked head") {
  std::vector<ListEntry> out;
  AssembleList({3, 0, {}}, Ranked({5, 4, 3, 2}), {}, &out);
  CHECK(Ids(out) == std::vector<uint32_t>{5, 4, 3});
  CHECK(out[0].reason == Reason::kPersonal);
}

TEST_CASE("slotted items take their slots and are not repeated") {
  std::vector<ListEntry> out;
  std::vector<SlottedItem> slotted = {{2, {ItemId(3), 0.1F}, Reason::kPinned},
                                      {1, {ItemId(9), 0.2F}, Reason::kNew},
                                      {2, {ItemId(8), 0.3F}, Reason::kNew}};  // slot taken: dropped
  AssembleList({4, 0, {}}, Ranked({5, 4, 3, 2}), slotted, &out);
  CHECK(Ids(out) == std::vector<uint32_t>{9, 3, 5, 4});
  CHECK(out[0].reason == Reason::kNew);
  CHECK(out[1].reason == Reason::kPinned);
}

TEST_CASE("the per-category limit skips to the next category") {
  std::vector<ListEntry> out;
  AssemblyLimits limits{4, 2, [](ItemId id) { return static_cast<int64_t>(id.value() % 2); }};
  AssembleList(limits, Ranked({2, 4, 6, 8, 1, 3}), {}, &out);
  CHECK(Ids(out) == std::vector<uint32_t>{2, 4, 1, 3});
}

TEST_CASE("too few candidates give a shorter list, slots still placed") {
  std::vector<ListEntry> out;
  std::vector<SlottedItem> slotted = {{4, {ItemId(7), 0.0F}, Reason::kPinned}};
  AssembleList({5, 0, {}}, Ranked({1}), slotted, &out);
  CHECK(Ids(out) == std::vector<uint32_t>{1, 7});
}
