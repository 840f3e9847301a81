#include "store/codec.h"

#include <cstring>
#include <type_traits>

#include "common/experiment_codec.h"
#include "common/fixed.h"

namespace streamrec::store::codec {
namespace {

void PutFloats(std::string* out, const std::vector<float>& v) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(v.size()));
  out->append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

bool GetFloats(std::string_view* in, std::vector<float>* v) {
  uint32_t n = 0;
  if (!GetFixed(in, &n) || in->size() < n * sizeof(float)) return false;
  v->resize(n);
  if (n > 0) std::memcpy(v->data(), in->data(), n * sizeof(float));  // data() may be null when empty
  in->remove_prefix(n * sizeof(float));
  return true;
}

// Ids are written as their uint32 values, in the same native byte order as
// PutFixed: one copy for the whole vector instead of one append per id.
static_assert(sizeof(ItemId) == sizeof(uint32_t) && std::is_trivially_copyable_v<ItemId>);

void PutIds(std::string* out, const std::vector<ItemId>& ids) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(ids.size()));
  out->append(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(uint32_t));
}

bool GetIds(std::string_view* in, std::vector<ItemId>* ids) {
  uint32_t n = 0;
  if (!GetFixed(in, &n) || in->size() < n * sizeof(uint32_t)) return false;
  ids->resize(n);
  // An empty vector's data() may be null, which memcpy must not be given even for 0 bytes.
  if (n > 0) std::memcpy(static_cast<void*>(ids->data()), in->data(), n * sizeof(uint32_t));
  in->remove_prefix(n * sizeof(uint32_t));
  return true;
}

// (id, weight) pairs as u32 + f32 each, native order as PutFixed, written
// straight into the buffer: an item's rows hold up to a few hundred pairs and
// are rewritten whenever the item changes (the bulk of a window's bytes).
void PutNeighbors(std::string* out, const std::vector<std::pair<ItemId, float>>& row) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(row.size()));
  const size_t at = out->size();
  out->resize(at + row.size() * 8);
  char* p = out->data() + at;
  for (const auto& [id, weight] : row) {
    const uint32_t v = id.value();
    std::memcpy(p, &v, sizeof v);
    std::memcpy(p + 4, &weight, sizeof weight);
    p += 8;
  }
}

bool GetNeighbors(std::string_view* in, std::vector<std::pair<ItemId, float>>* row) {
  uint32_t n = 0;
  if (!GetFixed(in, &n) || in->size() < n * 8ULL) return false;
  row->resize(n);
  const char* p = in->data();
  for (auto& [id, weight] : *row) {
    uint32_t v = 0;
    std::memcpy(&v, p, sizeof v);
    std::memcpy(&weight, p + 4, sizeof weight);
    id = ItemId(v);
    p += 8;
  }
  in->remove_prefix(n * 8ULL);
  return true;
}

void PutText(std::string* out, std::string_view text) {
  PutFixed<uint16_t>(out, static_cast<uint16_t>(text.size()));
  out->append(text);
}

bool GetText(std::string_view* in, std::string* text) {
  uint16_t len = 0;
  if (!GetFixed(in, &len) || in->size() < len) return false;
  text->assign(in->substr(0, len));
  in->remove_prefix(len);
  return true;
}

// A user's dense id, seq, event count and embedding.
void PutUserHead(const UserRecord& r, std::string* out) {
  PutFixed<uint32_t>(out, r.id.value());
  PutFixed<uint64_t>(out, r.seq);
  PutFixed<uint64_t>(out, r.events);
  PutFloats(out, r.embedding);
}

void PutLists(const UserRecord& r, std::string* out) {
  PutIds(out, r.history);
  PutIds(out, r.purchased);
  PutIds(out, r.list);
  PutIds(out, r.basket);
  PutFixed<uint32_t>(out, r.list_reference.value());
  PutFixed<int32_t>(out, r.partition);
  PutExperimentTail(r, out, [](const std::vector<ItemId>& ids, std::string* o) { PutIds(o, ids); });
}

}  // namespace

void EncodeUser(const UserRecord& r, std::string* out) {
  out->clear();
  PutUserHead(r, out);
  PutLists(r, out);
}

