#include "store/codec.h"

#include <cstring>

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
  std::memcpy(v->data(), in->data(), n * sizeof(float));
  in->remove_prefix(n * sizeof(float));
  return true;
}

}  // namespace

std::string EncodeUser(const UserRecord& r) {
  std::string out;
  out.reserve(24 + r.embedding.size() * sizeof(float));
  PutFixed<uint32_t>(&out, r.id.value());
  PutFixed<uint64_t>(&out, r.seq);
  PutFixed<uint64_t>(&out, r.events);
  PutFloats(&out, r.embedding);
  return out;
}

bool DecodeUser(std::string_view in, UserRecord* r) {
  uint32_t id = 0;
  if (!GetFixed(&in, &id) || !GetFixed(&in, &r->seq) || !GetFixed(&in, &r->events) || !GetFloats(&in, &r->embedding)) return false;
  r->id = UserId(id);
  return in.empty();
}

std::string EncodeHistory(const UserRecord& r) {
  std::string out;
  out.reserve(4 + r.history.size() * 4);
  PutFixed<uint32_t>(&out, static_cast<uint32_t>(r.history.size()));
  for (ItemId i : r.history) PutFixed<uint32_t>(&out, i.value());
  return out;
}

bool DecodeHistory(std::string_view in, UserRecord* r) {
  uint32_t n = 0;
  if (!GetFixed(&in, &n) || in.size() != n * 4ULL) return false;
  r->history.resize(n);
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t v = 0;
    (void)GetFixed(&in, &v);
    r->history[k] = ItemId(v);
  }
  return true;
}

std::string EncodeItemKey(ItemId id) {
  // Big-endian so that RocksDB's byte order is id order.
  const uint32_t v = id.value();
  const char key[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  return std::string(key, 4);
}

std::string EncodeItem(const ItemRecord& r) {
  std::string out;
  out.reserve(24 + r.external_id.size() + r.embedding.size() * sizeof(float));
  PutFixed<uint32_t>(&out, static_cast<uint32_t>(r.external_id.size()));
  out.append(r.external_id);
  PutFixed<float>(&out, r.bias);
  PutFixed<uint64_t>(&out, r.count);
  PutFixed<float>(&out, r.recency);
  PutFloats(&out, r.embedding);
  PutFixed<uint32_t>(&out, static_cast<uint32_t>(r.neighbors.size()));
  for (const auto& [id, weight] : r.neighbors) {
    PutFixed<uint32_t>(&out, id.value());
    PutFixed<float>(&out, weight);
  }
  return out;
}

bool DecodeItem(std::string_view key, std::string_view in, ItemRecord* r) {
  if (key.size() != 4) return false;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  r->id = ItemId((uint32_t{k[0]} << 24) | (uint32_t{k[1]} << 16) | (uint32_t{k[2]} << 8) | uint32_t{k[3]});
  uint32_t len = 0;
  if (!GetFixed(&in, &len) || in.size() < len) return false;
  r->external_id.assign(in.substr(0, len));
  in.remove_prefix(len);
  uint32_t n = 0;
  if (!GetFixed(&in, &r->bias) || !GetFixed(&in, &r->count) || !GetFixed(&in, &r->recency) || !GetFloats(&in, &r->embedding) ||
      !GetFixed(&in, &n) ||
      in.size() != n * 8ULL) {
    return false;
  }
  r->neighbors.resize(n);
  for (auto& [id, weight] : r->neighbors) {
    uint32_t v = 0;
    (void)GetFixed(&in, &v);
    (void)GetFixed(&in, &weight);
    id = ItemId(v);
  }
  return true;
}

std::string EncodeU64(uint64_t v) {
  std::string out;
  PutFixed(&out, v);
  return out;
}

bool DecodeU64(std::string_view in, uint64_t* v) { return in.size() == 8 && GetFixed(&in, v); }

}  // namespace streamrec::store::codec
