// harvest: the command line (docs/cli.md).

#include "cli/run_command.hpp"

#include <openssl/opensslv.h>
#include <simdjson.h>
#include <spdlog/cfg/helpers.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <zlib.h>
#include <CLI/CLI.hpp>
#include <boost/version.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#if defined(HARVEST_WITH_MIMALLOC)
#include <mimalloc.h>
#endif

namespace {

#define HARVEST_STRINGIFY_(x) #x
#define HARVEST_STRINGIFY(x) HARVEST_STRINGIFY_(x)

void print_version() {
    std::printf("harvest %s\n", HARVEST_VERSION);
    std::printf("  boost %d.%d.%d, %s, simdjson %s, zlib %s, spdlog %d.%d.%d\n",
                BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100,
                OPENSSL_VERSION_TEXT, HARVEST_STRINGIFY(SIMDJSON_VERSION), ZLIB_VERSION,
                SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH);
#if defined(HARVEST_WITH_MIMALLOC)
    // Also a reference into libmimalloc, so no linker drops it as unneeded.
    std::printf("  allocator: mimalloc %d.%d.%d\n", mi_version() / 100, mi_version() / 10 % 10,
                mi_version() % 10);
#else
    std::printf("  allocator: the C library's malloc\n");
#endif
}

void setup_logging(const std::string& format, const std::string& level) {
    auto logger = spdlog::stderr_color_mt("harvest");
    spdlog::set_default_logger(logger);
    if (format == "json") {
        spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":"%v"})",
                            spdlog::pattern_time_type::utc);
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    }
    spdlog::set_level(spdlog::level::from_str(level));
}

// Each fetch in flight holds a socket: with the default soft limit (1024) a crawl at
// engine.concurrency 10,000 fails with EMFILE long before it is full. The hard limit is the
// machine's real ceiling; raising the soft one to it costs nothing until descriptors are used.
void raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

#if defined(HARVEST_WITH_MIMALLOC)
// mimalloc keeps freed pages committed for a while (decommit_delay) before it returns them to
// the system. A crawl whose frontier spills frees and allocates request records all the time:
// bench/frontier_bench.sh, 5,000,000 links, peak RSS 404-409 MB at a 256 MiB budget and 218-234
// MB at 64 MiB with the default, over the bounds of budget + 150 MB; 395 and 196 MB with 2 ms,
// and product pages crawled as fast (0 ms cost a fifth of the HTML throughput in page faults).
// MIMALLOC_DECOMMIT_DELAY in the environment still wins.
void tune_allocator() {
    if (std::getenv("MIMALLOC_DECOMMIT_DELAY") == nullptr) {
        mi_option_set(mi_option_decommit_delay, 2);
    }
}
#else
void tune_allocator() {}
#endif

// The "Examples:" ending each --help; docs/cli.md "Examples" shows the same lines
// (tests/package/package_test.sh checks that it does).
constexpr const char* harvest_examples =
    "Examples:\n"
    "  harvest check crawl.yaml\n"
    "  harvest run crawl.yaml --stats-json stats.json\n"
    "  harvest fetch https://shop.example/p/42 --config crawl.yaml --extract\n"
    "  harvest serve --config /etc/harvest/serve.yaml\n";
constexpr const char* run_examples =
    "Examples:\n"
    "  harvest run crawl.yaml\n"
    "  harvest run crawl.yaml --set engine.concurrency=64 --set outputs.0.path=out/today.jsonl\n"
    "  harvest run crawl.yaml --resume --stats-json stats.json\n"
    "  harvest run crawl.yaml --progress never --log-format json --log-level warn\n";
constexpr const char* check_examples =
    "Examples:\n"
    "  harvest check crawl.yaml\n"
    "  harvest check /usr/share/harvest/examples/demo.yaml\n"
    "  harvest check --serve /etc/harvest/serve.yaml\n";
constexpr const char* fetch_examples =
    "Examples:\n"
    "  harvest fetch https://shop.example/robots.txt\n"
    "  harvest fetch https://shop.example/p/42 --config crawl.yaml --extract\n"
    "  harvest fetch https://spa.example/p/42 --render --body | grep -o '<h1[^<]*'\n"
    "  harvest fetch https://shop.example/api/products/B0A1B2C3D4.json --set "
    "http.timeouts.total=5s -o B0A1B2C3D4.json\n";
