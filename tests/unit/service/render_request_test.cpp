// A job's `render` field: what parses, what is refused (naming the field), and that what is
// stored with the job reads back the same.

#include "service/render_request.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <random>

namespace {

namespace json = boost::json;
using harvest::crawl::render_options;
using harvest::service::parse_render_field;
using harvest::service::render_from_json;
using harvest::service::render_to_json;

json::value parse(const char* text) {
    return json::parse(text);
}

}  // namespace

TEST_CASE("render field: true, false and the options object", "[unit][render-serve]") {
    CHECK_FALSE(parse_render_field(json::value(false)).options);
    CHECK(parse_render_field(json::value(false)).error.empty());
    const auto defaults = parse_render_field(json::value(true));
    REQUIRE(defaults.options);
    CHECK(defaults.options->wait_for == render_options::wait::load);
    CHECK(defaults.options->timeout == std::chrono::milliseconds(15000));

    const auto full = parse_render_field(parse(
        R"({"wait_for": "div.product > h1", "timeout": 2.5, "block": ["font"], "scroll": true})"));
    REQUIRE(full.error.empty());
    REQUIRE(full.options);
    CHECK(full.options->wait_for == render_options::wait::selector);
    CHECK(full.options->selector == "div.product > h1");
    CHECK(full.options->timeout == std::chrono::milliseconds(2500));
    CHECK(full.options->block == std::vector<std::string>{"font"});
    CHECK(full.options->scroll);
    CHECK(parse_render_field(parse(R"({"wait_for": "network_idle"})")).options->wait_for ==
          render_options::wait::network_idle);
}

TEST_CASE("render field: bad values are refused, naming the field", "[unit][render-serve]") {
    const std::pair<const char*, const char*> cases[] = {
        {R"("yes")", "render:"},
        {R"(1)", "render:"},
        {R"({"timeout": 0})", "render.timeout:"},
        {R"({"timeout": -3})", "render.timeout:"},
        {R"({"timeout": 121})", "render.timeout:"},
        {R"({"timeout": "15s"})", "render.timeout:"},
        {R"({"wait_for": ""})", "render.wait_for:"},
        {R"({"wait_for": 3})", "render.wait_for:"},
        {R"({"wait_for": "div[[["})", "render.wait_for:"},
        {R"({"block": "image"})", "render.block:"},
        {R"({"block": ["script"]})", "render.block:"},
        {R"({"scroll": "no"})", "render.scroll:"},
        {R"({"wait": "load"})", "render.wait:"},
    };
    for (const auto& [text, field] : cases) {
        INFO(text);
        const auto parsed = parse_render_field(parse(text));
        CHECK_FALSE(parsed.options);
        CHECK(parsed.error.rfind(field, 0) == 0);
    }
    CHECK_FALSE(render_from_json(""));
    CHECK_FALSE(render_from_json("{not json"));
}

TEST_CASE("render field: what is stored with a job reads back the same (random options)",
          "[unit][render-serve]") {
    std::mt19937 rng(23);
    const char* kinds[] = {"image", "font", "media", "stylesheet"};
    const char* selectors[] = {".product", "#app h1", "ul > li.item", "load", "network_idle"};
    for (int round = 0; round < 200; ++round) {
        render_options in;
        const std::string wait = selectors[rng() % 5];
        if (wait == "load") {
            in.wait_for = render_options::wait::load;
        } else if (wait == "network_idle") {
            in.wait_for = render_options::wait::network_idle;
        } else {
            in.wait_for = render_options::wait::selector;
            in.selector = wait;
        }
        in.timeout = std::chrono::milliseconds(1 + rng() % 120000);
        in.block.clear();
        for (const auto* kind : kinds) {
            if (rng() % 2 != 0) {
                in.block.emplace_back(kind);
            }
        }
        in.scroll = rng() % 2 != 0;
        const auto out = render_from_json(render_to_json(in));
        INFO(render_to_json(in));
        REQUIRE(out);
        CHECK(out->wait_for == in.wait_for);
        CHECK(out->selector == in.selector);
        CHECK(out->timeout == in.timeout);
        CHECK(out->block == in.block);
        CHECK(out->scroll == in.scroll);
    }
}
