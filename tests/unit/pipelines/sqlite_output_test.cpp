#include "pipelines/outputs/sqlite_output.hpp"
#include "pipelines/outputs/output.hpp"
#include "pipelines/pipeline_sink.hpp"
#include "test_support.hpp"

#include <sqlite3.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace harvest;
using namespace harvest::pipelines;
using harvest::pipelines::test::make_page;
using harvest::pipelines::test::read_file;
using harvest::pipelines::test::temp_dir;
namespace asio = boost::asio;

namespace {

item sqlite_item(std::string_view json) {
    return boost::json::parse(json).as_object();
}

// A second, independent connection: what another process would see.
class reader {
  public:
    explicit reader(const std::string& path) {
        REQUIRE(sqlite3_open_v2(path.c_str(), &database_, SQLITE_OPEN_READONLY, nullptr) ==
                SQLITE_OK);
    }
    ~reader() { sqlite3_close(database_); }
    reader(const reader&) = delete;
    reader& operator=(const reader&) = delete;

    // Rows of text; NULL reads "NULL".
    std::vector<std::vector<std::string>> rows(const std::string& sql) {
        std::vector<std::vector<std::string>> result;
        char* error = nullptr;
        const int code = sqlite3_exec(
            database_, sql.c_str(),
            [](void* out, int count, char** values, char**) {
                auto& table = *static_cast<std::vector<std::vector<std::string>>*>(out);
                table.emplace_back();
                for (int i = 0; i < count; ++i) {
                    table.back().emplace_back(values[i] != nullptr ? values[i] : "NULL");
                }
                return 0;
            },
            &result, &error);
        const std::string message = error != nullptr ? error : "";
        sqlite3_free(error);
        INFO(sql << ": " << message);
        REQUIRE(code == SQLITE_OK);
        return result;
    }
    std::string one(const std::string& sql) {
        const auto table = rows(sql);
        REQUIRE(table.size() == 1);
        REQUIRE(table[0].size() == 1);
        return table[0][0];
    }

  private:
    sqlite3* database_ = nullptr;
};

}  // namespace

TEST_CASE("sqlite_output upserts on the key: one row, the latest values", "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("out/items.db");  // parents are created
    sqlite_output out(path, "products", "id");
    CHECK(out.name() == "sqlite:" + path + "#products");
    CHECK(out.table() == "products");
    CHECK(out.key() == "id");

    out.write(sqlite_item(R"({"id":"A","name":"Lamp","price":10,"stock":3})"));
    out.write(sqlite_item(R"({"id":"B","name":"Desk","price":99.5})"));
    out.write(sqlite_item(R"({"id":"A","name":"Lamp","price":12.5})"));  // no `stock` now
    out.flush();

    reader db(path);
    CHECK(db.one("SELECT count(*) FROM products") == "2");
    CHECK(db.rows("SELECT id, name, price, typeof(price), stock, data FROM products "
                  "WHERE id = 'A'") ==
          std::vector<std::vector<std::string>>{
              {"A", "Lamp", "12.5", "real", "NULL", R"({"id":"A","name":"Lamp","price":12.5})"}});

    // The key is stored as text: 7 and "7" are one row.
    out.write(sqlite_item(R"({"id":7,"name":"first"})"));
    out.write(sqlite_item(R"({"id":"7","name":"second"})"));
    out.write(sqlite_item(R"({"id":7.0,"name":"third"})"));
    out.close();
    CHECK(db.one("SELECT count(*) FROM products") == "3");
    CHECK(db.rows("SELECT typeof(id), name FROM products WHERE id = '7'") ==
          std::vector<std::vector<std::string>>{{"text", "third"}});
    // updated_at: RFC 3339 UTC with milliseconds.
    const std::string updated_at = db.one("SELECT updated_at FROM products WHERE id = 'B'");
    CHECK(updated_at.size() == 24);
    CHECK(updated_at.back() == 'Z');
}

