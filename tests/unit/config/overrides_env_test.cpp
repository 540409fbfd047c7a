// `--set` overrides and ${ENV} substitution.

#include "config_test_util.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using config_test::check_error;
using config_test::check_set_error;
using config_test::minimal;
using config_test::parse;

namespace {

const std::string with_lists = minimal +
                               "retry:\n  on_status: [429, 500]\n"
                               "outputs:\n  - {type: jsonl, path: out/a.jsonl}\n"
                               "hosts:\n  api.example.com:\n    rate_limit: {per_second: 5}\n";

}  // namespace

TEST_CASE("set overrides: scalars, list entries and nested maps", "[unit]") {
    const auto c =
        parse(with_lists, {"engine.concurrency=64", "outputs.0.path=/tmp/x.jsonl",
                           "retry.on_status.0=503", "rate_limit.per_second=0",
                           "http.timeouts.connect=250ms", "engine.dedup=false", "name=renamed"});
    CHECK(c.crawl.engine.concurrency == 64);
    CHECK(c.outputs.at(0).path == "/tmp/x.jsonl");
    CHECK(c.crawl.retry.on_status == std::vector<unsigned>{503, 500});
    CHECK(c.crawl.rate_limit.per_host.per_second == 0);
    CHECK(c.crawl.http.timeouts.connect == std::chrono::milliseconds(250));
    CHECK_FALSE(c.crawl.engine.dedup);
    CHECK(c.crawl.name == "renamed");
    // Untouched keys keep their file values.
    CHECK(c.crawl.hosts.at("api.example.com").rate_limit->per_second == 5);
}

TEST_CASE("set overrides: whole lists, appends entries, unsets and reaches host keys", "[unit]") {
    const auto c =
        parse(with_lists,
              {"retry.on_status=[502, 504]", "seeds.1.url=http://127.0.0.1:9000/x",
               "outputs.1={type: jsonl, path: b.jsonl}", "hosts.api.example.com.rate_limit.burst=2",
               "hosts.cdn.example.com:8443.per_host_concurrency=3", "http.tls.ca_file=ca.pem",
               "http.tls.ca_file="});
    CHECK(c.crawl.retry.on_status == std::vector<unsigned>{502, 504});
    REQUIRE(c.seeds.size() == 2);
    CHECK(c.seeds[1].url == "http://127.0.0.1:9000/x");
    REQUIRE(c.outputs.size() == 2);
    CHECK(c.outputs[1].path == "/base/b.jsonl");  // relative paths from --set resolve too
    const auto& api = c.crawl.hosts.at("api.example.com");
    CHECK(api.rate_limit->per_second == 5);
    CHECK(api.rate_limit->burst == 2);
    CHECK(c.crawl.hosts.at("cdn.example.com:8443").per_host_concurrency == 3u);
    CHECK(c.crawl.http.tls.ca_file.empty());  // the later override unset it
    // Later overrides win.
    CHECK(parse(minimal, {"engine.threads=2", "engine.threads=5"}).crawl.engine.threads == 5);
    // A value is taken verbatim: '#' and ': ' are not YAML syntax there.
    CHECK(parse(minimal, {"engine.user_agent=bot #1: the best"}).crawl.engine.user_agent ==
          "bot #1: the best");
}

