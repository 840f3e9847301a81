#include "bench/memory.h"

#include <chrono>
#include <fstream>
#include <string>

#include "common/hash.h"
#include "learner/learner.h"
#include "store/store.h"
#include "store/user_cache.h"
#include "traffic/generator.h"

namespace streamrec::bench {
namespace {

constexpr uint64_t kBatch = 4096;
constexpr int kSamples = 10;

}  // namespace

double ProcStatusMb(const char* field) {
  std::ifstream in("/proc/self/status");
  const std::string prefix(field);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size())) / 1024.0;
  }
  return 0;
}

Status MeasureMemory(const config::Config& config, uint64_t users, uint64_t items, MemoryFigures* out) {
  std::unique_ptr<store::Store> store;
  STREAMREC_RETURN_IF_ERROR(store::Store::Open(config.store, &store));
  learner::Learner learner(config.learner);
  store::UserCache cache(store.get(), config.pipeline.user_cache_capacity);
  store::StoreCounters counters;
  out->users = users;
  out->cache_capacity = config.pipeline.user_cache_capacity;
  const uint64_t sample_every = std::max<uint64_t>(1, users / kSamples);
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t first = 0; first < users; first += kBatch) {
    const uint64_t last = std::min(users, first + kBatch);
    for (uint64_t u = first; u < last; ++u) {
      store::CachedUser user;
      STREAMREC_RETURN_IF_ERROR(cache.Acquire(traffic::Generator::UserName(u), &user));
      if (user.is_new) learner.InitUser(user.external_id, UserId(counters.next_user_id++), user.record);
      const std::optional<ItemId> item = learner.InternItem(traffic::Generator::ItemName((u * 7919) % items));
      if (!item) continue;  // refused: the table is full (learner.max_items)
      learner.Observe(user.record, *item, EventType::kView, 1700000000000 + static_cast<int64_t>(u), Mix64(u));
    }
    counters.applied_events += last - first;
    store::CommitBatch commit;
    for (const store::CachedUser& u : cache.touched()) commit.users.push_back({u.external_id, u.record});
    learner.TakeDirtyItems(&commit.items);
    learner.TakeDirtySessions(&commit.sessions);
    commit.counters = counters;
    STREAMREC_RETURN_IF_ERROR(store->Commit(commit));
    cache.EndBatch();
    if (last / sample_every != first / sample_every || last == users) out->rss_mb.push_back({last, ProcStatusMb("VmRSS:")});
  }
  out->users_per_second =
      static_cast<double>(users) / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  store::DiskUsage disk;
  STREAMREC_RETURN_IF_ERROR(store->MeasureDisk(&disk));
  out->disk_mb = static_cast<double>(disk.user_bytes) / (1 << 20);
  return Status::Ok();
}

}  // namespace streamrec::bench
