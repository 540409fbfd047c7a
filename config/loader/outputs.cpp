// `outputs:` (docs/config.md), and the delivery policies of its webhooks.

#include "config/loader/reader.hpp"

#include <boost/url/parse.hpp>

#include <memory>

namespace harvest::config::reading {

std::vector<pipelines::output_spec> read_outputs(const reader& r, const node& n) {
    static constexpr auto types =
        std::to_array<std::string_view>({"jsonl", "csv", "sqlite", "webhook"});
    std::vector<pipelines::output_spec> outputs;
    const auto& items = r.list(n, "outputs");
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "outputs." + std::to_string(i);
            const node& type_node = required_type(r, items[i], path, types);
            pipelines::output_spec out;
            out.type =
                static_cast<pipelines::output_type>(r.choice(type_node, path + ".type", types));
            using keys = std::vector<std::string_view>;
            const keys allowed = out.type == pipelines::output_type::jsonl ? keys{"type", "path"}
                                 : out.type == pipelines::output_type::csv
                                     ? keys{"type", "path", "columns"}
                                 : out.type == pipelines::output_type::sqlite
                                     ? keys{"type", "path", "table", "key"}
                                     : keys{"type", "url", "batch", "batch_wait", "in_flight"};
            section s(r, items[i], path, allowed);
            if (out.type == pipelines::output_type::webhook) {
                const auto* url = s.get("url");
                if (url == nullptr) {
                    r.missing(s, "url", "where to POST items, like http://127.0.0.1:9000/ingest");
                }
                out.url = r.http_url(*url, s.path_of("url"));
                if (const auto* v = s.get("batch")) {
                    out.batch = r.integer(*v, s.path_of("batch"), 1, 100000);
                }
                if (const auto* v = s.get("batch_wait")) {
                    out.batch_wait = r.duration(*v, s.path_of("batch_wait"), true);
                }
                if (const auto* v = s.get("in_flight")) {
                    out.in_flight = r.integer(*v, s.path_of("in_flight"), 1, 1024);
                }
            } else {
                const auto* file = s.get("path");
                if (file == nullptr) {
                    r.missing(s, "path", "the file to write, like out/items.jsonl");
                }
                out.path = r.text(*file, s.path_of("path"));
                if (out.path.empty()) {
                    r.expected(*file, s.path_of("path"), "a file path like out/items.jsonl");
                }
                out.path = r.resolve_path(out.path);
            }
            if (const auto* v = s.get("columns")) {
                const auto& columns = r.list(*v, s.path_of("columns"));
                for (std::size_t j = 0; j < columns.size(); ++j) {
                    out.columns.push_back(
                        r.text(columns[j], s.path_of("columns") + "." + std::to_string(j)));
                }
            }
            if (out.type == pipelines::output_type::sqlite) {
                const auto* table = s.get("table");
                if (table == nullptr) {
                    r.missing(s, "table", "the table to write, like products");
                }
                out.table = r.text(*table, s.path_of("table"));
                const bool identifier =
                    !out.table.empty() &&
                    std::isdigit(static_cast<unsigned char>(out.table[0])) == 0 &&
                    std::all_of(out.table.begin(), out.table.end(),
                                [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
                if (!identifier) {
                    r.expected(*table, s.path_of("table"), "an SQL name like products");
                }
                if (const auto* v = s.get("key")) {
                    out.key = r.text(*v, s.path_of("key"));
                }
            }
            r.check_supported("outputs.type", types[static_cast<std::size_t>(out.type)],
                              type_node.where, path + ".type");
            if (out.type != pipelines::output_type::webhook) {
                r.check_writable(
                    *s.key_origin("path"), s.path_of("path"), out.path, false,
                    "give a path in a folder harvest may write in (its folders are made "
                    "as needed; a relative path is from the config's folder)");
            }
            if (auto* check = r.checking()) {
                output_field_places places;
                places.output = outputs.size();
                if (!out.key.empty()) {
                    places.fields.emplace_back(out.key, s.get("key")->where);
                }
                if (const auto* v = s.get("columns")) {
                    for (std::size_t j = 0; j < out.columns.size(); ++j) {
                        places.fields.emplace_back(out.columns[j], v->items[j].where);
                    }
                }
                check->output_fields.push_back(std::move(places));
            }
            outputs.push_back(std::move(out));
        });
    }
    return outputs;
}

// A webhook is delivered with the crawl's own policies for its host: the `hosts:` entry of
// "host:port" or "host" when there is one, else the crawl-wide http, retry, circuit_breaker and
// rate_limit.per_host. The breaker's give_up_after bounds each batch's whole delivery.
void set_webhook_delivery(crawl_config& config) {
    const auto& crawl = config.crawl;
    for (auto& out : config.outputs) {
        if (out.type != pipelines::output_type::webhook) {
            continue;
        }
        const crawl::host_overrides* host = nullptr;
        if (auto url = boost::urls::parse_absolute_uri(out.url)) {
            const std::string name(url->encoded_host());
            auto it = crawl.hosts.end();
            if (url->has_port()) {
                it = crawl.hosts.find(name + ":" + std::string(url->port()));
            }
            if (it == crawl.hosts.end()) {
                it = crawl.hosts.find(name);
            }
            if (it != crawl.hosts.end()) {
                host = &it->second;
            }
        }
        net::sender_options& delivery = out.delivery;
        delivery.http = std::make_shared<const crawl::http_options>(
            host != nullptr && host->http ? *host->http : crawl.http);
        delivery.retry = host != nullptr && host->retry ? *host->retry : crawl.retry;
        delivery.rate =
            host != nullptr && host->rate_limit ? *host->rate_limit : crawl.rate_limit.per_host;
        delivery.breaker = host != nullptr && host->circuit_breaker ? *host->circuit_breaker
                                                                    : crawl.circuit_breaker;
        delivery.deadline = delivery.breaker.give_up_after;
    }
}

}  // namespace harvest::config::reading