TEST_CASE("set overrides: errors name the --set", "[unit]") {
    check_set_error(minimal, "engine.concurrency=abc",
                    "'engine.concurrency' must be a positive integer (got \"abc\")");
    check_set_error(minimal, "engine.concurency=64",
                    "unknown key 'concurency' in 'engine'; did you mean 'concurrency'?");
    check_set_error(minimal, "egnine.concurrency=64",
                    "unknown key 'egnine' at the top level; did you mean 'engine'?");
    check_set_error(with_lists, "outputs.5.path=x",
                    "'outputs' has 1 entries; index 5 is out of range (use 0..1, the last to "
                    "append)");
    check_set_error(with_lists, "outputs.path=x",
                    "'outputs' is a list; expected an index (0, 1, ...) after it, got 'path'");
    check_set_error(minimal, "name.first=x",
                    "'name' is a single value, not a section; it has no 'first' to set");
    check_set_error(minimal, "engine.concurrency", "expected dotted.path=value");
    check_set_error(minimal, "=3", "expected dotted.path=value");
    check_set_error(minimal, "engine..concurrency=3", "has an empty part");
    check_set_error(minimal, "retry.on_status=[500, 503", "invalid YAML in the value");
    check_set_error(minimal, "retry.on_status=[500, 700]",
                    "'retry.on_status.1' must be an integer from 100 to 599 (got \"700\")");
    check_set_error(minimal, "outputs.0.type=csv", "'outputs.0.path' is required");
    check_set_error(minimal, "engine.robots_txt=sometimes", "must be one of obey, ignore");
    // An override that makes a file value wrong still blames the file where the file is wrong.
    check_error(minimal + "engine:\n  concurrency: 0\n", 5, 16, "must be a positive integer",
                {"engine.threads=1"});
}

TEST_CASE("${NAME} and ${NAME:-default} come from the environment", "[unit]") {
    ::setenv("HARVEST_CFG_TEST_PORT", "9123", 1);
    ::setenv("HARVEST_CFG_TEST_EMPTY", "", 1);
    ::unsetenv("HARVEST_CFG_TEST_UNSET");
    const auto c = parse(
        "name: t\nseeds:\n"
        "  - url: http://127.0.0.1:${HARVEST_CFG_TEST_PORT}/a\n"
        "  - url: http://127.0.0.1:${HARVEST_CFG_TEST_UNSET:-8080}/b\n"
        "  - url: http://h${HARVEST_CFG_TEST_EMPTY:-ost}/c\n"
        "  - url: http://h/${HARVEST_CFG_TEST_EMPTY}d?q=$x\n"
        "engine:\n  concurrency: ${HARVEST_CFG_TEST_UNSET:-16}\n"
        "  user_agent: \"$${NOT_EXPANDED} $HOME\"\n");
    CHECK(c.seeds[0].url == "http://127.0.0.1:9123/a");
    CHECK(c.seeds[1].url == "http://127.0.0.1:8080/b");
    CHECK(c.seeds[2].url == "http://host/c");  // empty counts as unset for :-
    CHECK(c.seeds[3].url == "http://h/d?q=$x");
    CHECK(c.crawl.engine.concurrency == 16);
    CHECK(c.crawl.engine.user_agent == "${NOT_EXPANDED} $HOME");

    // Substitution runs after overrides, so override values may use it too.
    const auto set = parse(minimal, {"engine.user_agent=bot-${HARVEST_CFG_TEST_PORT}"});
    CHECK(set.crawl.engine.user_agent == "bot-9123");

    check_error("name: t\nseeds:\n  - url: http://h:${HARVEST_CFG_TEST_UNSET}/\n", 3, 10,
                "environment variable 'HARVEST_CFG_TEST_UNSET' is not set; set it or write "
                "${HARVEST_CFG_TEST_UNSET:-default}");
    check_error("name: t\nseeds:\n  - url: http://h:${PORT/\n", 3, 10, "unterminated '${'");
    check_error("name: t\nseeds:\n  - url: http://h:${1X}/\n", 3, 10,
                "'${1X}' is not a valid variable reference");
    check_set_error(minimal, "engine.user_agent=${HARVEST_CFG_TEST_UNSET}",
                    "environment variable 'HARVEST_CFG_TEST_UNSET' is not set");
    // A substituted value is validated like a written one.
    ::setenv("HARVEST_CFG_TEST_CONC", "many", 1);
    check_error(minimal + "engine:\n  concurrency: ${HARVEST_CFG_TEST_CONC}\n", 5, 16,
                "'engine.concurrency' must be a positive integer (got \"many\")");
}
