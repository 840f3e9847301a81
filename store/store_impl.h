// Store::Impl, internal to store/: the RocksDB handles and the helpers that
// store.cpp (open, reads, measures) and store_commit.cpp (prepare and write
// commits) share. No other module includes it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>

#include "common/logging.h"
#include "store/codec.h"
#include "store/store.h"

namespace streamrec::store {

// Column families and meta keys.
inline constexpr const char* kUsers = "user_embeddings";
inline constexpr const char* kHistory = "user_history";
inline constexpr const char* kItems = "item_embeddings";
inline constexpr const char* kMeta = "meta";
inline constexpr const char* kCatalog = "catalog";
inline constexpr const char* kHolders = "list_holders";
inline constexpr const char* kPending = "pending_lists";
inline constexpr const char* kItemRows = "item_neighbors";
inline constexpr const char* kSessions = "item_sessions";
inline constexpr const char* kOffsetPrefix = "offset/";

// A RocksDB status as ours: I/O, space and busy errors are retryable IOError.
Status FromRocks(const rocksdb::Status& s, std::string_view what);
// "offset/<topic>/<partition>" in the meta column family.
std::string OffsetKeyString(const OffsetKey& k);
bool ParseOffsetKey(std::string_view key, OffsetKey* out);
// RocksDB's informational log into `log` instead of a LOG file in the data
// directory: one place for all logs, and no file whose failed writes (a full
// disk) trip RocksDB's own assertions.
std::shared_ptr<rocksdb::Logger> NewRocksLogger(std::shared_ptr<spdlog::logger> log);
// An Env whose writes fail while faults->fail_writes is set (tests: a full disk).
std::unique_ptr<rocksdb::Env> NewFaultyEnv(std::shared_ptr<StoreFaults> faults);

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
  rocksdb::ColumnFamilyHandle* sessions() const { return cf(9); }

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
    db_options.write_buffer_manager = write_buffers;
    // A quarter of the budget per column family, at most two memtables each
    // (one filling while one flushes): the manager flushes the largest once
    // they add up to the budget; RocksDB's own stop (max_write_buffer_number)
    // caps a family whose flushes fall behind.
    db_options.write_buffer_size = (options.write_buffer_mb << 20) / 4;
    db_options.max_write_buffer_number = 2;
    db_options.info_log = NewRocksLogger(log);
    if (env) db_options.env = env.get();
    rocksdb::ColumnFamilyOptions cf_options(db_options);
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf_options.write_buffer_size = db_options.write_buffer_size;
    cf_options.max_write_buffer_number = db_options.max_write_buffer_number;
    // Most user lookups miss (a new user): a whole-key bloom filter in the
    // memtable and in each table file answers them without a search.
    cf_options.memtable_prefix_bloom_size_ratio = 0.02;
    cf_options.memtable_whole_key_filtering = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), kUsers, kHistory, kItems, kMeta, kCatalog, kHolders,
                             kPending, kItemRows, kSessions}) {
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
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers;  // charged to table.block_cache
  std::unique_ptr<rocksdb::DB> db;
  // default, users, history, items, meta, catalog, holders, pending, item rows
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::WriteOptions write_options;
  bool needs_resume = false;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("store");
};

}  // namespace streamrec::store
