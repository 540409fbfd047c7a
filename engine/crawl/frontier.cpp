#include "engine/crawl/frontier.hpp"

#include "engine/core/url_canonical.hpp"
#include "engine/crawl/host_guard_options.hpp"
#include "engine/crawl/journal.hpp"
#include "engine/net/url.hpp"

#include <spdlog/spdlog.h>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <limits>
#include <string_view>

namespace harvest::crawl {
namespace {

template <typename T>
T pick(const std::optional<T>& override_value, const T& fallback) {
    return override_value ? *override_value : fallback;
}

}  // namespace

host_state::host_state(std::string origin_key, std::string host_label, const crawl_options& options,
                       const host_overrides* overrides)
    : origin(std::move(origin_key)),
      label(std::move(host_label)),
      http(std::make_shared<const http_options>(overrides ? pick(overrides->http, options.http)
                                                          : options.http)),
      guard(guard_options_of(options, overrides)),
      policy(overrides ? pick(overrides->retry, options.retry) : options.retry) {}

frontier::frontier(const crawl_options& options, journal* log)
    : options_(options),
      journal_(log),
      robots_agent_(options.engine.user_agent.empty() ? "harvest" : options.engine.user_agent),
      global_bucket_(options.rate_limit.global.per_second, options.rate_limit.global.burst),
      spill_dir_((options.state_dir.empty() ? std::filesystem::path(".harvest") / options.name
                                            : std::filesystem::path(options.state_dir)) /
                 "spill") {
    std::make_heap(delayed_.begin(), delayed_.end(), later_first{});
}

std::optional<std::uint64_t> fingerprint(const net::http_request& request) {
    // The canonical URL makes http://A/x?b=2&a=1 and http://a:80/x?a=1&b=2#top one request.
    const auto print = core::url_request_fingerprint(request.method, request.url, request.body);
    if (!print) {
        return std::nullopt;
    }
    // 64 of the 128 bits: a collision among 10 million URLs has odds of about 3 in 10^6.
    return print->lo ^ print->hi;
}

host_state* frontier::host_for(const std::string& url) {
    auto key = net::split_origin(url, /*key_only=*/true);
    if (!key) {
        return nullptr;
    }
    auto it = hosts_.find(key->key);
    if (it != hosts_.end()) {
        return it->second.get();
    }
    auto parts = net::split_origin(url);
    const host_overrides* overrides = find_host_overrides(options_, parts->host_port, parts->host);
    auto state = std::make_unique<host_state>(parts->key, parts->label, options_, overrides);
    host_state* raw = state.get();
    hosts_.emplace(parts->key, std::move(state));
    return raw;
}

frontier::admit_result frontier::admit(crawl_request&& request, clock::time_point /*now*/) {
    const auto print = fingerprint(request.http);
    host_state* host = print ? host_for(request.http.url) : nullptr;
    if (host == nullptr) {
        return admit_result::invalid_url;
    }
    request.fingerprint = *print;
    if (options_.engine.dedup && !seen_.insert(request.fingerprint)) {
        return admit_result::duplicate;
    }
    if (journal_ != nullptr) {
        journal_->admit(request);
    }
    enqueue_ready(*host, std::move(request));
    return admit_result::queued;
}

bool frontier::claim(std::uint64_t target) {
    return !options_.engine.dedup || seen_.insert(target);
}

void frontier::restore(fingerprint_set seen, std::vector<crawl_request> pending) {
    if (seen_.empty()) {
        seen_ = std::move(seen);
    } else {
        seen_.merge(seen);
    }
    for (auto& request : pending) {
        if (host_state* host = host_for(request.http.url)) {
            enqueue_ready(*host, std::move(request));
        }
    }
}

void frontier::enqueue_ready(host_state& host, crawl_request&& request, bool may_spill) {
    // Once a host has requests on disk, its later ones queue behind them (FIFO per host). The
    // dedup table is part of the frontier's memory: as it grows, fewer requests stay queued in
    // memory, so queue and table together keep to engine.frontier_memory.
    const bool to_disk = may_spill && !spill_disabled_ &&
                         ((host.spill && !host.spill->empty()) ||
                          memory_bytes_ + seen_.memory_bytes() + estimate_request_bytes(request) >
                              options_.engine.frontier_memory);
    if (!to_disk || !spill_to_disk(host, request)) {
        push_memory(host, std::move(request));
    }
    if (!host.in_rotation) {
        host.in_rotation = true;
        rotation_.push_back(&host);
    }
}

void frontier::push_memory(host_state& host, crawl_request&& request) {
    memory_bytes_ += estimate_request_bytes(request);
    memory_bytes_peak_ = std::max(memory_bytes_peak_, memory_bytes_);
    host.ready.push_back(std::move(request));
    ++ready_count_;
}

crawl_request frontier::pop_memory(host_state& host) {
    return pop_memory_at(host, 0);
}

crawl_request frontier::pop_memory_at(host_state& host, std::size_t index) {
    crawl_request out = std::move(host.ready[index]);
    if (index == 0) {
        host.ready.pop_front();
    } else {
        host.ready.erase(host.ready.begin() + static_cast<std::ptrdiff_t>(index));
    }
    --ready_count_;
    // The same estimate as when it was queued: its strings did not change in the queue (a
    // moved-from string keeps no heap).
    memory_bytes_ -= std::min(memory_bytes_, estimate_request_bytes(out));
    return out;
}

void frontier::note_spill_change(host_state& host, std::size_t count_before,
                                 std::uint64_t bytes_before) {
    // Either may go down or up (a failed write hands requests back): modular arithmetic.
    spilled_now_ = spilled_now_ + host.spill->size() - count_before;
    spill_bytes_ = spill_bytes_ + host.spill->bytes() - bytes_before;
    spill_bytes_peak_ = std::max(spill_bytes_peak_, spill_bytes_);
}

// False: the request was not taken (spilling is off after an error) and stays with the caller.
bool frontier::spill_to_disk(host_state& host, crawl_request& request) {
    if (!spill_dir_ready_) {
        // Scratch of a previous run is stale (the journal, not the spill, is what --resume
        // reads): cleared before the first segment of this run is written.
        std::error_code error;
        std::filesystem::remove_all(spill_dir_, error);
        std::filesystem::create_directories(spill_dir_, error);
        if (error) {
            spdlog::error(
                "frontier: cannot create spill directory {}: {}; queued requests stay "
                "in memory beyond engine.frontier_memory",
                spill_dir_.string(), error.message());
            spill_disabled_ = true;
            return false;
        }
        spill_dir_ready_ = true;
    }
    if (!host.spill) {
        host.spill =
            std::make_unique<spill_queue>(spill_dir_, "h" + std::to_string(spill_files_++));
    }
    const auto count_before = host.spill->size();
    const auto bytes_before = host.spill->bytes();
    std::vector<crawl_request> unwritten;
    const auto error = host.spill->push(request, unwritten);
    note_spill_change(host, count_before, bytes_before);
    if (error) {
        // Disk full or unwritable: losing nothing beats keeping the budget. The requests that
        // were only buffered go back to memory and nothing spills from now on; this host's
        // requests already on disk still come back, after those in memory (its order is then
        // no longer strictly kept).
        spdlog::error(
            "frontier: writing the spill in {} failed: {}; queued requests stay in "
            "memory beyond engine.frontier_memory from now on",
            spill_dir_.string(), error.message());
        spill_disabled_ = true;
        spilled_total_ += 1;
        spilled_total_ -= std::min<std::uint64_t>(spilled_total_, unwritten.size());
        for (auto& back : unwritten) {
            push_memory(host, std::move(back));
        }
        return true;
    }
    ++spilled_total_;
    return true;
}

// A host's memory queue ran empty: the next batch of its spilled requests, read sequentially.
void frontier::refill(host_state& host) {
    if (!host.ready.empty() || !host.spill || host.spill->empty()) {
        return;
    }
    const auto count_before = host.spill->size();
    const auto bytes_before = host.spill->bytes();
    const auto error = host.spill->pop_batch(host.ready);
    note_spill_change(host, count_before, bytes_before);
    for (const auto& request : host.ready) {
        memory_bytes_ += estimate_request_bytes(request);
    }
    memory_bytes_peak_ = std::max(memory_bytes_peak_, memory_bytes_);
    ready_count_ += host.ready.size();
    if (error) {
        spdlog::error(
            "frontier: reading the spill of {} in {} failed: {}; {} of its queued "
            "requests are lost",
            host.label, spill_dir_.string(), error.message(), host.spill->lost());
    }
}

void frontier::drain_spill(host_state& host, std::vector<crawl_request>& into) {
    while (host.spill && !host.spill->empty()) {
        refill(host);
        while (!host.ready.empty()) {
            into.push_back(pop_memory(host));
        }
    }
}

void frontier::delay(crawl_request request, host_state& host, clock::time_point not_before) {
    delayed_.push_back(delayed_entry{not_before, sequence_++, &host, std::move(request)});
    std::push_heap(delayed_.begin(), delayed_.end(), later_first{});
}

void frontier::promote_due(clock::time_point now) {
    while (!delayed_.empty() && delayed_.front().not_before <= now) {
        std::pop_heap(delayed_.begin(), delayed_.end(), later_first{});
        delayed_entry entry = std::move(delayed_.back());
        delayed_.pop_back();
        // A retry also needs the host's retry budget; over budget it waits in the frontier
        // (never dropped) and is counted.
        if (entry.request.attempt > 0 && !entry.host->guard.try_retry(now)) {
            ++budget_exhausted_;
            ++entry.host->retry_budget_exhausted;
            delay(std::move(entry.request), *entry.host, now + resilience::budget_recheck);
            continue;
        }
        enqueue_ready(*entry.host, std::move(entry.request), /*may_spill=*/false);
    }
}

std::optional<taken_request> frontier::take(clock::time_point now) {
    promote_due(now);
    next_wakeup_ = delayed_.empty() ? clock::time_point::max() : delayed_.front().not_before;
    if (!global_bucket_.unlimited() && rotation_.empty() == false) {
        // Peek: the global bucket is only spent when a host can really send.
        if (global_bucket_.next_available(now) > now) {
            next_wakeup_ = std::min(next_wakeup_, global_bucket_.next_available(now));
            return std::nullopt;
        }
    }
    for (std::size_t visited = 0, n = rotation_.size(); visited < n; ++visited) {
        host_state* host = rotation_.front();
        rotation_.pop_front();
        refill(*host);  // a host with requests on disk never looks empty
        if (host->ready.empty()) {
            host->in_rotation = false;
            continue;
        }
        rotation_.push_back(host);  // round-robin: the next take starts with the next host
        if (host->guard.concurrency() != 0 &&
            host->guard.in_flight() >= host->guard.concurrency()) {
            continue;  // a completion will wake the scheduler
        }
        if (options_.engine.obey_robots_txt) {
            if (host->robots == host_state::robots_status::unknown) {
                if (host->robots_retry_at > now) {
                    next_wakeup_ = std::min(next_wakeup_, host->robots_retry_at);
                    continue;
                }
                host->robots = host_state::robots_status::fetching;
                robots_needed_.push_back(host);
            }
            if (host->robots != host_state::robots_status::ready) {
                continue;  // set_robots wakes the scheduler
            }
            while (!host->ready.empty() &&
                   !host->robots_rules->allowed(
                       robots_agent_, core::robots_path_of(host->ready.front().http.url))) {
                robots_refused_.push_back(robots_refusal{pop_memory(*host), host});
            }
            if (host->ready.empty()) {
                continue;
            }
        }
        const auto admitted = host->guard.admit(now, &global_bucket_);
        // Whatever holds it, a time to wait for is a time to wake up at; the rest (a free slot,
        // a probe's answer) come with a completion, which wakes the scheduler.
        next_wakeup_ = std::min(next_wakeup_, admitted.not_before);
        if (admitted.why == resilience::wait_reason::token && !host->token_wait_since) {
            host->token_wait_since = now;
        }
        if (admitted.why == resilience::wait_reason::breaker) {
            const auto episode =
                host->guard.breaker().transitions_to(resilience::breaker_state::closed);
            if (host->short_circuit_episode != episode) {
                host->short_circuit_episode = episode;
                const auto held = host->ready.size() + (host->spill ? host->spill->size() : 0);
                short_circuited_ += held;
                host->short_circuited += held;
            }
        }
        if (!admitted.permit) {
            continue;
        }
        if (host->token_wait_since) {
            host->token_wait_total += now - *host->token_wait_since;
            host->token_wait_since.reset();
        }
        const std::size_t index = admitted.permit->probe ? probe_candidate(*host) : 0;
        return taken_request{pop_memory_at(*host, index), host, *admitted.permit};
    }
    return std::nullopt;
}

// A half-open probe asks "is the host healthy?". A request that never failed answers that; a
// retry of a URL known to fail does not (it would reopen the breaker for that one URL while the
// host's good requests wait). And not the next fresh one either, but one drawn at random from
// the host's queue: the host's bad URLs often come together (a broken category listed first, or
// the requests a resumed crawl had seen fail), and probing them in order would keep the breaker
// open through the whole run of them while the host answers everything else. Drawn at random,
// a probe succeeds about as often as the host's requests do. With no never-failed request among
// the first 256 (only retries left, as at the end of a host's crawl), the probe is the retry
// that failed the fewest times, drawn at random among equals: the URLs that keep failing were
// tried more often, and probing them first would hold the breaker open until give_up_after
// fails the good retries behind them. Allowed by robots.txt (only the head was checked).
// Called a few times per opening, so the deque erase it leads to is cheap enough.
std::size_t frontier::probe_candidate(const host_state& host) {
    const auto allowed = [&](const crawl_request& request) {
        return !options_.engine.obey_robots_txt || !host.robots_rules ||
               host.robots_rules->allowed(robots_agent_, core::robots_path_of(request.http.url));
    };
    // A resumed request starts again at attempt 0, its failure before the stop only marked.
    const auto failures = [](const crawl_request& request) {
        return std::max(request.attempt, request.breaker_failure_counted ? 1u : 0u);
    };
    constexpr int draws = 16;
    for (int draw = 0; draw < draws && host.ready.size() > 1; ++draw) {
        const std::size_t i =
            std::uniform_int_distribution<std::size_t>(0, host.ready.size() - 1)(probe_rng_);
        if (failures(host.ready[i]) == 0 && allowed(host.ready[i])) {
            return i;
        }
    }
    constexpr std::size_t scan_limit = 256;
    const std::size_t n = std::min(host.ready.size(), scan_limit);
    std::size_t best = 0;
    unsigned best_failures = std::numeric_limits<unsigned>::max();
    std::size_t equals = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto& request = host.ready[i];
        const unsigned f = failures(request);
        if (f > best_failures || !allowed(request)) {
            continue;
        }
        if (f == 0) {
            return i;
        }
        // Reservoir sampling of one among the equals seen so far.
        equals = f < best_failures ? 1 : equals + 1;
        if (equals == 1 ||
            std::uniform_int_distribution<std::size_t>(0, equals - 1)(probe_rng_) == 0) {
            best = i;
        }
        best_failures = f;
    }
    return best;
}

