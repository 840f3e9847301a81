#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>

#include <httplib.h>

#include "common/clock.h"
#include "server/status_page.h"
#include "server/status_server.h"

using namespace streamrec;
using namespace streamrec::server;

TEST_CASE("health JSON says ok, or failing with the problem and since when") {
  HealthSnapshot s;
  s.applied_total = 42;
  s.partitions = 3;
  s.last_commit_ms = 1700000000123;
  CHECK(HealthJson(s) ==
        "{\"status\":\"ok\",\"applied_events\":42,\"last_commit_ms\":1700000000123,\"uncommitted_since_ms\":0,"
        "\"partitions\":3}\n");
  s.problem = "commit: \"disk\" full";
  s.problem_since_ms = 5;
  const std::string failing = HealthJson(s);
  CHECK(failing.find("\"status\":\"failing\"") != std::string::npos);
  CHECK(failing.find(R"("problem":"commit: \"disk\" full","problem_since_ms":5)") != std::string::npos);
}

TEST_CASE("metrics text: one HELP, TYPE and sample per metric, values from the snapshot") {
  HealthSnapshot s;
  s.applied = 7;
  s.rejected = 2;
  s.last_commit_ms = 9'999;
  const std::string text = MetricsText(s);
  CHECK(text.find("# TYPE streamrec_events_applied_total counter\nstreamrec_events_applied_total 7\n") !=
        std::string::npos);
  CHECK(text.find("streamrec_events_rejected_total 2\n") != std::string::npos);
  CHECK(text.find("streamrec_up 1\n") != std::string::npos);
  CHECK(text.find("streamrec_last_commit_timestamp_seconds 9\n") != std::string::npos);
  s.blend_cooc_weight = 18.25F;
  s.blend_recency_weight = 0.5F;
  const std::string blend = MetricsText(s);
  CHECK(blend.find("# TYPE streamrec_blend_cooc_weight gauge\nstreamrec_blend_cooc_weight 18.25\n") != std::string::npos);
  CHECK(blend.find("streamrec_blend_recency_weight 0.5\n") != std::string::npos);
  s.problem = "delivery";
  CHECK(MetricsText(s).find("streamrec_up 0\n") != std::string::npos);
}

TEST_CASE("the server answers /health and /metrics from the board, 503 while failing") {
  HealthBoard board;
  board.Update([](HealthSnapshot& s) { s.applied = 11; });
  StatusServer server(StatusServerOptions{"127.0.0.1:0"}, &board);
  REQUIRE(server.Start().ok());
  REQUIRE(server.port() > 0);
  httplib::Client client("127.0.0.1", server.port());
  httplib::Result health = client.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  httplib::Result metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("streamrec_events_applied_total 11\n") != std::string::npos);
  board.Update([](HealthSnapshot& s) { s.problem = "commit"; });
  httplib::Result failing = client.Get("/health");
  REQUIRE(failing);
  CHECK(failing->status == 503);
  server.Stop();
}

TEST_CASE("an address already taken is refused at Start") {
  HealthBoard board;
  StatusServer first(StatusServerOptions{"127.0.0.1:0"}, &board);
  REQUIRE(first.Start().ok());
  StatusServer second(StatusServerOptions{"127.0.0.1:" + std::to_string(first.port())}, &board);
  CHECK_FALSE(second.Start().ok());
  CHECK_FALSE(StatusServer(StatusServerOptions{"no-port"}, &board).Start().ok());
}

TEST_CASE("events lost to the broker's retention make /health degraded, not failing, and are counted") {
  HealthSnapshot s;
  s.events_lost = 10000;
  const std::string health = HealthJson(s);
  CHECK(health.find(R"("status":"degraded","warning":"10000 events were deleted by the broker)") !=
        std::string::npos);
  CHECK(MetricsText(s).find("streamrec_events_lost_total 10000\n") != std::string::npos);
  CHECK(MetricsText(s).find("streamrec_up 1\n") != std::string::npos);
  s.problem = "commit";
  CHECK(HealthJson(s).find(R"("status":"failing")") != std::string::npos);
}

TEST_CASE("a dead letter no size could deliver makes /health degraded and is counted") {
  HealthSnapshot s;
  s.dead_letters_resent = 12;
  CHECK(HealthJson(s).find(R"("status":"ok")") != std::string::npos);  // sent again: nothing lost
  CHECK(MetricsText(s).find("streamrec_dead_letters_resent_total 12\n") != std::string::npos);
  s.dead_letters_dropped = 1;
  CHECK(HealthJson(s).find(R"("status":"degraded","warning":"1 rejected messages could not be written)") !=
        std::string::npos);
  CHECK(MetricsText(s).find("streamrec_dead_letters_dropped_total 1\n") != std::string::npos);
}

