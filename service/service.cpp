// The bulk job service's wiring (service.hpp).

#include "service/service.hpp"

#include "engine/metrics/crawl_metrics.hpp"
#include "engine/metrics/http/metrics_server.hpp"
#include "engine/metrics/process_metrics.hpp"
#include "engine/metrics/registry.hpp"
#include "engine/net/http_client.hpp"
#include "engine/render/browser_pool.hpp"
#include "service/api.hpp"
#include "service/api_server.hpp"
#include "service/egress_guard.hpp"
#include "service/job_runner.hpp"
#include "service/jobs_db.hpp"
#include "service/signing.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <csignal>
#include <functional>
#include <optional>

namespace harvest::service {

namespace asio = boost::asio;

namespace {

// How long an API statement waits for another connection's write lock (the runner's batches
// take milliseconds) before the request fails instead of holding the service's thread.
constexpr std::chrono::milliseconds api_busy_timeout{250};

}  // namespace

int run_service(const config::service_config& config) {
    auto keys = api_keys::load(config.api_keys_file);
    const egress_guard guard(config.egress);
    // Two connections to jobs.db. The API's waits briefly for a lock (its statements are short)
    // and checks the per-key quotas when a job is inserted; the runner's never waits: it retries
    // on a timer, so a lock held by another process never blocks this thread for long.
    jobs_db db(config.jobs_db, api_busy_timeout);
    db.set_quotas(config.queued_jobs_per_key, config.queued_items_per_key);
    jobs_db runner_db(config.jobs_db, std::chrono::milliseconds(0));

    asio::io_context io(1);
    metrics::registry registry({{"crawl", "serve"}});
    metrics::register_process_metrics(registry);
    metrics::register_build_info(registry);
    metrics::crawl_metrics engine_metrics(registry);
    service_metrics own_metrics(registry, db);

    net::client_options client_options;
    client_options.user_agent = "harvest/" HARVEST_VERSION;
    client_options.allow_endpoint = [&guard](const asio::ip::address& address,
                                             unsigned short port) {
        return guard.allowed(address, port);
    };
    net::http_client client(io.get_executor(), client_options);

    // Jobs with `render`: one pool of headless Chromium (started on the first such page), whose
    // pages' requests the egress guard checks too, in the browser.
    auto browsers =
        std::make_shared<render::browser_pool>(io.get_executor(), config.render, &engine_metrics);
    browsers->set_endpoint_filter([&guard](const asio::ip::address& address, unsigned short port) {
        return guard.allowed(address, port);
    });

    job_runner runner(io.get_executor(), config, runner_db, client, own_metrics, &engine_metrics);
    runner.set_renderer(browsers);
    api_events events{[&runner](const std::string& id) { runner.job_submitted(id); },
                      [&runner](const std::string& id) { runner.job_cancelled(id); },
                      [&runner] { return runner.health(); }};
    api handler(config, db, keys, guard, std::move(events));
    const auto limits = api_server_limits::from(config);  // max_body and `listener:`
    api_server server(
        io.get_executor(), config.listen,
        [&handler](const api_request& request) { return handler.handle(request); }, limits);
    server.start();
    std::optional<metrics::metrics_server> metrics_http;
    if (!config.metrics_listen.empty()) {
        metrics_http.emplace(io.get_executor(), config.metrics_listen,
                             [&registry] { return registry.expose(); });
        metrics_http->start();
    }
    runner.start();
    spdlog::info("harvest serve: listening on {} (port {}), jobs_db {}", config.listen,
                 server.port(), config.jobs_db);

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) {
            return;
        }
        spdlog::info("harvest serve: stopping");
        server.close();
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                co_await runner.stop();
                co_await browsers->close();
                if (metrics_http) {
                    co_await metrics_http->close();
                }
                io.stop();
            },
            asio::detached);
    });
    // SIGHUP re-reads the profiles' proxies_file (docs/cli.md); without one it keeps its
    // default (it ends the process).
    std::optional<asio::signal_set> reload_signals;
    std::function<void(const boost::system::error_code&, int)> on_reload;
    const bool any_proxies_file =
        std::any_of(config.profiles.begin(), config.profiles.end(),
                    [](const auto& entry) { return !entry.second.crawl.proxy.file.empty(); });
    if (any_proxies_file) {
        reload_signals.emplace(io, SIGHUP);
        on_reload = [&](const boost::system::error_code& ec, int) {
            if (ec) {
                return;
            }
            runner.reload_proxies();
            reload_signals->async_wait(on_reload);
        };
        reload_signals->async_wait(on_reload);
    }
    io.run();
    return 0;
}

}  // namespace harvest::service
