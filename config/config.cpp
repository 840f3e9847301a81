#include "config/config.h"

#include <set>

#include <yaml-cpp/yaml.h>

namespace streamrec::config {
namespace {

// Every configuration key, in one place: the reader and the writer below both
// walk the Config through this function, so they cannot drift apart.
template <class Visitor>
void VisitConfig(Visitor& v, Config& c) {
  v.Begin("kafka");
  v.Field("bootstrap", c.kafka.bootstrap);
  v.Field("group_id", c.kafka.group_id);
  v.Field("events_topic", c.kafka.events_topic);
  v.Field("dead_letter_topic", c.kafka.dead_letter_topic);
  v.Field("recommendations_topic", c.kafka.recommendations_topic);
  v.Field("catalog_topic", c.kafka.catalog_topic);
  v.Field("similar_items_topic", c.kafka.similar_items_topic);
  v.Field("bought_together_topic", c.kafka.bought_together_topic);
  v.Field("trending_topic", c.kafka.trending_topic);
  v.Field("state_topic", c.kafka.state_topic);
  v.Field("items_topic", c.kafka.items_topic);
  v.Field("start_from", c.kafka.start_from);
  v.Field("static_membership", c.kafka.static_membership);
  v.Field("partitions", c.kafka.partitions);
  v.Properties("properties", c.kafka.properties);
  v.Properties("consumer_properties", c.kafka.consumer_properties);
  v.Properties("producer_properties", c.kafka.producer_properties);
  v.End();

  v.Begin("store");
  v.Field("path", c.store.path);
  v.Field("sync_writes", c.store.sync_writes);
  v.Field("block_cache_mb", c.store.block_cache_mb);
  v.Field("write_buffer_mb", c.store.write_buffer_mb);
  v.End();

  v.Begin("pipeline");
  v.Field("batch_max_events", c.pipeline.batch_max_events);
  v.Field("batch_max_wait_ms", c.pipeline.batch_max_wait_ms);
  v.Field("batch_linger_ms", c.pipeline.batch_linger_ms);
  v.Field("user_cache_capacity", c.pipeline.user_cache_capacity);
  v.Field("status_interval_s", c.pipeline.status_interval_s);
  v.Field("commit_interval_ms", c.pipeline.commit_interval_ms);
  v.Field("commit_max_item_mb", c.pipeline.commit_max_item_mb);
  v.Field("exit_when_idle_ms", c.pipeline.exit_when_idle_ms);
  v.Field("quality_sample", c.pipeline.quality_sample);
  v.Field("quality_max_per_s", c.pipeline.quality_max_per_s);
  v.Field("state_handoff", c.pipeline.state_handoff);
  v.Field("share_items", c.pipeline.share_items);
  v.Field("share_sessions", c.pipeline.share_sessions);
  v.End();

  v.Begin("http");
  v.Field("listen", c.http.listen);
  v.Field("commit_stall_s", c.http.commit_stall_s);
  v.End();

  v.Begin("decoder");
  v.Field("max_message_bytes", c.decoder.max_message_bytes);
  v.Field("max_id_bytes", c.decoder.max_id_bytes);
  v.Field("dead_letter_max_bytes", c.decoder.dead_letter_max_bytes);
  v.End();

  v.Begin("learner");
  v.Field("model", c.learner.model);
  v.Field("recency_half_life_ms", c.learner.recency_half_life_ms);
  v.Field("short_half_life_ms", c.learner.short_half_life_ms);
  v.Field("dim", c.learner.dim);
  v.Field("learning_rate", c.learner.learning_rate);
  v.Field("regularization", c.learner.regularization);
  v.Field("negatives", c.learner.negatives);
  v.Field("init_scale", c.learner.init_scale);
  v.Field("seed", c.learner.seed);
  v.Field("max_history", c.learner.max_history);
  v.Field("popularity_negatives", c.learner.popularity_negatives);
  v.Field("cooc_weight", c.learner.cooc_weight);
  v.Field("blend_learning_rate", c.learner.blend_learning_rate);
  v.Field("session_neighbors", c.learner.session_neighbors);
  v.Field("session_weight", c.learner.session_weight);
  v.Field("cooc_window", c.learner.cooc_window);
  v.Field("cooc_decay", c.learner.cooc_decay);
  v.Field("max_neighbors", c.learner.max_neighbors);
  v.Field("max_boosts", c.learner.max_boosts);
  v.Field("max_items", c.learner.max_items);
  v.Field("dense_min_events", c.learner.dense_min_events);
  v.Begin("weights");
  for (EventType t : {EventType::kView, EventType::kCart, EventType::kRemoveFromCart, EventType::kPurchase}) {
    v.Field(std::string(EventTypeName(t)), c.learner.type_weights[static_cast<size_t>(t)]);
  }
  v.End();
  v.End();

  v.Begin("emitter");
  v.Field("top_n", c.emitter.top_n);
  v.Field("exclude_interacted", c.emitter.exclude_interacted);
  v.Field("model_version", c.emitter.model_version);
  v.Field("score_batch", c.emitter.score_batch);
  v.Field("precision", c.emitter.precision);
  v.Field("scoring_threads", c.emitter.scoring_threads);
  v.Field("ann_min_items", c.emitter.ann_min_items);
  v.Field("ann_candidates", c.emitter.ann_candidates);
  v.Field("ann_updates_per_batch", c.emitter.ann_updates_per_batch);
  v.Field("min_refresh_interval_ms", c.emitter.min_refresh_interval_ms);
  v.Field("max_pending_lists", c.emitter.max_pending_lists);
  v.Field("refresh_share", c.emitter.refresh_share);
  v.Field("list_share", c.emitter.list_share);
  v.Field("snapshot_max_age_ms", c.emitter.snapshot_max_age_ms);
  v.End();

  v.Begin("rules");
  v.Field("exclude_purchased", c.emitter.rules.exclude_purchased);
  v.Field("boost", c.emitter.rules.boost);
  v.Field("pins", c.emitter.rules.pins);
  v.Field("max_per_category", c.emitter.rules.max_per_category);
  v.Field("exploration_slot", c.emitter.rules.exploration_slot);
  v.Field("new_item_max_age_s", c.emitter.rules.new_item_max_age_s);
  v.Field("new_item_max_events", c.emitter.rules.new_item_max_events);
  v.Field("personal_min_events", c.emitter.rules.personal_min_events);
  v.End();

  v.Begin("surfaces");
  v.Field("enabled", c.surfaces.enabled);
  v.Field("top_n", c.surfaces.top_n);
  v.Field("cooc_blend", c.surfaces.cooc_blend);
  v.Field("item_refresh_interval_s", c.surfaces.item_refresh_interval_s);
  v.Field("max_items_per_batch", c.surfaces.max_items_per_batch);
  v.Field("trending_interval_s", c.surfaces.trending_interval_s);
  v.End();

  v.Begin("experiment");
  v.Field("name", c.experiment.name);
  v.Field("attribution_window_s", c.experiment.attribution_window_s);
  v.Variants("variants", c.experiment.variants);
  v.End();

  v.Field("log_level", c.log_level);
}

// The fields of one experiment variant, for the reader and the writer alike.
template <class Visitor>
void VisitVariant(Visitor& v, experiment::VariantOptions& variant) {
  v.Field("name", variant.name);
  v.Field("share", variant.share);
  v.Field("model", variant.model);
  v.Field("list_length", variant.list_length);
  v.Field("exploration_slot", variant.exploration_slot);
  v.Field("cooc_scale", variant.cooc_scale);
  v.Field("session_scale", variant.session_scale);
}

// Reads a YAML tree into a Config; rejects unknown keys and ill-typed values.
class YamlReader {
 public:
  explicit YamlReader(YAML::Node root) { frames_.push_back({std::move(root), ""}); }

