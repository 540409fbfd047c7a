#include "service/render_request.hpp"

#include "pipelines/html/html.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

namespace harvest::service {
namespace json = boost::json;

namespace {

// The longest a job may ask one page to take: a page is one of the service's slots meanwhile.
constexpr double max_timeout_seconds = 120;

constexpr std::array<std::string_view, 4> block_kinds{"image", "font", "media", "stylesheet"};

render_field invalid(const std::string& field, const std::string& why) {
    render_field out;
    out.error = field + ": " + why;
    return out;
}

}  // namespace

render_field parse_render_field(const json::value& value) {
    render_field out;
    if (value.is_bool()) {
        if (value.as_bool()) {
            out.options.emplace();
        }
        return out;
    }
    if (!value.is_object()) {
        return invalid("render",
                       "must be true, false or an object like {\"wait_for\": \".product\", "
                       "\"timeout\": 15}");
    }
    crawl::render_options options;
    for (const auto& [key, field] : value.as_object()) {
        const std::string name = "render." + std::string(key);
        if (key == "wait_for") {
            if (!field.is_string() || field.as_string().empty()) {
                return invalid(name,
                               "must be \"load\", \"network_idle\" or a CSS selector like "
                               "\".product\"");
            }
            const std::string text(field.as_string());
            if (text == "load") {
                options.wait_for = crawl::render_options::wait::load;
            } else if (text == "network_idle") {
                options.wait_for = crawl::render_options::wait::network_idle;
            } else {
                try {
                    (void)pipelines::css_to_xpath(text);
                } catch (const pipelines::css_syntax_error& e) {
                    return invalid(name, std::string("must be a CSS selector like \".product\" (") +
                                             e.what() + ")");
                }
                options.wait_for = crawl::render_options::wait::selector;
                options.selector = text;
            }
        } else if (key == "timeout") {
            const double seconds = field.is_number() ? field.to_number<double>() : -1;
            if (!field.is_number() || !std::isfinite(seconds) || seconds <= 0 ||
                seconds > max_timeout_seconds) {
                return invalid(name, "must be a number of seconds, more than 0 and at most 120");
            }
            options.timeout =
                std::chrono::milliseconds(std::max<std::int64_t>(1, std::llround(seconds * 1000)));
        } else if (key == "block") {
            if (!field.is_array()) {
                return invalid(name, "must be a list of image, font, media or stylesheet");
            }
            options.block.clear();
            for (const auto& kind : field.as_array()) {
                if (!kind.is_string() ||
                    std::find(block_kinds.begin(), block_kinds.end(),
                              std::string_view(kind.as_string())) == block_kinds.end()) {
                    return invalid(name, "must be a list of image, font, media or stylesheet");
                }
                options.block.emplace_back(kind.as_string());
            }
        } else if (key == "scroll") {
            if (!field.is_bool()) {
                return invalid(name, "must be true or false");
            }
            options.scroll = field.as_bool();
        } else {
            return invalid(name, "unknown field; expected wait_for, timeout, block or scroll");
        }
    }
    out.options = std::move(options);
    return out;
}

url_entry parse_url_entry(const json::value& value, const std::string& field) {
    url_entry out;
    if (value.is_string()) {
        out.url = std::string(value.as_string());
        return out;
    }
    if (!value.is_object()) {
        out.error = field +
                    ": must be a URL string or an object like {\"url\": \"https://...\", "
                    "\"render\": true}";
        return out;
    }
    const auto& object = value.as_object();
    for (const auto& [key, ignored] : object) {
        if (key != "url" && key != "render") {
            out.error =
                field + ": unknown field \"" + std::string(key) + "\"; expected url, render";
            return out;
        }
    }
    const auto* url = object.if_contains("url");
    if (url == nullptr || !url->is_string()) {
        out.error = field + ".url: required, a string (an absolute http:// or https:// URL)";
        return out;
    }
    out.url = std::string(url->as_string());
    if (const auto* render = object.if_contains("render")) {
        auto parsed = parse_render_field(*render);
        if (!parsed.error.empty()) {
            out.error = field + "." + parsed.error;  // "urls[3]." + "render.timeout: ..."
            return out;
        }
        out.render = parsed.options ? render_to_json(*parsed.options) : std::string();
    }
    return out;
}

std::optional<crawl::render_options> item_render(
    const std::optional<std::string>& item_stored,
    const std::optional<crawl::render_options>& job_render) {
    if (item_stored) {
        return render_from_json(*item_stored);
    }
    return job_render;
}

std::string render_to_json(const crawl::render_options& options) {
    json::object out;
    switch (options.wait_for) {
        case crawl::render_options::wait::load:
            out["wait_for"] = "load";
            break;
        case crawl::render_options::wait::network_idle:
            out["wait_for"] = "network_idle";
            break;
        case crawl::render_options::wait::selector:
            out["wait_for"] = options.selector;
            break;
    }
    out["timeout"] = static_cast<double>(options.timeout.count()) / 1000.0;
    json::array block;
    for (const auto& kind : options.block) {
        block.emplace_back(kind);
    }
    out["block"] = std::move(block);
    out["scroll"] = options.scroll;
    return json::serialize(out);
}

std::optional<crawl::render_options> render_from_json(const std::string& text) {
    if (text.empty()) {
        return std::nullopt;
    }
    boost::system::error_code ec;
    const auto value = json::parse(text, ec);
    if (ec) {
        return std::nullopt;
    }
    return parse_render_field(value).options;
}

}  // namespace harvest::service