bool DecodeUser(std::string_view in, UserRecord* r, bool* with_lists) {
  uint32_t id = 0;
  if (!GetFixed(&in, &id) || !GetFixed(&in, &r->seq) || !GetFixed(&in, &r->events) || !GetFloats(&in, &r->embedding)) return false;
  r->id = UserId(id);
  *with_lists = !in.empty();
  if (!*with_lists) {
    r->history.clear();
    r->purchased.clear();
    r->list.clear();
    r->basket.clear();
    r->list_reference = ItemId(UserRecord::kNoItem);
    r->partition = -1;
    r->experiment.reset();
    return true;
  }
  return DecodeHistory(in, r);
}

void EncodeLegacyUser(const UserRecord& r, std::string* user, std::string* history) {
  user->clear();
  PutUserHead(r, user);
  history->clear();
  PutLists(r, history);
}

// history, then purchases, the current list, the basket, the list's reference
// item and the user's partition (absent in stores written before they
// existed: read as empty, none and unknown), then the experiment tail
// (common/experiment_codec.h; absent while the user is in none).
bool DecodeHistory(std::string_view in, UserRecord* r) {
  if (!GetIds(&in, &r->history)) return false;
  r->purchased.clear();
  r->list.clear();
  r->basket.clear();
  r->list_reference = ItemId(UserRecord::kNoItem);
  r->partition = -1;
  r->experiment.reset();
  if (in.empty()) return true;
  if (!GetIds(&in, &r->purchased) || !GetIds(&in, &r->list) || !GetIds(&in, &r->basket)) return false;
  if (in.empty()) return true;
  uint32_t reference = 0;
  if (!GetFixed(&in, &reference)) return false;
  r->list_reference = ItemId(reference);
  if (in.empty()) return true;
  if (!GetFixed(&in, &r->partition)) return false;
  return GetExperimentTail(&in, r, [](std::string_view* i, std::vector<ItemId>* ids) { return GetIds(i, ids); }) &&
         in.empty();
}

std::string EncodeItemKey(ItemId id) {
  // Big-endian so that RocksDB's byte order is id order.
  const uint32_t v = id.value();
  const char key[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  return std::string(key, 4);
}

namespace {

// The fields every version of an item record starts with.
void PutItemHead(const ItemRecord& r, std::string* out) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(r.external_id.size()));
  out->append(r.external_id);
  PutFixed<float>(out, r.bias);
  PutFixed<uint64_t>(out, r.count);
  PutFixed<float>(out, r.recency);
  PutFloats(out, r.embedding);
}

}  // namespace

void EncodeItem(const ItemRecord& r, std::string* out) {
  out->clear();
  PutItemHead(r, out);
  // No rows here (EncodeItemRows): two empty ones, where records written
  // before the rows had their own key kept them, then the short recency.
  PutFixed<uint32_t>(out, 0);
  PutFixed<uint32_t>(out, 0);
  PutFixed<float>(out, r.short_recency);
}

bool DecodeItem(std::string_view key, std::string_view in, ItemRecord* r) {
  if (key.size() != 4) return false;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  r->id = ItemId((uint32_t{k[0]} << 24) | (uint32_t{k[1]} << 16) | (uint32_t{k[2]} << 8) | uint32_t{k[3]});
  uint32_t len = 0;
  if (!GetFixed(&in, &len) || in.size() < len) return false;
  r->external_id.assign(in.substr(0, len));
  in.remove_prefix(len);
  if (!GetFixed(&in, &r->bias) || !GetFixed(&in, &r->count) || !GetFixed(&in, &r->recency) ||
      !GetFloats(&in, &r->embedding) || !GetNeighbors(&in, &r->neighbors)) {
    return false;
  }
  r->with_neighbors = true;
  r->trimmed_cooc = 0.0;        // kept with the rows (DecodeItemRows)
  r->basket_neighbors.clear();  // absent in records written before baskets were counted
  r->short_recency = -1e30F;    // absent before the short half-life: as if no event yet
  if (in.empty()) return true;
  if (!GetNeighbors(&in, &r->basket_neighbors)) return false;
  return in.empty() || (GetFixed(&in, &r->short_recency) && in.empty());
}

void EncodeItemRows(const ItemRecord& r, std::string* out) {
  out->clear();
  PutNeighbors(out, r.neighbors);
  PutNeighbors(out, r.basket_neighbors);
  PutFixed<double>(out, r.trimmed_cooc);
}

bool DecodeItemRows(std::string_view in, ItemRecord* r) {
  r->trimmed_cooc = 0.0;  // absent in rows written before it was kept
  return GetNeighbors(&in, &r->neighbors) && GetNeighbors(&in, &r->basket_neighbors) &&
         (in.empty() || (GetFixed(&in, &r->trimmed_cooc) && in.empty()));
}