  void Begin(const std::string& key) {
    Frame& top = frames_.back();
    top.known.insert(key);
    YAML::Node child = top.node ? top.node[key] : YAML::Node();
    frames_.push_back({child, Path(key)});
  }

  void End() {
    CheckUnknown(frames_.back());
    frames_.pop_back();
  }

  template <class T>
  void Field(const std::string& key, T& out) {
    Frame& top = frames_.back();
    top.known.insert(key);
    if (!status_.ok() || !top.node || !top.node[key]) return;
    try {
      out = top.node[key].template as<T>();
    } catch (const YAML::Exception& e) {
      status_ = Status::InvalidArgument(Path(key) + ": " + e.msg);
    }
  }

  void Properties(const std::string& key, kafka::Properties& out) {
    Frame& top = frames_.back();
    top.known.insert(key);
    if (!status_.ok() || !top.node || !top.node[key]) return;
    const YAML::Node map = top.node[key];
    if (!map.IsMap()) {
      status_ = Status::InvalidArgument(Path(key) + ": expected a mapping of librdkafka properties");
      return;
    }
    for (const auto& kv : map) out.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  }

  // A sequence of variant mappings (experiment.variants).
  void Variants(const std::string& key, std::vector<experiment::VariantOptions>& out) {
    Frame& top = frames_.back();
    top.known.insert(key);
    if (!status_.ok() || !top.node || !top.node[key]) return;
    const YAML::Node list = top.node[key];
    if (!list.IsSequence()) {
      status_ = Status::InvalidArgument(Path(key) + ": expected a list of variants ({name, share, ...})");
      return;
    }
    out.clear();
    for (size_t i = 0; i < list.size() && status_.ok(); ++i) {
      frames_.push_back({list[i], Path(key) + "[" + std::to_string(i) + "]"});
      VisitVariant(*this, out.emplace_back());
      End();
    }
  }

