#include "store/store.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <random>
#include <string_view>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "common/fixed.h"
#include "common/hash.h"
#include "common/logging.h"
#include "store/codec.h"

namespace streamrec::store {
namespace {

constexpr const char* kUsers = "user_embeddings";
constexpr const char* kHistory = "user_history";
constexpr const char* kItems = "item_embeddings";
constexpr const char* kMeta = "meta";
constexpr const char* kCatalog = "catalog";
constexpr const char* kHolders = "list_holders";
constexpr const char* kPending = "pending_lists";
constexpr const char* kItemRows = "item_neighbors";
constexpr const char* kOffsetPrefix = "offset/";

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsIOError() || s.IsNoSpace() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Status::IOError(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::Internal(msg);
}

std::string OffsetKeyString(const OffsetKey& k) { return kOffsetPrefix + k.first + "/" + std::to_string(k.second); }

bool ParseOffsetKey(std::string_view key, OffsetKey* out) {
  key.remove_prefix(std::char_traits<char>::length(kOffsetPrefix));
  const size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) return false;
  out->first.assign(key.substr(0, slash));
  out->second = std::stoi(std::string(key.substr(slash + 1)));
  return true;
}

// RocksDB's informational log goes to the store's logger instead of a LOG file
// in the data directory: one place for all logs, and no file whose failed
// writes (a full disk) trip RocksDB's own assertions.
class RocksLogger : public rocksdb::Logger {
 public:
  explicit RocksLogger(std::shared_ptr<spdlog::logger> log) : rocksdb::Logger(rocksdb::INFO_LEVEL), log_(std::move(log)) {}

  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    const spdlog::level::level_enum to = level >= rocksdb::ERROR_LEVEL ? spdlog::level::err
                                         : level == rocksdb::WARN_LEVEL ? spdlog::level::warn
                                                                        : spdlog::level::debug;
    if (!log_->should_log(to)) return;
    char buffer[1024];
    std::vsnprintf(buffer, sizeof buffer, format, ap);
    log_->log(to, "rocksdb: {}", buffer);
  }
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::INFO_LEVEL, format, ap); }

 private:
  std::shared_ptr<spdlog::logger> log_;
};

// Fails every write while faults->fail_writes is set (tests: a full disk).
class FaultyWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file, std::shared_ptr<StoreFaults> faults)
      : FSWritableFileOwnerWrapper(std::move(file)), faults_(std::move(faults)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    if (faults_->fail_writes) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
    return FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* dbg) override {
    if (faults_->fail_writes) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
    return FSWritableFileOwnerWrapper::Append(data, o, info, dbg);
  }

 private:
  std::shared_ptr<StoreFaults> faults_;
};

class FaultyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultyFileSystem(std::shared_ptr<StoreFaults> faults)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), faults_(std::move(faults)) {}

  const char* Name() const override { return "StreamrecFaultyFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* out,
                                    rocksdb::IODebugContext* dbg) override {
    if (faults_->fail_writes) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(name, o, &file, dbg);
    if (s.ok()) *out = std::make_unique<FaultyWritableFile>(std::move(file), faults_);
    return s;
  }

 private:
  std::shared_ptr<StoreFaults> faults_;
};

}  // namespace

Status StoreOptions::Validate() const {
  if (path.empty()) return Status::InvalidArgument("store.path must not be empty");
  if (block_cache_mb < 8 || block_cache_mb > 65536) return Status::InvalidArgument("store.block_cache_mb must be in 8..65536");
  if (write_buffer_mb < 4 || write_buffer_mb > 4096) return Status::InvalidArgument("store.write_buffer_mb must be in 4..4096");
  return Status::Ok();
}

struct Store::Impl {
  ~Impl() { CloseDb(); }

  rocksdb::ColumnFamilyHandle* cf(int i) const { return handles[static_cast<size_t>(i)]; }
  rocksdb::ColumnFamilyHandle* users() const { return cf(1); }
  rocksdb::ColumnFamilyHandle* history() const { return cf(2); }
  rocksdb::ColumnFamilyHandle* items() const { return cf(3); }
  rocksdb::ColumnFamilyHandle* meta() const { return cf(4); }
  rocksdb::ColumnFamilyHandle* catalog() const { return cf(5); }
  rocksdb::ColumnFamilyHandle* holders() const { return cf(6); }
  rocksdb::ColumnFamilyHandle* pending() const { return cf(7); }
  rocksdb::ColumnFamilyHandle* item_rows() const { return cf(8); }

