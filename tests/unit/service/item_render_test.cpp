// `render` per item of a job (docs/bulk-api.md, "Rendering"): an entry of `urls` is a URL string
// or {"url", "render"}; the item's `render` overrides the job's, is refused naming the entry's
// field when bad, and is stored with the item so that a restarted service reads it back.

#include "config/service_config.hpp"
#include "service/api.hpp"
#include "service/egress_guard.hpp"
#include "service/jobs_db.hpp"
#include "service/render_request.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace harvest;
using crawl::render_options;
using service::item_render;
using service::parse_url_entry;
using service::render_from_json;
using service::render_to_json;

namespace {

bool same(const render_options& a, const render_options& b) {
    return a.wait_for == b.wait_for && a.selector == b.selector && a.timeout == b.timeout &&
           a.block == b.block && a.scroll == b.scroll;
}

render_options random_options(std::mt19937& rng) {
    const char* kinds[] = {"image", "font", "media", "stylesheet"};
    const char* waits[] = {".product", "#app h1", "ul > li.item", "load", "network_idle"};
    render_options out;
    const std::string wait = waits[rng() % 5];
    if (wait == "load") {
        out.wait_for = render_options::wait::load;
    } else if (wait == "network_idle") {
        out.wait_for = render_options::wait::network_idle;
    } else {
        out.wait_for = render_options::wait::selector;
        out.selector = wait;
    }
    out.timeout = std::chrono::milliseconds(1 + rng() % 120000);
    out.block.clear();
    for (const auto* kind : kinds) {
        if (rng() % 2 != 0) {
            out.block.emplace_back(kind);
        }
    }
    out.scroll = rng() % 2 != 0;
    return out;
}

struct render_db {
    fs::path path;
    explicit render_db(const std::string& name)
        : path(fs::temp_directory_path() /
               ("harvest-item-render-" + std::to_string(::getpid()) + "-" + name)) {
        remove();
    }
    ~render_db() { remove(); }
    render_db(const render_db&) = delete;
    render_db& operator=(const render_db&) = delete;
    void remove() const {
        fs::remove(path);
        fs::remove(path.string() + "-wal");
        fs::remove(path.string() + "-shm");
    }
};

config::service_config item_config() {
    return config::parse_service_config(R"(
api_keys_file: keys.txt
jobs_db: jobs.db
submit_rate_limit: {per_second: 1000, burst: 1000}
profiles:
  p:
    extract: [{match: "/", type: json, fields: {id: /id}}]
templates:
  t: "http://shop.example/dp/{id}"
egress: {deny_private: true}
)",
                                        "serve.yaml", "/tmp");
}

struct render_api_fixture {
    explicit render_api_fixture(const std::string& name)
        : file(name),
          config(item_config()),
          db(file.path.string()),
          keys({"alpha"}),
          guard(config.egress),
          handler(config, db, keys, guard, {}) {}

    service::api_response submit(const std::string& body) {
        service::api_request r;
        r.method = "POST";
        r.target = "/v1/jobs";
        r.authorization = "Bearer alpha";
        r.body = body;
        return handler.handle(r);
    }

    render_db file;
    config::service_config config;
    service::jobs_db db;
    service::api_keys keys;
    service::egress_guard guard;
    service::api handler;
};

std::string render_message_of(const service::api_response& r) {
    return std::string(json::parse(r.body).at("error").at("message").as_string());
}

}  // namespace