  Status Finish() {
    CheckUnknown(frames_.front());
    return status_;
  }

 private:
  struct Frame {
    YAML::Node node;
    std::string path;
    std::set<std::string> known;
  };

  std::string Path(const std::string& key) const {
    const std::string& base = frames_.back().path;
    return base.empty() ? key : base + "." + key;
  }

  void CheckUnknown(const Frame& f) {
    if (!status_.ok() || !f.node) return;
    if (!f.node.IsMap()) {
      status_ = Status::InvalidArgument((f.path.empty() ? "config" : f.path) + ": expected a mapping");
      return;
    }
    for (const auto& kv : f.node) {
      const std::string key = kv.first.as<std::string>();
      if (!f.known.count(key)) {
        status_ = Status::InvalidArgument("unknown configuration key '" + (f.path.empty() ? key : f.path + "." + key) + "'");
        return;
      }
    }
  }

  std::vector<Frame> frames_;
  Status status_;
};

// Writes a Config as YAML, masking secret librdkafka properties.
class YamlWriter {
 public:
  YamlWriter() {
    out_.SetFloatPrecision(6);  // 0.15, not 0.150000006
    out_ << YAML::BeginMap;
  }
  void Begin(const std::string& key) { out_ << YAML::Key << key << YAML::Value << YAML::BeginMap; }
  void End() { out_ << YAML::EndMap; }
  template <class T>
  void Field(const std::string& key, const T& value) {
    out_ << YAML::Key << key << YAML::Value << value;
  }
  void Properties(const std::string& key, const kafka::Properties& props) {
    Begin(key);
    for (const auto& [name, value] : props) Field(name, kafka::IsSecretProperty(name) ? std::string("****") : value);
    End();
  }
  void Variants(const std::string& key, std::vector<experiment::VariantOptions>& variants) {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginSeq;
    for (experiment::VariantOptions& variant : variants) {
      out_ << YAML::BeginMap;
      VisitVariant(*this, variant);
      out_ << YAML::EndMap;
    }
    out_ << YAML::EndSeq;
  }
  std::string Finish() {
    out_ << YAML::EndMap;
    return std::string(out_.c_str()) + "\n";
  }

 private:
  YAML::Emitter out_;
};

// "a.b.c" -> {"a", "b", "c"}, except that librdkafka's property names hold
// dots themselves: under a properties mapping the rest of the path is one key
// (kafka.consumer_properties.fetch.wait.max.ms).
std::vector<std::string> SplitOverridePath(const std::string& path) {
  for (std::string_view map : {"properties", "consumer_properties", "producer_properties"}) {
    const std::string prefix = "kafka." + std::string(map) + ".";
    if (path.size() > prefix.size() && path.starts_with(prefix)) {
      return {"kafka", std::string(map), path.substr(prefix.size())};
    }
  }
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

Status ApplyOverride(const std::string& assignment, YAML::Node root) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Status::InvalidArgument("override '" + assignment + "' must look like section.key=value");
  }
  const std::vector<std::string> parts = SplitOverridePath(assignment.substr(0, eq));
  // Walk down with fresh handles (YAML::Node assignment would rebind, not copy).
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) chain.push_back(chain.back()[parts[i]]);
  // The value is taken as it stands: a ':' or '#' in it (a host:port, a
  // password) is text, never YAML that could add keys or cut the value short.
  // Only a flow collection ("{k: v}", "[a, b]") is parsed, for the mapping and
  // list settings.
  const std::string value = assignment.substr(eq + 1);
  const bool collection = !value.empty() && (value.front() == '{' || value.front() == '[');
  chain.back()[parts.back()] = collection ? YAML::Load(value) : YAML::Node(value);
  return Status::Ok();
}

}  // namespace