void EncodeLegacyItem(const ItemRecord& r, std::string* out) {
  out->clear();
  PutItemHead(r, out);
  PutNeighbors(out, r.neighbors);  // the rows as records kept them then (no trimmed weight)
  PutNeighbors(out, r.basket_neighbors);
}

std::string EncodeSessionKey(uint32_t slot) {
  const char key[4] = {static_cast<char>(slot >> 24), static_cast<char>(slot >> 16), static_cast<char>(slot >> 8),
                       static_cast<char>(slot)};
  return std::string(key, 4);
}

void EncodeSession(const SessionRecord& r, std::string* out) {
  out->clear();
  PutFixed<uint32_t>(out, r.owner.value());
  PutFixed<int64_t>(out, r.last_ts);
  PutFixed<int64_t>(out, r.clock_ms);
  PutFixed<uint64_t>(out, r.created);
  PutIds(out, r.items);
  for (uint64_t seq : r.gained) PutFixed<uint64_t>(out, seq);
}

bool DecodeSession(std::string_view key, std::string_view in, SessionRecord* r) {
  if (key.size() != 4) return false;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  r->slot = (uint32_t{k[0]} << 24) | (uint32_t{k[1]} << 16) | (uint32_t{k[2]} << 8) | uint32_t{k[3]};
  uint32_t owner = 0;
  if (!GetFixed(&in, &owner) || !GetFixed(&in, &r->last_ts) || !GetFixed(&in, &r->clock_ms) ||
      !GetFixed(&in, &r->created) || !GetIds(&in, &r->items) || in.size() != r->items.size() * sizeof(uint64_t)) {
    return false;
  }
  r->owner = UserId(owner);
  r->gained.resize(r->items.size());
  for (uint64_t& seq : r->gained) GetFixed(&in, &seq);
  return true;
}

std::string EncodeCatalog(const CatalogRecord& e) {
  const CatalogEntry& c = e.update.entry;
  std::string out;
  PutFixed<uint8_t>(&out, e.update.removed ? 1 : 0);
  PutFixed<int64_t>(&out, e.first_seen_ms);
  PutText(&out, c.category);
  PutText(&out, c.brand);
  PutFixed<double>(&out, c.price);
  PutFixed<uint8_t>(&out, c.in_stock ? 1 : 0);
  PutFixed<int64_t>(&out, c.available_from_ms);
  PutFixed<int64_t>(&out, c.available_until_ms);
  PutFixed<uint16_t>(&out, static_cast<uint16_t>(c.tags.size()));
  for (const std::string& tag : c.tags) PutText(&out, tag);
  return out;
}

bool DecodeCatalog(std::string_view key, std::string_view in, CatalogRecord* e) {
  CatalogEntry& c = e->update.entry;
  c = CatalogEntry{};
  c.item_id.assign(key);
  uint8_t removed = 0;
  uint8_t in_stock = 0;
  uint16_t tags = 0;
  if (!GetFixed(&in, &removed) || !GetFixed(&in, &e->first_seen_ms) || !GetText(&in, &c.category) ||
      !GetText(&in, &c.brand) || !GetFixed(&in, &c.price) || !GetFixed(&in, &in_stock) ||
      !GetFixed(&in, &c.available_from_ms) || !GetFixed(&in, &c.available_until_ms) || !GetFixed(&in, &tags)) {
    return false;
  }
  e->update.removed = removed != 0;
  c.in_stock = in_stock != 0;
  c.tags.resize(tags);
  for (std::string& tag : c.tags) {
    if (!GetText(&in, &tag)) return false;
  }
  return in.empty();
}

std::string EncodeHolderKey(ItemId item, std::string_view user) {
  std::string key = EncodeItemKey(item);
  key.append(user);
  return key;
}

std::string EncodePendingKey(int32_t partition, std::string_view user) {
  std::string key = EncodeItemKey(ItemId(static_cast<uint32_t>(partition)));
  key.append(user);
  return key;
}

std::string EncodeU64(uint64_t v) {
  std::string out;
  PutFixed(&out, v);
  return out;
}

bool DecodeU64(std::string_view in, uint64_t* v) { return in.size() == 8 && GetFixed(&in, v); }

std::string EncodeFloatVector(const std::vector<float>& v) {
  std::string out;
  PutFloats(&out, v);
  return out;
}

bool DecodeFloatVector(std::string_view in, std::vector<float>* v) { return GetFloats(&in, v) && in.empty(); }

}  // namespace streamrec::store::codec