std::vector<host_state*> frontier::take_robots_fetches() {
    return std::exchange(robots_needed_, {});
}

std::vector<frontier::robots_refusal> frontier::take_robots_refusals() {
    return std::exchange(robots_refused_, {});
}

void frontier::set_robots(host_state& host, core::robots_rules rules) {
    if (auto delay = rules.crawl_delay(robots_agent_); delay && *delay > 0) {
        // Crawl-delay: at most one request per `delay` seconds, unless configured slower, from
        // the first request on: a bucket of one token (the configured burst would send that
        // many requests at once before the delay began to hold).
        host.guard.apply_crawl_delay(*delay);
    }
    host.robots_rules = std::move(rules);
    host.robots = host_state::robots_status::ready;
}

void frontier::retry_robots(host_state& host, clock::time_point retry_at) {
    ++host.robots_attempts;
    host.robots = host_state::robots_status::unknown;
    host.robots_retry_at = retry_at;
}

void frontier::finish(host_state& host) {
    host.guard.release();
}

std::vector<crawl_request> frontier::expire_open_hosts(clock::time_point now) {
    std::vector<crawl_request> expired;
    for (auto& [origin, host] : hosts_) {
        if (!host->guard.gives_up(now)) {
            continue;
        }
        while (!host->ready.empty()) {
            expired.push_back(pop_memory(*host));
        }
        drain_spill(*host, expired);  // those on disk fail too
    }
    if (!expired.empty()) {
        // Delayed retries of those hosts go too.
        std::vector<delayed_entry> kept;
        for (auto& entry : delayed_) {
            if (entry.host->guard.gives_up(now)) {
                expired.push_back(std::move(entry.request));
            } else {
                kept.push_back(std::move(entry));
            }
        }
        delayed_ = std::move(kept);
        std::make_heap(delayed_.begin(), delayed_.end(), later_first{});
    }
    return expired;
}

std::size_t frontier::open_breakers(clock::time_point now) const {
    std::size_t open = 0;
    for (const auto& [origin, host] : hosts_) {
        if (host->guard.breaker().state(now) != resilience::breaker_state::closed) {
            ++open;
        }
    }
    return open;
}

}  // namespace harvest::crawl
