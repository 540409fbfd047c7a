#include "engine/crawl/network_shards.hpp"

#include <spdlog/spdlog.h>

namespace harvest::crawl {

network_shards::network_shards(unsigned extra) {
    shards_.reserve(extra);
    for (unsigned i = 0; i < extra; ++i) {
        auto& added = shards_.emplace_back(std::make_unique<shard>());
        added->thread = std::thread([io = &added->io] {
            // A handler that throws ends only its own task: the loop goes on (a fetch's
            // coroutine reports its failures through its completion handler).
            for (;;) {
                try {
                    io->run();
                    return;
                } catch (const std::exception& e) {
                    spdlog::error("network shard: {}", e.what());
                } catch (...) {
                    spdlog::error("network shard: an unknown exception");
                }
            }
        });
    }
}

network_shards::~network_shards() {
    stop_and_join();
}

std::vector<boost::asio::any_io_executor> network_shards::executors() const {
    std::vector<boost::asio::any_io_executor> result;
    result.reserve(shards_.size());
    for (const auto& s : shards_) {
        result.emplace_back(s->io.get_executor());
    }
    return result;
}

void network_shards::stop_and_join() noexcept {
    for (auto& s : shards_) {
        s->work.reset();
        s->io.stop();
    }
    for (auto& s : shards_) {
        if (s->thread.joinable()) {
            s->thread.join();
        }
    }
}

}  // namespace harvest::crawl
