// The append-only output file under the JSONL and CSV writers (pipelines/outputs/output_file.hpp):
// folders made, truncate or append, the length at the last flush, and each failure's exception.

#include "pipelines/outputs/output_file.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <stdexcept>
#include <system_error>

using harvest::pipelines::output_file;
using harvest::pipelines::test::read_file;
using harvest::pipelines::test::temp_dir;

TEST_CASE("output_file creates missing folders and truncates what a previous run left",
          "[unit][outputs]") {
    temp_dir dir;
    const auto path = (dir.path() / "a" / "b" / "out.jsonl").string();
    {
        output_file first(path, false, 1 << 16);
        first.write("old line\n");
        first.close();
    }
    output_file file(path, false, 1 << 16);
    CHECK(file.flushed_size() == 0);
    file.write("new\n");
    CHECK(file.flushed_size() == 0);  // still in the stdio buffer
    file.flush();
    CHECK(file.flushed_size() == 4);
    file.close();
    CHECK(read_file(path) == "new\n");
}

TEST_CASE("output_file appends after what is there and starts from its length", "[unit][outputs]") {
    temp_dir dir;
    const auto path = (dir.path() / "out.csv").string();
    {
        output_file first(path, false, 1 << 16);
        first.write("header\r\n");
    }  // the destructor closes and flushes
    output_file file(path, true, 1 << 16);
    CHECK(file.flushed_size() == 8);
    file.write("row\r\n");
    file.flush();
    CHECK(file.flushed_size() == 13);
    file.close();
    CHECK(read_file(path) == "header\r\nrow\r\n");
}

TEST_CASE("output_file reports what went wrong, naming the path", "[unit][outputs]") {
    temp_dir dir;
    SECTION("a folder that cannot be made") {
        const auto blocker = (dir.path() / "file").string();
        output_file(blocker, false, 1024).close();
        CHECK_THROWS_WITH(
            output_file(blocker + "/sub/out.jsonl", false, 1024),
            Catch::Contains("cannot create the folder of output") && Catch::Contains(blocker));
    }
    SECTION("a path that is a folder") {
        CHECK_THROWS_WITH(output_file(dir.path().string(), false, 1024),
                          Catch::Contains("cannot open output"));
    }
    SECTION("writing after close, and closing twice") {
        output_file file((dir.path() / "x").string(), false, 1024);
        file.close();
        CHECK_FALSE(file.is_open());
        CHECK_NOTHROW(file.close());
        CHECK_NOTHROW(file.flush());
        CHECK_THROWS_AS(file.write("late"), std::logic_error);
    }
    SECTION("a full device") {
        if (!std::filesystem::exists("/dev/full")) {
            return;
        }
        output_file file("/dev/full", false, 16);
        file.write("0123456789");  // fits the buffer
        CHECK_THROWS_AS(
            [&] {
                file.write("0123456789abcdef0123456789abcdef");
                file.flush();
            }(),
            std::system_error);
    }
}
