#include "store/store.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <string_view>

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>

#include "common/fixed.h"
#include "common/hash.h"
#include "store/codec.h"
#include "store/store_impl.h"

namespace streamrec::store {

Status StoreOptions::Validate() const {
  if (path.empty()) return Status::InvalidArgument("store.path must not be empty");
  if (block_cache_mb < 8 || block_cache_mb > 65536) return Status::InvalidArgument("store.block_cache_mb must be in 8..65536");
  if (write_buffer_mb < 4 || write_buffer_mb > 4096) return Status::InvalidArgument("store.write_buffer_mb must be in 4..4096");
  if (write_buffer_mb * 2 > block_cache_mb) {
    return Status::InvalidArgument("store.write_buffer_mb must be at most half of store.block_cache_mb (the memtables are charged to it)");
  }
  return Status::Ok();
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Status Store::Open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  STREAMREC_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->write_options.sync = options.sync_writes;
  impl->table.block_cache = rocksdb::NewLRUCache(options.block_cache_mb << 20);
  impl->table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // One budget: index and filter blocks live in the cache (L0's pinned, they
  // are read on every lookup), and the memtables of all column families are
  // charged to it; past write_buffer_mb the largest is flushed. Not a hard
  // stall (allow_stall): RocksDB then parks every writer until memory drops,
  // and with the budget spread over column families each below its own flush
  // size no flush may come (rocksdb#11780; it hung this store's test).
  impl->table.cache_index_and_filter_blocks = true;
  impl->table.pin_l0_filter_and_index_blocks_in_cache = true;
  impl->write_buffers = std::make_shared<rocksdb::WriteBufferManager>(options.write_buffer_mb << 20,
                                                                      impl->table.block_cache, /*allow_stall=*/false);
  if (options.faults) impl->env = NewFaultyEnv(options.faults);
  STREAMREC_RETURN_IF_ERROR(impl->OpenDb());
  out->reset(new Store(std::move(impl)));
  return Status::Ok();
}

Status Store::CheckDimension(int dim) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  uint64_t stored = 0;
  STREAMREC_RETURN_IF_ERROR(impl_->GetU64("dim", &stored));
  if (stored == 0) {
    return FromRocks(impl_->db->Put(impl_->write_options, impl_->meta(), "dim", codec::EncodeU64(dim)), "writing dim");
  }
  if (stored != static_cast<uint64_t>(dim)) {
    return Status::InvalidArgument("the store at " + impl_->options.path + " holds embeddings of dimension " +
                                   std::to_string(stored) + " but learner.dim is " + std::to_string(dim));
  }
  return Status::Ok();
}

Status Store::InstanceId(std::string* out) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->meta(), "instance_id", &value);
  if (s.ok()) {
    *out = value;
    return Status::Ok();
  }
  if (!s.IsNotFound()) return FromRocks(s, "reading instance id");
  std::random_device random;
  const uint64_t id = (static_cast<uint64_t>(random()) << 32) ^ random();
  *out = fmt::format("{:016x}", id);
  return FromRocks(impl_->db->Put(impl_->write_options, impl_->meta(), "instance_id", *out), "writing instance id");
}

Status Store::LoadItems(const std::function<void(const ItemRecord&)>& visit) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->items()));
  std::unique_ptr<rocksdb::Iterator> rows(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->item_rows()));
  rows->SeekToFirst();
  // Rows still inside item records (stores written before item_neighbors)
  // move there, so that records written without rows cannot drop them.
  rocksdb::WriteBatch moved;
  std::string scratch;
  ItemRecord record;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!codec::DecodeItem(it->key().ToStringView(), it->value().ToStringView(), &record)) {
      return Status::Corruption("undecodable item record");
    }
    while (rows->Valid() && rows->key().compare(it->key()) < 0) rows->Next();
    if (rows->Valid() && rows->key() == it->key()) {
      if (!codec::DecodeItemRows(rows->value().ToStringView(), &record)) {
        return Status::Corruption("undecodable co-occurrence rows of item " + std::to_string(record.id.value()));
      }
    } else if (!record.neighbors.empty() || !record.basket_neighbors.empty()) {
      codec::EncodeItemRows(record, &scratch);
      moved.Put(impl_->item_rows(), it->key(), scratch);
      codec::EncodeItem(record, &scratch);
      moved.Put(impl_->items(), it->key(), scratch);
    }
    visit(record);
  }
  STREAMREC_RETURN_IF_ERROR(FromRocks(it->status(), "loading items"));
  STREAMREC_RETURN_IF_ERROR(FromRocks(rows->status(), "loading co-occurrence rows"));
  if (moved.Count() == 0) return Status::Ok();
  impl_->log->info("moving the co-occurrence rows of {} item records to {}", moved.Count() / 2, kItemRows);
  return FromRocks(impl_->db->Write(impl_->write_options, &moved), "moving co-occurrence rows");
}