TEST_CASE("sqlite_output adds a typed column per new field", "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("items.db");
    sqlite_output out(path, "", "id");
    CHECK(out.table() == "items");  // the default
    CHECK(out.field_columns() == std::vector<std::string>{"id"});

    out.write(sqlite_item(R"({"id":1,"count":5,"ratio":0.25,"title":"t","ok":true,"off":false,)"
                          R"("tags":["a",{"b":null}],"meta":{"k":1},"later":null})"));
    // `later` was null: no column until it has a value.
    CHECK(out.field_columns() ==
          std::vector<std::string>{"id", "count", "ratio", "title", "ok", "off", "tags", "meta"});
    out.write(sqlite_item(R"({"id":2,"later":"now","count":6})"));
    CHECK(out.field_columns().back() == "later");
    out.close();

    reader db(path);
    CHECK(db.rows("SELECT name, type, pk FROM pragma_table_info('items') ORDER BY cid") ==
          std::vector<std::vector<std::string>>{{"id", "TEXT", "1"},
                                                {"data", "TEXT", "0"},
                                                {"updated_at", "TEXT", "0"},
                                                {"count", "INTEGER", "0"},
                                                {"ratio", "REAL", "0"},
                                                {"title", "TEXT", "0"},
                                                {"ok", "INTEGER", "0"},
                                                {"off", "INTEGER", "0"},
                                                {"tags", "TEXT", "0"},
                                                {"meta", "TEXT", "0"},
                                                {"later", "TEXT", "0"}});
    CHECK(
        db.rows("SELECT count, typeof(count), ratio, typeof(ratio), title, ok, typeof(ok), "
                "off, tags, meta, later FROM items WHERE id = '1'") ==
        std::vector<std::vector<std::string>>{{"5", "integer", "0.25", "real", "t", "1", "integer",
                                               "0", R"(["a",{"b":null}])", R"({"k":1})", "NULL"}});
    CHECK(db.rows("SELECT count, ratio, later FROM items WHERE id = '2'") ==
          std::vector<std::vector<std::string>>{{"6", "NULL", "now"}});
    // The nested text is JSON SQLite itself can read.
    CHECK(db.one("SELECT json_extract(meta, '$.k') FROM items WHERE id = '1'") == "1");
}

TEST_CASE("sqlite_output quotes odd names and folds case like SQLite", "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("items.db");
    sqlite_output out(path, "we\"ird table", "the key");
    item odd;
    odd.emplace("the key", "k1");
    odd.emplace("a\"b", 1);
    odd.emplace("select", "kw");
    odd.emplace("Price", 3);
    odd.emplace("price", 4);         // the same SQLite column as `Price`: the first one wins
    odd.emplace("DATA", "mine");     // reserved: only in `data`
    odd.emplace("", "empty");        // unusable: only in `data`
    odd.emplace("bad\ncontrol", 1);  // unusable: only in `data`
    out.write(odd);
    out.close();
    CHECK(out.field_columns() == std::vector<std::string>{"the key", "a\"b", "select", "Price"});
    reader db(path);
    CHECK(db.rows(R"(SELECT "the key", "a""b", "select", "Price" FROM "we""ird table")") ==
          std::vector<std::vector<std::string>>{{"k1", "1", "kw", "3"}});
    CHECK(db.one(R"(SELECT json_extract(data, '$.DATA') FROM "we""ird table")") == "mine");
}

TEST_CASE("sqlite_output refuses items without a usable key", "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("items.db");
    sqlite_output out(path, "items", "id");
    out.write(sqlite_item(R"({"id":"ok-1"})"));
    CHECK_THROWS_AS(out.write(sqlite_item(R"({"name":"no id"})")), std::invalid_argument);
    CHECK_THROWS_WITH(out.write(sqlite_item(R"({"id":null})")), Catch::Contains("without id"));
    CHECK_THROWS_AS(out.write(sqlite_item(R"({"id":true})")), std::invalid_argument);
    CHECK_THROWS_AS(out.write(sqlite_item(R"({"id":{"a":1}})")), std::invalid_argument);
    CHECK_THROWS_AS(out.write(sqlite_item(R"({"id":[1]})")), std::invalid_argument);
    CHECK_THROWS_AS(out.write(sqlite_item(R"({"ID":"case differs"})")), std::invalid_argument);
    out.write(sqlite_item(R"({"id":"ok-2"})"));  // the output goes on after a refused item
    out.close();
    reader db(path);
    CHECK(db.rows("SELECT id FROM items ORDER BY id") ==
          std::vector<std::vector<std::string>>{{"ok-1"}, {"ok-2"}});
}

