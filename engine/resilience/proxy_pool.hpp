#pragma once
// Which proxy an attempt goes through, and each proxy's health (`proxies:`, docs/config.md).
//
// A policy value like the breaker: no I/O, no clock of its own, an injected seed. Each proxy
// has its own circuit breaker (proxy failures: unreachable, 407, tunnel refused) and token
// bucket, and a bench per target host: a proxy the target refused (ban statuses or body) is
// not picked for that host until bench_for has passed, while other hosts still go through it.
//
// pick(origin, session_key) walks the proxies in the rotation's order and takes the first that
// is not excluded, not benched for the origin, whose breaker grants a permit and whose bucket
// has a token (when all such are benched for the origin, the one whose bench ends first):
//   round_robin         a shared counter: consecutive picks start at consecutive proxies
//   random              a uniform shuffle from the seeded generator
//   sticky_per_host     starts at hash(origin) % n: one host keeps its proxy while it is usable
//   sticky_per_session  starts at hash(session_key) % n; without a key, as sticky_per_host
//
// The list can change while it is used (`proxies_file` reloaded on SIGHUP): add() appends a
// proxy, set_active(i, false) withdraws one from every later pick (an attempt that holds its
// choice finishes and records as usual), set_active(i, true) brings it back with the health it
// had. Indices are stable: a proxy is never erased, so a kept proxy keeps its breaker, bucket
// and benches.
//
// Not thread-safe: the crawl's proxy_set guards it with a mutex (never held across I/O).

#include "engine/resilience/circuit_breaker.hpp"
#include "engine/resilience/clock.hpp"
#include "engine/resilience/options.hpp"
#include "engine/resilience/token_bucket.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace harvest::resilience {

struct proxy_pool_options {
    proxy_rotation rotation = proxy_rotation::round_robin;
    breaker_options breaker{};                            // each proxy's own breaker
    bucket_options rate{0, 0};                            // each proxy's own bucket; 0 = unlimited
    clock::duration bench_for = std::chrono::minutes(5);  // a ban benches (proxy, host) so long
};

// What an attempt through a proxy says of that proxy.
enum class proxy_result {
    ok,       // the proxy carried the exchange (whatever the target answered)
    failure,  // the proxy failed: unreachable, refused the credentials, refused the tunnel
    banned,   // the target refused the proxy (ban status or body): bench it for that host
    neutral,  // says nothing of the proxy (e.g. the exchange was cut for another reason)
};

struct proxy_choice {
    std::size_t index = 0;
    breaker_permit permit;
};

struct proxy_pick {
    std::optional<proxy_choice> chosen;
    // Nothing chosen, but a proxy whose only lack is a token has one at this time.
    std::optional<clock::time_point> token_at;
};

class proxy_pool {
  public:
    proxy_pool(std::size_t proxies, proxy_pool_options options, std::uint64_t seed);

    [[nodiscard]] proxy_pick pick(std::string_view origin, std::optional<std::uint64_t> session_key,
                                  std::span<const std::size_t> exclude, clock::time_point now);

    void record(const proxy_choice& choice, std::string_view origin, proxy_result result,
                clock::time_point now);

    std::size_t size() const noexcept { return proxies_.size(); }
    // A new proxy, usable at once, with a fresh breaker and bucket: its index.
    std::size_t add();
    void set_active(std::size_t index, bool active);
    bool active(std::size_t index) const noexcept {
        return index < proxies_.size() && proxies_[index].active;
    }
    breaker_state state(std::size_t index, clock::time_point now) const;
    bool benched(std::size_t index, std::string_view origin, clock::time_point now) const;
    const proxy_pool_options& options() const noexcept { return options_; }

    // Stable 64-bit hashes (FNV-1a; splitmix64): the same origin or key picks the same proxy
    // in every run and on every worker.
    static std::uint64_t hash_origin(std::string_view origin) noexcept;
    static std::uint64_t hash_session(std::uint64_t key) noexcept;

  private:
    struct proxy_health {
        circuit_breaker breaker;
        token_bucket bucket;
        bool active = true;  // false: removed from the list, never picked
    };

    std::vector<std::size_t> order(std::string_view origin, std::optional<std::uint64_t> key);
    // A permit and a token of proxy `index`, or nullopt (then out.token_at may be set).
    std::optional<proxy_choice> try_take(std::size_t index, clock::time_point now, proxy_pick& out);

    proxy_pool_options options_;
    std::vector<proxy_health> proxies_;
    std::uint64_t next_ = 0;  // round_robin's counter
    std::mt19937_64 rng_;
    // (proxy, origin) -> benched until. Expired entries are swept when it reaches 4096.
    std::map<std::pair<std::size_t, std::string>, clock::time_point, std::less<>> bench_;
};

}  // namespace harvest::resilience