Status Store::LoadSessions(const std::function<void(const SessionRecord&)>& visit) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->sessions()));
  SessionRecord record;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!codec::DecodeSession(it->key().ToStringView(), it->value().ToStringView(), &record)) {
      return Status::Corruption("undecodable session record");
    }
    visit(record);
  }
  return FromRocks(it->status(), "loading sessions");
}

Status Store::LoadCatalog(const std::function<void(const CatalogRecord&)>& visit) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->catalog()));
  CatalogRecord record;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!codec::DecodeCatalog(it->key().ToStringView(), it->value().ToStringView(), &record)) {
      return Status::Corruption("undecodable catalog record " + it->key().ToString());
    }
    visit(record);
  }
  return FromRocks(it->status(), "loading the catalog");
}

Status Store::ForEachHolder(ItemId item, const std::function<void(std::string_view, int32_t)>& visit) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  const std::string prefix = codec::EncodeItemKey(item);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->holders()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view value = it->value().ToStringView();
    int32_t partition = 0;
    if (!GetFixed(&value, &partition)) return Status::Corruption("undecodable list holder");
    std::string_view user = it->key().ToStringView();
    user.remove_prefix(prefix.size());
    visit(user, partition);
  }
  return FromRocks(it->status(), "reading list holders");
}

Status Store::LoadPendingLists(int32_t partition, const std::function<void(const PendingListChange&)>& visit) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  const std::string prefix = codec::EncodePendingKey(partition, "");
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->pending()));
  PendingListChange p;
  p.partition = partition;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view value = it->value().ToStringView();
    if (!GetFixed(&value, &p.source_offset) || !GetFixed(&value, &p.since_ms)) {
      return Status::Corruption("undecodable pending list");
    }
    p.user = it->key().ToStringView().substr(prefix.size());
    visit(p);
  }
  return FromRocks(it->status(), "reading pending lists");
}

Status Store::GetUser(std::string_view external_id, UserRecord* out, bool* found) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->users(), external_id, &value);
  if (s.IsNotFound()) {
    *found = false;
    return Status::Ok();
  }
  STREAMREC_RETURN_IF_ERROR(FromRocks(s, "reading user"));
  bool with_lists = false;
  if (!codec::DecodeUser(value, out, &with_lists)) return Status::Corruption("undecodable user record");
  if (!with_lists) {  // written by an older streamrec: the lists are in user_history
    s = impl_->db->Get(rocksdb::ReadOptions(), impl_->history(), external_id, &value);
    if (!s.IsNotFound()) {
      STREAMREC_RETURN_IF_ERROR(FromRocks(s, "reading history"));
      if (!codec::DecodeHistory(value, out)) return Status::Corruption("undecodable user history");
    }
  }
  *found = true;
  return Status::Ok();
}

Status Store::ReadOffsets(Offsets* out) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  out->clear();
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->meta()));
  for (it->Seek(kOffsetPrefix); it->Valid() && it->key().starts_with(kOffsetPrefix); it->Next()) {
    OffsetKey key;
    uint64_t value = 0;
    if (!ParseOffsetKey(it->key().ToStringView(), &key) || !codec::DecodeU64(it->value().ToStringView(), &value)) {
      return Status::Corruption("undecodable offset " + it->key().ToString());
    }
    (*out)[key] = static_cast<int64_t>(value);
  }
  return FromRocks(it->status(), "reading offsets");
}

Status Store::ReadCounters(StoreCounters* out) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  uint64_t next_user = 0;
  STREAMREC_RETURN_IF_ERROR(impl_->GetU64("applied_events", &out->applied_events));
  STREAMREC_RETURN_IF_ERROR(impl_->GetU64("rejected_events", &out->rejected_events));
  STREAMREC_RETURN_IF_ERROR(impl_->GetU64("next_user_id", &next_user));
  out->next_user_id = static_cast<uint32_t>(next_user);
  std::string blend;
  const rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->meta(), "blend", &blend);
  out->blend.clear();
  if (s.IsNotFound()) return Status::Ok();
  STREAMREC_RETURN_IF_ERROR(FromRocks(s, "blend"));
  if (!codec::DecodeFloatVector(blend, &out->blend)) return Status::Corruption("meta blend");
  return Status::Ok();
}

