#pragma once
// Shared helpers of the config unit tests.

#include "config/loader.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace config_test {

inline harvest::config::crawl_config parse(const std::string& yaml,
                                           const std::vector<std::string>& sets = {}) {
    return harvest::config::parse_config(yaml, "demo.yaml", "/base", sets);
}

// The smallest valid config, for tests that vary one section.
inline const std::string minimal = "name: t\nseeds:\n  - url: http://127.0.0.1:8080/\n";

// Parsing must fail at exactly demo.yaml:line:column with `fragment` in the message.
inline void check_error(const std::string& yaml, int line, int column, const std::string& fragment,
                        const std::vector<std::string>& sets = {}) {
    INFO("config:\n" << yaml);
    try {
        parse(yaml, sets);
        FAIL("no error");
    } catch (const harvest::config::config_error& e) {
        const std::string what = e.what();
        INFO("error: " << what);
        CHECK(e.file() == "demo.yaml");
        CHECK(e.line() == line);
        CHECK(e.column() == column);
        CHECK(what.rfind("demo.yaml:" + std::to_string(line) + ":" + std::to_string(column) + ": ",
                         0) == 0);
        CHECK_THAT(what, Catch::Contains(fragment));
    }
}

// An error in a --set override: `--set <text>: ...` with `fragment` in the message.
inline void check_set_error(const std::string& yaml, const std::string& set,
                            const std::string& fragment) {
    INFO("config:\n" << yaml << "\n--set " << set);
    try {
        parse(yaml, {set});
        FAIL("no error");
    } catch (const harvest::config::config_error& e) {
        const std::string what = e.what();
        INFO("error: " << what);
        CHECK(what.rfind("--set " + set + ": ", 0) == 0);
        CHECK(e.line() == 0);
        CHECK_THAT(what, Catch::Contains(fragment));
    }
}

}  // namespace config_test
