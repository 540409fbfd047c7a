// Cookies, sessions and login against the chaos origin's shop routes: the protected pages come
// out only after each session's login POST, each session with its own session cookie (as the
// origin saw it), again after a SIGKILL and --resume; follow rules' headers and the Referer
// arrive at the origin; hostile Set-Cookie headers lose no page.

#include "tests/integration/chaos.hpp"
#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <map>
#include <set>
#include <thread>

using namespace harvest::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::vector<json::object> origin_log(const chaos_origin& origin) {
    return read_jsonl(origin.log_path());
}

std::string field(const json::object& line, std::string_view name) {
    const auto* v = line.if_contains(name);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A crawl of the shop: `sessions` identities log in, then list pages seeded from `lists`.
std::string cookies_shop_yaml(const chaos_origin& origin, const temp_dir& tmp,
                              const std::vector<std::string>& lists, unsigned sessions,
                              const std::string& extra = "") {
    std::string yaml = "name: shop\nseeds:\n";
    for (const auto& list : lists) {
        yaml += "  - url: " + origin.url(list) + "\n";
    }
    yaml +=
        "engine: {concurrency: 4, threads: 2, robots_txt: ignore}\n"
        "retry: {max_attempts: 1}\n"
        "sessions:\n"
        "  count: " +
        std::to_string(sessions) +
        "\n"
        "  user_agents: [agent-zero, agent-one]\n"
        "login:\n"
        "  - url: " +
        origin.url("/shop/login") +
        "\n"
        "    form: {user: me, password: \"${SHOP_PASSWORD}\"}\n"
        "    expect_cookie: sid\n"
        "follow:\n"
        "  - css: a.item\n"
        "    headers: {X-Rule: items}\n"
        "    meta: {category: shoes}\n"
        "  - css: a.other\n"
        "extract:\n"
        "  - {match: \"/shop/item/\", type: json, fields: {id: /id, sid: /sid}}\n"
        "outputs:\n"
        "  - {type: jsonl, path: " +
        (tmp / "items.jsonl").string() +
        "}\n"
        "state: {dir: " +
        (tmp / "state").string() + "}\n" + extra;
    return yaml;
}

}  // namespace

