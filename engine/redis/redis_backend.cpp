#include "engine/redis/redis_backend.hpp"

#include "engine/crawl/frontier.hpp"
#include "engine/crawl/request_codec.hpp"
#include "engine/net/url.hpp"
#include "engine/redis/client.hpp"
#include "engine/redis/shared_frontier.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace harvest::redis {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// Admissions per script call: big enough to amortize the round trip, small enough that one
// script does not hold Redis for long (Redis runs one script at a time).
constexpr std::size_t admit_batch = 500;
constexpr std::size_t take_batch_per_host = 256;
constexpr auto idle_poll = milliseconds(20);
constexpr auto requeue_every = milliseconds(500);
// Admissions and completions held for Redis beyond which this worker leases nothing more. While
// Redis is away the worker only finishes what it leased (at most local_target()), so what it
// holds is that work's completions and links: this bounds a Redis that is merely slow.
constexpr std::size_t buffer_limit = 50000;

// Redis values are still written in the JSON form of the previous release: a worker of that
// release cannot read request_codec's binary form, and during a rolling upgrade it would drop
// (log and complete) every request a new worker queued. Every worker of this release reads both
// forms (request_codec::decode_any). Once no older worker runs, the next release sets this to
// true and writes the codec, which also carries bytes JSON cannot (non-UTF-8 URLs and bodies).
constexpr bool write_codec_payloads = false;

// A request as it travels through Redis.
std::string serialize(const crawl::crawl_request& r) {
    std::string out;
    if constexpr (write_codec_payloads) {
        crawl::request_codec::encode(r, out);
    } else {
        crawl::request_codec::legacy_json::encode(r, out);
    }
    return out;
}

std::optional<crawl::crawl_request> deserialize(std::string_view payload) {
    auto decoded = crawl::request_codec::decode_any(payload);
    if (!decoded.ok()) {
        return std::nullopt;
    }
    // Attempts, backoff and the failed-once mark are not carried over: a request handed out
    // again starts afresh on its new worker.
    decoded.request.attempt = 0;
    decoded.request.previous_backoff = {};
    decoded.request.breaker_failure_counted = false;
    return std::move(decoded.request);
}

}  // namespace

std::string default_worker_name() {
    std::array<char, 256> name{};
    if (::gethostname(name.data(), name.size() - 1) != 0) {
        name[0] = '\0';
    }
    return std::string(name.data()) + "-" + std::to_string(::getpid());
}

// Everything here is touched on the scheduler strand only (the crawler's calls and the I/O
// coroutine both run there), except the two atomics.
struct redis_backend::state {
    state(backend_options crawl, crawl::seed_stream seed_source)
        : options(std::move(crawl)), seeds(std::move(seed_source)) {}

    backend_options options;
    crawl::seed_stream seeds;
    std::string worker;
    local_view local;
    std::unique_ptr<shared_frontier> frontier;
    std::unique_ptr<asio::steady_timer> timer;
    std::vector<admission> outbound;
    std::vector<std::string> completions;
    std::vector<std::pair<std::string, milliseconds>> breakers;  // open_for 0 = closed
    // Per-host rates once this worker read the host's robots.txt (robots_ready()): rate_limit's,
    // or Crawl-delay's. With robots_txt: obey, a host missing here is leased one at a time.
    std::unordered_map<std::string, redis::host_rate> robots_rates;
    std::unordered_set<std::string> robots_pending;  // one request leased, robots.txt awaited
    // Redirect targets to mark seen, with who waits for the answer (claim()).
    std::vector<std::pair<seen_mark, std::function<void(bool)>>> claims;
    std::unordered_multimap<std::uint64_t, std::string> leases;  // fingerprint -> lease id
    // Ended requests whose items the sink has not written yet: still leased (and renewed).
    std::unordered_multiset<std::uint64_t> awaiting_write;
    // Written before the scheduler saw them end (the writer can beat the completion's post).
    std::unordered_multiset<std::uint64_t> written_early;
    std::size_t rotation = 0;
    bool seeded = false;
    std::uint64_t reconnects_checked = 0;  // reconnections after which `seeded` was read again
    bool finished = false;
    bool closed = false;
    bool sleeping = false;  // the I/O coroutine waits on `timer`
    clock::time_point last_requeue{};
    clock::time_point last_renew{};
    clock::time_point last_seeding_check{};
    std::atomic<bool> failed{false};  // read by the CLI after the crawl, on any thread
    std::atomic<bool> seeded_here{false};
    // For metrics, read on any thread.
    std::shared_ptr<connection_health> health = std::make_shared<connection_health>();
    std::atomic<std::size_t> buffered_links{0};
    std::atomic<std::size_t> buffered_completions{0};

