#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/json.h"
#include "store/store.h"

namespace streamrec::cli {

int CmdState(const StateArgs& args) {
  store::StoreOptions opts;
  opts.path = args.data_dir;
  opts.block_cache_mb = 8;
  opts.write_buffer_mb = 4;
  opts.create_if_missing = false;
  std::unique_ptr<store::Store> st;
  if (Status s = store::Store::Open(opts, &st); !s.ok()) {
    std::cerr << "streamrec state: cannot open " << args.data_dir << " (is an instance still running on it?): "
              << s.message() << "\n";
    return 1;
  }
  store::StateSummary sum;
  if (Status s = st->Summarize(&sum); !s.ok()) {
    std::cerr << "streamrec state: " << s.ToString() << "\n";
    return 1;
  }
  if (!args.json) {
    std::cout << "applied events:  " << sum.counters.applied_events << "\n"
              << "rejected events: " << sum.counters.rejected_events << "\n"
              << "users:           " << sum.users << "\n"
              << "items:           " << sum.items << "\n"
              << "checksum:        " << sum.checksum << "\n"
              << "item events:     " << sum.item_events << "\n"
              << "co-occurrence:   " << sum.cooc_weight << " (every pair counted: the rows' weights and what trimming dropped from them)\n";
    for (const auto& [key, offset] : sum.offsets) {
      std::cout << "offset " << key.first << "/" << key.second << ": " << offset << "\n";
    }
    return 0;
  }
  std::string out = "{\"applied_events\":" + std::to_string(sum.counters.applied_events) +
                    ",\"rejected_events\":" + std::to_string(sum.counters.rejected_events) + ",\"offsets\":{";
  bool first = true;
  for (const auto& [key, offset] : sum.offsets) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(key.first + "/" + std::to_string(key.second), &out);
    out += ':' + std::to_string(offset);
  }
  out += "},\"users\":" + std::to_string(sum.users) + ",\"items\":" + std::to_string(sum.items) + ",\"checksum\":";
  AppendJsonString(sum.checksum, &out);
  out += ",\"item_events\":" + std::to_string(sum.item_events) + ",\"cooc_weight\":" + fmt::format("{:.6g}", sum.cooc_weight);
  std::cout << out << "}\n";
  return 0;
}

}  // namespace streamrec::cli
