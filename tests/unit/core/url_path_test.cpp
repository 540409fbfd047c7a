#include "engine/core/url_path.hpp"

#include <catch2/catch.hpp>

using harvest::core::remove_dot_segments;

TEST_CASE("remove_dot_segments: RFC 3986 section 5.2.4 on absolute and relative paths", "[unit]") {
    // The RFC's own examples.
    CHECK(remove_dot_segments("/a/b/c/./../../g") == "/a/g");
    CHECK(remove_dot_segments("mid/content=5/../6") == "mid/6");
    // Absolute paths stay absolute; ".." never climbs above the root.
    CHECK(remove_dot_segments("/") == "/");
    CHECK(remove_dot_segments("/..") == "/");
    CHECK(remove_dot_segments("/../../g") == "/g");
    CHECK(remove_dot_segments("/a/..") == "/");
    CHECK(remove_dot_segments("/a/b") == "/a/b");
    // A last dot segment leaves a trailing '/'; empty segments stay.
    CHECK(remove_dot_segments("/a/b/..") == "/a/");
    CHECK(remove_dot_segments("/a/.") == "/a/");
    CHECK(remove_dot_segments("/a/./") == "/a/");
    CHECK(remove_dot_segments("/a//.") == "/a//");
    CHECK(remove_dot_segments("//") == "//");
    CHECK(remove_dot_segments("/a//b") == "/a//b");
    // Relative paths stay relative.
    CHECK(remove_dot_segments("") == "");
    CHECK(remove_dot_segments("a/./b") == "a/b");
    CHECK(remove_dot_segments("a/..") == "");
    CHECK(remove_dot_segments("a/b/..") == "a/");
}