TEST_CASE("each session logs in and crawls the protected pages with its own cookie",
          "[integration][cookies]") {
    temp_dir tmp("harvest-cookies");
    chaos_origin origin(tmp / "origin");
    write_file(tmp / "crawl.yaml",
               cookies_shop_yaml(origin, tmp, {"/shop/list/a/3", "/shop/list/b/3"}, 2));
    process_options options;
    options.timeout = 60s;
    options.env = {"SHOP_PASSWORD=secret"};
    const auto result = run_process(
        {harvest_binary().string(), "run", (tmp / "crawl.yaml").string(), "--progress", "never"},
        options);
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);

    // The items: every protected page, each list's with the sid its own session got.
    std::map<std::string, std::set<std::string>> sids_by_list;
    const auto items = read_jsonl(tmp / "items.jsonl");
    CHECK(items.size() == 6);
    for (const auto& item : items) {
        const std::string id(item.at("id").as_string());
        sids_by_list[id.substr(0, 1)].insert(std::string(item.at("sid").as_string()));
        REQUIRE(item.contains("meta"));
        CHECK(item.at("meta").as_object().at("category").as_string() == "shoes");
    }
    REQUIRE(sids_by_list.size() == 2);
    REQUIRE(sids_by_list["a"].size() == 1);
    REQUIRE(sids_by_list["b"].size() == 1);
    CHECK(*sids_by_list["a"].begin() != *sids_by_list["b"].begin());

    // The origin's side: two logins (one per session, with its User-Agent), two sids handed
    // out; the redirect hop after each login carried the cookie it set; each item request
    // carried its rule's header, the Referer of its list page and its session's sid.
    const auto log = origin_log(origin);
    std::set<std::string> handed_out;
    std::set<std::string> login_agents;
    std::map<std::string, std::string> list_sid;  // list key -> sid its items were fetched with
    std::size_t item_requests = 0;
    for (const auto& line : log) {
        const std::string path = field(line, "path");
        if (path == "/shop/login") {
            CHECK(field(line, "method") == "POST");
            handed_out.insert(field(line, "set_cookie"));
            login_agents.insert(field(line, "user_agent"));
        } else if (path == "/shop/welcome") {
            CHECK(field(line, "cookie").find("sid=s") != std::string::npos);
            CHECK(json_int(line.at("status")) == 200);
        } else if (path.starts_with("/shop/item/")) {
            ++item_requests;
            const std::string key = path.substr(std::string("/shop/item/").size(), 1);
            CHECK(field(line, "x_rule") == "items");
            CHECK(field(line, "referer") == origin.url("/shop/list/" + key + "/3"));
            const std::string cookie = field(line, "cookie");
            CHECK(cookie.find("theme=dark") != std::string::npos);  // Path=/shop
            const auto at = cookie.find("sid=");
            REQUIRE(at != std::string::npos);
            const std::string sid = cookie.substr(at + 4, cookie.find(';', at) - at - 4);
            if (list_sid.contains(key)) {
                CHECK(list_sid[key] == sid);
            }
            list_sid[key] = sid;
            CHECK(json_int(line.at("status")) == 200);
        } else if (path.starts_with("/ok/other-")) {
            CHECK(field(line, "x_rule").empty());  // the other rule has no headers
            CHECK(!field(line, "referer").empty());
        }
    }
    CHECK(handed_out.size() == 2);
    CHECK(login_agents == std::set<std::string>{"agent-zero", "agent-one"});
    CHECK(item_requests == 6);
    REQUIRE(list_sid.size() == 2);
    CHECK(list_sid["a"] != list_sid["b"]);
    CHECK(handed_out.contains(list_sid["a"]));
    CHECK(handed_out.contains(list_sid["b"]));
}

TEST_CASE("a login that fails stops the crawl with exit status 4 before any seed",
          "[integration][cookies]") {
    temp_dir tmp("harvest-cookies");
    chaos_origin origin(tmp / "origin");
    write_file(tmp / "crawl.yaml", cookies_shop_yaml(origin, tmp, {"/shop/list/a/3"}, 1));
    process_options options;
    options.timeout = 60s;
    options.env = {"SHOP_PASSWORD=wrong"};
    const auto result = run_process(
        {harvest_binary().string(), "run", (tmp / "crawl.yaml").string(), "--progress", "never"},
        options);
    INFO(describe(result));
    CHECK(result.exit_code == 4);
    CHECK(result.err.find("login failed") != std::string::npos);
    CHECK(result.err.find("status 403") != std::string::npos);
    for (const auto& line : origin_log(origin)) {
        CHECK(field(line, "path") == "/shop/login");  // no seed was fetched
    }
}

TEST_CASE("hostile Set-Cookie headers lose no page; http.referer false sends none",
          "[integration][cookies]") {
    temp_dir tmp("harvest-cookies");
    chaos_origin origin(tmp / "origin");
    write_file(tmp / "crawl.yaml",
               "name: bad-cookies\n"
               "seeds:\n"
               "  - url: " +
                   origin.url("/cookies/bad/x") +
                   "\n"
                   "  - url: " +
                   origin.url("/shop/list/q/2") +
                   "\n"
                   "engine: {concurrency: 2, threads: 1, robots_txt: ignore}\n"
                   "http: {referer: false}\n"
                   "follow:\n"
                   "  - css: a.other\n"
                   "extract:\n"
                   "  - {match: \"/\", type: json, fields: {id: /id}}\n"
                   "outputs:\n"
                   "  - {type: jsonl, path: " +
                   (tmp / "items.jsonl").string() +
                   "}\n"
                   "state: {dir: " +
                   (tmp / "state").string() + "}\n");
    const auto result = run_process(
        {harvest_binary().string(), "run", (tmp / "crawl.yaml").string(), "--progress", "never"},
        60s);
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    std::set<std::string> ids;
    for (const auto& item : read_jsonl(tmp / "items.jsonl")) {
        ids.insert(std::string(item.at("id").as_string()));
    }
    CHECK(ids.contains("x"));
    CHECK(ids.contains("other-q"));
    for (const auto& line : origin_log(origin)) {
        CHECK(field(line, "referer").empty());
        // Only the well-formed cookies of /cookies/bad came back: none was.
        CHECK(field(line, "cookie").find("=nameless") == std::string::npos);
    }
}