TEST_CASE("sqlite_output without a key appends every item", "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("items.db");
    {
        sqlite_output out(path, "log", "");
        out.write(sqlite_item(R"({"id":1,"v":"a"})"));
        out.write(sqlite_item(R"({"id":1,"v":"b"})"));
        out.write(sqlite_item(R"({})"));
    }  // the destructor commits and closes
    reader db(path);
    CHECK(db.one("SELECT count(*) FROM log") == "3");
    CHECK(db.one("SELECT group_concat(v, '|') FROM log") == "a|b");
    CHECK(db.rows("SELECT name, pk FROM pragma_table_info('log') ORDER BY cid") ==
          std::vector<std::vector<std::string>>{
              {"data", "0"}, {"updated_at", "0"}, {"id", "0"}, {"v", "0"}});
}

TEST_CASE("sqlite_output: a failed insert leaves the rest of its batch", "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("items.db");
    {
        // A table a user made beforehand, with a constraint of its own.
        sqlite3* database = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &database) == SQLITE_OK);
        REQUIRE(sqlite3_exec(database,
                             "CREATE TABLE items (data TEXT NOT NULL, updated_at TEXT NOT NULL, "
                             "sku TEXT UNIQUE)",
                             nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(database);
    }
    sqlite_output out(path, "items", "", 100);
    out.write(sqlite_item(R"({"sku":"a"})"));
    try {
        out.write(sqlite_item(R"({"sku":"a"})"));
        FAIL("a duplicate of a UNIQUE column was inserted");
    } catch (const std::system_error& error) {
        CHECK(error.code().category().name() == std::string("sqlite"));
        CHECK(error.code().value() == SQLITE_CONSTRAINT);
        CHECK_THAT(error.what(), Catch::Contains("items.sku") && Catch::Contains(path));
    }
    out.write(sqlite_item(R"({"sku":"b"})"));
    out.close();
    reader db(path);
    CHECK(db.rows("SELECT sku FROM items ORDER BY sku") ==
          std::vector<std::vector<std::string>>{{"a"}, {"b"}});
}

TEST_CASE("sqlite_output writes 10,000 items quickly and upserts them again", "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("items.db");
    const auto started = std::chrono::steady_clock::now();
    {
        sqlite_output out(path, "products", "id");
        for (int round = 0; round < 2; ++round) {
            for (int i = 0; i < 10000; ++i) {
                item value;
                value.emplace("url", "http://127.0.0.1/p/" + std::to_string(i));
                value.emplace("id", "p" + std::to_string(i));
                value.emplace("price", 1.5 * i + round);
                value.emplace("round", round);
                out.write(value);
            }
        }
        out.close();
    }
    const auto elapsed = std::chrono::steady_clock::now() - started;
    // About 0.4 s in a Debug build here; the bound leaves room for sanitizers and valgrind.
    CHECK(elapsed < std::chrono::seconds(30));
    reader db(path);
    CHECK(db.one("SELECT count(*) FROM products") == "10000");
    CHECK(db.one("SELECT count(*) FROM products WHERE round = 1") == "10000");
    CHECK(db.one("SELECT price FROM products WHERE id = 'p10'") == "16.0");
}

TEST_CASE("sqlite_output batches writes in transactions a reader sees on commit",
          "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("items.db");
    sqlite_output out(path, "items", "id", 3);
    reader db(path);
    CHECK(db.one("PRAGMA journal_mode") == "wal");
    CHECK(std::filesystem::exists(path + "-wal"));
    out.write(sqlite_item(R"({"id":1})"));
    out.write(sqlite_item(R"({"id":2})"));
    CHECK(db.one("SELECT count(*) FROM items") == "0");  // the batch is still open
    out.write(sqlite_item(R"({"id":3})"));               // the third commits the batch
    CHECK(db.one("SELECT count(*) FROM items") == "3");
    out.write(sqlite_item(R"({"id":4})"));
    CHECK(db.one("SELECT count(*) FROM items") == "3");
    out.flush();
    CHECK(db.one("SELECT count(*) FROM items") == "4");
    out.flush();  // nothing open: a no-op
    out.close();
    out.close();  // idempotent
    CHECK_THROWS_AS(out.write(sqlite_item(R"({"id":5})")), std::logic_error);
}

