// link_rule: resolution, base href, fragments, schemes, allow / deny, de-duplication.

#include "pipelines/html/html.hpp"
#include "tests/unit/html/html_data.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace harvest::pipelines;

namespace {

follow_rule css_follow(std::string css, std::vector<std::string> allow = {},
                       std::vector<std::string> deny = {}) {
    follow_rule rule;
    rule.css = std::move(css);
    rule.allow = std::move(allow);
    rule.deny = std::move(deny);
    return rule;
}

using urls = std::vector<std::string>;

}  // namespace

TEST_CASE("link_rule resolves against <base href> and drops what is not followable", "[unit]") {
    const std::string page_url = "http://127.0.0.1:8080/shop/index.html?x=1#frag";
    const auto document = html_document::parse(html_test::read_data("links.html"), page_url);
    const auto links = link_rule(css_follow("a.product-link")).links(document, page_url);
    CHECK(links == urls{
                       "http://127.0.0.1:8080/catalog/p/1",  // base href /catalog/ + p/1
                       "http://127.0.0.1:8080/p/2",          // fragment dropped
                       "https://other.example/p/3",          // absolute kept
                       // p/1#again: a duplicate once the fragment is gone
                       // javascript:, mailto:, data:, #top, "", no href: skipped
                       "http://127.0.0.1:8080/p/4?color=red&size=L",  // trimmed, ../ resolved
                       "http://127.0.0.1:8080/admin/p/5",
                       "http://127.0.0.1:8080/p/six%20with%20space/%C3%BC",
                       "http://Shop.Example/p/7",  // scheme lowercased
                       // ftp: skipped
                   });
}

TEST_CASE("link_rule filters on the URL path with allow and deny", "[unit]") {
    const std::string page_url = "http://127.0.0.1:8080/shop/";
    const auto document = html_document::parse(html_test::read_data("links.html"), page_url);

    CHECK(link_rule(css_follow("a.product-link", {"^/p/"})).links(document, page_url) ==
          urls{"http://127.0.0.1:8080/p/2", "https://other.example/p/3",
               "http://127.0.0.1:8080/p/4?color=red&size=L",
               "http://127.0.0.1:8080/p/six%20with%20space/%C3%BC", "http://Shop.Example/p/7"});
    // deny wins over allow; the query is not part of the path.
    CHECK(link_rule(css_follow("a.product-link", {"/p/"}, {"^/admin/", "/p/[23]$", "size"}))
              .links(document, page_url) ==
          urls{"http://127.0.0.1:8080/catalog/p/1", "http://127.0.0.1:8080/p/4?color=red&size=L",
               "http://127.0.0.1:8080/p/six%20with%20space/%C3%BC", "http://Shop.Example/p/7"});
    // Several allow patterns: any one admits a link.
    CHECK(link_rule(css_follow("a.product-link", {"^/admin/", "/7$"})).links(document, page_url) ==
          urls{"http://127.0.0.1:8080/admin/p/5", "http://Shop.Example/p/7"});

    CHECK_THROWS_AS(link_rule(css_follow("a", {"("})), std::invalid_argument);
    CHECK_THROWS_WITH(link_rule(css_follow("a", {}, {"[z-a]"})), Catch::Contains("deny"));
    CHECK_THROWS_AS(link_rule(css_follow("a[")), std::invalid_argument);
    CHECK_THROWS_AS(link_rule(follow_rule{}), std::invalid_argument);
}

TEST_CASE("link_rule with xpath takes the selected attribute or string", "[unit]") {
    const std::string page_url = "http://127.0.0.1/list?page=1";
    const auto document = html_document::parse(html_test::read_data("links.html"), page_url);
    follow_rule next;
    next.xpath = "//a[@rel='next']/@href";
    // base href /catalog/ applies: ?page=2 keeps the base path.
    CHECK(link_rule(next).links(document, page_url) == urls{"http://127.0.0.1/catalog/?page=2"});
    next.xpath = "//a[@rel='next']";  // elements: their href
    CHECK(link_rule(next).links(document, page_url) == urls{"http://127.0.0.1/catalog/?page=2"});
    next.xpath = "concat('/p/', 'from-string')";
    CHECK(link_rule(next).links(document, page_url) == urls{"http://127.0.0.1/p/from-string"});
}

TEST_CASE("link_rule resolves against the page URL without a base", "[unit]") {
    const std::string page =
        R"html(<a href="b">1</a><a href="./b">2</a><a href="../up">3</a><a href="//cdn.example/x">4</a>
           <a href="?q=1">5</a><a href="/b">6</a><a href="https://127.0.0.1/b">7</a>
           <a href="HTTPS://127.0.0.1/b#x">8</a><a href="JavaScript:alert(1)">9</a>
           <a href="http://">10</a><a href="http:no-host">11</a><a href="\back\slash">12</a>
           <a href="  http://127.0.0.1/a%zz">13</a><a href="/p/a[1]">14</a>
           <a href="http://127.0.0.1">15</a><a href="
/p/multi
line">16</a><a href="http://[::1]:8080/v6">17</a>)html";
    const std::string page_url = "http://127.0.0.1/dir/page.html";
    const auto document = html_document::parse(page, page_url);
    CHECK(link_rule(css_follow("a")).links(document, page_url) ==
          urls{"http://127.0.0.1/dir/b", "http://127.0.0.1/up", "http://cdn.example/x",
               "http://127.0.0.1/dir/page.html?q=1", "http://127.0.0.1/b", "https://127.0.0.1/b",
               "http://127.0.0.1/back/slash", "http://127.0.0.1/a%25zz",
               "http://127.0.0.1/p/a%5B1%5D", "http://127.0.0.1/", "http://127.0.0.1/p/multiline",
               "http://[::1]:8080/v6"});

    // An unusable page URL: only absolute links remain.
    CHECK(link_rule(css_follow("a")).links(document, "not a url") ==
          urls{"https://127.0.0.1/b", "http://127.0.0.1/a%25zz", "http://127.0.0.1/",
               "http://[::1]:8080/v6"});
    // Overlong links are skipped.
    const auto huge = html_document::parse(
        "<a href=\"/" + std::string(9000, 'x') + "\">x</a><a href=\"/ok\">ok</a>", page_url);
    CHECK(link_rule(css_follow("a")).links(huge, page_url) == urls{"http://127.0.0.1/ok"});
    // Nothing selected, empty page, no document.
    CHECK(link_rule(css_follow("a.none")).links(document, page_url).empty());
    CHECK(link_rule(css_follow("a")).links(html_document::parse("", page_url), page_url).empty());
}