    redis::host_rate rate_for(const std::string& origin) const {
        if (const auto it = robots_rates.find(origin); it != robots_rates.end()) {
            return it->second;  // after robots.txt: its Crawl-delay, if any, is in it
        }
        auto parts = net::split_origin(origin);
        resilience::bucket_options bucket = options.per_host;
        if (parts) {
            // The `hosts:` entry of "host:port" first, then "host" (crawl::find_host_overrides).
            auto host = options.hosts.find(std::string(parts->host_port));
            if (host == options.hosts.end()) {
                host = options.hosts.find(std::string(parts->host));
            }
            if (host != options.hosts.end() && host->second) {
                bucket = *host->second;
            }
        }
        return redis::host_rate{bucket.per_second, bucket.burst};
    }

    std::size_t buffered() const { return outbound.size() + completions.size(); }

    // Taken out of `outbound` / `completions` for the call in progress, not acknowledged yet.
    std::size_t links_sending = 0;
    std::size_t completions_sending = 0;

    // After `outbound`, `completions` or what is being sent changed.
    void publish_buffered() {
        buffered_links.store(outbound.size() + links_sending, std::memory_order_relaxed);
        buffered_completions.store(completions.size() + completions_sending,
                                   std::memory_order_relaxed);
    }

    void fail(const std::string& what, const boost::system::error_code& ec) {
        if (ec == make_error_code(client_error::unreachable)) {
            // Nothing is lost: the unflushed completions' requests are still leased in Redis and
            // come back after `lease` (fetched again, their links found again).
            spdlog::critical(
                "redis frontier: {}: Redis unreachable for longer than "
                "frontier.redis.give_up_after ({} s); this worker stops with {} links and {} "
                "completions not written to Redis: its {} leased requests go back to the queue "
                "after `lease` and a worker started again continues the crawl",
                what,
                std::chrono::duration_cast<std::chrono::seconds>(
                    options.frontier.redis_give_up_after)
                    .count(),
                outbound.size(), completions.size(), leases.size());
        } else {
            spdlog::critical(
                "redis frontier: {}: {}; this worker stops, its leases go to the others", what,
                ec.message());
        }
        failed.store(true);
        finished = true;
        answer_claims();
        if (local.deliver) {
            local.deliver({});
        }
    }

    // Redirect claims no Redis will answer (this worker stopped): the pages are emitted, at
    // least once, rather than left waiting in flight.
    void answer_claims() {
        auto waiting = std::move(claims);
        claims.clear();
        for (auto& [print, answer] : waiting) {
            answer(true);
        }
    }

    void wake() {
        if (timer && sleeping) {
            sleeping = false;
            timer->cancel();
        }
    }

    // How many leased requests the local frontier should hold: enough that it never runs dry
    // between two lease rounds, few enough that a killed worker strands little.
    std::size_t local_target() const { return std::max<std::size_t>(256, 4 * options.concurrency); }
};

redis_backend::redis_backend(backend_options options, crawl::seed_stream seeds)
    : state_(std::make_shared<state>(std::move(options), std::move(seeds))) {
    state_->worker = state_->options.frontier.worker.empty() ? default_worker_name()
                                                             : state_->options.frontier.worker;
}

bool redis_backend::failed() const noexcept {
    return state_->failed.load();
}

