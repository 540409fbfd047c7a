// The `state` section: where the journal lives and whether there is one.

#include "config/loader.hpp"
#include "config_test_util.hpp"

#include <catch2/catch.hpp>

using config_test::check_error;
using config_test::minimal;
using config_test::parse;

TEST_CASE("state.journal turns the journal off, and is on by default", "[unit]") {
    CHECK(parse(minimal).crawl.journal);
    CHECK(parse(minimal + "state: {journal: true}\n").crawl.journal);
    const auto off = parse(minimal + "state:\n  dir: /var/harvest/t\n  journal: false\n");
    CHECK_FALSE(off.crawl.journal);
    CHECK(off.crawl.state_dir == "/var/harvest/t");
    CHECK_FALSE(parse(minimal, {"state.journal=false"}).crawl.journal);
}

TEST_CASE("state.journal must be true or false", "[unit]") {
    check_error(minimal + "state:\n  journal: off please\n", 5, 12,
                "'state.journal' must be true or false (got \"off please\")");
}