TEST_CASE("applied events waiting longer than the bound for a commit make /health 503; an idle pipeline stays ok") {
  HealthSnapshot s;
  s.last_commit_ms = 1'000'000;
  CHECK(JudgeHealth(s, 9'000'000, 60'000).problem.empty());  // nothing owed: idle is healthy
  s.uncommitted_since_ms = 1'000'500;
  CHECK(JudgeHealth(s, 1'060'000, 60'000).problem.empty());  // 59.5 s: within the bound
  const HealthSnapshot stalled = JudgeHealth(s, 1'061'000, 60'000);
  CHECK(stalled.problem.find("no commit for 60 s") != std::string::npos);
  CHECK(stalled.problem_since_ms == 1'060'500);
  CHECK(MetricsText(stalled, 1'061'000).find("streamrec_up 0\n") != std::string::npos);
  CHECK(MetricsText(stalled, 1'061'000).find("streamrec_uncommitted_seconds 60\n") != std::string::npos);
  s.problem = "committing state: disk full";  // a reported problem is kept as it is
  CHECK(JudgeHealth(s, 1'061'000, 60'000).problem == "committing state: disk full");
}

TEST_CASE("the server judges the stall when it answers") {
  HealthBoard board;
  StatusServerOptions options;
  options.listen = "127.0.0.1:0";
  options.commit_stall_s = 5;
  StatusServer server(options, &board);
  REQUIRE(server.Start().ok());
  httplib::Client client("127.0.0.1", server.port());
  board.Update([](HealthSnapshot& h) { h.uncommitted_since_ms = NowMillis() - 1'000; });
  httplib::Result fresh = client.Get("/health");
  REQUIRE(fresh);
  CHECK(fresh->status == 200);
  board.Update([](HealthSnapshot& h) { h.uncommitted_since_ms = NowMillis() - 6'000; });
  httplib::Result stalled = client.Get("/health");
  REQUIRE(stalled);
  CHECK(stalled->status == 503);
  CHECK(stalled->body.find("no commit for 6 s") != std::string::npos);
  server.Stop();
  options.commit_stall_s = 1;
  CHECK_FALSE(StatusServer(options, &board).Start().ok());
}

TEST_CASE("metrics text: the list stages as Prometheus histograms, cumulative buckets") {
  HealthSnapshot s;
  s.list_stages[kTotal].Record(4.0);
  s.list_stages[kTotal].Record(40.0);
  s.list_stages[kTotal].Record(1e6);
  s.list_stages[kQueue].Record(0.5);
  const std::string text = MetricsText(s);
  CHECK(text.find("# TYPE streamrec_list_stage_milliseconds histogram\n") != std::string::npos);
  CHECK(text.find("streamrec_list_stage_milliseconds_bucket{stage=\"total\",le=\"3\"} 0\n") != std::string::npos);
  CHECK(text.find("streamrec_list_stage_milliseconds_bucket{stage=\"total\",le=\"5\"} 1\n") != std::string::npos);
  CHECK(text.find("streamrec_list_stage_milliseconds_bucket{stage=\"total\",le=\"50\"} 2\n") != std::string::npos);
  CHECK(text.find("streamrec_list_stage_milliseconds_bucket{stage=\"total\",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("streamrec_list_stage_milliseconds_count{stage=\"total\"} 3\n") != std::string::npos);
  CHECK(text.find("streamrec_list_stage_milliseconds_bucket{stage=\"queue\",le=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("streamrec_list_stage_milliseconds_count{stage=\"fetch\"} 0\n") != std::string::npos);
}

TEST_CASE("producer-side partitioning problems are counted, and leave /health ok") {
  HealthSnapshot s;
  s.events_unkeyed = 3;
  s.events_key_mismatch = 2;
  s.users_moved_partition = 1;
  const std::string metrics = MetricsText(s);
  CHECK(metrics.find("streamrec_events_unkeyed_total 3\n") != std::string::npos);
  CHECK(metrics.find("streamrec_events_key_mismatch_total 2\n") != std::string::npos);
  CHECK(metrics.find("streamrec_users_moved_partition_total 1\n") != std::string::npos);
  CHECK(HealthJson(s).find(R"("status":"ok")") != std::string::npos);  // nothing lost: the lists are worse
}

TEST_CASE("/metrics has the commit histograms and the consumer lag per partition") {
  HealthSnapshot s;
  s.commit_write.Record(4.0);
  s.commit_write.Record(250.0);
  s.commit_seal.Record(0.5);
  s.consumer_lag = {{0, 12}, {3, 0}};
  const std::string metrics = MetricsText(s);
  CHECK(metrics.find("# TYPE streamrec_commit_milliseconds histogram\n") != std::string::npos);
  CHECK(metrics.find(R"(streamrec_commit_milliseconds_bucket{part="write",le="5"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(streamrec_commit_milliseconds_bucket{part="write",le="300"} 2)") != std::string::npos);
  CHECK(metrics.find(R"(streamrec_commit_milliseconds_count{part="seal"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(streamrec_commit_milliseconds_sum{part="write"} 254)") != std::string::npos);
  CHECK(metrics.find(R"(streamrec_consumer_lag_messages{partition="0"} 12)") != std::string::npos);
  CHECK(metrics.find(R"(streamrec_consumer_lag_messages{partition="3"} 0)") != std::string::npos);
}

TEST_CASE("/metrics has the experiment's counters per variant and per list reason, none without one") {
  HealthSnapshot s;
  CHECK(MetricsText(s).find("streamrec_experiment") == std::string::npos);
  s.experiment = "exp";
  s.variant_names = {"control", "short"};
  s.variants.resize(2);
  s.variants[1].lists = 40;
  s.variants[1].clicked = 7;
  s.variants[1].revenue = 12.5;
  s.variants[1].reasons[size_t(ListReason::kSimilarTo)].shown = 90;
  s.variants[1].reasons[size_t(ListReason::kSimilarTo)].bought = 2;
  const std::string text = MetricsText(s);
  CHECK(text.find(R"(streamrec_experiment_lists_total{experiment="exp",variant="short"} 40)") != std::string::npos);
  CHECK(text.find(R"(streamrec_experiment_clicks_total{experiment="exp",variant="short"} 7)") !=
        std::string::npos);
  CHECK(text.find(R"(streamrec_experiment_revenue_total{experiment="exp",variant="short"} 12.5)") != std::string::npos);
  CHECK(text.find(R"(streamrec_experiment_items_shown_total{experiment="exp",reason="similar_to",variant="short"} 90)") !=
        std::string::npos);
  CHECK(text.find(R"(streamrec_experiment_item_outcomes_total{experiment="exp",outcome="purchase",reason="similar_to",variant="short"} 2)") !=
        std::string::npos);
}

TEST_CASE("the status page, its JSON, and a look-up answered by the pipeline's thread") {
  HealthBoard board;
  board.Update([](HealthSnapshot& s) {
    s.consumed = 42;
    s.list_stages[kTotal].Record(12.0);
    s.experiment = "exp";
    s.variant_names = {"control"};
    s.variants.resize(1);
    s.variants[0].lists = 5;
    s.trending = {{"sku-1", 0.75F}};
  });
  UserLookups lookups;
  StatusServer server(StatusServerOptions{"127.0.0.1:0"}, &board, &lookups);
  REQUIRE(server.Start().ok());
  // The pipeline's side: answers each question as it comes.
  std::atomic<bool> stop{false};
  std::thread pipeline([&] {
    while (!stop) {
      if (!lookups.pending()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      for (const UserLookups::Question& q : lookups.Take()) {
        lookups.Answer(q.id, q.user_id == "u1" ? R"({"user_id":"u1","events":3,"list":{"items":[]}})"
                                               : R"({"error":"no user"})");
      }
    }
  });
  httplib::Client client("127.0.0.1", server.port());
  httplib::Result page = client.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type").starts_with("text/html"));
  CHECK(page->body.find("status.json") != std::string::npos);
  CHECK(page->body.find("src=\"http") == std::string::npos);
  httplib::Result json = client.Get("/status.json");
  REQUIRE(json);
  CHECK(json->body.find(R"("consumed":42)") != std::string::npos);
  CHECK(json->body.find(R"("experiment":{"name":"exp","variants":[{"name":"control","users":0,"lists":5)") !=
        std::string::npos);
  CHECK(json->body.find(R"("trending":[{"item_id":"sku-1","score":0.75}])") != std::string::npos);
  httplib::Result found = client.Get("/api/user?id=u1");
  REQUIRE(found);
  CHECK(found->status == 200);
  CHECK(found->body.find(R"("events":3)") != std::string::npos);
  httplib::Result missing = client.Get("/api/user?id=nobody");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  httplib::Result bare = client.Get("/api/user");
  REQUIRE(bare);
  CHECK(bare->status == 400);
  stop = true;
  pipeline.join();
  // Nobody answers now: 503 after the wait, and the question does not linger.
  httplib::Result unanswered = client.Get("/api/user?id=u1");
  REQUIRE(unanswered);
  CHECK(unanswered->status == 503);
  CHECK_FALSE(lookups.pending());
  server.Stop();
}

TEST_CASE("StatusJson carries the latency histogram with its bucket bounds") {
  HealthSnapshot s;
  s.list_stages[kTotal].Record(3.0);
  const std::string json = StatusJson(s, 1000);
  CHECK(json.find(R"("list_latency":{"bounds_ms":[1,2,3,5,)") != std::string::npos);
  CHECK(json.find(R"("counts":[0,0,1,0)") != std::string::npos);
  CHECK(json.find(R"("experiment":{"name":"","variants":[]})") != std::string::npos);
}