bool redis_backend::seeded_here() const noexcept {
    return state_->seeded_here.load();
}

bool redis_backend::redis_up() const noexcept {
    return state_->health->up.load(std::memory_order_relaxed);
}

std::uint64_t redis_backend::redis_reconnects() const noexcept {
    return state_->health->reconnects.load(std::memory_order_relaxed);
}

std::size_t redis_backend::buffered_links() const noexcept {
    return state_->buffered_links.load(std::memory_order_relaxed);
}

std::size_t redis_backend::buffered_completions() const noexcept {
    return state_->buffered_completions.load(std::memory_order_relaxed);
}

redis_backend::~redis_backend() = default;

bool redis_backend::admit(crawl::crawl_request request) {
    const auto print = crawl::fingerprint(request.http);
    auto parts = print ? net::split_origin(request.http.url) : std::nullopt;
    if (!parts) {
        return false;
    }
    request.fingerprint = *print;
    std::string payload = serialize(request);
    state_->outbound.push_back(admission{std::move(parts->key), *print, true, std::move(payload)});
    state_->publish_buffered();
    if (state_->outbound.size() >= admit_batch) {
        state_->wake();
    }
    return true;
}

void redis_backend::complete(const crawl::crawl_request& request) {
    auto it = state_->leases.find(request.fingerprint);
    if (it == state_->leases.end()) {
        return;
    }
    state_->completions.push_back(std::move(it->second));
    state_->leases.erase(it);
    state_->publish_buffered();
    // Lease more before the local frontier runs dry, rather than at the next poll.
    if (state_->local.queued() < state_->local_target() / 2) {
        state_->wake();
    }
}

void redis_backend::complete_when_written(const crawl::crawl_request& request) {
    if (state_->leases.find(request.fingerprint) == state_->leases.end()) {
        return;
    }
    if (auto it = state_->written_early.find(request.fingerprint);
        it != state_->written_early.end()) {
        state_->written_early.erase(it);
        complete(request);
        return;
    }
    state_->awaiting_write.insert(request.fingerprint);
}

void redis_backend::written(std::span<const std::uint64_t> fingerprints) {
    if (!state_->timer) {
        return;  // not started: nothing was leased
    }
    std::vector<std::uint64_t> done(fingerprints.begin(), fingerprints.end());
    asio::post(state_->timer->get_executor(), [self = shared_from_this(), done = std::move(done)] {
        for (const auto fingerprint : done) {
            auto& st = *self->state_;
            auto it = st.awaiting_write.find(fingerprint);
            if (it == st.awaiting_write.end()) {
                if (st.leases.find(fingerprint) != st.leases.end()) {
                    st.written_early.insert(fingerprint);
                }
                continue;
            }
            st.awaiting_write.erase(it);
            crawl::crawl_request request;
            request.fingerprint = fingerprint;
            self->complete(request);
        }
    });
}

void redis_backend::breaker_opened(const std::string& origin, milliseconds open_for) {
    state_->breakers.emplace_back(origin, open_for);
    state_->wake();
}

void redis_backend::breaker_closed(const std::string& origin) {
    state_->breakers.emplace_back(origin, milliseconds(0));  // 0 = close
    state_->wake();
}

void redis_backend::robots_ready(const std::string& origin, double per_second, double burst) {
    state_->robots_rates[origin] = redis::host_rate{per_second, burst};
    state_->wake();  // its requests may be leased at that rate now
}

void redis_backend::claim(const std::string& origin, std::uint64_t fingerprint,
                          std::function<void(bool fresh)> answer) {
    if (state_->failed.load()) {
        answer(true);  // nothing will ask Redis any more
        return;
    }
    state_->claims.emplace_back(seen_mark{origin, fingerprint}, std::move(answer));
    state_->wake();
}

bool redis_backend::finished() const {
    return state_->finished;
}

void redis_backend::close() {
    state_->closed = true;
    state_->wake();
}

