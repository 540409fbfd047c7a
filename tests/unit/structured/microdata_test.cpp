// find_microdata: value rules per element, nesting, itemref, itemid, options; urljoin.

#include "pipelines/structured/microdata.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>

namespace hp = harvest::pipelines;
namespace json = boost::json;

namespace {

std::string microdata_found(std::string_view html, std::string_view base = "",
                            hp::microdata_options options = {}) {
    json::array array;
    for (auto& v : hp::find_microdata(html, base, options)) {
        array.push_back(std::move(v));
    }
    return json::serialize(array);
}

}  // namespace

TEST_CASE("microdata values follow the element rules", "[unit]") {
    const std::string html = R"(<div itemscope itemtype="http://schema.org/Thing">
        <meta itemprop="m" content="meta">
        <a itemprop="a" href=" /a?x=1 ">text</a>
        <link itemprop="l" href="l.html">
        <area itemprop="ar" href="#frag">
        <img itemprop="i" src="../img.png">
        <img itemprop="lazy" content="lazy.png">
        <video itemprop="v" src="v.mp4"></video>
        <audio itemprop="au" src="//cdn.example.org/a.mp3"></audio>
        <source itemprop="s" src="s.webm">
        <embed itemprop="e" src="e.swf">
        <iframe itemprop="f" src="f.html"></iframe>
        <track itemprop="t" src="t.vtt">
        <object itemprop="o" data="o.pdf"></object>
        <data itemprop="d" value="42">forty-two</data>
        <meter itemprop="me" value="3.5">3.5/5</meter>
        <time itemprop="ti" datetime="2026-11-29">today</time>
        <span itemprop="c" content="from-content">shown</span>
        <span itemprop="txt">  some
           <b>bold</b>  text </span>
        <input itemprop="query-input" name="q" required>
        <img itemprop="empty" src="">
    </div>)";
    const json::value items =
        json::parse(microdata_found(html, "http://example.com/dir/page.html"));
    REQUIRE(items.as_array().size() == 1);
    const json::object& p = items.at(0).at("properties").as_object();
    CHECK(p.at("m") == "meta");
    CHECK(p.at("a") == "http://example.com/a?x=1");
    CHECK(p.at("l") == "http://example.com/dir/l.html");
    CHECK(p.at("ar") == "http://example.com/dir/page.html#frag");
    CHECK(p.at("i") == "http://example.com/img.png");
    CHECK(p.at("lazy") == "http://example.com/dir/lazy.png");
    CHECK(p.at("v") == "http://example.com/dir/v.mp4");
    CHECK(p.at("au") == "http://cdn.example.org/a.mp3");
    CHECK(p.at("s") == "http://example.com/dir/s.webm");
    CHECK(p.at("e") == "http://example.com/dir/e.swf");
    CHECK(p.at("f") == "http://example.com/dir/f.html");
    CHECK(p.at("t") == "http://example.com/dir/t.vtt");
    CHECK(p.at("o") == "http://example.com/dir/o.pdf");
    CHECK(p.at("d") == "42");
    CHECK(p.at("me") == "3.5");
    CHECK(p.at("ti") == "2026-11-29");
    CHECK(p.at("c") == "from-content");
    CHECK(p.at("txt") == "some bold text");
    CHECK(p.at("query-input") == json::parse(R"({"valueRequired":true,"valueName":"q"})"));
    CHECK(p.at("empty") == "");
}

TEST_CASE("microdata: nested items, itemid, multiple names, lists", "[unit]") {
    const std::string html = R"(
      <div itemscope itemtype="http://schema.org/Product" itemid=" urn:isbn:1 ">
        <span itemprop="name alternateName">Anvil</span>
        <div itemprop="offers" itemscope itemtype="http://schema.org/Offer">
          <span itemprop="price">1</span>
        </div>
        <div itemprop="offers" itemscope itemtype="http://schema.org/Offer">
          <span itemprop="price">2</span>
        </div>
        <div itemscope itemtype="http://schema.org/Thing"><span itemprop="name">Loose</span></div>
      </div>)";
    const json::value items = json::parse(microdata_found(html));
    REQUIRE(items.as_array().size() == 2);  // the loose item is not a property: top-level
    const json::object& product = items.at(0).as_object();
    CHECK(product.at("type") == "http://schema.org/Product");
    CHECK(product.at("id") == "urn:isbn:1");
    const json::object& p = product.at("properties").as_object();
    CHECK(p.at("name") == "Anvil");
    CHECK(p.at("alternateName") == "Anvil");
    REQUIRE(p.at("offers").as_array().size() == 2);
    CHECK(p.at("offers").at(1).at("properties").at("price") == "2");
    CHECK(p.contains("Loose") == false);
    CHECK(items.at(1).at("properties").at("name") == "Loose");

    hp::microdata_options strict;
    strict.strict = true;
    const json::value strict_items = json::parse(microdata_found(html, "", strict));
    CHECK(strict_items.at(0).at("type") == json::parse(R"(["http://schema.org/Product"])"));
    CHECK(strict_items.at(0).at("properties").at("name") == json::parse(R"(["Anvil"])"));
}

TEST_CASE("microdata: itemref values follow the item's own; flat mode uses iid_ref", "[unit]") {
    // extruct's order, not the W3C tree order: a referenced block before the item still comes
    // after the item's own properties.
    const std::string html = R"(
      <p id="before"><span itemprop="a">1</span></p>
      <div itemscope itemref="before after missing"><span itemprop="a">2</span>
        <div itemprop="child" itemscope><span itemprop="x">y</span></div></div>
      <p id="after"><span itemprop="b">3</span></p>)";
    const json::value items = json::parse(microdata_found(html));
    REQUIRE(items.as_array().size() == 1);
    const json::object& p = items.at(0).at("properties").as_object();
    CHECK(p.at("a") == json::parse(R"(["2","1"])"));
    CHECK(p.at("b") == "3");
    CHECK(p.at("child") == json::parse(R"({"properties":{"x":"y"}})"));

    hp::microdata_options flat;
    flat.nested = false;
    const json::value flat_items = json::parse(microdata_found(html, "", flat));
    REQUIRE(flat_items.as_array().size() == 2);
    CHECK(flat_items.at(0).at("iid") == 1);
    CHECK(flat_items.at(0).at("properties").at("child") == json::parse(R"({"iid_ref":2})"));
    CHECK(flat_items.at(1).at("iid") == 2);
}

