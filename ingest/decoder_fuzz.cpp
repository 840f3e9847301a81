// libFuzzer target for the event and catalog decoders (scripts/fuzz.sh builds
// and runs it). Properties: no crash or sanitizer report on any input; an
// accepted event obeys the documented limits and survives a round trip through
// EventToJson; an accepted catalog entry obeys the documented limits.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/catalog_decoder.h"
#include "ingest/decoder.h"
#include "ingest/event_file.h"

using streamrec::Event;
using streamrec::ingest::DecoderLimits;
using streamrec::ingest::EventDecoder;

namespace {

void CheckCatalog(std::string_view payload) {
  static streamrec::ingest::CatalogDecoder decoder{DecoderLimits{}};
  streamrec::CatalogUpdate u;
  if (decoder.Decode(payload, {}, &u)) return;
  const streamrec::CatalogEntry& e = u.entry;
  if (u.removed || e.item_id.empty() || e.item_id.size() > DecoderLimits{}.max_id_bytes ||
      e.tags.size() > streamrec::ingest::kMaxCatalogTags || !(e.price >= 0 || e.price == -1.0)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static EventDecoder decoder{DecoderLimits{}};
  static EventDecoder again{DecoderLimits{}};
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  CheckCatalog(payload);
  Event e;
  if (decoder.Decode(payload, {}, 1000, &e)) return 0;  // rejected: fine, it has a reason
  const DecoderLimits limits;
  if (e.user.empty() || e.item.empty() || e.user.size() > limits.max_id_bytes || e.item.size() > limits.max_id_bytes ||
      e.ts_ms < 0) {
    std::abort();  // accepted something the contract forbids
  }
  Event round;
  if (again.Decode(streamrec::ingest::EventToJson(e), e.user, -1, &round) || round.user != e.user ||
      round.item != e.item || round.type != e.type || round.ts_ms != e.ts_ms || round.event_id != e.event_id) {
    std::abort();  // what we accept we must be able to write back and read again
  }
  return 0;
}
