#include "pipelines/outputs/error_stream.hpp"
#include "pipelines/outputs/jsonl_output.hpp"
#include "pipelines/outputs/output.hpp"
#include "test_support.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace harvest;
using namespace harvest::pipelines;
using harvest::pipelines::test::read_file;
using harvest::pipelines::test::temp_dir;

TEST_CASE("jsonl_output writes one compact object per line, in key order", "[unit][outputs]") {
    temp_dir dir;
    const std::string path = dir.file("out/nested/items.jsonl");  // parents are created
    {
        jsonl_output out(path);
        CHECK(out.name() == "jsonl:" + path);
        item first;
        first.emplace("url", "http://127.0.0.1/a?x=1&y=2");
        first.emplace("title", "Caf\xC3\xA9 \"quoted\" \\ \x01");
        first.emplace("price", 19.99);
        first.emplace("n", nullptr);
        out.write(first);
        item second;
        second.emplace("b", 1);
        second.emplace("a", boost::json::parse(R"({"z":[true,false],"y":"\u65e5"})"));
        out.write(second);
        out.write(item{});
        out.close();
        out.close();  // idempotent
    }
    CHECK(read_file(path) ==
          "{\"url\":\"http://127.0.0.1/a?x=1&y=2\",\"title\":\"Caf\xC3\xA9 \\\"quoted\\\" \\\\ "
          "\\u0001\",\"price\":19.99,\"n\":null}\n"
          "{\"b\":1,\"a\":{\"z\":[true,false],\"y\":\"\xE6\x97\xA5\"}}\n"
          "{}\n");
}

TEST_CASE("jsonl_output truncates what a previous run left", "[unit][outputs]") {
    temp_dir dir;
    const std::string path = dir.file("items.jsonl");
    {
        std::ofstream old(path);
        old << "{\"old\":1}\n{\"old\":2}\n";
    }
    {
        jsonl_output out(path);
        item value;
        value.emplace("new", 1);
        out.write(value);
        out.flush();
        // flush() makes the line visible before close().
        CHECK(read_file(path) == "{\"new\":1}\n");
    }  // the destructor closes too
    CHECK(read_file(path) == "{\"new\":1}\n");
}

TEST_CASE("jsonl_output names the path and the reason when it cannot open", "[unit][outputs]") {
    temp_dir dir;
    {
        std::ofstream blocker(dir.file("blocker"));
        blocker << "a file where a folder should be";
    }
    const std::string path = dir.file("blocker/items.jsonl");
    try {
        jsonl_output out(path);
        FAIL("opening under a regular file succeeded");
    } catch (const std::runtime_error& error) {
        const std::string message = error.what();
        CHECK_THAT(message, Catch::Contains(dir.file("blocker")));
        CHECK_THAT(message, Catch::Contains("Not a directory"));
    }
    const std::string folder = dir.file("a-folder");
    std::filesystem::create_directories(folder);
    CHECK_THROWS_WITH(jsonl_output(folder),
                      Catch::Contains(folder) && Catch::Contains("Is a directory"));
}

TEST_CASE("make_output builds jsonl and webhook outputs", "[unit][outputs]") {
    temp_dir dir;
    output_spec spec;
    spec.type = output_type::jsonl;
    spec.path = dir.file("x.jsonl");
    const auto out = make_output(spec);
    REQUIRE(out != nullptr);
    CHECK(out->name() == "jsonl:" + spec.path);
    CHECK(std::filesystem::exists(spec.path));
    CHECK(out->as_async() == nullptr);
    output_spec webhook;
    webhook.type = output_type::webhook;
    webhook.url = "http://127.0.0.1:9/ingest";
    CHECK(output_supported(output_type::webhook));
    const auto hook = make_output(webhook);  // connects to nothing before its first batch
    REQUIRE(hook != nullptr);
    CHECK(hook->name() == "webhook:http://127.0.0.1:9/ingest");
    REQUIRE(hook->as_async() != nullptr);
    CHECK(hook->as_async()->settled_items() == 0);
    CHECK_THROWS_AS(hook->write(item{}), std::logic_error);  // async outputs are awaited
}

TEST_CASE("error_stream_path sits next to the first JSONL output", "[unit][outputs]") {
    CHECK(error_stream_path("out/items.jsonl") == "out/items.errors.jsonl");
    CHECK(error_stream_path("/abs/x.jsonl") == "/abs/x.errors.jsonl");
    CHECK(error_stream_path("items.json") == "items.json.errors.jsonl");
    CHECK(error_stream_path("out/items") == "out/items.errors.jsonl");
    CHECK(error_stream_path(".jsonl") == ".errors.jsonl");
}

TEST_CASE("error_stream writes one line per failure", "[unit][outputs]") {
    temp_dir dir;
    const std::string path = dir.file("out/items.errors.jsonl");
    {
        error_stream errors(path);
        CHECK(errors.path() == path);
        crawl::failure_record with_status;
        with_status.url = "http://127.0.0.1/gone";
        with_status.error = harvest::core::failure_kind::status_4xx;
        with_status.attempts = 1;
        with_status.status = 404;
        with_status.final_at =
            std::chrono::system_clock::time_point{std::chrono::milliseconds{1795871109123}};
        errors.write(with_status);
        crawl::failure_record transport;
        transport.url = "http://127.0.0.1/slow?a=\"b\"";
        transport.error = harvest::core::failure_kind::retries_exhausted;
        transport.attempts = 4;
        transport.last_error = harvest::core::failure_kind::timeout;
        transport.final_at =
            std::chrono::system_clock::time_point{std::chrono::milliseconds{1795871110000}};
        errors.write(transport);
        errors.close();
    }
    CHECK(read_file(path) ==
          R"({"url":"http://127.0.0.1/gone","error":"status_4xx","attempts":1,"status":404,)"
          R"("final_at":"2026-11-28T13:05:09.123Z"})"
          "\n"
          R"({"url":"http://127.0.0.1/slow?a=\"b\"","error":"retries_exhausted","attempts":4,)"
          R"("final_at":"2026-11-28T13:05:10.000Z","last_error":"timeout"})"
          "\n");
}
