#include "ingest/event_file.h"

#include <charconv>

namespace streamrec::ingest {

Status EventFileReader::Open(const std::string& path) {
  in_.open(path);
  if (!in_) return Status::NotFound("cannot open event file " + path);
  std::string first;
  while (std::getline(in_, first)) {
    ++line_number_;
    if (!first.empty() && first.back() == '\r') first.pop_back();
    if (!first.empty()) break;
  }
  if (!first.empty() && first.front() == '{') {
    format_ = FileFormat::kJsonLines;
    pending_ = std::move(first);
    has_pending_ = true;
  } else if (first.rfind("ts,user,item,type", 0) == 0) {
    format_ = FileFormat::kCsv;
  } else if (!first.empty()) {
    return Status::InvalidArgument(path + ": expected a CSV header 'ts,user,item,type' or JSON lines");
  }
  return Status::Ok();
}

bool EventFileReader::Next(Event* event, std::string* raw, std::optional<Rejection>* rejection) {
  if (has_pending_) {
    has_pending_ = false;
    *raw = std::move(pending_);
  } else {
    do {
      if (!std::getline(in_, *raw)) return false;
      ++line_number_;
      if (!raw->empty() && raw->back() == '\r') raw->pop_back();
    } while (raw->empty());
  }
  *rejection = format_ == FileFormat::kJsonLines ? decoder_.Decode(*raw, {}, -1, event) : ParseCsv(*raw, event);
  return true;
}

std::optional<Rejection> EventFileReader::ParseCsv(const std::string& line, Event* event) const {
  std::string_view rest(line);
  std::string_view cols[4];
  for (int i = 0; i < 4; ++i) {
    size_t comma = i < 3 ? rest.find(',') : std::string_view::npos;
    if (i < 3 && comma == std::string_view::npos) return Rejection{RejectCode::kMissingField, "csv"};
    cols[i] = rest.substr(0, comma);
    rest = i < 3 ? rest.substr(comma + 1) : std::string_view();
  }
  double seconds = 0;
  auto [ptr, ec] = std::from_chars(cols[0].data(), cols[0].data() + cols[0].size(), seconds);
  if (ec != std::errc() || ptr != cols[0].data() + cols[0].size() || seconds < 0) {
    return Rejection{RejectCode::kBadTimestamp, "ts"};
  }
  if (cols[1].empty()) return Rejection{RejectCode::kEmptyField, "user_id"};
  if (cols[2].empty()) return Rejection{RejectCode::kEmptyField, "item_id"};
  std::optional<EventType> type = ParseEventType(cols[3]);
  if (!type) return Rejection{RejectCode::kBadType, "type"};
  event->ts_ms = static_cast<int64_t>(seconds * 1000.0);
  event->user.assign(cols[1]);
  event->item.assign(cols[2]);
  event->type = *type;
  event->event_id.clear();
  return std::nullopt;
}

std::string EventToJson(const Event& event) {
  std::string out = "{\"user_id\":";
  AppendJsonString(event.user, &out);
  out += ",\"item_id\":";
  AppendJsonString(event.item, &out);
  out += ",\"type\":\"";
  out += EventTypeName(event.type);
  out += "\",\"ts\":";
  out += std::to_string(event.ts_ms);
  if (!event.event_id.empty()) {
    out += ",\"event_id\":";
    AppendJsonString(event.event_id, &out);
  }
  out += '}';
  return out;
}

}  // namespace streamrec::ingest