Status Config::Validate() const {
  if (kafka.start_from != "earliest" && kafka.start_from != "latest") {
    return Status::InvalidArgument("kafka.start_from must be 'earliest' or 'latest'");
  }
  if (kafka.partitions < 1 || kafka.partitions > 1024) return Status::InvalidArgument("kafka.partitions must be in 1..1024");
  if (kafka.group_id.empty()) return Status::InvalidArgument("kafka.group_id must not be empty");
  if (pipeline.batch_max_events < 1 || pipeline.batch_max_events > 1000000) {
    return Status::InvalidArgument("pipeline.batch_max_events must be in 1..1000000");
  }
  if (pipeline.batch_max_wait_ms < 0 || pipeline.batch_max_wait_ms > 10000) {
    return Status::InvalidArgument("pipeline.batch_max_wait_ms must be in 0..10000");
  }
  if (pipeline.batch_linger_ms < 0 || pipeline.batch_linger_ms > 1000) {
    return Status::InvalidArgument("pipeline.batch_linger_ms must be in 0..1000");
  }
  if (pipeline.commit_interval_ms < 0 || pipeline.commit_interval_ms > 60000) {
    return Status::InvalidArgument("pipeline.commit_interval_ms must be in 0..60000");
  }
  if (pipeline.commit_max_item_mb < 1 || pipeline.commit_max_item_mb > 65536) {
    return Status::InvalidArgument("pipeline.commit_max_item_mb must be in 1..65536");
  }
  if (!(pipeline.quality_sample >= 0 && pipeline.quality_sample <= 1)) {
    return Status::InvalidArgument("pipeline.quality_sample must be in [0, 1]");
  }
  if (pipeline.quality_max_per_s < 0 || pipeline.quality_max_per_s > 100000) {
    return Status::InvalidArgument("pipeline.quality_max_per_s must be in 0..100000");
  }
  if (pipeline.user_cache_capacity < 1) return Status::InvalidArgument("pipeline.user_cache_capacity must be >= 1");
  if (decoder.max_message_bytes < 64 || decoder.max_id_bytes < 1 || decoder.max_id_bytes > 4096) {
    return Status::InvalidArgument("decoder limits: max_message_bytes >= 64, max_id_bytes in 1..4096");
  }
  if (decoder.dead_letter_max_bytes < 1024 || decoder.dead_letter_max_bytes > (16U << 20)) {
    return Status::InvalidArgument("decoder.dead_letter_max_bytes must be in 1024..16777216");
  }
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!kLevels.count(log_level)) return Status::InvalidArgument("log_level must be one of trace..off");
  STREAMREC_RETURN_IF_ERROR(store.Validate());
  STREAMREC_RETURN_IF_ERROR(http.Validate());
  STREAMREC_RETURN_IF_ERROR(learner.Validate());
  STREAMREC_RETURN_IF_ERROR(surfaces.Validate());
  STREAMREC_RETURN_IF_ERROR(experiment.Validate(emitter.top_n));
  return emitter.Validate();
}

Status LoadConfig(const std::string& path, const std::vector<std::string>& overrides, Config* out) {
  YAML::Node root;
  try {
    root = path.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::LoadFile(path);
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    for (const std::string& o : overrides) STREAMREC_RETURN_IF_ERROR(ApplyOverride(o, root));
  } catch (const YAML::BadFile&) {
    return Status::NotFound("cannot read config file " + path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument((path.empty() ? std::string("override") : path) + ": " + e.what());
  }
  *out = Config{};
  // yaml-cpp throws on shapes the reader does not expect (a scalar where a
  // section belongs, a nested value among librdkafka properties): every such
  // throw becomes an error naming the file, never an escaped exception.
  try {
    YamlReader reader(root);
    VisitConfig(reader, *out);
    STREAMREC_RETURN_IF_ERROR(reader.Finish());
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument((path.empty() ? std::string("override") : path) + ": " + e.msg);
  }
  return out->Validate();
}

std::string DumpConfig(const Config& config) {
  Config copy = config;
  YamlWriter writer;
  VisitConfig(writer, copy);
  return writer.Finish();
}

}  // namespace streamrec::config
