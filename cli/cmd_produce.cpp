#include <chrono>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "common/json.h"
#include "common/logging.h"
#include "ingest/catalog_decoder.h"
#include "ingest/event_file.h"
#include "traffic/event_sink.h"

namespace streamrec::cli {
namespace {

int Fail(const char* command, const Status& s) {
  std::cerr << "streamrec " << command << ": " << s.message() << "\n";
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Status WriteTruth(const traffic::Generator& gen, const traffic::GeneratorOptions& o, const std::string& path) {
  std::ofstream out(path);
  if (!out) return Status::IOError("cannot write " + path);
  out << "kind,id,segment,category\n";
  for (uint64_t u = 0; u < o.users; ++u) out << "user," << traffic::Generator::UserName(u) << ',' << gen.UserSegment(u) << ",\n";
  for (uint64_t i = 0; i < o.items; ++i) {
    out << "item," << traffic::Generator::ItemName(i) << ',' << gen.ItemSegment(i) << ',' << gen.ItemCategory(i) << '\n';
  }
  return out ? Status::Ok() : Status::IOError("writing " + path);
}

// One catalog line per generated item: category and segment from the
// generator's truth, a brand per ten items, a price from the index.
std::string GeneratedCatalogLine(const traffic::Generator& gen, uint64_t item) {
  std::string line = "{\"item_id\":";
  AppendJsonString(traffic::Generator::ItemName(item), &line);
  line += ",\"category\":\"c" + std::to_string(gen.ItemCategory(item)) + "\"";
  line += ",\"brand\":\"b" + std::to_string(item / 10) + "\"";
  line += ",\"price\":" + std::to_string(5 + item % 95) + ",\"in_stock\":true}";
  return line;
}

Status WriteCatalog(const traffic::Generator& gen, const GenerateArgs& args) {
  std::unique_ptr<traffic::EventSink> file;
  STREAMREC_RETURN_IF_ERROR(traffic::OpenFileSink(args.catalog_file, &file));
  std::unique_ptr<traffic::EventSink> topic;
  if (!args.catalog_topic.empty() && !args.bootstrap.empty()) {
    STREAMREC_RETURN_IF_ERROR(traffic::OpenKafkaSink(args.bootstrap, args.catalog_topic, 0, &topic));
  }
  for (uint64_t i = 0; i < args.generator.items; ++i) {
    const std::string line = GeneratedCatalogLine(gen, i);
    STREAMREC_RETURN_IF_ERROR(file->Write({}, line));
    if (topic) STREAMREC_RETURN_IF_ERROR(topic->Write(traffic::Generator::ItemName(i), line));
  }
  if (topic) STREAMREC_RETURN_IF_ERROR(topic->Close());
  return file->Close();
}

// Catalog JSON lines, keyed by item_id; invalid lines go unkeyed, as they are.
int ProduceCatalog(const ProduceArgs& args, const std::atomic<bool>& stop) {
  std::ifstream in(args.catalog_file);
  if (!in) return Fail("produce", Status::NotFound("cannot read " + args.catalog_file));
  const std::string topic = args.topic.empty() ? "catalog" : args.topic;
  std::unique_ptr<traffic::EventSink> sink;
  if (Status s = traffic::OpenKafkaSink(args.bootstrap, topic, args.rate, &sink); !s.ok()) return Fail("produce", s);
  ingest::CatalogDecoder decoder;
  CatalogUpdate update;
  std::string line;
  uint64_t sent = 0;
  uint64_t invalid = 0;
  while (!stop.load() && std::getline(in, line)) {
    if (line.empty()) continue;
    const bool valid = !decoder.Decode(line, {}, &update).has_value();
    invalid += valid ? 0 : 1;
    if (Status s = sink->Write(valid ? std::string_view(update.entry.item_id) : std::string_view(), line); !s.ok()) {
      return Fail("produce", s);
    }
    ++sent;
  }
  if (Status s = sink->Close(); !s.ok()) return Fail("produce", s);
  std::cerr << "produced " << sent << " catalog entries to " << topic << " (" << invalid << " invalid lines sent as-is)\n";
  return 0;
}

}  // namespace

int CmdProduce(const ProduceArgs& args, const std::atomic<bool>& stop) {
  if (!args.catalog_file.empty()) return ProduceCatalog(args, stop);
  if (args.file.empty()) return Fail("produce", Status::InvalidArgument("give --file EVENTS or --catalog FILE"));
  const std::string topic = args.topic.empty() ? "events" : args.topic;
  ingest::EventFileReader reader;
  if (Status s = reader.Open(args.file); !s.ok()) return Fail("produce", s);
  std::unique_ptr<traffic::EventSink> sink;
  if (Status s = traffic::OpenKafkaSink(args.bootstrap, topic, args.rate, &sink); !s.ok()) return Fail("produce", s);

  const auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0;
  uint64_t invalid = 0;
  Event event;
  std::string raw;
  std::optional<ingest::Rejection> rejection;
  while (!stop.load() && reader.Next(&event, &raw, &rejection)) {
    Status s;
    if (rejection) {
      // Sent as-is: the pipeline dead-letters it with the reason, nothing is silently dropped.
      ++invalid;
      s = sink->Write({}, raw);
    } else {
      s = sink->Write(event.user, reader.format() == ingest::FileFormat::kJsonLines ? raw : ingest::EventToJson(event));
    }
    if (!s.ok()) return Fail("produce", s);
    ++sent;
  }
  if (Status s = sink->Close(); !s.ok()) return Fail("produce", s);
  std::cerr << "produced " << sent << " messages to " << topic << " (" << invalid
            << " invalid lines sent as-is) in " << SecondsSince(start) << " s\n";
  return 0;
}

int CmdGenerate(const GenerateArgs& args, const std::atomic<bool>& stop) {
  if (Status s = args.generator.Validate(); !s.ok()) return Fail("generate", s);
  if (args.out_file.empty() == args.bootstrap.empty()) {
    return Fail("generate", Status::InvalidArgument("give exactly one of --out FILE or --bootstrap HOST:PORT"));
  }
  traffic::Generator gen(args.generator);
  if (!args.truth_file.empty()) {
    if (Status s = WriteTruth(gen, args.generator, args.truth_file); !s.ok()) return Fail("generate", s);
  }
  if (!args.catalog_file.empty()) {
    if (Status s = WriteCatalog(gen, args); !s.ok()) return Fail("generate", s);
  }
  std::unique_ptr<traffic::EventSink> sink;
  Status opened = args.out_file.empty() ? traffic::OpenKafkaSink(args.bootstrap, args.topic, args.rate, &sink)
                                        : traffic::OpenFileSink(args.out_file, &sink);
  if (!opened.ok()) return Fail("generate", opened);
  const auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0;
  Event event;
  while (!stop.load() && gen.Next(&event)) {
    if (Status s = sink->Write(event.user, ingest::EventToJson(event)); !s.ok()) return Fail("generate", s);
    ++sent;
  }
  if (Status s = sink->Close(); !s.ok()) return Fail("generate", s);
  std::cerr << "generated " << sent << " events in " << SecondsSince(start) << " s\n";
  return 0;
}

}  // namespace streamrec::cli
