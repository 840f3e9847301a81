// Internal to the store: binary encodings of records (little-endian, fixed width).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/catalog.h"
#include "common/state.h"
#include "store/store.h"

namespace streamrec::store::codec {

// Encoders replace the contents of *out (a buffer reused across records).
// A user is one record (one key to insert and to look up): dense id, seq, event
// count, embedding, then its item lists (history, purchases, current list,
// basket). Stores written before commit 3b83dba kept the item lists under the same
// key in user_history: such a record ends after the embedding, and DecodeUser
// sets *with_lists to false (lists cleared) for the caller to read them there.
void EncodeUser(const UserRecord& r, std::string* out);
bool DecodeUser(std::string_view in, UserRecord* r, bool* with_lists);
// An older store's user_history value: the item lists alone.
bool DecodeHistory(std::string_view in, UserRecord* r);
// The older layout (user record, user_history value), for tests of reading it.
void EncodeLegacyUser(const UserRecord& r, std::string* user, std::string* history);
std::string EncodeItemKey(ItemId id);
// An item_embeddings value: everything but the co-occurrence rows, which go
// under the same key in item_neighbors (EncodeItemRows). Values written before
// the rows moved there carry them; DecodeItem returns them.
void EncodeItem(const ItemRecord& r, std::string* out);
bool DecodeItem(std::string_view key, std::string_view in, ItemRecord* r);
void EncodeItemRows(const ItemRecord& r, std::string* out);
bool DecodeItemRows(std::string_view in, ItemRecord* r);
// The older item_embeddings value (rows inside), for tests of reading it.
void EncodeLegacyItem(const ItemRecord& r, std::string* out);
// A session of the learner's session-neighbour component, under its big-endian slot.
std::string EncodeSessionKey(uint32_t slot);
void EncodeSession(const SessionRecord& r, std::string* out);
bool DecodeSession(std::string_view key, std::string_view in, SessionRecord* r);
std::string EncodeCatalog(const CatalogRecord& e);
bool DecodeCatalog(std::string_view key, std::string_view in, CatalogRecord* e);
// Reverse-index key: big-endian item id, then the user id.
std::string EncodeHolderKey(ItemId item, std::string_view user);
// Pending-list key: big-endian partition, then the user id.
std::string EncodePendingKey(int32_t partition, std::string_view user);
std::string EncodeU64(uint64_t v);
bool DecodeU64(std::string_view in, uint64_t* v);
// A float vector (count, then the floats).
std::string EncodeFloatVector(const std::vector<float>& v);
bool DecodeFloatVector(std::string_view in, std::vector<float>* v);

}  // namespace streamrec::store::codec