constexpr const char* serve_examples =
    "Examples:\n"
    "  harvest serve --config serve.yaml\n"
    "  harvest serve --config /etc/harvest/serve.yaml\n"
    "  harvest check --serve serve.yaml\n";

}  // namespace

int main(int argc, char** argv) {
    namespace cli = harvest::cli;
    tune_allocator();
    raise_fd_limit();
    CLI::App app{"harvest: a scraping engine for product data", "harvest"};
    app.require_subcommand(0, 1);
    app.footer(harvest_examples);
    bool show_version = false;
    app.add_flag("--version", show_version, "print the version of harvest and its libraries");

    std::string log_format = "text";
    std::string log_level = "info";

    cli::run_arguments run_args;
    std::string progress = "auto";
    auto* run = app.add_subcommand("run", "run a crawl to completion");
    run->footer(run_examples);
    run->add_option("file", run_args.config_path, "crawl config (YAML)")->required();
    run->add_option("--set", run_args.overrides,
                    "override a config key by its dotted path: KEY=VALUE (repeatable)");
    run->add_flag("--resume", run_args.resume, "continue the last run from its state journal");
    run->add_option("--stats-json", run_args.stats_json,
                    "write the run's figures as one JSON object to this file at the end");
    run->add_option("--progress", progress, "status line on stderr: auto, always or never")
        ->check(CLI::IsMember({"auto", "always", "never"}));
    run->add_option("--log-format", log_format, "text or json")
        ->check(CLI::IsMember({"text", "json"}));
    run->add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

    std::string check_path;
    bool check_service = false;
    auto* check = app.add_subcommand(
        "check", "validate a crawl config (or a service config); fetches nothing");
    check->footer(check_examples);
    check->add_option("file", check_path, "crawl config (YAML); a service config with --serve")
        ->required();
    check->add_flag("--serve", check_service,
                    "FILE is a service config (harvest serve --config); nothing is started");

    cli::fetch_arguments fetch_args;
    auto* fetch = app.add_subcommand(
        "fetch", "one request through the whole stack (limits, retries, breaker, decoding)");
    fetch->footer(fetch_examples);
    fetch->add_option("url", fetch_args.url, "absolute http:// or https:// URL")->required();
    fetch->add_option("--config", fetch_args.config_path,
                      "crawl config whose rules, limits and extractors apply");
    fetch->add_option("--set", fetch_args.overrides, "override a config key: KEY=VALUE");
    fetch->add_flag("--extract", fetch_args.extract,
                    "also print the items the config's extract rules emit");
    fetch->add_flag("--render", fetch_args.render,
                    "render the page in headless Chromium (render: of the config's rules, or "
                    "the defaults); the body is the rendered DOM");
    fetch->add_flag("--body", fetch_args.body,
                    "print the decoded response body on stdout (any status); the JSON goes to "
                    "stderr");
    fetch->add_option("-o,--output", fetch_args.body_path,
                      "write the decoded response body to this file (exact bytes); the JSON "
                      "stays on stdout");

    std::string serve_config;
    auto* serve = app.add_subcommand("serve", "the bulk job service (HTTP API, jobs, webhooks)");
    serve->footer(serve_examples);
    serve->add_option("--config", serve_config, "service config (YAML)")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : cli::exit_usage;
    }
    if (show_version) {
        print_version();
        return cli::exit_ok;
    }
    setup_logging(log_format, log_level);
    if (*run) {
        run_args.progress = progress == "always"  ? cli::progress_mode::always
                            : progress == "never" ? cli::progress_mode::never
                                                  : cli::progress_mode::automatic;
        return cli::run_crawl(run_args);
    }
    if (*serve) {
        return cli::serve(serve_config);
    }
    if (*fetch) {
        return cli::fetch_url(fetch_args);
    }
    if (*check) {
        return check_service ? cli::check_service_config(check_path)
                             : cli::check_config(check_path);
    }
    std::cerr << app.help();
    return cli::exit_usage;
}
