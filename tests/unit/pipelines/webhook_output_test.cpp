// The webhook output's pure parts: batches (size, order, body, idempotency keys), the settled
// prefix that gates journal commits, and the error-stream line of a batch given up.

#include "pipelines/outputs/webhook_output.hpp"
#include "pipelines/outputs/error_stream.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <set>
#include <vector>

using harvest::pipelines::item;
using harvest::pipelines::settled_prefix;
using harvest::pipelines::undelivered_batch;
using harvest::pipelines::undelivered_item;
using harvest::pipelines::webhook_batch;
using harvest::pipelines::webhook_batcher;
namespace json = boost::json;

namespace {

item numbered(int n) {
    item value;
    value["url"] = "http://shop/p/" + std::to_string(n);
    value["n"] = n;
    return value;
}

std::vector<std::int64_t> numbers_in(const webhook_batch& batch) {
    std::vector<std::int64_t> out;
    const auto body = json::parse(batch.body).as_object();
    REQUIRE(body.size() == 1);
    for (const auto& value : body.at("items").as_array()) {
        out.push_back(value.as_object().at("n").as_int64());
    }
    return out;
}

}  // namespace

TEST_CASE("webhook_batcher: full batches as items arrive, the rest on take()",
          "[unit][outputs][webhook]") {
    webhook_batcher batcher(3, "run");
    std::vector<webhook_batch> batches;
    for (int n = 0; n < 7; ++n) {
        if (auto full = batcher.add(numbered(n))) {
            batches.push_back(std::move(*full));
        }
    }
    CHECK(batches.size() == 2);
    CHECK_FALSE(batcher.empty());
    auto rest = batcher.take();
    REQUIRE(rest);
    batches.push_back(std::move(*rest));
    CHECK(batcher.empty());
    CHECK_FALSE(batcher.take());  // nothing held: no empty batch
    CHECK(batcher.items_added() == 7);

    REQUIRE(batches.size() == 3);
    CHECK(numbers_in(batches[0]) == std::vector<std::int64_t>{0, 1, 2});
    CHECK(numbers_in(batches[1]) == std::vector<std::int64_t>{3, 4, 5});
    CHECK(numbers_in(batches[2]) == std::vector<std::int64_t>{6});
    CHECK(batches[0].first_item == 0);
    CHECK(batches[1].first_item == 3);
    CHECK(batches[2].first_item == 6);
    CHECK(batches[2].items == 1);
    CHECK(batches[0].idempotency_key == "run-0");
    CHECK(batches[1].idempotency_key == "run-1");
    CHECK(batches[2].idempotency_key == "run-2");
}

TEST_CASE("webhook_batcher: keys are unique per batch, batch size 0 is 1",
          "[unit][outputs][webhook]") {
    webhook_batcher batcher(0, "abc");
    std::set<std::string> keys;
    for (int n = 0; n < 100; ++n) {
        auto full = batcher.add(numbered(n));
        REQUIRE(full);
        CHECK(full->items == 1);
        CHECK(full->body == R"({"items":[{"url":"http://shop/p/)" + std::to_string(n) +
                                R"(","n":)" + std::to_string(n) + "}]}");
        keys.insert(full->idempotency_key);
    }
    CHECK(keys.size() == 100);
}

TEST_CASE("settled_prefix: batches settling out of order", "[unit][outputs][webhook]") {
    settled_prefix settled;
    CHECK(settled.value() == 0);
    settled.settle(100, 100);  // the second batch first: nothing before it is settled
    CHECK(settled.value() == 0);
    settled.settle(300, 50);
    CHECK(settled.value() == 0);
    settled.settle(0, 100);
    CHECK(settled.value() == 200);
    settled.settle(200, 100);
    CHECK(settled.value() == 350);
    settled.settle(350, 0);
    CHECK(settled.value() == 350);
}

TEST_CASE("a given-up batch's error-stream line carries its items and key",
          "[unit][outputs][webhook]") {
    undelivered_batch lost;
    lost.output = "webhook:http://127.0.0.1:9/in";
    lost.url = "http://127.0.0.1:9/in";
    lost.error = harvest::core::failure_kind::retries_exhausted;
    lost.attempts = 4;
    lost.status = 503;
    lost.idempotency_key = "run-3";
    lost.items.push_back(json::value(numbered(1)));
    lost.items.push_back(json::value(numbered(2)));
    const auto line = undelivered_item(lost, std::chrono::system_clock::time_point{});
    CHECK(line.at("url") == "http://127.0.0.1:9/in");
    CHECK(line.at("error") == "retries_exhausted");
    CHECK(line.at("attempts") == 4);
    CHECK(line.at("status") == 503);
    CHECK(line.at("final_at") == "1970-01-01T00:00:00.000Z");
    CHECK_FALSE(line.contains("last_error"));
    CHECK(line.at("output") == "webhook:http://127.0.0.1:9/in");
    CHECK(line.at("idempotency_key") == "run-3");
    REQUIRE(line.at("items").as_array().size() == 2);
    CHECK(line.at("items").as_array()[1].as_object().at("n") == 2);
}