void redis_backend::start(asio::any_io_executor strand, local_view local) {
    state_->local = std::move(local);
    state_->timer = std::make_unique<asio::steady_timer>(strand);
    // Runs on the strand: an escaped exception ends this worker's crawl like a Redis failure
    // instead of leaving the scheduler waiting for a `finished` that never comes.
    asio::co_spawn(strand, run(state_), [s = state_](const std::exception_ptr& e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                spdlog::critical("redis frontier stopped: {}", ex.what());
            }
            s->failed.store(true);
            s->finished = true;
            if (s->local.deliver) {
                s->local.deliver({});
            }
        }
    });
}

asio::awaitable<bool> redis_backend::connect_and_seed(std::shared_ptr<state> s) {
    auto where = parse_url(s->options.frontier.url);
    if (!where) {
        s->fail("frontier.url " + s->options.frontier.url, where.error());
        co_return false;
    }
    where->timeout = s->options.frontier.redis_command_timeout;
    auto executor = s->timer->get_executor();
    auto connected = co_await connection::open(executor, *where);
    if (!connected) {
        s->fail("cannot connect to " + s->options.frontier.url, connected.error());
        co_return false;
    }
    // Past the first connection, losing Redis is survived: the shared frontier reconnects and
    // sends again what was in flight, while the crawler goes on with what it leased.
    reconnect_options reconnect;
    reconnect.where = *where;
    reconnect.give_up_after = s->options.frontier.redis_give_up_after;
    s->frontier = std::make_unique<shared_frontier>(
        *connected,
        shared_frontier_options{s->options.name, s->options.frontier.lease, reconnect, s->health});
    auto loaded = co_await s->frontier->load_scripts();
    if (!loaded) {
        s->fail("loading scripts", loaded.error());
        co_return false;
    }
    auto claimed = co_await s->frontier->claim_seeding(s->worker);
    if (!claimed) {
        s->fail("claiming the seeds", claimed.error());
        co_return false;
    }
    if (!*claimed) {
        spdlog::info("redis frontier: worker {} joins crawl {} (seeds loaded by another worker)",
                     s->worker, s->options.name);
        co_return true;
    }
    const bool seeded = co_await load_seeds(s);
    co_return seeded;
}

// This worker holds the seeding claim: stream the seeds into the shared frontier, a batch per
// round trip, renewing the claim as it goes (it expires after `lease`, so that a worker killed
// here does not leave the others waiting forever for `seeded`).
asio::awaitable<bool> redis_backend::load_seeds(std::shared_ptr<state> s) {
    std::size_t loaded_seeds = 0;
    s->seeds.rewind();  // loading again (the store lost them) starts from the first
    auto claimed_at = clock::now();
    while (!s->seeds.exhausted()) {
        std::vector<admission> batch;
        while (batch.size() < admit_batch) {
            auto next = s->seeds.next();
            if (!next) {
                break;
            }
            const auto print = crawl::fingerprint(next->http);
            auto parts = print ? net::split_origin(next->http.url) : std::nullopt;
            if (!parts) {
                spdlog::warn("redis frontier: seed {} is not a valid URL, skipped", next->http.url);
                continue;
            }
            next->fingerprint = *print;
            std::string payload = serialize(*next);
            batch.push_back(admission{std::move(parts->key), *print, true, std::move(payload)});
        }
        loaded_seeds += batch.size();
        auto queued = co_await s->frontier->admit(std::move(batch));
        if (!queued) {
            s->fail("loading seeds", queued.error());
            co_return false;
        }
        if (clock::now() - claimed_at >= s->options.frontier.lease / 3) {
            claimed_at = clock::now();
            auto renewed = co_await s->frontier->claim_seeding(s->worker);
            if (!renewed) {
                s->fail("renewing the seeding claim", renewed.error());
                co_return false;
            }
            if (!*renewed) {
                // Another worker took the claim over (ours expired): both load the seeds, the
                // shared dedup set keeps each in the frontier once.
                spdlog::warn("redis frontier: worker {} lost the seeding claim, loads on",
                             s->worker);
            }
        }
        // A worker taking the seeding over mid-crawl goes on crawling what it holds: its
        // completions, links and redirect claims go out between batches (a completion held back
        // until the seeds are in would let its lease expire and the page be fetched again by
        // another worker), and its leases are renewed.
        const bool flushed = co_await flush(s);
        if (!flushed) {
            co_return false;
        }
        const bool maintained = co_await maintain(s);
        if (!maintained) {
            co_return false;
        }
    }
    auto marked = co_await s->frontier->mark_seeded();
    if (!marked) {
        s->fail("marking the seeds loaded", marked.error());
        co_return false;
    }
    s->seeded = true;
    s->seeded_here.store(true);
    spdlog::info("redis frontier: worker {} loaded {} seeds of crawl {}", s->worker, loaded_seeds,
                 s->options.name);
    co_return true;
}

