// The RocksDB glue of store/: statuses, offset keys, the logger and the
// fault-injecting file system (store_impl.h).
#include <cstdarg>
#include <cstdio>

#include <rocksdb/file_system.h>

#include "store/store_impl.h"

namespace streamrec::store {
namespace {

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

std::shared_ptr<rocksdb::Logger> NewRocksLogger(std::shared_ptr<spdlog::logger> log) {
  return std::make_shared<RocksLogger>(std::move(log));
}

std::unique_ptr<rocksdb::Env> NewFaultyEnv(std::shared_ptr<StoreFaults> faults) {
  return rocksdb::NewCompositeEnv(std::make_shared<FaultyFileSystem>(std::move(faults)));
}

}  // namespace streamrec::store
