// `harvest fetch URL [--config FILE] [--extract] [--render] [--body | -o FILE]`: one request
// through the whole stack (rate limits, retries, breaker, decoding), printed as JSON on stdout;
// with --body its decoded body goes to stdout (the JSON to stderr), with -o FILE to that file.

#include "cli/run_command.hpp"

#include "config/crawl_config.hpp"
#include "config/loader.hpp"
#include "engine/core/failure_kind.hpp"
#include "engine/crawl/seeds.hpp"
#include "engine/crawl/sink.hpp"
#include "pipelines/extract/extractor_set.hpp"
#include "pipelines/item.hpp"
#include "session/crawl_session.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

namespace harvest::cli {
namespace asio = boost::asio;
namespace {

// Keeps what the one request produced, for printing once the crawl is over.
class capture_sink final : public crawl::sink {
  public:
    std::optional<crawl::fetched_page> page;
    std::optional<crawl::failure_record> failure;

    asio::awaitable<crawl::sink_result> on_success(crawl::fetched_page fetched) override {
        page = std::move(fetched);
        co_return crawl::sink_result{};
    }
    asio::awaitable<void> on_failure(crawl::failure_record record) override {
        failure = std::move(record);
        co_return;
    }
    asio::awaitable<void> close() override { co_return; }
};

}  // namespace

int fetch_url(const fetch_arguments& args) {
    config::crawl_config config;
    try {
        if (!args.config_path.empty()) {
            config = config::load_config(args.config_path, args.overrides);
        } else if (!args.overrides.empty()) {
            // --set without --config: applied to the defaults.
            const std::string yaml = "name: fetch\nseeds:\n  - url: " +
                                     boost::json::serialize(boost::json::string(args.url)) + "\n";
            config = config::parse_config(yaml, "--set", std::filesystem::current_path().string(),
                                          args.overrides);
        } else {
            config.crawl.name = "fetch";
        }
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return exit_usage;
    }
    std::optional<pipelines::extractor_set> extractors;
    if (args.extract) {
        try {
            extractors.emplace(config.extract);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "harvest: %s\n", e.what());
            return exit_usage;
        }
    }
    if (args.render) {
        // Last: a config rule that renders this page keeps its own wait and timeout.
        config.crawl.render_rules.push_back(crawl::render_rule{});
    }
    // One URL fetched to look at it: always from the network, and nothing left behind.
    config.crawl.http_cache.mode = crawl::http_cache_options::kind::off;
    // Opened (and truncated) before the request: a path that cannot be written is a bad
    // argument, found before anything is fetched. Without a response it stays empty.
    std::ofstream body_file;
    if (!args.body_path.empty()) {
        body_file.open(args.body_path, std::ios::binary | std::ios::trunc);
        if (!body_file) {
            std::fprintf(stderr, "harvest: cannot write %s\n", args.body_path.c_str());
            return exit_usage;
        }
    }

    auto sink = std::make_shared<capture_sink>();
    crawl::seed_spec seed;
    seed.url = args.url;
    // The engine as `harvest run` builds it, on one thread, into the sink above.
    std::optional<session::crawl_session> probe;
    try {
        probe.emplace(session::crawl_session::probe(std::move(config), {seed}, sink));
    } catch (const session::session_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return exit_cannot_start;
    }
    const auto started = std::chrono::steady_clock::now();
    probe->run(nullptr);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    boost::json::object out;
    out["url"] = args.url;
    // This URL's attempts; the robots.txt fetch before them is not one.
    out["attempts"] = sink->page      ? sink->page->request.attempt
                      : sink->failure ? sink->failure->attempts
                                      : 0U;
    out["elapsed_seconds"] = elapsed;
    if (sink->page) {
        const auto& response = sink->page->response;
        out["status"] = response.status;
        out["final_url"] = response.final_url;
        out["redirects"] = response.redirects;
        out["protocol"] = response.protocol;
        boost::json::array headers;
        for (const auto& [name, value] : response.headers) {
            headers.push_back(
                boost::json::array{boost::json::string(name), boost::json::string(value)});
        }
        out["headers"] = std::move(headers);
        out["wire_bytes"] = response.wire_bytes;
        out["body_bytes"] = response.body.size();
        out["rendered"] = sink->page->rendered;
        out["response_seconds"] = std::chrono::duration<double>(response.elapsed).count();
        if (extractors) {
            std::vector<pipelines::item> items;
            auto outcome = extractors->extract(*sink->page, items);
            boost::json::array list;
            for (auto& item : items) {
                list.push_back(std::move(item));
            }
            out["items"] = std::move(list);
            out["items_invalid"] = outcome.invalid;
            out["items_error"] = outcome.error;
        }
    } else if (sink->failure) {
        out["error"] = core::to_string(sink->failure->error);
        if (sink->failure->status) {
            out["status"] = *sink->failure->status;
        }
        if (sink->failure->last_error) {
            out["last_error"] = core::to_string(*sink->failure->last_error);
        }
    }
    std::string line;
    pipelines::append_json(line, boost::json::value(std::move(out)));  // 1444.56, not 1.44456E3
    // The last response's body, whatever its status (a 404 page is worth reading); none after
    // a transport error or a request that was never sent (robots.txt, breaker).
    std::string_view body_bytes;
    if (sink->page) {
        body_bytes = sink->page->response.body;
    } else if (sink->failure) {
        body_bytes = sink->failure->body;
    }
    if (!args.body_path.empty()) {
        body_file.write(body_bytes.data(), static_cast<std::streamsize>(body_bytes.size()));
        if (!body_file.flush()) {
            std::fprintf(stderr, "harvest: cannot write %s\n", args.body_path.c_str());
            return exit_failed;
        }
        std::printf("%s\n", line.c_str());
    } else if (args.body) {
        std::fprintf(stderr, "%s\n", line.c_str());
        std::fwrite(body_bytes.data(), 1, body_bytes.size(), stdout);
        std::fflush(stdout);
    } else {
        std::printf("%s\n", line.c_str());
    }
    return sink->page ? exit_ok : exit_failed;
}

}  // namespace harvest::cli