// Until the seeds are loaded: a seeding claim that expired (its worker died mid-seeding) is
// taken over by this worker, which loads the seeds again.
asio::awaitable<bool> redis_backend::watch_seeding(std::shared_ptr<state> s) {
    const auto now = clock::now();
    if (s->seeded || now - s->last_seeding_check < requeue_every) {
        co_return true;
    }
    s->last_seeding_check = now;
    auto claimed = co_await s->frontier->claim_seeding(s->worker);
    if (!claimed) {
        s->fail("claiming the seeds", claimed.error());
        co_return false;
    }
    if (!*claimed) {
        co_return true;  // loaded already, or another worker's claim is live
    }
    spdlog::warn(
        "redis frontier: the seeding of crawl {} was left unfinished; worker {} loads the "
        "seeds again",
        s->options.name, s->worker);
    const bool seeded = co_await load_seeds(s);
    co_return seeded;
}

asio::awaitable<bool> redis_backend::flush(std::shared_ptr<state> s) {
    while (!s->outbound.empty()) {
        std::vector<admission> batch;
        if (s->outbound.size() <= admit_batch) {
            batch.swap(s->outbound);
        } else {
            auto split = s->outbound.end() - static_cast<std::ptrdiff_t>(admit_batch);
            batch.assign(std::make_move_iterator(split),
                         std::make_move_iterator(s->outbound.end()));
            s->outbound.erase(split, s->outbound.end());
        }
        s->links_sending = batch.size();
        auto queued = co_await s->frontier->admit(std::move(batch));
        s->links_sending = 0;
        s->publish_buffered();
        if (!queued) {
            s->fail("admitting requests", queued.error());
            co_return false;
        }
    }
    if (!s->completions.empty()) {
        std::vector<std::string> done;
        done.swap(s->completions);
        s->completions_sending = done.size();
        auto completed = co_await s->frontier->complete(std::move(done));
        s->completions_sending = 0;
        s->publish_buffered();
        if (!completed) {
            s->fail("completing requests", completed.error());
            co_return false;
        }
    }
    if (!s->claims.empty()) {
        std::vector<std::pair<seen_mark, std::function<void(bool)>>> claims;
        claims.swap(s->claims);
        std::vector<seen_mark> marks;
        marks.reserve(claims.size());
        for (const auto& [mark, answer] : claims) {
            marks.push_back(mark);
        }
        auto fresh = co_await s->frontier->mark_seen(std::move(marks));
        if (!fresh) {
            s->claims.insert(s->claims.begin(), std::make_move_iterator(claims.begin()),
                             std::make_move_iterator(claims.end()));
            s->fail("marking redirect targets seen", fresh.error());  // answers them
            co_return false;
        }
        for (std::size_t i = 0; i < claims.size(); ++i) {
            claims[i].second((*fresh)[i]);
        }
    }
    // In the order they happened: an opening then a closing of one host leaves it closed.
    std::vector<std::pair<std::string, milliseconds>> breakers;
    breakers.swap(s->breakers);
    for (auto& [origin, open_for] : breakers) {
        if (open_for.count() > 0) {
            auto opened = co_await s->frontier->open_breaker(origin, open_for);
            if (!opened) {
                s->fail("sharing a breaker opening", opened.error());
                co_return false;
            }
        } else {
            auto closed = co_await s->frontier->close_breaker(origin);
            if (!closed) {
                s->fail("sharing a breaker closing", closed.error());
                co_return false;
            }
        }
    }
    co_return true;
}

