#include "traffic/event_sink.h"

#include <iostream>
#include <thread>

namespace streamrec::traffic {
namespace {

class FileSink : public EventSink {
 public:
  explicit FileSink(const std::string& path) {
    if (path != "-") file_.open(path, std::ios::out | std::ios::trunc);
    out_ = path == "-" ? &std::cout : &file_;
  }
  bool ok() const { return static_cast<bool>(*out_); }
  Status Write(std::string_view, std::string_view value) override {
    out_->write(value.data(), static_cast<std::streamsize>(value.size()));
    out_->put('\n');
    return *out_ ? Status::Ok() : Status::IOError("write failed");
  }
  Status Close() override {
    out_->flush();
    return *out_ ? Status::Ok() : Status::IOError("flush failed");
  }

 private:
  std::ofstream file_;
  std::ostream* out_;
};

class KafkaSink : public EventSink {
 public:
  KafkaSink(std::unique_ptr<kafka::Producer> producer, std::string topic, double rate)
      : producer_(std::move(producer)), topic_(std::move(topic)), rate_(rate) {}

  Status Write(std::string_view key, std::string_view value) override {
    if (rate_ > 0) {
      const auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(static_cast<double>(sent_) / rate_));
      std::this_thread::sleep_until(due);
    }
    ++sent_;
    return producer_->Produce(topic_, key, value);
  }

  Status Close() override { return producer_->Flush(60000); }

 private:
  std::unique_ptr<kafka::Producer> producer_;
  std::string topic_;
  double rate_;
  uint64_t sent_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

Status OpenFileSink(const std::string& path, std::unique_ptr<EventSink>* out) {
  auto sink = std::make_unique<FileSink>(path);
  if (!sink->ok()) return Status::IOError("cannot write " + path);
  *out = std::move(sink);
  return Status::Ok();
}

Status OpenKafkaSink(const std::string& bootstrap, const std::string& topic, double rate,
                     std::unique_ptr<EventSink>* out) {
  kafka::ProducerOptions opts;
  opts.properties = {{"bootstrap.servers", bootstrap},
                     {"partitioner", "murmur2_random"},
                     {"linger.ms", "5"},
                     {"client.id", "streamrec-produce"}};
  opts.warm_topics = {topic};
  std::unique_ptr<kafka::Producer> producer;
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(opts, &producer));
  *out = std::make_unique<KafkaSink>(std::move(producer), topic, rate);
  return Status::Ok();
}

}  // namespace streamrec::traffic
