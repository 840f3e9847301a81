// Helpers shared by the store module's tests: fresh directories, small
// stores (optionally with injected write faults), sample records.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "store/store.h"

namespace streamrec::store::testing {

inline std::string FreshDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("streamrec_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// A small store whose writes fail while faults->fail_writes is set.
inline StoreOptions FaultyStoreOptions(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.block_cache_mb = 8;
  o.write_buffer_mb = 4;
  o.faults = std::make_shared<StoreFaults>();
  return o;
}

// As the pipeline does: retries while the error is retryable (RocksDB may still be recovering).
template <class Fn>
Status RetryWhileRetryable(Fn attempt) {
  Status s = attempt();
  for (int tries = 0; tries < 100 && !s.ok() && s.retryable(); ++tries) {
    usleep(50000);
    s = attempt();
  }
  return s;
}

inline UserRecord MakeUser(uint32_t id, uint64_t events) {
  UserRecord u;
  u.id = UserId(id);
  u.seq = events / 2;
  u.events = events;
  u.embedding = {0.5F, -1.25F, 3.0F, static_cast<float>(events)};
  u.history = {ItemId(3), ItemId(1)};
  u.purchased = {ItemId(1)};
  u.list = {ItemId(8), ItemId(9)};
  return u;
}

inline ItemRecord MakeItem(uint32_t id, const std::string& ext) {
  ItemRecord i;
  i.id = ItemId(id);
  i.external_id = ext;
  i.bias = 0.25F;
  i.count = 7;
  i.recency = 2812.5F;
  i.short_recency = 19687.5F;
  i.embedding = {1.0F, 2.0F, 3.0F, 4.0F};
  i.neighbors = {{ItemId(9), 2.5F}, {ItemId(4), 1.0F}};
  i.trimmed_cooc = 0.75;
  return i;
}

inline std::unique_ptr<Store> OpenStore(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.block_cache_mb = 8;
  o.write_buffer_mb = 4;
  std::unique_ptr<Store> s;
  Status st = Store::Open(o, &s);
  INFO(st.ToString());
  REQUIRE(st.ok());
  return s;
}

}  // namespace streamrec::store::testing
