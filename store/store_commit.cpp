// Store commits: a CommitBatch encoded into one WriteBatch (keys sorted per
// column family, each changed key once) and written with the offsets.
#include <algorithm>
#include <cstring>

#include <rocksdb/write_batch.h>

#include "common/fixed.h"
#include "common/hash.h"
#include "store/codec.h"
#include "store/store_impl.h"

namespace streamrec::store {

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
  std::vector<SessionRecord> deferred_sessions;  // the same for the learner's sessions
  bool sessions_pending = false;
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
void PreparedCommit::Trim(size_t keep_bytes) {
  if (rep_->batch.GetDataSize() > keep_bytes) rep_->batch = rocksdb::WriteBatch();
  size_t held = 0;
  for (const ItemRecord& r : rep_->deferred_items) {
    held += sizeof r + r.external_id.capacity() + r.embedding.capacity() * sizeof(float) +
            (r.neighbors.capacity() + r.basket_neighbors.capacity()) * sizeof(std::pair<ItemId, float>);
  }
  if (held > keep_bytes) std::vector<ItemRecord>().swap(rep_->deferred_items);
  held = 0;
  for (const SessionRecord& r : rep_->deferred_sessions) {
    held += sizeof r + r.items.capacity() * sizeof(ItemId) + r.gained.capacity() * sizeof(uint64_t);
  }
  if (held > keep_bytes) std::vector<SessionRecord>().swap(rep_->deferred_sessions);
}
void PreparedCommit::DeferUsers(std::vector<UserCopy>* users) {
  rep_->deferred_users.swap(*users);
  rep_->users_pending = true;
}
void PreparedCommit::DeferSessions(std::vector<SessionRecord>* sessions) {
  rep_->deferred_sessions.swap(*sessions);
  rep_->sessions_pending = true;
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
  out->rep_->sessions_pending = false;
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

void Store::AppendSessions(std::span<const SessionRecord> sessions, PreparedCommit* out) const {
  PreparedCommit::Rep& rep = *out->rep_;
  for (const SessionRecord& s : sessions) {
    codec::EncodeSession(s, &rep.scratch);
    rep.batch.Put(impl_->sessions(), codec::EncodeSessionKey(s.slot), rep.scratch);
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
  AppendSessions(batch.sessions, out);
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
  if (!batch.counters.blend.empty()) wb.Put(impl_->meta(), "blend", codec::EncodeFloatVector(batch.counters.blend));
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
  if (rep.sessions_pending) {
    AppendSessions(rep.deferred_sessions, commit);
    rep.sessions_pending = false;
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

}  // namespace streamrec::store