Status Store::MeasureDisk(DiskUsage* out) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  STREAMREC_RETURN_IF_ERROR(FromRocks(impl_->db->Flush(rocksdb::FlushOptions(), impl_->handles), "flushing"));
  // Forced down to the last level: a flushed file moved there whole would
  // otherwise keep its deletes and the puts they shadow (pending_lists).
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (rocksdb::ColumnFamilyHandle* cf : impl_->handles) {
    STREAMREC_RETURN_IF_ERROR(FromRocks(impl_->db->CompactRange(compact, cf, nullptr, nullptr), "compacting"));
  }
  auto sst = [&](rocksdb::ColumnFamilyHandle* cf) {
    uint64_t bytes = 0;
    impl_->db->GetIntProperty(cf, "rocksdb.total-sst-files-size", &bytes);
    return bytes;
  };
  out->user_bytes = sst(impl_->users()) + sst(impl_->history()) + sst(impl_->holders()) +
                    sst(impl_->pending());
  out->item_bytes = sst(impl_->items()) + sst(impl_->item_rows()) + sst(impl_->catalog()) + sst(impl_->sessions());
  return Status::Ok();
}

Status Store::MeasureMemory(MemoryUsage* out) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  out->block_cache_capacity = impl_->table.block_cache->GetCapacity();
  out->block_cache_usage = impl_->table.block_cache->GetUsage();
  // RocksDB's own count, not the manager's: the figure holds whatever manages them.
  out->memtables = 0;
  for (rocksdb::ColumnFamilyHandle* cf : impl_->handles) {
    uint64_t bytes = 0;
    impl_->db->GetIntProperty(cf, "rocksdb.size-all-mem-tables", &bytes);
    out->memtables += bytes;
  }
  out->memtable_budget = impl_->write_buffers->buffer_size();
  return Status::Ok();
}

namespace {

// Every pair counted: the rows' weights and what trimming dropped from them.
double RowWeights(const ItemRecord& item) {
  double sum = item.trimmed_cooc;
  for (const auto& [other, weight] : item.neighbors) sum += weight;
  for (const auto& [other, weight] : item.basket_neighbors) sum += weight;
  return sum;
}

}  // namespace

Status Store::Summarize(StateSummary* out) {
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  STREAMREC_RETURN_IF_ERROR(ReadCounters(&out->counters));
  STREAMREC_RETURN_IF_ERROR(ReadOffsets(&out->offsets));
  // Only what the model learned goes into the checksum: embeddings and biases.
  // Counters such as a user's list seq depend on how events fell into batches.
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto hash_floats = [&](std::string_view key, const std::vector<float>& v) {
    hash = Fnv1a64(key, hash);
    hash = Fnv1a64(std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)), hash);
  };
  out->users = 0;
  out->items = 0;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->users()));
  UserRecord user;
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++out->users) {
    bool with_lists = false;
    if (!codec::DecodeUser(it->value().ToStringView(), &user, &with_lists)) {
      return Status::Corruption("undecodable user record");
    }
    hash_floats(it->key().ToStringView(), user.embedding);
  }
  STREAMREC_RETURN_IF_ERROR(FromRocks(it->status(), "scanning users"));
  it.reset(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->items()));
  ItemRecord item;
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++out->items) {
    if (!codec::DecodeItem(it->key().ToStringView(), it->value().ToStringView(), &item)) {
      return Status::Corruption("undecodable item record");
    }
    item.embedding.push_back(item.bias);
    hash_floats(it->key().ToStringView(), item.embedding);
    out->item_events += item.count;
    out->cooc_weight += RowWeights(item);  // rows of records written before item_neighbors
  }
  STREAMREC_RETURN_IF_ERROR(FromRocks(it->status(), "scanning items"));
  it.reset(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->item_rows()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!codec::DecodeItemRows(it->value().ToStringView(), &item)) {
      return Status::Corruption("undecodable co-occurrence rows");
    }
    out->cooc_weight += RowWeights(item);
  }
  STREAMREC_RETURN_IF_ERROR(FromRocks(it->status(), "scanning co-occurrence rows"));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  out->checksum = hex;
  return Status::Ok();
}

}  // namespace streamrec::store
