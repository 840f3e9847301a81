#include <catch2/catch.hpp>

#include "emitter/emitter.h"

using namespace streamrec::emitter;

TEST_CASE("list messages have the documented shape") {
  std::vector<std::pair<std::string_view, float>> items = {{"i\"1", 0.5F}, {"i2", -1.25F}};
  std::string json = RenderList("u1", items, 3, "mf-sgd-1", 1700000000000, 2, 41);
  CHECK(json ==
        R"({"user_id":"u1","items":[{"item_id":"i\"1","score":0.5},{"item_id":"i2","score":-1.25}],)"
        R"("seq":3,"model_version":"mf-sgd-1","generated_at":1700000000000,"source":{"partition":2,"offset":41}})");
  CHECK(RenderList("u", {}, 1, "m", 0, 0, 0).find(R"("items":[])") != std::string::npos);
}

TEST_CASE("emitter options are validated") {
  EmitterOptions o;
  CHECK(o.Validate().ok());
  o.top_n = 0;
  CHECK_FALSE(o.Validate().ok());
}
