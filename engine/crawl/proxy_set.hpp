#pragma once
// A crawl's proxies (`proxies:`, docs/config.md): the proxy URLs, their pool (rotation, each
// proxy's breaker and bucket, the per-host bench: resilience/proxy_pool.hpp) and the attempt
// loop that sends a request through them. A proxy that fails (proxy_connect, proxy_auth,
// proxy_tunnel) or that the target refuses (proxy_ban) is left for another one within the same
// attempt: the target host's guard hears only of the answer that is finally used.
//
// The list can be replaced while the crawl runs (reload: `proxies_file` on SIGHUP): new proxies
// join, removed ones get no new attempt (those in flight finish through them), kept ones (the
// same URL, credentials included) keep their breaker, bucket and benches.
//
// Thread-safety: shared by every fetch coroutine and the reload; the pool and the list are
// behind a mutex that is never held across a suspension point.

#include "engine/crawl/options.hpp"
#include "engine/net/http_client.hpp"
#include "engine/resilience/proxy_pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace harvest::metrics {
struct crawl_metrics;
class counter;
class gauge;
}  // namespace harvest::metrics

namespace harvest::crawl {

class proxy_set {
  public:
    // `metrics` may be null; it must outlive this set. Throws std::invalid_argument on a bad
    // ban_body regex (the config loader has checked it already).
    proxy_set(const proxy_options& options, const breaker_options& breaker,
              metrics::crawl_metrics* metrics, std::uint64_t seed);

    // No proxy in use (none listed, or every one removed).
    bool empty() const;

    // What a reload did: proxies that joined, that were removed, that stayed.
    struct reload_summary {
        std::size_t added = 0;
        std::size_t removed = 0;
        std::size_t kept = 0;
    };
    // Replaces the list with `list` (see above). An empty list is the caller's to refuse.
    reload_summary reload(const std::vector<core::proxy_url>& list);

    // `options.file` (`proxies_file`) read again, its lines replacing the file's part of the
    // list (`proxies:` of the config stay): SIGHUP in `harvest run` and `harvest serve`. A file
    // that cannot be read, a malformed line (logged at its file:line:col, the URL not echoed)
    // or an empty list keeps the proxies in use. False when nothing changed.
    bool reload_file(const proxy_options& options);

    // One attempt of `request` through the proxies, trying another proxy after a proxy
    // failure or a ban, each proxy at most once. `origin` is the target's (host:port), the key
    // of the bench and of sticky_per_host; `session_key` that of sticky_per_session (a crawl
    // without sessions passes nullopt). When no proxy is usable the attempt fails with
    // proxy_connect; when every usable one was refused by the target, the last refusal is the
    // answer. `jar`: the request's cookie jar (null = none), as net::http_client::fetch.
    boost::asio::awaitable<boost::system::result<net::http_response>> fetch(
        net::http_client& client, net::http_request request,
        std::shared_ptr<const http_options> options, std::chrono::steady_clock::time_point deadline,
        std::string origin, std::optional<std::uint64_t> session_key,
        std::shared_ptr<core::cookie_jar> jar);

    // The verdict an answer gives the proxy that carried it (ban statuses and body).
    bool is_ban(const net::http_response& response) const;

  private:
    struct cells {
        metrics::counter* ok = nullptr;
        metrics::counter* banned = nullptr;
        metrics::counter* connect = nullptr;
        metrics::counter* auth = nullptr;
        metrics::counter* tunnel = nullptr;
        metrics::counter* error = nullptr;
        metrics::gauge* state = nullptr;
    };

    // One proxy of the list, by the pool's index. Never erased (a removed one is inactive in
    // the pool), so indices stay valid for the attempts that hold them.
    struct entry {
        std::shared_ptr<const core::proxy_url> url;
        std::string key;  // scheme, credentials, host and port: what "the same proxy" means
        cells slot;
    };

    void record(const resilience::proxy_choice& choice, const std::string& origin,
                resilience::proxy_result result, metrics::counter* cell);
    // mutex_ held.
    void append(const core::proxy_url& proxy);

    metrics::crawl_metrics* metrics_;
    std::vector<unsigned> ban_status_;
    std::optional<std::regex> ban_body_;
    mutable std::mutex mutex_;  // guards entries_ and pool_
    std::vector<entry> entries_;
    resilience::proxy_pool pool_;
};

}  // namespace harvest::crawl
