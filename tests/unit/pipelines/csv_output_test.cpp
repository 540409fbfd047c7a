#include "pipelines/outputs/csv_output.hpp"
#include "pipelines/outputs/output.hpp"
#include "test_support.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace harvest;
using namespace harvest::pipelines;
using harvest::pipelines::test::read_file;
using harvest::pipelines::test::temp_dir;

namespace {

item parse_item(std::string_view json) {
    return boost::json::parse(json).as_object();
}

}  // namespace

TEST_CASE("append_csv_field quotes only what RFC 4180 needs", "[unit][csv]") {
    const auto field = [](std::string_view text) {
        std::string out;
        append_csv_field(out, text);
        return out;
    };
    CHECK(field("plain text") == "plain text");
    CHECK(field(" spaces kept ") == " spaces kept ");
    CHECK(field("a,b") == "\"a,b\"");
    CHECK(field("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(field("\"") == "\"\"\"\"");
    CHECK(field("line\nbreak") == "\"line\nbreak\"");
    CHECK(field("cr\ronly") == "\"cr\ronly\"");
    CHECK(field("") == "\"\"");  // empty string, told apart from null (nothing)
    CHECK(field("tab\there") == "tab\there");
    CHECK(field("Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80") ==
          "Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");
    // Invalid UTF-8 (a lone continuation byte, an overlong '/', a surrogate) becomes U+FFFD.
    CHECK(field("a\x80z") == "a\xEF\xBF\xBDz");
    CHECK(field("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(field("\xED\xA0\x80,") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD,\"");
    CHECK(field("\xE6\x97") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated sequence
}

TEST_CASE("csv_output writes exact RFC 4180 bytes for a tricky set", "[unit][csv]") {
    temp_dir dir;
    const std::string path = dir.file("out/deeper/items.csv");  // parents are created
    {
        csv_output out(path, {"id", "title", "price", "big", "ok", "tags", "meta", "none", "gone",
                              "we,ird \"col\""});
        CHECK(out.name() == "csv:" + path);
        CHECK(out.columns().size() == 10);

        item first = parse_item(
            R"({"id":1,"title":"plain","price":19.99,"big":1e21,"ok":true,"tags":["a","b"],)"
            R"("meta":{"k":"v,w","n":null},"none":null})");
        out.write(first);

        // Keys in another order, a field the columns do not name, an empty string.
        item second;
        second.emplace("extra", "dropped");
        second.emplace("title", "comma, here");
        second.emplace("id", "A-2");
        second.emplace("price", 0.1 + 0.2);
        second.emplace("big", std::int64_t{123456789012345678});
        second.emplace("ok", false);
        second.emplace("tags", boost::json::array{});
        second.emplace("meta", boost::json::object{});
        second.emplace("none", "");
        second.emplace("we,ird \"col\"", "w");
        out.write(second);

        item third;
        third.emplace("id", std::numeric_limits<std::uint64_t>::max());
        third.emplace("title", "say \"hi\"\nbye\r\nend \xE6\x97\xA5\xE6\x9C\xAC \xFF");
        third.emplace("price", 1e-7);
        third.emplace("big", std::numeric_limits<double>::quiet_NaN());
        third.emplace("ok", -0.0);
        third.emplace("tags", boost::json::array{1, 2.5, "x\"y", nullptr});
        third.emplace("meta", "Caf\xC3\xA9");
        out.write(third);

        out.write(item{});  // every column missing: all empty
        out.close();
        out.close();  // idempotent
    }
    const std::string expected =
        "id,title,price,big,ok,tags,meta,none,gone,\"we,ird \"\"col\"\"\"\r\n"
        "1,plain,19.99,1e+21,true,\"[\"\"a\"\",\"\"b\"\"]\","
        "\"{\"\"k\"\":\"\"v,w\"\",\"\"n\"\":null}\",,,\r\n"
        "A-2,\"comma, here\",0.30000000000000004,123456789012345678,false,[],{},\"\",,w\r\n"
        "18446744073709551615,\"say \"\"hi\"\"\nbye\r\nend \xE6\x97\xA5\xE6\x9C\xAC "
        "\xEF\xBF\xBD\",1e-07,,-0,\"[1,2.5,\"\"x\\\"\"y\"\",null]\",Caf\xC3\xA9,,,\r\n"
        ",,,,,,,,,\r\n";
    CHECK(read_file(path) == expected);
}

TEST_CASE("csv_output without columns takes the first item's keys", "[unit][csv]") {
    temp_dir dir;
    const std::string path = dir.file("items.csv");
    csv_output out(path, {});
    CHECK(out.columns().empty());
    out.flush();
    CHECK(read_file(path).empty());  // no header before the first item
    out.write(parse_item(R"({"url":"http://127.0.0.1/a","status":200,"name":"x"})"));
    CHECK(out.columns() == std::vector<std::string>{"url", "status", "name"});
    out.write(parse_item(R"({"name":"y","new":1,"url":"http://127.0.0.1/b"})"));
    out.close();
    CHECK(read_file(path) ==
          "url,status,name\r\n"
          "http://127.0.0.1/a,200,x\r\n"
          "http://127.0.0.1/b,,y\r\n");
}

TEST_CASE("csv_output writes the header at open, truncates and flushes", "[unit][csv]") {
    temp_dir dir;
    const std::string path = dir.file("items.csv");
    {
        std::ofstream old(path);
        old << "old,content\r\n1,2\r\n";
    }
    csv_output out(path, {"a", "b"});
    out.flush();
    CHECK(read_file(path) == "a,b\r\n");  // header only, the old rows are gone
    out.write(parse_item(R"({"b":2})"));
    out.flush();
    CHECK(read_file(path) == "a,b\r\n,2\r\n");
    out.close();
    CHECK_THROWS_AS(out.write(item{}), std::logic_error);
}

TEST_CASE("csv_output names the path and the reason when it cannot open", "[unit][csv]") {
    temp_dir dir;
    {
        std::ofstream blocker(dir.file("blocker"));
        blocker << "a file where a folder should be";
    }
    const std::string path = dir.file("blocker/items.csv");
    CHECK_THROWS_WITH(csv_output(path, {"a"}),
                      Catch::Contains(dir.file("blocker")) && Catch::Contains("Not a directory"));
    const std::string folder = dir.file("a-folder");
    std::filesystem::create_directories(folder);
    CHECK_THROWS_AS(csv_output(folder, {"a"}), std::runtime_error);
    CHECK_THROWS_WITH(csv_output(folder, {"a"}),
                      Catch::Contains(folder) && Catch::Contains("Is a directory"));
}

TEST_CASE("make_output builds a csv output from its spec", "[unit][csv]") {
    temp_dir dir;
    output_spec spec;
    spec.type = output_type::csv;
    spec.path = dir.file("out/items.csv");
    spec.columns = {"id", "price"};
    auto out = make_output(spec);
    REQUIRE(out != nullptr);
    CHECK(out->name() == "csv:" + spec.path);
    out->write(parse_item(R"({"price":9.5,"id":"p1"})"));
    out->close();
    CHECK(read_file(spec.path) == "id,price\r\np1,9.5\r\n");
}
