#include "engine/crawl/crawler.hpp"

#include "engine/crawl/crawl_context.hpp"
#include "engine/crawl/network_shards.hpp"
#include "engine/crawl/proxy_set.hpp"
#include "engine/crawl/renderer.hpp"
#include "engine/crawl/scheduler.hpp"
#include "engine/crawl/sessions.hpp"
#include "engine/crawl/shared_backend.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace harvest::crawl {
namespace asio = boost::asio;

std::string default_user_agent() {
    return std::string("harvest/") + HARVEST_VERSION;
}

// The wiring: what the pieces share, the sessions, and the scheduler that uses both.
struct crawler::impl {
    // First, so it is destroyed last: the connections the context pools may live on a shard.
    std::unique_ptr<network_shards> shards;
    std::shared_ptr<crawl_context> context;
    std::shared_ptr<session_keeper> sessions;
    std::shared_ptr<scheduler> schedule;
};

crawler::crawler(asio::io_context& io, crawl_options options, std::shared_ptr<sink> out,
                 seed_stream seeds, metrics::crawl_metrics* metrics, journal* log)
    : impl_(std::make_shared<impl>()) {
    impl_->context =
        std::make_shared<crawl_context>(io, std::move(options), std::move(out), metrics, log);
    const unsigned shard_count = impl_->context->options.engine.network_shards;
    if (shard_count > 1) {
        crawl_context& context = *impl_->context;
        impl_->shards = std::make_unique<network_shards>(shard_count - 1);
        // Shard 0 is the runner's loop; a runner that runs it on several threads shares it
        // through one strand.
        context.shards.push_back(context.options.engine.single_thread_io
                                     ? asio::any_io_executor(io.get_executor())
                                     : asio::any_io_executor(asio::make_strand(io)));
        for (auto& executor : impl_->shards->executors()) {
            context.shards.push_back(std::move(executor));
        }
    }
    impl_->sessions = std::make_shared<session_keeper>(impl_->context);
    impl_->schedule =
        std::make_shared<scheduler>(impl_->context, impl_->sessions, std::move(seeds));
}

void crawler::restore(journal_state recovered) {
    impl_->sessions->restore(recovered.cookies);
    impl_->schedule->restore_admitted(recovered.seen.size());
    impl_->context->queue.restore(std::move(recovered.seen), std::move(recovered.pending));
}

void crawler::set_shared_backend(std::shared_ptr<shared_backend> backend) {
    crawl_context& context = *impl_->context;
    context.shared = std::move(backend);
    context.options.engine.dedup = false;  // the local frontier sees each leased request once
    std::weak_ptr<crawl_context> weak = impl_->context;
    shared_backend::local_view local{
        [weak]() -> std::size_t {
            auto self = weak.lock();
            return self ? self->queue.ready_size() + self->queue.delayed_size() : 0;
        },
        [weak](std::vector<crawl_request> requests) {
            if (auto self = weak.lock()) {
                const auto now = clock::now();
                for (auto& request : requests) {
                    crawl_request handle;
                    handle.fingerprint = request.fingerprint;
                    if (self->queue.admit(std::move(request), now) !=
                        frontier::admit_result::queued) {
                        self->shared->complete(handle);  // unusable: do not hold its lease
                    }
                }
                self->wake();
            }
        }};
    context.shared->start(context.strand, std::move(local));
}

void crawler::set_renderer(std::shared_ptr<page_renderer> renderer) {
    impl_->context->renderer = std::move(renderer);
}

crawler::~crawler() {
    if (impl_->shards) {
        // Before the context goes: no shard thread may run a fetch of it any more.
        impl_->shards->stop_and_join();
    }
}

asio::awaitable<void> crawler::run() {
    co_await session_keeper::login_all(impl_->sessions);
    if (!impl_->context->stats.login_error.empty()) {
        // Nothing is fetched; the sink and the journal are closed as after a stop.
        impl_->context->stopping = true;
    }
    co_await asio::co_spawn(impl_->context->strand, impl_->schedule->schedule(),
                            asio::use_awaitable);
}

void crawler::stop() {
    auto self = impl_->context;
    asio::post(self->strand, [self] {
        self->stopping = true;
        self->wake();
    });
}

bool crawler::reload_proxies() {
    const proxy_options& proxy = impl_->context->options.proxy;
    if (proxy.file.empty()) {
        spdlog::warn("reload: no proxies_file in the config, nothing to reload");
        return false;
    }
    if (!impl_->context->proxies) {
        spdlog::error(
            "reload of proxies_file {} refused: the crawl started without proxies and goes "
            "direct; proxies can only be added to a crawl that started with some (restart it)",
            proxy.file);
        return false;
    }
    return impl_->context->proxies->reload_file(proxy);
}

bool crawler::stopped() const noexcept {
    return impl_->context->stopping.load();
}

const crawl_stats& crawler::stats() const noexcept {
    return impl_->context->stats;
}

}  // namespace harvest::crawl
