// check_config_text / check_config_file: every problem of a config at once, what `harvest run`
// would find when it starts (seed files, output and state folders), and the warnings.

#include "config/loader.hpp"
#include "config_test_util.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using harvest::config::config_problem;
using harvest::config::config_report;

// A fresh folder under the system's temp folder, removed afterwards.
struct scratch {
    scratch() {
        std::string pattern = (fs::temp_directory_path() / "harvest-check-XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~scratch() {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path, ec);
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;

    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
    }
    fs::path path;
};

// The report of `yaml` read as demo.yaml in `dir`.
config_report check(const std::string& yaml, const fs::path& dir) {
    return harvest::config::check_config_text(yaml, "demo.yaml", dir.string());
}

std::vector<std::string> texts(const config_report& report, config_problem::severity level) {
    std::vector<std::string> out;
    for (const auto& problem : report.problems) {
        if (problem.level == level) {
            out.emplace_back(problem.where.what());
        }
    }
    return out;
}

std::vector<std::string> errors(const config_report& report) {
    return texts(report, config_problem::severity::error);
}

std::vector<std::string> warnings(const config_report& report) {
    return texts(report, config_problem::severity::warning);
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) {
        out += line + "\n";
    }
    return out;
}

// No state folder is checked in these unless a test sets one: state.journal is off.
const std::string no_journal = "state: {journal: false}\n";

}  // namespace

TEST_CASE("check reports every error of independent keys, in file order", "[unit]") {
    scratch dir;
    const std::string yaml =
        "name: t\n"                                         // 1
        "seeds:\n"                                          // 2
        "  - url: http://127.0.0.1:8080/\n"                 // 3
        "  - url: ftp://nowhere/\n"                         // 4
        "engine:\n"                                         // 5
        "  concurency: 4\n"                                 // 6
        "  dedup: maybe\n"                                  // 7
        "http:\n"                                           // 8
        "  max_redirects: lots\n"                           // 9
        "extract:\n"                                        // 10
        "  - type: json\n"                                  // 11
        "    fields: {id: asin, title: /title, x: 1}\n"     // 12
        "outputs:\n"                                        // 13
        "  - {type: jsonl}\n"                               // 14
        "  - {type: csv, path: out/a.csv, colums: [id]}\n"  // 15
        "extracts: []\n" +                                  // 16
        no_journal;
    const auto report = check(yaml, dir.path);
    const auto found = errors(report);
    INFO(joined(found));
    REQUIRE(found.size() == 9);
    CHECK_THAT(found[0], Catch::StartsWith("demo.yaml:4:10: 'seeds.1.url' must be an absolute"));
    CHECK_THAT(found[1], Catch::StartsWith("demo.yaml:6:3: unknown key 'concurency' in 'engine'"));
    CHECK_THAT(found[2], Catch::StartsWith("demo.yaml:7:10: 'engine.dedup' must be true or false"));
    CHECK_THAT(found[3], Catch::StartsWith("demo.yaml:9:18: 'http.max_redirects' must be"));
    CHECK_THAT(found[4], Catch::StartsWith("demo.yaml:12:18: 'extract.0.fields.id' must be a "
                                           "JSON Pointer"));
    CHECK_THAT(found[5], Catch::StartsWith("demo.yaml:12:42: 'extract.0.fields.x' must be a "
                                           "JSON Pointer"));
    CHECK_THAT(found[6], Catch::StartsWith("demo.yaml:14:5: 'outputs.0.path' is required"));
    CHECK_THAT(found[7], Catch::StartsWith("demo.yaml:15:34: unknown key 'colums' in "
                                           "'outputs.1'; did you mean 'columns'?"));
    CHECK_THAT(found[8], Catch::StartsWith("demo.yaml:16:1: unknown key 'extracts' at the top "
                                           "level; did you mean 'extract'?"));
    // Loading still stops at the first one it meets (the top level's keys come first).
    CHECK_THROWS_WITH(config_test::parse(yaml), Catch::StartsWith("demo.yaml:16:1: "));
}

