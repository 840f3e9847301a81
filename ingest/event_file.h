// EventFileReader: reads an event log, either the datasets' CSV
// (header "ts,user,item,type", ts in Unix seconds) or JSON lines in the
// events-topic format. The format is detected from the first line.
//
// Thread-safety: one thread owns a reader.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

#include "common/event.h"
#include "common/json.h"
#include "common/status.h"
#include "ingest/decoder.h"

namespace streamrec::ingest {

enum class FileFormat { kCsv, kJsonLines };

class EventFileReader {
 public:
  [[nodiscard]] Status Open(const std::string& path);

  FileFormat format() const { return format_; }

  // Reads the next record. Returns false at end of file. `raw` receives the
  // line as it stands in the file. When the line is invalid, `*rejection` is
  // set and `*event` is unspecified; the reader goes on with the next line.
  bool Next(Event* event, std::string* raw, std::optional<Rejection>* rejection);

  // 1-based number of the line last returned.
  uint64_t line_number() const { return line_number_; }

 private:
  std::optional<Rejection> ParseCsv(const std::string& line, Event* event) const;

  std::ifstream in_;
  FileFormat format_ = FileFormat::kCsv;
  std::string pending_;  // first data line, read while detecting the format
  bool has_pending_ = false;
  uint64_t line_number_ = 0;
  EventDecoder decoder_;
};

// Serialises an event as one events-topic JSON message.
std::string EventToJson(const Event& event);

}  // namespace streamrec::ingest
