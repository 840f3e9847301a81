#include "learner/item_updates.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/fixed.h"

namespace streamrec::learner {
namespace {

// Version 1: magic, version, dim, item count; per item its id (length and
// bytes), events, the two masses, the bias delta, a flag and `dim` floats if
// it has an embedding delta; then the two pair lists (count, then a, b, weight).
// Version 2 (written since 2026-12-07): then the session steps (count, then
// user key, item, ts). Version 3 (since 2026-12-07 late): then the blend's
// steps (count, then the five weights' summed changes and the five sums of
// squared gradients).
// All are read: a group upgraded one instance at a time applies its older
// members' records (without their sessions or blend steps).
constexpr uint32_t kMagic = 0x55544953;  // "SITU": streamrec item updates
constexpr uint16_t kVersion = 3;
constexpr size_t kBlendBytes = 4 + 2 * BlendSteps::kWeights * sizeof(float);
constexpr size_t kSessionStepBytes = ItemUpdates::SessionStep::kEncodedBytes;
// Bounds a decoder trusts before allocating: a record's items and pairs.
constexpr uint32_t kMaxItems = 1U << 24;
constexpr uint32_t kMaxPairs = 1U << 26;
constexpr uint32_t kMaxIdBytes = 1U << 16;

void PutPairs(const std::vector<ItemUpdates::Pair>& pairs, std::string* out) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(pairs.size()));
  for (const ItemUpdates::Pair& p : pairs) {
    PutFixed<uint32_t>(out, p.a);
    PutFixed<uint32_t>(out, p.b);
    PutFixed<float>(out, p.weight);
  }
}

bool GetPairs(std::string_view* in, size_t items, std::vector<ItemUpdates::Pair>* out, std::string* error) {
  uint32_t n = 0;
  if (!GetFixed(in, &n) || n > kMaxPairs || in->size() < size_t{n} * 12) {
    *error = "truncated pair list";
    return false;
  }
  out->resize(n);
  for (ItemUpdates::Pair& p : *out) {
    (void)GetFixed(in, &p.a);  // the size was checked above
    (void)GetFixed(in, &p.b);
    (void)GetFixed(in, &p.weight);
    if (p.a >= items || p.b >= items || p.a == p.b || !std::isfinite(p.weight)) {
      *error = fmt::format("a pair ({}, {}) of {} items, weight {}", p.a, p.b, items, p.weight);
      return false;
    }
  }
  return true;
}

bool GetSessionSteps(std::string_view* in, size_t items, std::vector<ItemUpdates::SessionStep>* out,
                     std::string* error) {
  uint32_t n = 0;
  if (!GetFixed(in, &n) || n > kMaxPairs || in->size() < size_t{n} * kSessionStepBytes) {
    *error = "truncated session steps";
    return false;
  }
  out->resize(n);
  for (ItemUpdates::SessionStep& step : *out) {
    (void)GetFixed(in, &step.user_key);  // the size was checked above
    (void)GetFixed(in, &step.item);
    (void)GetFixed(in, &step.ts_ms);
    if (step.item >= items) {
      *error = fmt::format("a session step names item {} of {}", step.item, items);
      return false;
    }
  }
  return true;
}

bool GetItem(std::string_view* in, uint32_t dim, ItemUpdates::Item* item, std::string* error) {
  uint32_t id_bytes = 0;
  if (!GetFixed(in, &id_bytes) || id_bytes == 0 || id_bytes > kMaxIdBytes || in->size() < id_bytes) {
    *error = "truncated or empty item id";
    return false;
  }
  item->external_id.assign(in->data(), id_bytes);
  in->remove_prefix(id_bytes);
  uint8_t has_embedding = 0;
  if (!GetFixed(in, &item->events) || !GetFixed(in, &item->recency) || !GetFixed(in, &item->short_recency) ||
      !GetFixed(in, &item->bias_delta) || !GetFixed(in, &has_embedding) || has_embedding > 1) {
    *error = "truncated item fields";
    return false;
  }
  if (std::isnan(item->recency) || std::isnan(item->short_recency) || !std::isfinite(item->bias_delta)) {
    *error = fmt::format("item {}: a field is not a number", item->external_id);
    return false;
  }
  item->embedding_delta.resize(has_embedding != 0 ? dim : 0);
  if (in->size() < item->embedding_delta.size() * sizeof(float)) {
    *error = "truncated embedding delta";
    return false;
  }
  for (float& v : item->embedding_delta) {
    (void)GetFixed(in, &v);
    if (!std::isfinite(v)) {
      *error = fmt::format("item {}: an embedding delta is not finite", item->external_id);
      return false;
    }
  }
  return true;
}