TEST_CASE("check stops where the rest depends on what failed", "[unit]") {
    scratch dir;
    SECTION("a YAML syntax error") {
        const auto found = errors(check("name: t\nseeds: [\n", dir.path));
        CHECK(found.size() == 1);
    }
    SECTION("a required field the rule's fields do not have is not judged on partial fields") {
        const auto found = errors(check(config_test::minimal +
                                            "extract:\n"
                                            "  - type: json\n"
                                            "    fields: {id: asin}\n"
                                            "    required: [id]\n" +
                                            no_journal,
                                        dir.path));
        INFO(joined(found));
        REQUIRE(found.size() == 1);
        CHECK_THAT(found[0], Catch::Contains("'extract.0.fields.id' must be a JSON Pointer"));
    }
    SECTION("a valid config has no problems") {
        const auto report = check(config_test::minimal + no_journal, dir.path);
        CHECK(report.problems.empty());
        CHECK(report.config.crawl.name == "t");
    }
}

TEST_CASE("check finds seed files that cannot be read, at their key", "[unit]") {
    scratch dir;
    dir.write("urls.txt", "http://127.0.0.1:8080/a\n");
    const std::string yaml =
        "name: t\n"
        "seeds:\n"
        "  - urls_file: urls.txt\n"
        "  - urls_file: missing-urls.txt\n"
        "  - template: \"http://127.0.0.1:8080/p/{id}\"\n"
        "    values_file: asins.txt\n" +
        no_journal;
    const auto found = errors(check(yaml, dir.path));
    INFO(joined(found));
    REQUIRE(found.size() == 2);
    CHECK_THAT(found[0], Catch::StartsWith("demo.yaml:4:5: 'seeds.1.urls_file' cannot be read: " +
                                           (dir.path / "missing-urls.txt").string() +
                                           ": No such file or directory; give a file of URLs"));
    CHECK_THAT(found[1], Catch::StartsWith("demo.yaml:6:5: 'seeds.2.values_file' cannot be read: " +
                                           (dir.path / "asins.txt").string() + ": No such file"));
    // A folder is not a file of URLs.
    fs::create_directory(dir.path / "asins.txt");
    const auto folder = errors(check(yaml, dir.path));
    REQUIRE(folder.size() == 2);
    CHECK_THAT(folder[1], Catch::Contains("asins.txt is a folder"));
    // Loading does not look at the files (harvest run reports them when it opens them).
    CHECK_NOTHROW(config_test::parse(yaml));
}

TEST_CASE("check finds output paths and state folders that cannot be written", "[unit]") {
    scratch dir;
    dir.write("plain-file", "not a folder\n");
    const std::string yaml =
        "name: t\n"
        "seeds:\n"
        "  - url: http://127.0.0.1:8080/\n"
        "outputs:\n"
        "  - {type: jsonl, path: out/deep/items.jsonl}\n"
        "  - {type: csv, path: plain-file/items.csv}\n"
        "  - type: sqlite\n"
        "    path: plain-file/x/items.db\n"
        "    table: products\n"
        "  - {type: jsonl, path: out}\n"
        "state:\n"
        "  dir: plain-file/state\n";
    fs::create_directory(dir.path / "out");
    const auto found = errors(check(yaml, dir.path));
    INFO(joined(found));
    REQUIRE(found.size() == 4);
    const auto file = (dir.path / "plain-file").string();
    CHECK(found[0] == "demo.yaml:6:17: 'outputs.1.path' cannot be written: " + file +
                          " is not a folder; give a path in a folder harvest may write in (its "
                          "folders are made as needed; a relative path is from the config's "
                          "folder)");
    CHECK_THAT(found[1], Catch::StartsWith("demo.yaml:8:5: 'outputs.2.path' cannot be written: " +
                                           file + " is not a folder"));
    CHECK_THAT(found[2], Catch::StartsWith("demo.yaml:10:19: 'outputs.3.path' cannot be "
                                           "written: " +
                                           (dir.path / "out").string() + " is a folder"));
    CHECK_THAT(found[3], Catch::StartsWith("demo.yaml:12:3: 'state.dir' cannot be written: " +
                                           file + " is not a folder; give a folder"));
    // Nothing was made to find out.
    CHECK_FALSE(fs::exists(dir.path / "out" / "deep"));
    CHECK(fs::is_empty(dir.path / "out"));
}

