// render: with sessions, against the chaos origin's single-page shop (/shop/spa/): each session
// logs in (an HttpOnly session cookie), the rendered page's own API call needs that cookie for
// its data, the API's answer sets a cookie and the page's script another (document.cookie), and
// the plain fetch of the cart page that follows must carry both. Two sessions render in one
// tab, each with its own cookies and User-Agent only.

#include "tests/integration/chaos.hpp"
#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>

using namespace harvest::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string cookies_text_of(const json::object& object, std::string_view name) {
    const auto* v = object.if_contains(name);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool has(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

TEST_CASE("a rendered page has its session's cookies, and the cookies it sets come back",
          "[integration][render][cookies]") {
    temp_dir tmp("harvest-render-cookies");
    chaos_origin origin(tmp / "origin");
    const std::vector<std::string> keys{"a-1", "b-1", "a-2", "b-2"};
    std::string seeds;
    for (const auto& key : keys) {
        seeds += "  - url: " + origin.url("/shop/spa/" + key) + "\n";
    }
    // One browser with one tab: the pages of both sessions are rendered in the same tab.
    write_file(tmp / "crawl.yaml",
               "name: spa-sessions\n"
               "seeds:\n" +
                   seeds +
                   "engine: {concurrency: 2, threads: 2, robots_txt: ignore}\n"
                   "retry: {max_attempts: 1}\n"
                   "state: {journal: false}\n"
                   "sessions: {count: 2, user_agents: [\"ShopWalker/1.0 (one)\", "
                   "\"ShopWalker/2.0 (two)\"]}\n"
                   "login: [{url: \"" +
                   origin.url("/shop/login") +
                   "\", form: {user: me, password: \"${SHOP_PASSWORD}\"}, expect_cookie: sid}]\n"
                   "render: {browsers: 1, tabs_per_browser: 1}\n"
                   "follow:\n"
                   "  - css: a.cart\n"
                   "extract:\n"
                   "  - match: \"/shop/spa/\"\n"
                   "    type: html\n"
                   "    fields:\n"
                   "      id: {css: .id, text: true}\n"
                   "      sid: {css: .sid, text: true}\n"
                   "      doc_cookie: {css: .doc-cookie, text: true}\n"
                   "      ua: {css: .ua, text: true}\n"
                   "      api_ua: {css: .api-ua, text: true}\n"
                   "      error: {css: p.error, text: true}\n"
                   "    required: [id]\n"
                   "    render: {wait_for: \"div.product, p.error\", timeout: 10s}\n"
                   "  - {match: \"/shop/cart/\", type: json, fields: {id: /id, sid: /sid, "
                   "cookie: /cookie, ua: /ua}}\n"
                   "outputs:\n"
                   "  - {type: jsonl, path: " +
                   (tmp / "items.jsonl").string() + "}\n");
    const process_options logged_in{120s, {"SHOP_PASSWORD=secret"}, {}};
    const auto run = run_process(
        {harvest_binary().string(), "run", (tmp / "crawl.yaml").string(), "--progress", "never"},
        logged_in);
    INFO(describe(run));
    REQUIRE(run.exit_code == 0);

    std::map<std::string, json::object> pages;  // rendered, by key
    std::map<std::string, json::object> carts;  // fetched plainly, by key
    for (const auto& item : read_jsonl(tmp / "items.jsonl")) {
        INFO(json::serialize(item));
        const std::string url = cookies_text_of(item, "url");
        const std::string id = cookies_text_of(item, "id");
        (has(url, "/shop/cart/") ? carts : pages)[id] = item;
    }
    const std::set<std::string> all(keys.begin(), keys.end());
    std::set<std::string> rendered;
    for (const auto& [key, page] : pages) {
        rendered.insert(key);
    }
    // Without the session's cookie in the browser the API answers 403: no page has its data.
    REQUIRE(rendered == all);

    std::map<std::string, std::string> sid_of;  // key -> the sid its session logged in with
    std::map<std::string, std::set<std::string>> keys_of;  // sid -> its keys
    for (const auto& [key, page] : pages) {
        const std::string sid = cookies_text_of(page, "sid");
        REQUIRE(!sid.empty());
        sid_of[key] = sid;
        keys_of[sid].insert(key);
    }
    // Two sessions, each with its own login and two of the pages.
    REQUIRE(keys_of.size() == 2);
    for (const auto& [sid, its_keys] : keys_of) {
        CHECK(its_keys.size() == 2);
    }
    // Each session speaks with its own User-Agent, in the browser as outside it: the page's
    // navigator.userAgent, its API call, and the plain fetch of its cart.
    std::map<std::string, std::string> agent_of;  // sid -> its User-Agent
    for (const auto& [key, page] : pages) {
        INFO(key);
        const std::string agent = cookies_text_of(page, "ua");
        CHECK(agent.starts_with("ShopWalker/"));
        CHECK(cookies_text_of(page, "api_ua") == agent);
        CHECK(cookies_text_of(carts[key], "ua") == agent);
        const auto [at, fresh] = agent_of.emplace(sid_of[key], agent);
        CHECK(at->second == agent);  // both pages of a session: one User-Agent
    }
    CHECK(std::set<std::string>{agent_of.begin()->second, agent_of.rbegin()->second}.size() == 2);

    for (const auto& key : keys) {
        INFO(key);
        const auto& page = pages[key];
        const std::string doc_cookie = cookies_text_of(page, "doc_cookie");
        INFO(doc_cookie);
        const std::string sid = sid_of[key];
        // document.cookie: the login's theme cookie, the API's cart cookie and the script's
        // own; the HttpOnly session cookie stays hidden from the script.
        CHECK(has(doc_cookie, "theme=dark"));
        CHECK(has(doc_cookie, "cart=c" + sid));
        CHECK(has(doc_cookie, "viewed_" + key + "=1"));
        CHECK_FALSE(has(doc_cookie, "sid="));
        // The cart page, fetched without a browser by the page's session, sends what the
        // rendered page set: the API's cookie and the script's.
        REQUIRE(carts.contains(key));
        const auto& cart = carts[key];
        const std::string cookie = cookies_text_of(cart, "cookie");
        INFO(cookie);
        CHECK(cookies_text_of(cart, "sid") == sid);
        CHECK(has(cookie, "sid=" + sid));
        CHECK(has(cookie, "cart=c" + sid));
        CHECK(has(cookie, "viewed_" + key + "=1"));
        // Nothing of the other session, in the browser or after it.
        for (const auto& other : keys) {
            if (sid_of[other] != sid) {
                CHECK_FALSE(has(doc_cookie, "viewed_" + other + "="));
                CHECK_FALSE(has(cookie, "viewed_" + other + "="));
                CHECK_FALSE(has(doc_cookie, "cart=c" + sid_of[other]));
                CHECK_FALSE(has(cookie, "cart=c" + sid_of[other]));
            }
        }
    }

    // The origin's side: each API call came from the browser with its session's cookie and
    // User-Agent; no request said HeadlessChrome.
    std::size_t api_calls = 0;
    for (const auto& line : read_jsonl(origin.log_path())) {
        const std::string path = cookies_text_of(line, "path");
        INFO(path);
        if (path.starts_with("/shop/api/")) {
            ++api_calls;
            CHECK(json_int(line.at("status")) == 200);
        }
        CHECK_FALSE(has(cookies_text_of(line, "user_agent"), "HeadlessChrome"));
    }
    CHECK(api_calls == keys.size());
}