  Status GetU64(const char* key, uint64_t* out) {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta(), key, &value);
    if (s.IsNotFound()) {
      *out = 0;
      return Status::Ok();
    }
    STREAMREC_RETURN_IF_ERROR(FromRocks(s, key));
    if (!codec::DecodeU64(value, out)) return Status::Corruption(std::string("meta ") + key);
    return Status::Ok();
  }

  // Unavailable while the database is closed after a failed reopen.
  Status Ready() const {
    return db ? Status::Ok() : Status::Unavailable("the store at " + options.path + " is not open (recovering)");
  }

  Status OpenDb() {
    if (options.create_if_missing) {
      std::error_code ignored;  // Open() reports a directory that cannot be made
      std::filesystem::create_directories(options.path, ignored);
    }
    rocksdb::Options db_options;
    db_options.create_if_missing = options.create_if_missing;
    db_options.create_missing_column_families = true;
    db_options.IncreaseParallelism(2);
    db_options.write_buffer_size = options.write_buffer_mb << 20;
    db_options.info_log = std::make_shared<RocksLogger>(log);
    if (env) db_options.env = env.get();
    rocksdb::ColumnFamilyOptions cf_options(db_options);
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf_options.write_buffer_size = db_options.write_buffer_size;
    // Most user lookups miss (a new user): a whole-key bloom filter in the
    // memtable and in each table file answers them without a search.
    cf_options.memtable_prefix_bloom_size_ratio = 0.02;
    cf_options.memtable_whole_key_filtering = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), kUsers, kHistory, kItems, kMeta, kCatalog, kHolders,
                             kPending, kItemRows}) {
      families.emplace_back(name, cf_options);
    }
    rocksdb::DB* raw = nullptr;
    STREAMREC_RETURN_IF_ERROR(
        FromRocks(rocksdb::DB::Open(db_options, options.path, families, &handles, &raw), "opening " + options.path));
    db.reset(raw);
    return Status::Ok();
  }

  void CloseDb() {
    if (!db) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    handles.clear();
    db->Close();
    db.reset();
  }

  // After an I/O error RocksDB refuses writes until resumed. Resume() is enough
  // after a failed flush; a write-ahead log that failed mid-record stays broken,
  // so the store is reopened: recovery drops the torn tail (that batch was never
  // acknowledged, so state and offsets still go together).
  Status Recover() {
    if (!db) return OpenDb();  // an earlier reopen failed
    rocksdb::Status resumed = db->Resume();
    if (resumed.ok()) return Status::Ok();
    if (resumed.IsBusy()) return Status::Unavailable("RocksDB is still recovering from the I/O error");
    log->warn("RocksDB could not resume ({}); reopening {}", resumed.ToString(), options.path);
    CloseDb();
    return OpenDb();
  }

  StoreOptions options;
  std::unique_ptr<rocksdb::Env> env;  // only with injected faults; outlives db
  rocksdb::BlockBasedTableOptions table;
  std::unique_ptr<rocksdb::DB> db;
  // default, users, history, items, meta, catalog, holders, pending, item rows
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::WriteOptions write_options;
  bool needs_resume = false;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("store");
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Status Store::Open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  STREAMREC_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->write_options.sync = options.sync_writes;
  impl->table.block_cache = rocksdb::NewLRUCache(options.block_cache_mb << 20);
  impl->table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  if (options.faults) impl->env = rocksdb::NewCompositeEnv(std::make_shared<FaultyFileSystem>(options.faults));
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
  return Status::Ok();
}

namespace {

// A record's place in key order: a numeric major key (an item id, a partition),
// then the leading 16 bytes of its text key as big-endian numbers; most
// comparisons end there, without following a pointer to the text.
struct SortKey {
  uint64_t major = 0;
  uint64_t prefix[2] = {0, 0};
  uint32_t index = 0;
};

}  // namespace

struct PreparedCommit::Rep {
  rocksdb::WriteBatch batch;
  std::string scratch;           // one encoded value at a time
  std::vector<uint32_t> order;   // indices sorted by key
  std::vector<SortKey> keys;     // SortedOrder's working space
  std::vector<ItemRecord> deferred_items;  // encoded by Write, once; kept for their storage
  bool items_pending = false;              // deferred_items are still to encode
  std::vector<UserCopy> deferred_users;    // the same for users
  bool users_pending = false;
};