TEST_CASE("sqlite_output reopens an existing table and keeps its rows", "[unit][sqlite]") {
    temp_dir dir;
    const std::string path = dir.file("items.db");
    {
        sqlite_output first(path, "products", "id");
        first.write(sqlite_item(R"({"id":"a","price":1})"));
        first.write(sqlite_item(R"({"id":"b","price":2})"));
        first.close();
    }
    {
        sqlite_output second(path, "products", "id");
        CHECK(second.field_columns() == std::vector<std::string>{"id", "price"});
        second.write(sqlite_item(R"({"id":"b","price":20,"color":"red"})"));
        second.write(sqlite_item(R"({"id":"c","price":3})"));
        second.close();
    }
    reader db(path);
    CHECK(db.rows("SELECT id, price, color FROM products ORDER BY id") ==
          std::vector<std::vector<std::string>>{
              {"a", "1", "NULL"}, {"b", "20", "red"}, {"c", "3", "NULL"}});

    SECTION("a table whose primary key is not the key is refused") {
        CHECK_THROWS_WITH(sqlite_output(path, "products", "price"),
                          Catch::Contains(path) && Catch::Contains("primary key"));
    }
    SECTION("another table in the same database is independent") {
        sqlite_output other(path, "other", "id");
        other.write(sqlite_item(R"({"id":"a","price":100})"));
        other.close();
        CHECK(db.one("SELECT price FROM products WHERE id = 'a'") == "1");
        CHECK(db.one("SELECT price FROM other WHERE id = 'a'") == "100");
    }
}

TEST_CASE("sqlite_output names the path and the reason when it cannot open", "[unit][sqlite]") {
    temp_dir dir;
    {
        std::ofstream blocker(dir.file("blocker"));
        blocker << "a file where a folder should be";
    }
    CHECK_THROWS_WITH(sqlite_output(dir.file("blocker/items.db"), "", "id"),
                      Catch::Contains(dir.file("blocker")) && Catch::Contains("Not a directory"));
    const std::string folder = dir.file("a-folder");
    std::filesystem::create_directories(folder);
    CHECK_THROWS_AS(sqlite_output(folder, "", "id"), std::runtime_error);
    CHECK_THROWS_WITH(sqlite_output(folder, "", "id"),
                      Catch::Contains(folder) && Catch::Contains("Is a directory"));
    // Not a database at all.
    CHECK_THROWS_WITH(sqlite_output(dir.file("blocker"), "", "id"),
                      Catch::Contains(dir.file("blocker")) && Catch::Contains("not a database"));
    // Names that cannot be a table or a key.
    CHECK_THROWS_AS(sqlite_output(dir.file("x.db"), "sqlite_master", ""), std::invalid_argument);
    CHECK_THROWS_AS(sqlite_output(dir.file("x.db"), "bad\ttable", ""), std::invalid_argument);
    CHECK_THROWS_AS(sqlite_output(dir.file("x.db"), "items", "data"), std::invalid_argument);
    CHECK_THROWS_AS(sqlite_output(dir.file("x.db"), "items", "Updated_At"), std::invalid_argument);
}

TEST_CASE("make_output builds a sqlite output from its spec", "[unit][sqlite]") {
    temp_dir dir;
    output_spec spec;
    spec.type = output_type::sqlite;
    spec.path = dir.file("out/items.db");
    spec.table = "products";
    spec.key = "id";
    auto out = make_output(spec);
    REQUIRE(out != nullptr);
    CHECK(out->name() == "sqlite:" + spec.path + "#products");
    out->write(sqlite_item(R"({"id":"x"})"));
    out->close();
    reader db(spec.path);
    CHECK(db.one("SELECT id FROM products") == "x");
}