TEST_CASE("url entry: a string, or an object whose render overrides the job's",
          "[unit][render-serve]") {
    const auto plain = parse_url_entry(json::value("http://shop.example/a"), "urls[0]");
    CHECK(plain.error.empty());
    CHECK(plain.url == "http://shop.example/a");
    CHECK_FALSE(plain.render);

    const auto bare =
        parse_url_entry(json::parse(R"({"url": "http://shop.example/b"})"), "urls[1]");
    CHECK(bare.error.empty());
    CHECK(bare.url == "http://shop.example/b");
    CHECK_FALSE(bare.render);  // no `render`: the job's applies

    const auto off =
        parse_url_entry(json::parse(R"({"url": "http://shop.example/c", "render": false})"), "x");
    REQUIRE(off.render);
    CHECK(off.render->empty());

    const auto on =
        parse_url_entry(json::parse(R"({"render": true, "url": "http://shop.example/d"})"), "x");
    REQUIRE(on.render);
    const auto defaults = render_from_json(*on.render);
    REQUIRE(defaults);
    CHECK(same(*defaults, render_options{}));

    const auto full = parse_url_entry(
        json::parse(R"({"url": "http://shop.example/e", "render": {"wait_for": ".done",
                    "timeout": 4, "block": ["font", "image"], "scroll": true}})"),
        "x");
    REQUIRE(full.error.empty());
    REQUIRE(full.render);
    const auto options = render_from_json(*full.render);
    REQUIRE(options);
    CHECK(options->wait_for == render_options::wait::selector);
    CHECK(options->selector == ".done");
    CHECK(options->timeout == std::chrono::milliseconds(4000));
    CHECK(options->block == std::vector<std::string>{"font", "image"});
    CHECK(options->scroll);
}

TEST_CASE("url entry: bad entries are refused, naming the field", "[unit][render-serve]") {
    const std::pair<const char*, const char*> cases[] = {
        {R"(3)", "urls[3]: must be a URL string or an object"},
        {R"(null)", "urls[3]: must be a URL string or an object"},
        {R"(["http://shop.example/a"])", "urls[3]: must be a URL string or an object"},
        {R"({"url": "http://shop.example/a", "x": 1})",
         "urls[3]: unknown field \"x\"; expected url, render"},
        {R"({"render": true})", "urls[3].url: required"},
        {R"({"url": 7})", "urls[3].url: required"},
        {R"({"url": "http://a.example/", "render": "yes"})", "urls[3].render: must be"},
        {R"({"url": "http://a.example/", "render": {"timeout": 0}})", "urls[3].render.timeout: "},
        {R"({"url": "http://a.example/", "render": {"timeout": 500}})", "urls[3].render.timeout: "},
        {R"({"url": "http://a.example/", "render": {"wait_for": "div[[["}})",
         "urls[3].render.wait_for: "},
        {R"({"url": "http://a.example/", "render": {"block": ["script"]}})",
         "urls[3].render.block: "},
        {R"({"url": "http://a.example/", "render": {"scroll": 1}})", "urls[3].render.scroll: "},
        {R"({"url": "http://a.example/", "render": {"wait": "load"}})", "urls[3].render.wait: "},
    };
    for (const auto& [text, error] : cases) {
        INFO(text);
        const auto entry = parse_url_entry(json::parse(text), "urls[3]");
        CHECK_THAT(entry.error, Catch::StartsWith(error));
        CHECK_FALSE(entry.render);
    }
}

TEST_CASE("item render: the item's own options, its false, or else the job's",
          "[unit][render-serve]") {
    render_options job;
    job.wait_for = render_options::wait::network_idle;
    render_options own;
    own.wait_for = render_options::wait::selector;
    own.selector = ".mine";
    CHECK_FALSE(item_render(std::nullopt, std::nullopt));
    CHECK_FALSE(item_render(std::string(), job));  // false turns the job's off
    REQUIRE(item_render(std::nullopt, job));
    CHECK(same(*item_render(std::nullopt, job), job));
    REQUIRE(item_render(render_to_json(own), job));
    CHECK(same(*item_render(render_to_json(own), job), own));
    REQUIRE(item_render(render_to_json(own), std::nullopt));
    CHECK(same(*item_render(render_to_json(own), std::nullopt), own));
}

TEST_CASE("item render: random entries read back through parsing and storing the same",
          "[unit][render-serve]") {
    std::mt19937 rng(2323);
    for (int round = 0; round < 300; ++round) {
        const std::optional<render_options> job =
            rng() % 2 != 0 ? std::optional<render_options>(random_options(rng)) : std::nullopt;
        json::object entry;
        entry["url"] = "http://shop.example/item/" + std::to_string(round);
        std::optional<render_options> expected = job;
        switch (rng() % 4) {
            case 0:  // no render of its own
                break;
            case 1:
                entry["render"] = false;
                expected.reset();
                break;
            case 2:
                entry["render"] = true;
                expected = render_options{};
                break;
            default: {
                const auto own = random_options(rng);
                entry["render"] = json::parse(render_to_json(own));
                expected = own;
                break;
            }
        }
        // A plain string entry is the same as an object without render.
        const json::value value =
            entry.contains("render") || rng() % 2 == 0 ? json::value(entry) : entry.at("url");
        INFO(json::serialize(value));
        const auto parsed = parse_url_entry(value, "urls[0]");
        REQUIRE(parsed.error.empty());
        CHECK(parsed.url == entry.at("url").as_string());
        const auto effective = item_render(parsed.render, job);
        REQUIRE(effective.has_value() == expected.has_value());
        if (expected) {
            CHECK(same(*effective, *expected));
        }
    }
}

TEST_CASE("api: mixed url entries are stored with each item's render; bad ones are a 400",
          "[unit][render-serve]") {
    render_api_fixture f("mixed.db");
    const auto submitted = f.submit(R"({"profile": "p", "render": {"wait_for": "network_idle"},
        "urls": ["http://shop.example/0",
                 {"url": "http://shop.example/1", "render": false},
                 {"url": "http://shop.example/2", "render": {"wait_for": ".x", "timeout": 3}},
                 {"url": "http://shop.example/3"}]})");
    INFO(submitted.body);
    REQUIRE(submitted.status == 202);
    const std::string job_id(json::parse(submitted.body).at("job_id").as_string());
    const auto job = f.db.job(job_id);
    REQUIRE(job);
    const auto job_render = render_from_json(job->render);
    REQUIRE(job_render);
    CHECK(job_render->wait_for == render_options::wait::network_idle);
    const auto items = f.db.queued_items(job_id, -1, 10);
    REQUIRE(items.size() == 4);
    CHECK(items[0].input == "http://shop.example/0");
    CHECK_FALSE(items[0].render);
    CHECK(items[1].input == "http://shop.example/1");
    CHECK(items[1].url == "http://shop.example/1");
    REQUIRE(items[1].render);
    CHECK(items[1].render->empty());
    REQUIRE(items[2].render);
    const auto own = render_from_json(*items[2].render);
    REQUIRE(own);
    CHECK(own->selector == ".x");
    CHECK(own->timeout == std::chrono::milliseconds(3000));
    CHECK_FALSE(items[3].render);
    CHECK_FALSE(item_render(items[1].render, job_render));
    CHECK(item_render(items[3].render, job_render)->wait_for == render_options::wait::network_idle);
    // Results read the same as those of string entries: input and url are the URL.
    const auto stored = f.db.result(items[2].result_id);
    REQUIRE(stored);
    CHECK(stored->render == items[2].render);
    const auto line = json::parse(service::result_line(*stored)).as_object();
    CHECK(line.at("input").as_string() == "http://shop.example/2");
    CHECK_FALSE(line.contains("render"));

    // Strings only: no item has a render of its own.
    const auto plain = f.submit(R"({"profile": "p", "urls": ["http://shop.example/9"]})");
    REQUIRE(plain.status == 202);
    const auto plain_items =
        f.db.queued_items(std::string(json::parse(plain.body).at("job_id").as_string()), -1, 10);
    REQUIRE(plain_items.size() == 1);
    CHECK_FALSE(plain_items[0].render);

    const std::pair<const char*, const char*> bad[] = {
        {R"({"profile": "p", "urls": ["http://shop.example/0", "http://shop.example/1",
            "http://shop.example/2", {"url": "http://shop.example/3",
            "render": {"timeout": -1}}]})",
         "urls[3].render.timeout: must be a number of seconds"},
        {R"({"profile": "p", "urls": ["http://shop.example/0", "http://shop.example/1",
            {"url": "http://shop.example/2", "x": true}]})",
         "urls[2]: unknown field \"x\"; expected url, render"},
        {R"({"profile": "p", "urls": [{"url": "ftp://shop.example/0", "render": true}]})",
         "urls[0].url: not an absolute http:// or https:// URL"},
        {R"({"profile": "p", "urls": [{"url": "http://127.0.0.1/0", "render": true}]})",
         "urls[0].url: refused by the egress guard"},
        {R"({"profile": "p", "urls": [5]})", "urls[0]: must be a URL string or an object"},
        {R"({"profile": "p", "template": "t", "asins": [{"url": "http://shop.example/0"}]})",
         "asins[0]: must be a string"},
    };
    for (const auto& [body, message] : bad) {
        INFO(body);
        const auto refused = f.submit(body);
        CHECK(refused.status == 400);
        CHECK_THAT(render_message_of(refused), Catch::StartsWith(message));
    }
    CHECK(f.db.unfinished_jobs().size() == 2);  // the refused ones stored nothing
}
