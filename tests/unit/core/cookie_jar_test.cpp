#include "engine/core/cookie_jar.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

using namespace harvest::core;
using namespace std::chrono_literals;

namespace {

// 2026-01-01T00:00:00Z
const cookie_clock::time_point t0 = cookie_clock::time_point(1767225600s);

const public_suffix_list& suffixes() {
    static const public_suffix_list list =
        public_suffix_list::parse("// test list\ncom\nuk\nco.uk\n*.ck\n!www.ck\ngithub.io\n");
    return list;
}

cookie_url at(std::string_view host, std::string_view path = "/", bool secure = false) {
    return cookie_url{host, path, secure};
}

}  // namespace

TEST_CASE("cookie dates as RFC 6265 5.1.1 reads them", "[unit][cookie]") {
    const auto expect = [](std::string_view text, std::int64_t secs) {
        auto parsed = parse_cookie_date(text);
        INFO(text);
        REQUIRE(parsed.has_value());
        CHECK(
            std::chrono::duration_cast<std::chrono::seconds>(parsed->time_since_epoch()).count() ==
            secs);
    };
    expect("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480);
    expect("Wednesday, 21-Oct-15 07:28:00 GMT", 1445412480);  // RFC 850, two-digit year
    expect("Wed Oct 21 07:28:00 2015", 1445412480);           // asctime
    expect("21 oct 2015 7:28:0", 1445412480);
    expect("Thu, 01 Jan 1970 00:00:00 GMT", 0);
    expect("01 Jan 69 00:00:00", 3124224000);  // 69 -> 2069
    expect("29 Feb 2024 00:00:00", 1709164800);
    CHECK_FALSE(parse_cookie_date("").has_value());
    CHECK_FALSE(parse_cookie_date("garbage").has_value());
    CHECK_FALSE(parse_cookie_date("Wed, 21 Oct 2015 GMT").has_value());       // no time
    CHECK_FALSE(parse_cookie_date("Wed, 32 Oct 2015 07:28:00").has_value());  // day 32
    CHECK_FALSE(parse_cookie_date("30 Feb 2015 07:28:00").has_value());       // no such day
    CHECK_FALSE(parse_cookie_date("21 Oct 1600 07:28:00").has_value());       // before 1601
    CHECK_FALSE(parse_cookie_date("21 Oct 2015 24:00:00").has_value());
    CHECK(parse_cookie_date("21 Oct 9999 07:28:00").has_value());  // clamped, not overflowed
}

TEST_CASE("Set-Cookie parsing ignores what RFC 6265 5.2 ignores", "[unit][cookie]") {
    CHECK_FALSE(parse_set_cookie("", t0).has_value());
    CHECK_FALSE(parse_set_cookie("novalue", t0).has_value());
    CHECK_FALSE(parse_set_cookie("=value", t0).has_value());
    CHECK_FALSE(parse_set_cookie("  =value; Path=/", t0).has_value());
    CHECK_FALSE(parse_set_cookie("a=b\r\nX-Injected: 1", t0).has_value());
    CHECK_FALSE(parse_set_cookie(std::string(5000, 'a') + "=b", t0).has_value());

    auto c = parse_set_cookie(" sid = abc def ; Path=/x; Secure; HttpOnly; SameSite=Lax; foo", t0);
    REQUIRE(c.has_value());
    CHECK(c->value.name == "sid");
    CHECK(c->value.value == "abc def");
    CHECK(c->value.path == "/x");
    CHECK(c->value.secure);
    CHECK(c->value.http_only);
    CHECK(c->same_site == "lax");
    CHECK_FALSE(c->value.expires.has_value());

    auto empty_value = parse_set_cookie("a=", t0);
    REQUIRE(empty_value.has_value());
    CHECK(empty_value->value.value.empty());

    // Max-Age wins over Expires whatever their order; a bad Max-Age is ignored.
    auto both = parse_set_cookie("a=1; Max-Age=60; Expires=Wed, 21 Oct 2015 07:28:00 GMT", t0);
    REQUIRE(both.has_value());
    CHECK(both->value.expires == t0 + 60s);
    auto bad_age = parse_set_cookie("a=1; Max-Age=6x0", t0);
    REQUIRE(bad_age.has_value());
    CHECK_FALSE(bad_age->value.expires.has_value());
    auto negative = parse_set_cookie("a=1; Max-Age=-5", t0);
    REQUIRE(negative.has_value());
    CHECK(negative->value.expires <= t0);
    // Cut to 400 days; huge numbers do not overflow.
    auto huge = parse_set_cookie("a=1; Max-Age=99999999999999999999999999", t0);
    REQUIRE(huge.has_value());
    CHECK(huge->value.expires == t0 + std::chrono::hours(24 * 400));
    // A relative Path is replaced by the default path later.
    auto relative = parse_set_cookie("a=1; Path=x/y", t0);
    REQUIRE(relative.has_value());
    CHECK(relative->value.path.empty());
    auto dotted = parse_set_cookie("a=1; Domain=.Example.COM", t0);
    REQUIRE(dotted.has_value());
    CHECK(dotted->has_domain);
    CHECK(dotted->value.domain == "example.com");
}

TEST_CASE("domain and path matching, default paths", "[unit][cookie]") {
    CHECK(domain_matches("example.com", "example.com"));
    CHECK(domain_matches("www.example.com", "example.com"));
    CHECK(domain_matches("WWW.Example.com", "example.com"));
    CHECK_FALSE(domain_matches("badexample.com", "example.com"));
    CHECK_FALSE(domain_matches("example.com", "www.example.com"));
    CHECK_FALSE(domain_matches("1.2.3.4", "2.3.4"));  // IP addresses match exactly only

    CHECK(path_matches("/", "/"));
    CHECK(path_matches("/docs", "/docs"));
    CHECK(path_matches("/docs/", "/docs"));
    CHECK(path_matches("/docs/web", "/docs"));
    CHECK(path_matches("/docs/web", "/docs/"));
    CHECK_FALSE(path_matches("/docsets", "/docs"));
    CHECK_FALSE(path_matches("/", "/docs"));

    CHECK(default_cookie_path("") == "/");
    CHECK(default_cookie_path("x") == "/");
    CHECK(default_cookie_path("/") == "/");
    CHECK(default_cookie_path("/login") == "/");
    CHECK(default_cookie_path("/a/b/c") == "/a/b");
}

TEST_CASE("host-only cookies versus Domain cookies", "[unit][cookie]") {
    cookie_jar jar(suffixes());
    REQUIRE(jar.set_cookie("host=1", at("shop.example.com"), t0));
    REQUIRE(jar.set_cookie("wide=2; Domain=example.com", at("shop.example.com"), t0));
    CHECK(jar.cookie_header(at("shop.example.com"), t0) == "host=1; wide=2");
    CHECK(jar.cookie_header(at("api.shop.example.com"), t0) == "wide=2");  // host-only stays
    CHECK(jar.cookie_header(at("example.com"), t0) == "wide=2");
    CHECK(jar.cookie_header(at("other.com"), t0).empty());
    // Domain= naming another site, or a subdomain of the host, is refused.
    CHECK_FALSE(jar.set_cookie("x=1; Domain=other.com", at("shop.example.com"), t0));
    CHECK_FALSE(jar.set_cookie("x=1; Domain=deep.shop.example.com", at("shop.example.com"), t0));
    CHECK(jar.size() == 2);
}

TEST_CASE("public suffixes are refused as Domain=", "[unit][cookie]") {
    cookie_jar jar(suffixes());
    CHECK_FALSE(jar.set_cookie("a=1; Domain=com", at("shop.com"), t0));
    CHECK_FALSE(jar.set_cookie("a=1; Domain=co.uk", at("shop.co.uk"), t0));
    CHECK_FALSE(jar.set_cookie("a=1; Domain=github.io", at("me.github.io"), t0));
    CHECK_FALSE(jar.set_cookie("a=1; Domain=foo.ck", at("a.foo.ck"), t0));  // *.ck
    CHECK(jar.set_cookie("a=1; Domain=www.ck", at("x.www.ck"), t0));        // !www.ck
    CHECK(jar.set_cookie("b=1; Domain=shop.co.uk", at("www.shop.co.uk"), t0));
    // The suffix is the host itself: kept, as a host-only cookie.
    REQUIRE(jar.set_cookie("c=1; Domain=github.io", at("github.io"), t0));
    CHECK(jar.cookie_header(at("github.io"), t0) == "c=1");
    CHECK(jar.cookie_header(at("me.github.io"), t0).empty());

    // Without the list, only single-label names are suffixes.
    const public_suffix_list none;
    CHECK_FALSE(none.loaded());
    cookie_jar bare(none);
    CHECK_FALSE(bare.set_cookie("a=1; Domain=com", at("shop.com"), t0));
    CHECK(bare.set_cookie("a=1; Domain=co.uk", at("shop.co.uk"), t0));
}

TEST_CASE("the system public suffix list, when installed", "[unit][cookie]") {
    const auto& list = public_suffix_list::system();
    // scripts/install-deps.sh installs it (Debian package publicsuffix).
    REQUIRE(list.loaded());
    CHECK(list.rules() > 5000);
    CHECK(list.is_public_suffix("com"));
    CHECK(list.is_public_suffix("co.uk"));
    CHECK_FALSE(list.is_public_suffix("example.co.uk"));
    CHECK(list.is_public_suffix("xn--p1ai"));  // рф, converted from the list's UTF-8
}

TEST_CASE("path rules: default path, longer paths first", "[unit][cookie]") {
    cookie_jar jar(suffixes());
    REQUIRE(jar.set_cookie("root=1; Path=/", at("example.com", "/a/b/page?q=/x"), t0));
    REQUIRE(jar.set_cookie("deflt=2", at("example.com", "/a/b/page?q=/x"), t0 + 1s));  // /a/b
    REQUIRE(jar.set_cookie("a=3; Path=/a", at("example.com", "/"), t0 + 2s));
    CHECK(jar.cookie_header(at("example.com", "/a/b/c"), t0) == "deflt=2; a=3; root=1");
    CHECK(jar.cookie_header(at("example.com", "/a/bc"), t0) == "a=3; root=1");
    CHECK(jar.cookie_header(at("example.com", "/"), t0) == "root=1");
    CHECK(jar.cookie_header(at("example.com", "/ab"), t0) == "root=1");
    // Same name, other path: two cookies; same name and path: replaced, creation time kept.
    REQUIRE(jar.set_cookie("root=9; Path=/a", at("example.com"), t0 + 3s));
    REQUIRE(jar.set_cookie("root=10; Path=/", at("example.com"), t0 + 4s));
    CHECK(jar.size() == 4);
    CHECK(jar.cookie_header(at("example.com", "/a"), t0 + 5s) == "a=3; root=9; root=10");
}

TEST_CASE("Secure cookies only over https", "[unit][cookie]") {
    cookie_jar jar(suffixes());
    CHECK_FALSE(jar.set_cookie("s=1; Secure", at("example.com"), t0));  // from http: refused
    REQUIRE(jar.set_cookie("s=1; Secure", at("example.com", "/", true), t0));
    REQUIRE(jar.set_cookie("p=2", at("example.com", "/", true), t0));
    CHECK(jar.cookie_header(at("example.com", "/", true), t0) == "s=1; p=2");
    CHECK(jar.cookie_header(at("example.com", "/", false), t0) == "p=2");
}

TEST_CASE("expiry, Max-Age and deletion", "[unit][cookie]") {
    cookie_jar jar(suffixes());
    REQUIRE(jar.set_cookie("short=1; Max-Age=10", at("example.com"), t0));
    REQUIRE(
        jar.set_cookie("dated=1; Expires=Fri, 02 Jan 2026 00:00:00 GMT", at("example.com"), t0));
    REQUIRE(jar.set_cookie("session=1", at("example.com"), t0));
    CHECK(jar.cookie_header(at("example.com"), t0 + 9s) == "short=1; dated=1; session=1");
    CHECK(jar.cookie_header(at("example.com"), t0 + 10s) == "dated=1; session=1");
    CHECK(jar.cookie_header(at("example.com"), t0 + 24h) == "session=1");
    // Max-Age=0 deletes; so does an Expires in the past.
    REQUIRE(jar.set_cookie("session=1; Max-Age=0", at("example.com"), t0 + 1s));
    CHECK(jar.cookie_header(at("example.com"), t0 + 1s) == "short=1; dated=1");
    REQUIRE(jar.set_cookie("dated=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", at("example.com"),
                           t0 + 1s));
    CHECK(jar.cookie_header(at("example.com"), t0 + 1s) == "short=1");
    // A deletion needs the same domain and path to hit.
    REQUIRE(jar.set_cookie("short=1; Max-Age=0; Path=/other", at("example.com"), t0 + 1s));
    CHECK(jar.cookie_header(at("example.com"), t0 + 1s) == "short=1");
}

TEST_CASE("limits: per domain and in all, least recently used first", "[unit][cookie]") {
    cookie_limits limits;
    limits.per_domain = 3;
    limits.total = 5;
    cookie_jar jar(suffixes(), limits);
    for (int i = 0; i < 4; ++i) {
        REQUIRE(jar.set_cookie("c" + std::to_string(i) + "=1", at("a.com"),
                               t0 + std::chrono::seconds(i)));
    }
    CHECK(jar.cookie_header(at("a.com"), t0 + 10s) == "c1=1; c2=1; c3=1");
    for (int i = 0; i < 4; ++i) {
        REQUIRE(jar.set_cookie("d" + std::to_string(i) + "=1", at("b.com"),
                               t0 + std::chrono::seconds(20 + i)));
    }
    CHECK(jar.size() == 5);
    CHECK(jar.cookie_header(at("b.com"), t0 + 30s) == "d1=1; d2=1; d3=1");
}

TEST_CASE("random Set-Cookie lines keep the jar's invariants", "[unit][cookie]") {
    std::mt19937 rng(20261205);
    const std::vector<std::string> pieces{"a=1",
                                          "b=",
                                          "=x",
                                          ";",
                                          "; Domain=example.com",
                                          "; Domain=com",
                                          "; Domain=.",
                                          "; Path=/",
                                          "; Path=/a",
                                          "; Path=",
                                          "; Max-Age=0",
                                          "; Max-Age=5",
                                          "; Max-Age=-1",
                                          "; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
                                          "; Secure",
                                          "; HttpOnly",
                                          "\t",
                                          " ",
                                          "; SameSite=Strict",
                                          "\x01",
                                          "c=d=e",
                                          "; Expires=",
                                          "\xff\xfe",
                                          "; Domain=x.example.com"};
    cookie_limits limits;
    limits.per_domain = 8;
    limits.total = 12;
    cookie_jar jar(suffixes(), limits);
    for (int round = 0; round < 3000; ++round) {
        std::string line;
        const int n = static_cast<int>(rng() % 6);
        for (int i = 0; i < n; ++i) {
            line += pieces[rng() % pieces.size()];
        }
        const auto host = rng() % 2 == 0 ? "x.example.com" : "example.com";
        const auto now = t0 + std::chrono::seconds(round);
        (void)jar.set_cookie(line, at(host, "/a/b", rng() % 2 == 0), now);
        CHECK(jar.size() <= limits.total);
        const std::string header = jar.cookie_header(at(host, "/a/b", true), now);
        CHECK(header.find('\n') == std::string::npos);
        CHECK(header.find('\r') == std::string::npos);
        for (const auto& c : jar.cookies(now)) {
            CHECK(!c.name.empty());
            CHECK(domain_matches("x.example.com", c.domain));
            CHECK(c.domain != "com");
            CHECK(!c.path.empty());
            CHECK(c.path.front() == '/');
        }
    }
}

TEST_CASE("the jar's encoding round-trips and refuses corrupt bytes", "[unit][cookie]") {
    cookie_jar jar(suffixes());
    REQUIRE(jar.set_cookie("a=1; Max-Age=100; Secure", at("example.com", "/", true), t0));
    REQUIRE(jar.set_cookie("b=2; Domain=example.com; Path=/x", at("www.example.com"), t0));
    const std::string bytes = cookie_jar::encode(jar.cookies(t0));
    auto back = cookie_jar::decode(bytes);
    REQUIRE(back.has_value());
    cookie_jar copy(suffixes());
    copy.restore(std::move(*back), t0);
    CHECK(copy.cookie_header(at("www.example.com", "/x", true), t0) == "b=2");
    CHECK(copy.cookie_header(at("example.com", "/x", true), t0) == "b=2; a=1");
    CHECK(copy.cookie_header(at("example.com", "/", true), t0 + 200s).empty());

    CHECK_FALSE(cookie_jar::decode("").has_value());
    CHECK_FALSE(cookie_jar::decode("nope").has_value());
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        CHECK_FALSE(cookie_jar::decode(std::string_view(bytes).substr(0, cut)).has_value());
    }
    std::string huge_count = "HCJ1";
    huge_count.append(8, '\xff');
    CHECK_FALSE(cookie_jar::decode(huge_count).has_value());

    // A time beyond what the clock holds (the fuzzer's find: 7146651855298193523 µs overflowed
    // the conversion to nanoseconds) is corrupt, not a cookie from year 228,000.
    const auto with_time = [&](std::size_t from_end, std::uint64_t v) {
        std::string b = bytes;
        for (int i = 0; i < 8; ++i) {
            b[b.size() - from_end + i] = static_cast<char>((v >> (8 * i)) & 0xff);
        }
        return b;
    };
    for (const std::size_t field : {24u, 16u, 8u}) {  // expires, created, last access
        CAPTURE(field);
        CHECK_FALSE(cookie_jar::decode(with_time(field, 7146651855298193523u)).has_value());
        CHECK_FALSE(cookie_jar::decode(with_time(field, 0x8000000000000001u)).has_value());
        CHECK(cookie_jar::decode(with_time(field, 1767225600u * 1'000'000u)).has_value());
    }
}

