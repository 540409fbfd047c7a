#include "engine/resilience/proxy_pool.hpp"

#include <algorithm>

namespace harvest::resilience {

proxy_pool::proxy_pool(std::size_t proxies, proxy_pool_options options, std::uint64_t seed)
    : options_(std::move(options)), rng_(seed) {
    proxies_.reserve(proxies);
    for (std::size_t i = 0; i < proxies; ++i) {
        (void)add();
    }
}

std::size_t proxy_pool::add() {
    proxies_.push_back(proxy_health{circuit_breaker(options_.breaker),
                                    token_bucket(options_.rate.per_second, options_.rate.burst),
                                    true});
    return proxies_.size() - 1;
}

void proxy_pool::set_active(std::size_t index, bool active) {
    if (index < proxies_.size()) {
        proxies_[index].active = active;
    }
}

std::uint64_t proxy_pool::hash_origin(std::string_view origin) noexcept {
    std::uint64_t hash = 14695981039346656037ull;
    for (const char c : origin) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ull;
    }
    return hash;
}

std::uint64_t proxy_pool::hash_session(std::uint64_t key) noexcept {
    std::uint64_t z = key + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Over the active proxies only: after a reload the rotation spreads over the list as it is
// now, as if the crawl had started with it.
std::vector<std::size_t> proxy_pool::order(std::string_view origin,
                                           std::optional<std::uint64_t> key) {
    std::vector<std::size_t> active_ones;
    active_ones.reserve(proxies_.size());
    for (std::size_t i = 0; i < proxies_.size(); ++i) {
        if (proxies_[i].active) {
            active_ones.push_back(i);
        }
    }
    const std::size_t n = active_ones.size();
    if (n == 0) {
        return active_ones;
    }
    std::size_t start = 0;
    switch (options_.rotation) {
        case proxy_rotation::round_robin:
            start = static_cast<std::size_t>(next_++ % n);
            break;
        case proxy_rotation::random:
            std::shuffle(active_ones.begin(), active_ones.end(), rng_);
            return active_ones;
        case proxy_rotation::sticky_per_session:
            if (key) {
                start = static_cast<std::size_t>(hash_session(*key) % n);
                break;
            }
            [[fallthrough]];
        case proxy_rotation::sticky_per_host:
            start = static_cast<std::size_t>(hash_origin(origin) % n);
            break;
    }
    std::vector<std::size_t> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = active_ones[(start + i) % n];
    }
    return out;
}

std::optional<proxy_choice> proxy_pool::try_take(std::size_t index, clock::time_point now,
                                                 proxy_pick& out) {
    auto& health = proxies_[index];
    const auto token = health.bucket.next_available(now);
    if (token > now) {
        if (health.breaker.state(now) != breaker_state::open) {
            out.token_at = out.token_at ? std::min(*out.token_at, token) : token;
        }
        return std::nullopt;
    }
    auto permit = health.breaker.try_acquire(now);
    if (!permit) {
        return std::nullopt;
    }
    (void)health.bucket.try_acquire(now);  // peeked above: nothing ran in between
    return proxy_choice{index, *permit};
}

proxy_pick proxy_pool::pick(std::string_view origin, std::optional<std::uint64_t> session_key,
                            std::span<const std::size_t> exclude, clock::time_point now) {
    proxy_pick out;
    if (proxies_.empty()) {
        return out;
    }
    // (bench end, proxy) of the candidates passed over only for their bench.
    std::vector<std::pair<clock::time_point, std::size_t>> benched_ones;
    for (const std::size_t index : order(origin, session_key)) {
        if (std::find(exclude.begin(), exclude.end(), index) != exclude.end()) {
            continue;
        }
        if (const auto it = bench_.find(std::make_pair(index, std::string(origin)));
            it != bench_.end() && it->second > now) {
            benched_ones.emplace_back(it->second, index);
            continue;
        }
        if (auto chosen = try_take(index, now, out)) {
            out.chosen = chosen;
            out.token_at.reset();
            return out;
        }
    }
    // Every usable proxy is benched for this host: the bench is a preference, not a ban of
    // the host, so the one whose bench ends first is used (its answer decides, as a direct
    // request's would).
    std::sort(benched_ones.begin(), benched_ones.end());
    for (const auto& [until, index] : benched_ones) {
        if (auto chosen = try_take(index, now, out)) {
            out.chosen = chosen;
            out.token_at.reset();
            return out;
        }
    }
    return out;
}

void proxy_pool::record(const proxy_choice& choice, std::string_view origin, proxy_result result,
                        clock::time_point now) {
    if (choice.index >= proxies_.size()) {
        return;
    }
    auto& breaker = proxies_[choice.index].breaker;
    switch (result) {
        case proxy_result::ok:
            breaker.record(choice.permit, call_outcome::success, now);
            break;
        case proxy_result::failure:
            breaker.record(choice.permit, call_outcome::failure, now);
            break;
        case proxy_result::banned:
            // The proxy works; the target refuses it. Bench it for that host only.
            breaker.record(choice.permit, call_outcome::neutral, now);
            if (bench_.size() >= 4096) {
                std::erase_if(bench_, [now](const auto& entry) { return entry.second <= now; });
            }
            bench_[{choice.index, std::string(origin)}] = now + options_.bench_for;
            break;
        case proxy_result::neutral:
            breaker.record(choice.permit, call_outcome::neutral, now);
            break;
    }
}

breaker_state proxy_pool::state(std::size_t index, clock::time_point now) const {
    return index < proxies_.size() ? proxies_[index].breaker.state(now) : breaker_state::open;
}

bool proxy_pool::benched(std::size_t index, std::string_view origin, clock::time_point now) const {
    const auto it = bench_.find(std::make_pair(index, std::string(origin)));
    return it != bench_.end() && it->second > now;
}

}  // namespace harvest::resilience
