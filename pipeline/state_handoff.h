// StateHandoff: user state moves with its partition between the instances of
// one consumer group, through a compacted changelog topic (kafka.state_topic).
//
// Every micro-batch writes, to changelog partition p, the full record of each
// user it touched on events partition p, then one offsets marker for p
// ({"writer", "partition", "from", "next_offset"}), and waits for delivery
// before the store commit; the commit stores how far into the changelog this
// instance's state goes. When p is assigned, the changelog past that position
// is read: batches written by another instance are adopted (their users
// replace ours, and p resumes at the last marker's next_offset); batches this
// instance wrote but never committed (it crashed in between) are dropped and
// the events re-processed, which is deterministic. Records after the last
// marker belong to a batch that never completed and are ignored. So each event
// is applied once across the group, and a user's embedding, history and list
// seq follow the user.
//
// Memory: the last batch's encoded records stay in one buffer, reused (about
// dim * 4 + 30 bytes per history item and user of the largest batch). A
// restore reads the changelog in slices and hands the adopted users over in
// chunks of at most max_restore_bytes of encoded records (held twice while a
// chunk is decoded), plus the batch being read: a changelog of any length
// restores in bounded memory, the caller serving its consumer between slices.
//
// Items are not handed off here: every instance holds the whole item side,
// shared through the item updates topic (pipeline/item_exchange.h); history
// travels as external item ids, so co-occurrence boosts work at once on the
// new owner.
//
// Thread-safety: one thread (the pipeline's).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/state.h"
#include "common/status.h"
#include "kafka/properties.h"

namespace streamrec::pipeline {

struct StateHandoffOptions {
  std::string state_topic;  // compacted, at least as many partitions as the events topic
  kafka::Properties producer_properties;
  kafka::Properties reader_properties;
  std::string writer_id;  // this instance (Store::InstanceId)
  int timeout_ms = 30000; // per read or flush attempt
  // A restore's adopted users are handed over in chunks of about this many
  // bytes of encoded records. Default 16 MiB (~90k users at dim 32): larger
  // chunks mean fewer store writes, smaller ones less memory.
  size_t max_restore_bytes = size_t{16} << 20;
  // Changelog records read between two calls of a restore's `between`.
  // Default 16384 (~0.2 s): the consumer group is served this often.
  int64_t records_per_read = 16384;
};

// How the model maps item ids for the changelog (history travels as external ids).
struct ItemNames {
  std::function<const std::string&(ItemId)> external;
  std::function<std::optional<ItemId>(std::string_view)> intern;  // nullopt: refused (learner.max_items)
};

struct ChangedUser {
  std::string_view external_id;
  const UserRecord* record = nullptr;
  int32_t partition = 0;
};

struct RestoredUser {
  std::string external_id;
  UserRecord record;  // id is left for the caller to assign
};

struct RestoreOutcome {
  bool adopted = false;           // state written by another instance was taken over
  bool stopped = false;           // `between` asked to stop: nothing more was read
  int64_t next_event_offset = 0;  // where the partition resumes, when adopted
  int64_t changelog_position = 0; // changelog offset the state now reflects, when adopted
  uint64_t batches = 0;           // complete batches read
  uint64_t users = 0;             // users handed over
  uint64_t chunks = 0;            // calls of `adopt`
};

// Takes a chunk of adopted users (the caller may move them out). A user can
// come in more than one chunk: the later record is the newer.
using AdoptUsers = std::function<Status(std::vector<RestoredUser>* users)>;
// Between two slices of a restore: may set *stop (the partition went away).
using BetweenReads = std::function<Status(bool* stop)>;

class StateHandoff {
 public:
  explicit StateHandoff(StateHandoffOptions options);
  ~StateHandoff();

  [[nodiscard]] Status Start();
  // Queues the batch's user records and one marker per partition; `from` and
  // `next` are the batch's first and next event offsets per partition
  // (from = -1 when unknown).
  [[nodiscard]] Status Write(const std::vector<ChangedUser>& users, const std::map<int32_t, int64_t>& from,
                             const std::map<int32_t, int64_t>& next, const ItemNames& items);
  // Waits for delivery; on failure the whole batch must be written again.
  [[nodiscard]] Status Flush();
  // Whether everything written was acknowledged (or failed: Flush() tells); never blocks.
  bool Settled();
  // The changelog offset after this instance's last delivered record in `partition`, or -1.
  int64_t Position(int32_t partition) const;
  // Reads changelog `partition` after `position` (see the header comment),
  // handing adopted users to `adopt` chunk by chunk, in changelog order. If
  // it fails or stops half-way, some chunks were handed over: they are newer
  // than the caller's state and a later restore from the same `position`
  // hands them over again, so a caller that commits each chunk stays
  // consistent as long as it resumes the partition only after a complete restore.
  [[nodiscard]] Status Restore(int32_t partition, int64_t position, const ItemNames& items, const AdoptUsers& adopt,
                               const BetweenReads& between, RestoreOutcome* out);
  [[nodiscard]] Status Stop();

  const std::string& topic() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The changelog's value encodings (documented in docs/events.md).
std::string EncodeChangelogUser(const UserRecord& user, const ItemNames& items);
// The same, appended to *out.
void AppendChangelogUser(const UserRecord& user, const ItemNames& items, std::string* out);
bool DecodeChangelogUser(std::string_view in, const ItemNames& items, UserRecord* out);

}  // namespace streamrec::pipeline