PreparedCommit::PreparedCommit() : rep_(std::make_unique<Rep>()) {}
PreparedCommit::~PreparedCommit() = default;
PreparedCommit::PreparedCommit(PreparedCommit&&) noexcept = default;
PreparedCommit& PreparedCommit::operator=(PreparedCommit&&) noexcept = default;
size_t PreparedCommit::bytes() const { return rep_->batch.GetDataSize(); }
size_t PreparedCommit::entries() const { return rep_->batch.Count(); }
void PreparedCommit::DeferItems(std::vector<ItemRecord>* items) {
  rep_->deferred_items.swap(*items);
  rep_->items_pending = true;
}
void PreparedCommit::DeferUsers(std::vector<UserCopy>* users) {
  rep_->deferred_users.swap(*users);
  rep_->users_pending = true;
}

namespace {

// Bytes [from, from + 8) of `text`, zero-padded, as a big-endian number:
// ordering by them never contradicts bytewise order (it only leaves ties).
uint64_t BigEndianWord(std::string_view text, size_t from) {
  unsigned char bytes[8] = {};
  if (from < text.size()) std::memcpy(bytes, text.data() + from, std::min<size_t>(sizeof bytes, text.size() - from));
  uint64_t value = 0;
  for (unsigned char b : bytes) value = (value << 8) | b;
  return value;
}

// Indices 0..n-1 ordered as RocksDB orders their keys (major as a big-endian
// number, then text bytewise); equal keys keep their order.
template <class MajorFn, class TextFn>
void SortedOrder(size_t n, std::vector<SortKey>* keys, std::vector<uint32_t>* order, MajorFn major, TextFn text) {
  keys->resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    const std::string_view t = text(i);
    (*keys)[i] = SortKey{major(i), {BigEndianWord(t, 0), BigEndianWord(t, 8)}, i};
  }
  std::sort(keys->begin(), keys->end(), [&](const SortKey& a, const SortKey& b) {
    if (a.major != b.major) return a.major < b.major;
    if (a.prefix[0] != b.prefix[0]) return a.prefix[0] < b.prefix[0];
    if (a.prefix[1] != b.prefix[1]) return a.prefix[1] < b.prefix[1];
    const int c = text(a.index).compare(text(b.index));
    return c != 0 ? c < 0 : a.index < b.index;
  });
  order->resize(n);
  for (size_t i = 0; i < n; ++i) (*order)[i] = (*keys)[i].index;
}

}  // namespace

void Store::Prepare(const CommitBatch& batch, PreparedCommit* out) const {
  out->rep_->batch.Clear();  // keeps the buffer of the last use
  out->rep_->items_pending = false;
  out->rep_->users_pending = false;
  Append(batch, out);
}

void Store::AppendItems(std::span<const ItemRecord> items, PreparedCommit* out) const {
  PreparedCommit::Rep& rep = *out->rep_;
  SortedOrder(
      items.size(), &rep.keys, &rep.order, [&](uint32_t i) { return uint64_t{items[i].id.value()}; },
      [](uint32_t) { return std::string_view(); });
  for (uint32_t i : rep.order) {
    const ItemRecord& item = items[i];
    const std::string key = codec::EncodeItemKey(item.id);
    codec::EncodeItem(item, &rep.scratch);
    rep.batch.Put(impl_->items(), key, rep.scratch);
    if (!item.with_neighbors) continue;
    codec::EncodeItemRows(item, &rep.scratch);
    rep.batch.Put(impl_->item_rows(), key, rep.scratch);
  }
}

template <class KeyFn, class RecordFn>
void Store::AppendUsers(size_t n, KeyFn key, RecordFn record, PreparedCommit* out) const {
  PreparedCommit::Rep& rep = *out->rep_;
  SortedOrder(n, &rep.keys, &rep.order, [](uint32_t) { return uint64_t{0}; }, key);
  for (uint32_t i : rep.order) {
    codec::EncodeUser(record(i), &rep.scratch);
    rep.batch.Put(impl_->users(), key(i), rep.scratch);
  }
}