namespace {

extract_rule sqlite_product_rule() {
    extract_rule rule;
    rule.match = "/api/products/";
    rule.type = extract_type::json;
    field_rule id;
    id.name = "id";
    id.pointer = "/id";
    id.as = value_kind::integer;
    field_rule title;
    title.name = "title";
    title.pointer = "/title";
    field_rule price;
    price.name = "price";
    price.pointer = "/price";
    rule.fields = {id, title, price};
    rule.required = {"id"};
    return rule;
}

asio::awaitable<void> produce(pipeline_sink& sink, int pages) {
    for (int round = 0; round < 2; ++round) {  // the second round re-scrapes every page
        for (int i = 0; i < pages; ++i) {
            const std::string body = R"({"id":)" + std::to_string(i) + R"(,"title":"Item, \"no. )" +
                                     std::to_string(i) + R"(\"","price":)" +
                                     std::to_string(i + round) + ".5}";
            co_await sink.on_success(
                make_page("http://127.0.0.1/api/products/" + std::to_string(i), body));
        }
    }
}

// Not a lambda: a capturing lambda coroutine would outlive its closure.
asio::awaitable<void> produce_and_close(pipeline_sink& sink, int pages, bool& closed) {
    co_await produce(sink, pages);
    co_await sink.close();
    closed = true;
}

std::vector<std::string> split_crlf(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find("\r\n", start);
        REQUIRE(end != std::string::npos);  // every row ends with CRLF
        lines.push_back(text.substr(start, end - start));
        start = end + 2;
    }
    return lines;
}

}  // namespace

TEST_CASE("pipeline_sink writes jsonl, csv and sqlite outputs side by side",
          "[unit][sqlite][csv][pipeline_sink]") {
    temp_dir dir;
    output_spec jsonl;
    jsonl.type = output_type::jsonl;
    jsonl.path = dir.file("out/items.jsonl");
    output_spec csv;
    csv.type = output_type::csv;
    csv.path = dir.file("out/items.csv");
    csv.columns = {"id", "title", "price"};
    output_spec sqlite;
    sqlite.type = output_type::sqlite;
    sqlite.path = dir.file("out/items.db");
    sqlite.table = "products";
    sqlite.key = "id";

    constexpr int pages = 300;
    asio::io_context io;
    pipeline_sink sink(io.get_executor(), {sqlite_product_rule()}, {jsonl, csv, sqlite}, 16);
    sink.open();
    std::exception_ptr failure;
    bool closed = false;
    asio::co_spawn(io, produce_and_close(sink, pages, closed),
                   [&](std::exception_ptr error) { failure = error; });
    io.run_for(std::chrono::seconds(120));
    if (failure) {
        std::rethrow_exception(failure);
    }
    REQUIRE(closed);

    const auto& stats = sink.stats();
    REQUIRE(stats.outputs.size() == 3);
    CHECK(stats.outputs[1].name == "csv:" + csv.path);
    CHECK(stats.outputs[2].name == "sqlite:" + sqlite.path + "#products");
    for (const auto& output_stats : stats.outputs) {
        INFO(output_stats.name);
        CHECK(output_stats.written.load() == 2 * pages);
        CHECK(output_stats.failed.load() == 0);
    }

    const auto rows = split_crlf(read_file(csv.path));
    REQUIRE(rows.size() == 1 + 2 * pages);  // CSV and JSONL append; re-scrapes are new rows
    CHECK(rows[0] == "id,title,price");
    CHECK(rows[1] == R"(0,"Item, ""no. 0""",0.5)");
    CHECK(rows[2 * pages] == "299,\"Item, \"\"no. 299\"\"\",300.5");

    reader db(sqlite.path);
    CHECK(db.one("SELECT count(*) FROM products") == std::to_string(pages));  // upserted
    CHECK(db.rows("SELECT title, price FROM products WHERE id = '7'") ==
          std::vector<std::vector<std::string>>{{"Item, \"no. 7\"", "8.5"}});
    CHECK(db.one("SELECT json_extract(data, '$.url') FROM products WHERE id = '7'") ==
          "http://127.0.0.1/api/products/7");
}