TEST_CASE("merge takes another store's additions, changes and deletions, not stale ones",
          "[unit][cookie]") {
    cookie_jar jar(suffixes());
    REQUIRE(jar.set_cookie("sid=s1; Path=/; HttpOnly", at("shop.com"), t0));
    REQUIRE(jar.set_cookie("theme=dark; Path=/", at("shop.com"), t0));
    REQUIRE(jar.set_cookie("gone=1; Path=/", at("shop.com"), t0));
    REQUIRE(jar.set_cookie("raced=1; Path=/", at("shop.com"), t0));
    const auto sent = jar.cookies(t0);
    const auto named = [](std::vector<cookie> cookies, std::string_view name) {
        const auto it = std::find_if(cookies.begin(), cookies.end(),
                                     [name](const cookie& c) { return c.name == name; });
        return it == cookies.end() ? std::optional<cookie>() : std::optional<cookie>(*it);
    };
    // The other store: sid kept (its expiry reported to the second), theme changed, gone and
    // raced deleted, cart added (a domain cookie), viewed added already expired.
    std::vector<cookie> held;
    held.push_back(*named(sent, "sid"));
    held.push_back(*named(sent, "theme"));
    held.back().value = "light";
    cookie cart;
    cart.name = "cart";
    cart.value = "c1";
    cart.domain = "shop.com";
    cart.path = "/";
    cart.host_only = false;
    cart.expires = t0 + 3600s;
    held.push_back(cart);
    cookie viewed = cart;
    viewed.name = "viewed";
    viewed.expires = t0 - 1s;
    held.push_back(viewed);
    // Meanwhile the crawl's own answer changed raced: that change stays.
    REQUIRE(jar.set_cookie("raced=2; Path=/", at("shop.com"), t0 + 1s));
    const auto version = jar.version();

    jar.merge(sent, held, t0 + 2s);
    CHECK(jar.version() > version);
    const auto now = jar.cookies(t0 + 2s);
    CHECK(now.size() == 4);
    REQUIRE(named(now, "sid"));
    CHECK(named(now, "sid")->value == "s1");
    CHECK(named(now, "sid")->http_only);
    REQUIRE(named(now, "theme"));
    CHECK(named(now, "theme")->value == "light");
    CHECK(named(now, "theme")->created == t0);  // a replacement keeps its creation time
    CHECK_FALSE(named(now, "gone"));
    REQUIRE(named(now, "raced"));
    CHECK(named(now, "raced")->value == "2");
    REQUIRE(named(now, "cart"));
    CHECK_FALSE(named(now, "viewed"));
    // A domain cookie goes to subdomains, a host-only one does not.
    CHECK(jar.cookie_header(at("www.shop.com"), t0 + 2s) == "cart=c1");

    // Nothing changed by the other store: the jar is not touched.
    const auto settled = jar.version();
    jar.merge(now, now, t0 + 3s);
    CHECK(jar.version() == settled);
}