void Store::Append(const CommitBatch& batch, PreparedCommit* out) const {
  PreparedCommit::Rep& rep = *out->rep_;
  rocksdb::WriteBatch& wb = rep.batch;
  std::string& value = rep.scratch;
  AppendUsers(
      batch.users.size(), [&](uint32_t i) { return batch.users[i].first; },
      [&](uint32_t i) -> const UserRecord& { return *batch.users[i].second; }, out);
  AppendItems(batch.items, out);
  for (const CatalogRecord& c : batch.catalog) {
    wb.Put(impl_->catalog(), c.update.entry.item_id, codec::EncodeCatalog(c));
  }
  SortedOrder(
      batch.holders.size(), &rep.keys, &rep.order, [&](uint32_t i) { return uint64_t{batch.holders[i].item.value()}; },
      [&](uint32_t i) { return std::string_view(batch.holders[i].user); });
  for (uint32_t i : rep.order) {
    const ListHolderChange& h = batch.holders[i];
    const std::string key = codec::EncodeHolderKey(h.item, h.user);
    if (h.added) {
      value.clear();
      PutFixed<int32_t>(&value, h.partition);
      wb.Put(impl_->holders(), key, value);
    } else {
      wb.Delete(impl_->holders(), key);
    }
  }
  // Keys are big-endian partition + user: sorting by (unsigned partition, user) is key order.
  SortedOrder(
      batch.pending.size(), &rep.keys, &rep.order,
      [&](uint32_t i) { return uint64_t{static_cast<uint32_t>(batch.pending[i].partition)}; },
      [&](uint32_t i) { return std::string_view(batch.pending[i].user); });
  // Whether sorted positions a and b hold the same key: the sort keys decide
  // most pairs without reading the users' ids (a cache miss each).
  auto same_key = [&](size_t a, size_t b) {
    const SortKey& x = rep.keys[a];
    const SortKey& y = rep.keys[b];
    return x.major == y.major && x.prefix[0] == y.prefix[0] && x.prefix[1] == y.prefix[1] &&
           batch.pending[x.index].user == batch.pending[y.index].user;
  };
  for (size_t first = 0, next = 0; first < rep.order.size(); first = next) {
    // A user's changes are adjacent, in batch order: the last one stands.
    const PendingListChange& opened = batch.pending[rep.order[first]];
    next = first + 1;
    while (next < rep.order.size() && same_key(first, next)) ++next;
    const PendingListChange& p = batch.pending[rep.order[next - 1]];
    // Owed and delivered within the batch, not owed before it: nothing stored, nothing to store.
    if (opened.owed && opened.newly_owed && !p.owed) continue;
    const std::string key = codec::EncodePendingKey(p.partition, p.user);
    if (p.owed) {
      value.clear();
      PutFixed<int64_t>(&value, p.source_offset);
      PutFixed<int64_t>(&value, p.since_ms);
      wb.Put(impl_->pending(), key, value);
    } else {
      wb.Delete(impl_->pending(), key);
    }
  }
  for (const auto& [key, offset] : batch.offsets) {
    wb.Put(impl_->meta(), OffsetKeyString(key), codec::EncodeU64(static_cast<uint64_t>(offset)));
  }
  wb.Put(impl_->meta(), "applied_events", codec::EncodeU64(batch.counters.applied_events));
  wb.Put(impl_->meta(), "rejected_events", codec::EncodeU64(batch.counters.rejected_events));
  wb.Put(impl_->meta(), "next_user_id", codec::EncodeU64(batch.counters.next_user_id));
}

Status Store::Write(PreparedCommit* commit) {
  PreparedCommit::Rep& rep = *commit->rep_;
  if (rep.users_pending) {
    const std::vector<UserCopy>& users = rep.deferred_users;
    AppendUsers(
        users.size(), [&](uint32_t i) { return std::string_view(users[i].external_id); },
        [&](uint32_t i) -> const UserRecord& { return users[i].record; }, commit);
    rep.users_pending = false;  // encoded: a retry writes the batch as it is
  }
  if (rep.items_pending) {
    AppendItems(rep.deferred_items, commit);
    rep.items_pending = false;  // encoded: a retry writes the batch as it is
  }
  if (impl_->needs_resume) {
    // After an I/O error (a full disk) RocksDB refuses writes until told to resume.
    STREAMREC_RETURN_IF_ERROR(impl_->Recover().WithContext("recovering from an I/O error"));
    impl_->needs_resume = false;
  }
  STREAMREC_RETURN_IF_ERROR(impl_->Ready());
  // Write() takes a non-const batch only to allow callbacks; it is not changed.
  Status s = FromRocks(impl_->db->Write(impl_->write_options, &rep.batch), "committing batch");
  if (s.code() == StatusCode::kIOError) impl_->needs_resume = true;
  return s;
}

Status Store::Commit(const CommitBatch& batch) {
  PreparedCommit prepared;
  Prepare(batch, &prepared);
  return Write(&prepared);
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
  out->item_bytes = sst(impl_->items()) + sst(impl_->item_rows()) + sst(impl_->catalog());
  return Status::Ok();
}

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
  }
  STREAMREC_RETURN_IF_ERROR(FromRocks(it->status(), "scanning items"));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  out->checksum = hex;
  return Status::Ok();
}

}  // namespace streamrec::store
