// request_codec::legacy_json: the JSON form of a request that Redis frontier values had before
// the binary codec. Kept byte for byte as those releases wrote and read it (boost::json), apart
// from the codec's pure core so that one builds without Boost.JSON.

#include "engine/crawl/request_codec.hpp"

#include <boost/json.hpp>

namespace harvest::crawl::request_codec::legacy_json {

void encode(const crawl_request& r, std::string& out) {
    boost::json::object o;
    o["m"] = r.http.method;
    o["u"] = r.http.url;
    if (!r.http.headers.empty()) {
        boost::json::array headers;
        for (const auto& [name, value] : r.http.headers) {
            headers.push_back(
                boost::json::array{boost::json::string(name), boost::json::string(value)});
        }
        o["h"] = std::move(headers);
    }
    if (!r.http.body.empty()) {
        o["b"] = r.http.body;
    }
    if (r.depth != 0) {
        o["d"] = r.depth;
    }
    if (r.sitemap) {
        o["s"] = true;
    }
    if (!r.idempotency_key.empty()) {
        o["k"] = r.idempotency_key;
    }
    o["f"] = r.fingerprint;  // saves the receiving worker canonicalizing the URL again
    out += boost::json::serialize(o);
}

decoded decode(std::string_view bytes) {
    decoded result;
    boost::system::error_code ec;
    auto value = boost::json::parse(bytes, ec);
    if (ec || !value.is_object()) {
        result.error = decode_error::unknown_version;
        return result;
    }
    const auto& o = value.get_object();
    const auto* method = o.if_contains("m");
    const auto* url = o.if_contains("u");
    if (method == nullptr || url == nullptr || !method->is_string() || !url->is_string()) {
        result.error = decode_error::unknown_version;
        return result;
    }
    crawl_request& r = result.request;
    r.http.method = std::string(method->get_string());
    r.http.url = std::string(url->get_string());
    if (const auto* headers = o.if_contains("h"); headers != nullptr && headers->is_array()) {
        for (const auto& h : headers->get_array()) {
            if (h.is_array() && h.get_array().size() == 2 && h.get_array()[0].is_string() &&
                h.get_array()[1].is_string()) {
                r.http.headers.emplace_back(std::string(h.get_array()[0].get_string()),
                                            std::string(h.get_array()[1].get_string()));
            }
        }
    }
    if (const auto* body = o.if_contains("b"); body != nullptr && body->is_string()) {
        r.http.body = std::string(body->get_string());
    }
    if (const auto* depth = o.if_contains("d"); depth != nullptr && depth->is_int64()) {
        r.depth = static_cast<unsigned>(depth->get_int64());
    }
    if (const auto* sitemap = o.if_contains("s"); sitemap != nullptr && sitemap->is_bool()) {
        r.sitemap = sitemap->get_bool();
    }
    if (const auto* key = o.if_contains("k"); key != nullptr && key->is_string()) {
        r.idempotency_key = std::string(key->get_string());
    }
    if (const auto* print = o.if_contains("f"); print != nullptr) {
        if (print->is_uint64()) {
            r.fingerprint = print->get_uint64();
        } else if (print->is_int64() && print->get_int64() >= 0) {
            r.fingerprint = static_cast<std::uint64_t>(print->get_int64());
        }
    }
    return result;
}

}  // namespace harvest::crawl::request_codec::legacy_json