// Re-queues anyone's expired leases and renews this worker's own.
asio::awaitable<bool> redis_backend::maintain(std::shared_ptr<state> s) {
    const auto now = clock::now();
    if (now - s->last_requeue >= requeue_every) {
        s->last_requeue = now;
        auto requeued = co_await s->frontier->requeue_expired();
        if (!requeued) {
            s->fail("re-queuing expired leases", requeued.error());
            co_return false;
        }
        if (*requeued > 0) {
            spdlog::warn("redis frontier: {} expired leases handed out again", *requeued);
        }
    }
    if (now - s->last_renew >= s->options.frontier.lease / 3 &&
        (!s->leases.empty() || !s->completions.empty())) {
        s->last_renew = now;
        // Completions not sent yet (Redis away, or slow) are leases in Redis still: renewed too,
        // or they would expire and be fetched again elsewhere.
        std::vector<std::string> held(s->completions);
        held.reserve(s->leases.size() + s->completions.size());
        for (const auto& [print, id] : s->leases) {
            held.push_back(id);
        }
        auto renewed = co_await s->frontier->renew(std::move(held));
        if (!renewed) {
            s->fail("renewing leases", renewed.error());
            co_return false;
        }
    }
    co_return true;
}

// Leases requests while the local frontier is below its target, host by host in rotation.
asio::awaitable<bool> redis_backend::lease_more(std::shared_ptr<state> s,
                                                std::chrono::microseconds* retry_in) {
    const std::size_t target = s->local_target();
    std::size_t queued = s->local.queued();
    if (queued >= target) {
        co_return true;
    }
    if (s->buffered() >= buffer_limit) {
        // Backpressure: links and completions not flushed yet (Redis was away, or is slow)
        // stop this worker from taking more work; memory stays bounded.
        co_return true;
    }
    auto hosts = co_await s->frontier->ready_hosts();
    if (!hosts) {
        s->fail("listing hosts", hosts.error());
        co_return false;
    }
    for (std::size_t i = 0; i < hosts->size() && queued < target; ++i) {
        const std::string& origin = (*hosts)[(s->rotation + i) % hosts->size()];
        std::size_t want = std::min(target - queued, take_batch_per_host);
        if (s->options.obey_robots_txt && !s->robots_rates.contains(origin)) {
            // robots.txt of this host is not read yet: one request, to have it fetched, and
            // no more until its Crawl-delay (if any) is known.
            if (s->robots_pending.contains(origin)) {
                continue;
            }
            want = 1;
        }
        auto taken = co_await s->frontier->take(origin, want, s->rate_for(origin));
        if (!taken) {
            s->fail("taking requests", taken.error());
            co_return false;
        }
        if (taken->retry_in.count() > 0) {
            *retry_in = std::min(*retry_in, taken->retry_in);
        }
        std::vector<crawl::crawl_request> delivered;
        delivered.reserve(taken->requests.size());
        for (auto& leased : taken->requests) {
            auto request = deserialize(leased.payload);
            if (!request) {
                spdlog::error("redis frontier: unreadable request dropped: {}", leased.payload);
                s->completions.push_back(std::move(leased.lease_id));
                s->publish_buffered();
                continue;
            }
            if (request->fingerprint == 0) {
                request->fingerprint = crawl::fingerprint(request->http).value_or(0);
            }
            s->leases.emplace(request->fingerprint, std::move(leased.lease_id));
            delivered.push_back(std::move(*request));
        }
        queued += delivered.size();
        if (!delivered.empty() && s->options.obey_robots_txt && !s->robots_rates.contains(origin)) {
            s->robots_pending.insert(origin);
        }
        if (!delivered.empty()) {
            s->local.deliver(std::move(delivered));
        }
    }
    ++s->rotation;
    co_return true;
}