TEST_CASE("microdata: itemref ids are read in the order listed, repeats included, as extruct does",
          "[unit]") {
    // Names keep their first appearance in that sequence (own properties, then each id's).
    CHECK(microdata_found(R"(<p id="before"><span itemprop="a">1</span></p>
      <div itemscope itemref="after before missing before"><span itemprop="b">own</span>
        <span itemprop="a">2</span><div itemprop="child" itemscope><span itemprop="x">y</span></div>
      </div>
      <p id="after"><span itemprop="c">3</span><span itemprop="a">4</span></p>)") ==
          R"([{"properties":{"b":"own","a":["2","4","1","1"],"child":{"properties":{"x":"y"}},)"
          R"("c":"3"}}])");
    // An element both owned and referenced is read twice; the item it holds is used once, its
    // second use is null.
    CHECK(microdata_found(R"(<div itemscope itemref="inner kid"><p id="inner" itemprop="n">v</p>
      <div id="kid" itemprop="k" itemscope><b itemprop="x">y</b></div></div>)") ==
          R"([{"properties":{"n":["v","v"],"k":[{"properties":{"x":"y"}},null]}}])");
}

TEST_CASE("microdata: an item referencing itself does not loop", "[unit]") {
    const std::string html =
        R"(<div id="me" itemscope itemprop="self" itemref="me"><span itemprop="n">v</span></div>)";
    const json::value items = json::parse(microdata_found(html));
    REQUIRE(items.as_array().size() == 1);
    CHECK(items.at(0).at("properties").at("n") == "v");
    CHECK(items.at(0).at("properties").at("self").is_null());
}

TEST_CASE("microdata: an item without properties has a value; textContent on request", "[unit]") {
    CHECK(microdata_found("<div itemscope>just text</div>") == R"([{"value":"just text"}])");
    hp::microdata_options with_text;
    with_text.add_text_content = true;
    const json::value items =
        json::parse(microdata_found("<div itemscope><h1>T</h1><p><span itemprop=n>a</span> (b)</p>"
                                    "<script>x()</script><!-- c --></div>",
                                    "", with_text));
    CHECK(items.at(0).at("textContent") == "T\n\na (b)");
}

TEST_CASE("microdata_to_uniform gives JSON-LD-like objects", "[unit]") {
    const auto items = hp::find_microdata(
        R"(<div itemscope itemtype="http://schema.org/Product"><span itemprop="name">A</span>
           <div itemprop="brand" itemscope itemtype="https://schema.org/Brand">
             <span itemprop="name">B</span></div></div>)",
        "");
    const auto uniform = hp::microdata_to_uniform(items);
    REQUIRE(uniform.size() == 1);
    CHECK(uniform[0] == json::parse(R"({"@type":"Product","@context":"http://schema.org",
                                        "name":"A","brand":{"@type":"Brand","name":"B"}})"));
}

TEST_CASE("urljoin follows RFC 3986 like Python's urljoin, fragment kept", "[unit]") {
    const std::string base = "http://a/b/c/d;p?q";
    CHECK(hp::urljoin(base, "g") == "http://a/b/c/g");
    CHECK(hp::urljoin(base, "./g") == "http://a/b/c/g");
    CHECK(hp::urljoin(base, "g/") == "http://a/b/c/g/");
    CHECK(hp::urljoin(base, "/g") == "http://a/g");
    CHECK(hp::urljoin(base, "//g") == "http://g");
    CHECK(hp::urljoin(base, "?y") == "http://a/b/c/d;p?y");
    CHECK(hp::urljoin(base, "#s") == "http://a/b/c/d;p?q#s");
    CHECK(hp::urljoin(base, "../g") == "http://a/b/g");
    CHECK(hp::urljoin(base, "../..") == "http://a/");
    CHECK(hp::urljoin(base, "../../../g") == "http://a/g");
    CHECK(hp::urljoin(base, "https://x.org/y") == "https://x.org/y");
    CHECK(hp::urljoin("http://some-example.com", "a.jpg") == "http://some-example.com/a.jpg");
    CHECK(hp::urljoin("", "a.jpg") == "a.jpg");
    // Where it differs from net::resolve_url: the fragment stays, another scheme is kept as
    // written rather than failing.
    CHECK(hp::urljoin(base, "g#frag") == "http://a/b/c/g#frag");
    CHECK(hp::urljoin(base, "mailto:a@example.com") == "mailto:a@example.com");
    // A dot segment after an empty one leaves the empty one and a '/', as Python's urljoin
    // (and RFC 3986 §5.2.4) do.
    CHECK(hp::urljoin("http://x/", "/a//.") == "http://x/a//");
    CHECK(hp::urljoin("http://x/", "/a//b/..") == "http://x/a//");
    CHECK(hp::urljoin("http://x/", "/a//b") == "http://x/a//b");
}