TEST_CASE("check finds the default state folder unwritable, at the crawl's name", "[unit]") {
    scratch dir;
    dir.write("plain-file", "not a folder\n");
    // The config's folder is where .harvest/NAME would be made.
    const auto base = dir.path / "plain-file";
    const auto found = errors(check(config_test::minimal, base));
    INFO(joined(found));
    REQUIRE(found.size() == 1);
    CHECK_THAT(found[0],
               Catch::StartsWith("demo.yaml:1:1: 'state.dir' cannot be written: " + base.string() +
                                 " is not a folder; the default state "
                                 "folder is .harvest/t beside the config"));
    // No journal (or a shared Redis frontier): no state folder to write.
    CHECK(errors(check(config_test::minimal + no_journal, base)).empty());
    // A writable folder: fine, and still not made.
    CHECK(errors(check(config_test::minimal, dir.path)).empty());
    CHECK_FALSE(fs::exists(dir.path / ".harvest"));
}

TEST_CASE("check finds a read-only output folder", "[unit]") {
    if (::geteuid() == 0) {
        WARN("skipped: root may write in any folder");
        return;
    }
    scratch dir;
    fs::create_directory(dir.path / "locked");
    fs::permissions(dir.path / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    const auto found =
        errors(check(config_test::minimal +
                         "outputs:\n  - {type: jsonl, path: locked/new/x.jsonl}\n" + no_journal,
                     dir.path));
    REQUIRE(found.size() == 1);
    CHECK_THAT(found[0], Catch::Contains("the folder " + (dir.path / "locked").string() +
                                         " is not writable, so the folders under it cannot be "
                                         "made (Permission denied)"));
}

TEST_CASE("check warns of a SQLite key or CSV column no extract rule produces", "[unit]") {
    scratch dir;
    const std::string head = config_test::minimal + no_journal +
                             "extract:\n"                                                 // 5
                             "  - type: json\n"                                           // 6
                             "    fields: {id: /asin, cost: {pointer: /p, as: price}}\n"  // 7
                             "  - type: jsonld\n"                                         // 8
                             "    schema: Product\n"                                      // 9
                             "  - type: microdata\n";                                     // 10
    const std::string yaml =
        head +
        "outputs:\n"                                                       // 11
        "  - {type: sqlite, path: out/x.db, table: products, key: sku}\n"  // 12
        "  - type: csv\n"                                                  // 13
        "    path: out/x.csv\n"                                            // 14
        "    columns: [id, cost, currency, brand, url, microdata, titel]\n";
    const auto report = check(yaml, dir.path);
    INFO(joined(errors(report)) << joined(warnings(report)));
    CHECK(report.errors() == 0);
    const auto found = warnings(report);
    REQUIRE(found.size() == 2);
    CHECK(found[0] ==
          "demo.yaml:12:58: no rule produces field 'sku'; rows will not be written to "
          "products (every item lacks its key)");
    CHECK(found[1] ==
          "demo.yaml:15:58: no rule produces field 'titel'; rows will have an empty "
          "'titel' column");

    SECTION("no warning while a rule is in error: it might produce the field") {
        const auto broken = check(config_test::minimal + no_journal +
                                      "extract:\n"
                                      "  - {type: json, fields: {sku: /sku, x: [1]}}\n"
                                      "outputs:\n"
                                      "  - {type: csv, path: out/x.csv, columns: [nothing]}\n",
                                  dir.path);
        CHECK(broken.errors() == 1);
        CHECK(broken.warnings() == 0);
    }
    SECTION("product rules produce the product fields and their html fields") {
        const auto product = check(config_test::minimal + no_journal +
                                       "extract:\n"
                                       "  - type: product\n"
                                       "    fields: {upc: {css: td, text: true}}\n"
                                       "outputs:\n"
                                       "  - type: csv\n"
                                       "    path: out/x.csv\n"
                                       "    columns: [id, name, upc, price, fetched_at, status]\n",
                                   dir.path);
        CHECK(product.problems.empty());
    }
}

TEST_CASE("check reads each key of a section on its own, and no limit on a key in error",
          "[unit]") {
    scratch dir;
    const auto report = check(config_test::minimal + no_journal +
                                  "retry:\n"               // 5
                                  "  max_attempts: 0\n"    // 6
                                  "  on_status: [700]\n"   // 7
                                  "circuit_breaker:\n"     // 8
                                  "  window: many\n"       // 9
                                  "  min_calls: 30\n"      // 10
                                  "  open_for: soon\n"     // 11
                                  "  min_open_for: 1m\n",  // 12
                              dir.path);
    const auto found = errors(report);
    INFO(joined(found));
    REQUIRE(found.size() == 4);
    CHECK_THAT(found[0], Catch::StartsWith("demo.yaml:6:17: 'retry.max_attempts' must be"));
    CHECK_THAT(found[1], Catch::StartsWith("demo.yaml:7:15: 'retry.on_status.0' must be"));
    CHECK_THAT(found[2], Catch::StartsWith("demo.yaml:9:11: 'circuit_breaker.window' must be"));
    // Not "min_calls (30) must not exceed window (20)": the window given is not the default.
    CHECK_THAT(found[3], Catch::StartsWith("demo.yaml:11:13: 'circuit_breaker.open_for' must"));
}

TEST_CASE("check finds a CA file that cannot be read, and reads each host on its own", "[unit]") {
    scratch dir;
    dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    const auto report = check(config_test::minimal + no_journal +
                                  "http:\n"                                 // 5
                                  "  tls: {ca_file: ca.pem}\n"              // 6
                                  "hosts:\n"                                // 7
                                  "  a.example:\n"                          // 8
                                  "    http: {tls: {ca_file: gone.pem}}\n"  // 9
                                  "  b.example:\n"                          // 10
                                  "    per_host_concurrency: none\n",       // 11
                              dir.path);
    const auto found = errors(report);
    INFO(joined(found));
    REQUIRE(found.size() == 2);
    CHECK_THAT(found[0], Catch::StartsWith("demo.yaml:9:18: 'hosts.a.example.http.tls.ca_file' "
                                           "cannot be read: " +
                                           (dir.path / "gone.pem").string() +
                                           ": No such file or directory; give a PEM file"));
    CHECK_THAT(found[1], Catch::StartsWith("demo.yaml:11:27: "
                                           "'hosts.b.example.per_host_concurrency' must be"));
}

TEST_CASE("check finds an http cache folder that cannot be written, at its key", "[unit]") {
    scratch dir;
    dir.write("plain-file", "not a folder\n");
    const auto file = (dir.path / "plain-file").string();
    SECTION("http.cache.dir set") {
        const auto found = errors(check(config_test::minimal + no_journal +
                                            "http:\n  cache:\n    mode: conditional\n"
                                            "    dir: plain-file/cache\n",
                                        dir.path));
        INFO(joined(found));
        REQUIRE(found.size() == 1);
        CHECK(found[0] == "demo.yaml:8:5: 'http.cache.dir' cannot be written: " + file +
                              " is not a folder; give a folder harvest may write in (it is made "
                              "as needed)");
        // Off: harvest run does not use the folder.
        CHECK(errors(check(config_test::minimal + no_journal +
                               "http:\n  cache:\n    mode: off\n    dir: plain-file/cache\n",
                           dir.path))
                  .empty());
    }
    SECTION("the default folder, in the state folder") {
        const auto found =
            errors(check(config_test::minimal + "state: {journal: false, dir: plain-file/s}\n" +
                             "http:\n  cache: {mode: replay}\n",
                         dir.path));
        INFO(joined(found));
        REQUIRE(found.size() == 1);
        CHECK_THAT(found[0], Catch::StartsWith("demo.yaml:6:11: 'http.cache.dir' cannot be "
                                               "written: " +
                                               file +
                                               " is not a folder; the default cache folder is "
                                               "cache in the state folder"));
        // The state folder checked too (journal on): reported once, at state.dir.
        const auto once = errors(check(config_test::minimal + "state: {dir: plain-file/s}\n" +
                                           "http:\n  cache: {mode: replay}\n",
                                       dir.path));
        INFO(joined(once));
        REQUIRE(once.size() == 1);
        CHECK_THAT(once[0], Catch::Contains("'state.dir' cannot be written"));
    }
    SECTION("writable: fine, and nothing made") {
        CHECK(errors(check(config_test::minimal + "http:\n  cache: {mode: conditional, dir: c}\n",
                           dir.path))
                  .empty());
        CHECK_FALSE(fs::exists(dir.path / "c"));
        CHECK_FALSE(fs::exists(dir.path / ".harvest"));
    }
}
