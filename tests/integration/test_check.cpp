// `harvest check` finds what `harvest run` would find: every error of a config at once, seed
// files that cannot be read, outputs and state folders that cannot be written (asked without
// making anything), and warnings that leave the exit status 0.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

namespace {

using namespace harvest::test;

int count_lines(const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("check: every error at once, with what run would fail to start on", "[integration]") {
    temp_dir tmp("harvest-check");
    write_file(tmp / "not-a-folder", "x\n");
    write_file(tmp / "crawl.yaml",
               "name: checked\n"                                      // 1
               "seeds:\n"                                             // 2
               "  - urls_file: urls.txt\n"                            // 3
               "engine:\n"                                            // 4
               "  concurency: 4\n"                                    // 5
               "  robots_txt: ignore\n"                               // 6
               "outputs:\n"                                           // 7
               "  - {type: jsonl, path: not-a-folder/items.jsonl}\n"  // 8
               "state:\n"                                             // 9
               "  dir: not-a-folder/state\n");                        // 10
    const auto check =
        run_process({harvest_binary().string(), "check", (tmp / "crawl.yaml").string()});
    INFO(describe(check));
    CHECK(check.exit_code == 2);
    CHECK(check.out.empty());
    const std::string file = (tmp / "crawl.yaml").string();
    const auto at = [&](int line, int column) {
        return check.err.find(file + ":" + std::to_string(line) + ":" + std::to_string(column) +
                              ": ");
    };
    CHECK(at(3, 5) != std::string::npos);  // urls_file: no such file
    CHECK(at(5, 3) != std::string::npos);  // unknown key, with its did-you-mean
    CHECK(at(8, 19) != std::string::npos);
    CHECK(at(10, 3) != std::string::npos);
    CHECK(at(3, 5) < at(5, 3));
    CHECK(check.err.find("urls.txt: No such file or directory") != std::string::npos);
    CHECK(check.err.find("did you mean 'concurrency'?") != std::string::npos);
    CHECK(check.err.find("not-a-folder is not a folder") != std::string::npos);
    CHECK(check.err.find(file + ": 4 errors\n") != std::string::npos);
    CHECK(count_lines(check.err) == 5);
    // check made nothing; run fails to start on the first of them, as before.
    CHECK_FALSE(fs::exists(tmp / ".harvest"));
    const auto run = run_process({harvest_binary().string(), "run", (tmp / "crawl.yaml").string()});
    INFO(describe(run));
    CHECK(run.exit_code == 2);
    CHECK(run.err.find(file + ":5:3: unknown key 'concurency'") != std::string::npos);
}

TEST_CASE("check: a field no rule produces is a warning, exit 0", "[integration]") {
    temp_dir tmp("harvest-check");
    write_file(tmp / "crawl.yaml",
               "name: warned\n"
               "seeds:\n"
               "  - url: http://127.0.0.1:9/x.json\n"
               "extract:\n"
               "  - {type: json, fields: {id: /asin}}\n"
               "outputs:\n"
               "  - {type: sqlite, path: out/items.db, table: items, key: sku}\n");
    const auto check =
        run_process({harvest_binary().string(), "check", (tmp / "crawl.yaml").string()});
    INFO(describe(check));
    CHECK(check.exit_code == 0);
    CHECK(check.err == (tmp / "crawl.yaml").string() +
                           ":7:59: warning: no rule produces field 'sku'; rows will not be "
                           "written to items (every item lacks its key)\n");
    CHECK(check.out.find("valid (crawl warned, 1 seeds, 1 extract rules, 1 outputs, 1 warning)") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "out"));
    CHECK_FALSE(fs::exists(tmp / ".harvest"));
}

TEST_CASE("check: an http.cache.dir that cannot be written, and run refusing to start on it",
          "[integration][http_cache]") {
    temp_dir tmp("harvest-check");
    write_file(tmp / "not-a-folder", "x\n");
    write_file(tmp / "crawl.yaml",
               "name: cached\n"                   // 1
               "seeds:\n"                         // 2
               "  - url: http://127.0.0.1:9/x\n"  // 3
               "http:\n"                          // 4
               "  cache:\n"                       // 5
               "    mode: conditional\n"          // 6
               "    dir: not-a-folder/cache\n");  // 7
    const std::string file = (tmp / "crawl.yaml").string();
    const auto check = run_process({harvest_binary().string(), "check", file});
    INFO(describe(check));
    CHECK(check.exit_code == 2);
    CHECK(check.err.find(file + ":7:5: 'http.cache.dir' cannot be written: " +
                         (tmp / "not-a-folder").string() + " is not a folder") !=
          std::string::npos);
    CHECK(check.err.find(file + ": 1 error") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / ".harvest"));
    // run stops on the same folder before fetching anything (exit 3: could not start).
    const auto run = run_process({harvest_binary().string(), "run", file});
    INFO(describe(run));
    CHECK(run.exit_code == 3);
    CHECK(run.err.find("http.cache.dir") != std::string::npos);
}