TEST_CASE("killed mid-crawl and resumed, the crawl goes on logged in", "[integration][cookies]") {
    temp_dir tmp("harvest-cookies");
    chaos_origin origin(tmp / "origin");
    write_file(tmp / "crawl.yaml", cookies_shop_yaml(origin, tmp, {"/shop/list/r/40"}, 1,
                                                     "rate_limit: {per_second: 10, burst: 1}\n"));
    const fs::path log = tmp / "harvest.log";
    ::setenv("SHOP_PASSWORD", "secret", 1);  // background_harvest inherits the environment
    const std::vector<std::string> first{"run", (tmp / "crawl.yaml").string(), "--progress",
                                         "never"};
    {
        background_harvest run(first, log);
        // Bounded: until a few items are committed to the output, at most 20 s.
        const auto written = [&tmp] {
            return fs::exists(tmp / "items.jsonl") ? read_lines(tmp / "items.jsonl").size() : 0;
        };
        for (int i = 0; i < 200 && written() < 5; ++i) {
            std::this_thread::sleep_for(100ms);
        }
        INFO(read_file(log));
        REQUIRE(run.running());
        run.signal(SIGKILL);
        CHECK(run.wait(10s) == 128 + SIGKILL);
    }
    std::vector<std::string> again = first;
    again.emplace_back("--resume");
    background_harvest resumed(again, log);
    const int status = resumed.wait(60s);
    ::unsetenv("SHOP_PASSWORD");
    INFO(read_file(log));
    REQUIRE(status == 0);

    std::set<std::string> ids;
    std::set<std::string> sids;
    for (const auto& item : read_jsonl(tmp / "items.jsonl")) {
        ids.insert(std::string(item.at("id").as_string()));
        sids.insert(std::string(item.at("sid").as_string()));
    }
    CHECK(ids.size() == 40);
    // One login in all: the resumed run kept the session cookie from the journal.
    std::size_t logins = 0;
    std::size_t refused = 0;
    for (const auto& line : origin_log(origin)) {
        logins += field(line, "path") == "/shop/login" ? 1 : 0;
        refused += json_int(line.at("status")) == 403 ? 1 : 0;
    }
    CHECK(logins == 1);
    CHECK(refused == 0);
    CHECK(sids == std::set<std::string>{"s1"});
}

TEST_CASE("a session answered 403 is retired and logs in again as a fresh one",
          "[integration][cookies]") {
    temp_dir tmp("harvest-cookies");
    chaos_origin origin(tmp / "origin");
    write_file(tmp / "crawl.yaml",
               cookies_shop_yaml(origin, tmp, {"/status/403/banned", "/shop/list/z/2"}, 1));
    process_options options;
    options.timeout = 60s;
    options.env = {"SHOP_PASSWORD=secret"};
    const auto result =
        run_process({harvest_binary().string(), "run", (tmp / "crawl.yaml").string(), "--progress",
                     "never", "--stats-json", (tmp / "stats.json").string()},
                    options);
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    const auto stats = json::parse(read_file(tmp / "stats.json")).as_object();
    CHECK(json_int(stats.at("sessions").at("retired")) == 1);
    CHECK(json_int(stats.at("sessions").at("logins")) == 2);
    std::set<std::string> handed_out;
    for (const auto& line : origin_log(origin)) {
        if (field(line, "path") == "/shop/login") {
            handed_out.insert(field(line, "set_cookie"));
        }
    }
    CHECK(handed_out == std::set<std::string>{"s1", "s2"});
    CHECK(read_jsonl(tmp / "items.jsonl").size() == 2);
}