// The cluster is done when the seeds are in and nothing is queued or leased anywhere. Asked
// only when this worker has nothing local and nothing buffered; once true it stays true (only a
// leased request's fetch can add work).
asio::awaitable<bool> redis_backend::check_finished(std::shared_ptr<state> s) {
    if (s->finished || s->local.queued() != 0 || !s->outbound.empty() || !s->completions.empty() ||
        !s->leases.empty()) {
        co_return true;
    }
    if (s->seeded && s->health->reconnects.load() != s->reconnects_checked) {
        // Redis came back after a loss: is it the crawl's Redis still? A failover to a replica
        // that was not in sync, or a restart without persistence, leaves an empty frontier that
        // would read as a finished crawl. The `seeded` marker tells: gone means the state is
        // gone, and the seeds are loaded again (fetched again, never lost).
        s->reconnects_checked = s->health->reconnects.load();
        auto still = co_await s->frontier->seeded();
        if (!still) {
            s->fail("reading the seeding state", still.error());
            co_return false;
        }
        if (!*still) {
            spdlog::error(
                "redis frontier: Redis lost the crawl's state (a failover to a replica that was "
                "not in sync, or a restart without persistence): the seeds are loaded again and "
                "what was fetched before is fetched again");
            // On Cluster only some partitions may have lost it: the marker goes everywhere, so
            // that the seeding claim can be won again.
            auto forgotten = co_await s->frontier->forget_seeded();
            if (!forgotten) {
                s->fail("resetting the seeding state", forgotten.error());
                co_return false;
            }
            s->seeded = false;
            s->last_seeding_check = {};
            co_return true;  // watch_seeding claims and loads them on the next round
        }
    }
    if (!s->seeded) {
        auto seeded = co_await s->frontier->seeded();
        if (!seeded) {
            s->fail("reading the seeding state", seeded.error());
            co_return false;
        }
        s->seeded = *seeded;
        if (!s->seeded) {
            co_return true;
        }
    }
    auto counts = co_await s->frontier->counts();
    if (!counts) {
        s->fail("counting the shared frontier", counts.error());
        co_return false;
    }
    if (counts->queued == 0 && counts->in_flight == 0 && counts->settled) {
        s->finished = true;
        spdlog::info("redis frontier: crawl {} finished ({} distinct requests, {} re-delivered)",
                     s->options.name, counts->seen, counts->redelivered);
        s->local.deliver({});
    }
    co_return true;
}

asio::awaitable<void> redis_backend::run(std::shared_ptr<state> s) {
    const bool ready = co_await connect_and_seed(s);
    if (!ready) {
        co_return;
    }
    while (!s->closed) {
        // One co_await per statement: GCC 12 mishandles co_await inside || chains.
        const bool flushed = co_await flush(s);
        if (!flushed) {
            co_return;
        }
        const bool maintained = co_await maintain(s);
        if (!maintained) {
            co_return;
        }
        const bool watched = co_await watch_seeding(s);
        if (!watched) {
            co_return;
        }
        auto retry_in = std::chrono::microseconds(idle_poll);
        const std::size_t before = s->local.queued();
        const bool leased = co_await lease_more(s, &retry_in);
        if (!leased) {
            co_return;
        }
        const bool checked = co_await check_finished(s);
        if (!checked) {
            co_return;
        }
        if (s->closed) {
            break;
        }
        if (s->local.queued() > before) {
            continue;  // took something: there may be more right away
        }
        s->timer->expires_after(std::max<std::chrono::microseconds>(retry_in, milliseconds(1)));
        boost::system::error_code ignored;
        s->sleeping = true;
        co_await s->timer->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        s->sleeping = false;
    }
    // The crawler is done: what it completed last must reach Redis before this worker goes.
    co_await flush(s);
    s->frontier->close();
}

}  // namespace harvest::redis