bool GetBlendSteps(std::string_view* in, BlendSteps* out, std::string* error) {
  if (in->size() < kBlendBytes) {
    *error = "truncated blend steps";
    return false;
  }
  GetFixed(in, &out->steps);
  for (float& d : out->deltas) GetFixed(in, &d);
  for (float& s : out->squares) GetFixed(in, &s);
  const auto finite = [](float v) { return std::isfinite(v); };
  if (!std::all_of(out->deltas.begin(), out->deltas.end(), finite) ||
      !std::all_of(out->squares.begin(), out->squares.end(), [](float s) { return std::isfinite(s) && s >= 0; })) {
    *error = "blend steps are not finite";
    return false;
  }
  return true;
}

}  // namespace

std::string EncodeItemUpdates(const ItemUpdates& updates, uint32_t dim) {
  std::string out;
  out.reserve(20 + updates.items.size() * (32 + dim * sizeof(float)) +
              (updates.cooc.size() + updates.basket.size()) * 12 + updates.sessions.size() * kSessionStepBytes +
              kBlendBytes);
  PutFixed<uint32_t>(&out, kMagic);
  PutFixed<uint16_t>(&out, kVersion);
  PutFixed<uint32_t>(&out, dim);
  PutFixed<uint32_t>(&out, static_cast<uint32_t>(updates.items.size()));
  for (const ItemUpdates::Item& item : updates.items) {
    PutFixed<uint32_t>(&out, static_cast<uint32_t>(item.external_id.size()));
    out.append(item.external_id);
    PutFixed<uint32_t>(&out, item.events);
    PutFixed<float>(&out, item.recency);
    PutFixed<float>(&out, item.short_recency);
    PutFixed<float>(&out, item.bias_delta);
    const bool has_embedding = item.embedding_delta.size() == dim && dim > 0;
    PutFixed<uint8_t>(&out, has_embedding ? 1 : 0);
    if (has_embedding) {
      for (float v : item.embedding_delta) PutFixed<float>(&out, v);
    }
  }
  PutPairs(updates.cooc, &out);
  PutPairs(updates.basket, &out);
  PutFixed<uint32_t>(&out, static_cast<uint32_t>(updates.sessions.size()));
  for (const ItemUpdates::SessionStep& step : updates.sessions) {
    PutFixed<uint64_t>(&out, step.user_key);
    PutFixed<uint32_t>(&out, step.item);
    PutFixed<int64_t>(&out, step.ts_ms);
  }
  PutFixed<uint32_t>(&out, updates.blend.steps);
  for (float d : updates.blend.deltas) PutFixed<float>(&out, d);
  for (float s : updates.blend.squares) PutFixed<float>(&out, s);
  return out;
}

Status DecodeItemUpdates(std::string_view bytes, uint32_t dim, ItemUpdates* out) {
  out->clear();
  uint32_t magic = 0;
  uint16_t version = 0;
  uint32_t record_dim = 0;
  uint32_t items = 0;
  if (!GetFixed(&bytes, &magic) || magic != kMagic || !GetFixed(&bytes, &version)) {
    return Status::InvalidArgument("not an item-updates record");
  }
  if (version < 1 || version > kVersion) {
    return Status::InvalidArgument(
        fmt::format("item-updates record version {} (this streamrec reads 1 to {})", version, kVersion));
  }
  if (!GetFixed(&bytes, &record_dim) || !GetFixed(&bytes, &items) || items > kMaxItems) {
    return Status::InvalidArgument("truncated item-updates header");
  }
  if (record_dim != dim) {
    return Status::InvalidArgument(
        fmt::format("item updates of learner.dim {}, this instance's is {}: every instance of a group needs the same", record_dim, dim));
  }
  std::string error;
  out->items.resize(items);
  for (ItemUpdates::Item& item : out->items) {
    if (!GetItem(&bytes, dim, &item, &error)) return Status::InvalidArgument("item updates: " + error);
  }
  if (!GetPairs(&bytes, items, &out->cooc, &error) || !GetPairs(&bytes, items, &out->basket, &error) ||
      (version >= 2 && !GetSessionSteps(&bytes, items, &out->sessions, &error)) ||
      (version >= 3 && !GetBlendSteps(&bytes, &out->blend, &error))) {
    return Status::InvalidArgument("item updates: " + error);
  }
  if (!bytes.empty()) return Status::InvalidArgument(fmt::format("item updates: {} bytes after the end", bytes.size()));
  return Status::Ok();
}

}  // namespace streamrec::learner
