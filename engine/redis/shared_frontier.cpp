#include "engine/redis/shared_frontier.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>

namespace harvest::redis {

namespace asio = boost::asio;
using boost::system::result;

namespace {

// Error replies that say "not now" rather than "no": the commands did nothing and are sent
// again. LOADING: a restarted Redis reads its AOF back (same connection, a bit later).
// READONLY / MASTERDOWN: this server is (now) a replica, after a failover.
enum class refusal { none, loading, demoted };

refusal refusal_of(const std::vector<reply>& replies) {
    for (const auto& r : replies) {
        if (!r.is_error()) {
            continue;
        }
        if (r.str.starts_with("LOADING")) {
            return refusal::loading;
        }
        if (r.str.starts_with("READONLY") || r.str.starts_with("MASTERDOWN")) {
            return refusal::demoted;
        }
    }
    return refusal::none;
}

// Every script gets the key prefix as ARGV[1] and reads the server clock itself.

// ARGV: prefix, then (host, fingerprint bytes or "", payload) triples. Returns 1/0 per triple.
constexpr const char* admit_lua = R"lua(
local prefix = ARGV[1]
local out = {}
for i = 2, #ARGV, 3 do
  local host, fp, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local fresh = 1
  if fp ~= '' then
    fresh = redis.call('SADD', prefix .. 'seen', fp)
  end
  if fresh == 1 then
    redis.call('RPUSH', prefix .. 'q:' .. host, payload)
    redis.call('SADD', prefix .. 'hosts', host)
  end
  out[#out + 1] = fresh
end
return out
)lua";

// ARGV: prefix, host, max, lease ms, GCRA emission interval µs (0 = unlimited), tolerance µs,
// token. A take sent again with the same token (its reply was lost with the connection) returns
// the leases the first one made that are still held, and leases nothing more. Returns {taken, wait
// µs, breaker open 0/1, server time µs, id1, payload1, id2, payload2, ...}.
//
// Lease ids are "<token>:<n>", unique without a counter in Redis: after a failover the new
// primary may have missed the last writes of the old one, and a counter rolled back with them
// would hand out ids that some worker still holds for another request.
//
// GCRA: `tat` is the theoretical arrival time of the next request. A request is allowed when
// tat - now <= tolerance, and moves tat by one emission interval. With tolerance = (burst - 1)
// intervals, `burst` requests pass at once and then one per interval: in any window of W
// seconds at most rate * W + burst requests are let through, whichever worker asks.
constexpr const char* take_lua = R"lua(
local prefix, host = ARGV[1], ARGV[2]
local max, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
local interval, tolerance = tonumber(ARGV[5]), tonumber(ARGV[6])
local took = prefix .. 'took:' .. ARGV[7]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if redis.call('EXISTS', took) == 1 then
  local again = {0, 0, 0, now}
  for _, id in ipairs(redis.call('LRANGE', took, 0, -1)) do
    local entry = redis.call('HGET', prefix .. 'leased', id)
    if entry and redis.call('ZSCORE', prefix .. 'inflight', id) then
      local sep = string.find(entry, '\n', 1, true)
      again[1] = again[1] + 1
      again[#again + 1] = id
      again[#again + 1] = string.sub(entry, sep + 1)
    end
  end
  return again
end
local open = redis.call('PTTL', prefix .. 'breaker:' .. host)
if open > 0 then
  return {0, open * 1000, 1, now}
end
local q = prefix .. 'q:' .. host
local queued = redis.call('LLEN', q)
if queued == 0 then
  redis.call('SREM', prefix .. 'hosts', host)
  return {0, 0, 0, now}
end
local n = math.min(max, queued)
local wait = 0
if interval > 0 then
  local rate_key = prefix .. 'rate:' .. host
  local tat = tonumber(redis.call('GET', rate_key) or '0')
  if tat < now then
    tat = now
  end
  local allowed = math.floor((now + tolerance - tat) / interval) + 1
  if allowed < 1 then
    return {0, tat - tolerance - now, 0, now}
  end
  if allowed < n then
    n = allowed
  end
  tat = tat + n * interval
  redis.call('SET', rate_key, string.format('%.0f', tat), 'PX',
             math.floor((tat - now) / 1000) + 1000)
  if n < queued then
    wait = math.max(0, tat - tolerance - now)
  end
end
local deadline = math.floor(now / 1000) + lease
local out = {n, wait, 0, now}
for i = 1, n do
  local payload = redis.call('LPOP', q)
  local id = ARGV[7] .. ':' .. i
  redis.call('ZADD', prefix .. 'inflight', deadline, id)
  redis.call('HSET', prefix .. 'leased', id, host .. '\n' .. payload)
  out[#out + 1] = id
  out[#out + 1] = payload
  redis.call('RPUSH', took, id)
end
if n > 0 then
  redis.call('PEXPIRE', took, lease)
end
if n == queued then
  redis.call('SREM', prefix .. 'hosts', host)
end
return out
)lua";

// ARGV: prefix, lease ms, lease ids. XX: a lease already re-queued is not brought back.
constexpr const char* renew_lua = R"lua(
local prefix, lease = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + lease
local held = 0
for i = 3, #ARGV do
  held = held + redis.call('ZADD', prefix .. 'inflight', 'XX', 'CH', deadline, ARGV[i])
end
return held
)lua";

// ARGV: prefix, lease ids. Returns how many were still leased.
constexpr const char* complete_lua = R"lua(
local prefix = ARGV[1]
local held = 0
for i = 2, #ARGV do
  held = held + redis.call('ZREM', prefix .. 'inflight', ARGV[i])
  redis.call('HDEL', prefix .. 'leased', ARGV[i])
end
return held
)lua";

// ARGV: prefix, limit. Expired leases go back to the head of their host's queue: they are the
// oldest work of that host.
constexpr const char* requeue_lua = R"lua(
local prefix, limit = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', prefix .. 'inflight', '-inf', now_ms, 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', prefix .. 'leased', id)
  redis.call('ZREM', prefix .. 'inflight', id)
  redis.call('HDEL', prefix .. 'leased', id)
  if entry then
    local sep = string.find(entry, '\n', 1, true)
    local host = string.sub(entry, 1, sep - 1)
    redis.call('LPUSH', prefix .. 'q:' .. host, string.sub(entry, sep + 1))
    redis.call('SADD', prefix .. 'hosts', host)
  end
end
if #ids > 0 then
  redis.call('INCRBY', prefix .. 'redelivered', #ids)
end
return #ids
)lua";

// ARGV: prefix, host, open_for ms (0 = close). A shorter opening never cuts a longer one.
constexpr const char* breaker_lua = R"lua(
local key = ARGV[1] .. 'breaker:' .. ARGV[2]
local open_for = tonumber(ARGV[3])
if open_for <= 0 then
  redis.call('DEL', key)
  return 0
end
if redis.call('PTTL', key) < open_for then
  redis.call('SET', key, '1', 'PX', open_for)
end
return 1
)lua";

// ARGV: prefix, worker, claim ms. Returns 1 when `worker` holds the seeding claim now (won it,
// renewed its own, or took over one that expired), 0 when the seeds are loaded or another
// worker's claim is live. The claim expires so that a seeding worker that dies mid-seeding
// does not leave the crawl waiting forever for `seeded`.
constexpr const char* seeding_lua = R"lua(
local prefix, worker, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', prefix .. 'seeded') == 1 then
  return 0
end
local key = prefix .. 'seeding'
local holder = redis.call('GET', key)
if holder == worker then
  redis.call('PEXPIRE', key, ttl)
  return 1
end
if holder then
  return 0
end
redis.call('SET', key, worker, 'PX', ttl)
return 1
)lua";

// ARGV: prefix. Returns {queued, in flight, seen, redelivered}.
constexpr const char* counts_lua = R"lua(
local prefix = ARGV[1]
local queued = 0
for _, host in ipairs(redis.call('SMEMBERS', prefix .. 'hosts')) do
  queued = queued + redis.call('LLEN', prefix .. 'q:' .. host)
end
return {queued, redis.call('ZCARD', prefix .. 'inflight'), redis.call('SCARD', prefix .. 'seen'),
        tonumber(redis.call('GET', prefix .. 'redelivered') or '0')}
)lua";

// ARGV: prefix, token, fingerprint bytes... Adds each to the dedup set; 1 when this call added
// it (also when the call is sent again with its token after a lost reply), else 0.
constexpr const char* claim_lua = R"lua(
local prefix, token = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  local fp = ARGV[i]
  local mark = prefix .. 'claim:' .. fp
  if redis.call('SADD', prefix .. 'seen', fp) == 1 then
    redis.call('SET', mark, token, 'PX', 600000)
    out[#out + 1] = 1
  elseif redis.call('GET', mark) == token then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
)lua";

constexpr std::array<const char*, 9> scripts = {renew_lua,    admit_lua,   take_lua,
                                                complete_lua, requeue_lua, breaker_lua,
                                                counts_lua,   seeding_lua, claim_lua};

// Every script names its keys from the prefix (ARGV[1]): no KEYS.
const std::vector<std::string> no_keys;

boost::system::error_code unexpected(const reply& r, const char* what) {
    spdlog::error("redis frontier: unexpected reply to {}: {}", what,
                  r.is_error() ? r.str : std::string("(wrong type)"));
    return make_error_code(client_error::unexpected_reply);
}

}  // namespace

shared_frontier::shared_frontier(std::shared_ptr<client> connection,
                                 shared_frontier_options options)
    : client_(std::move(connection)),
      options_(std::move(options)),
      health_(options_.health ? options_.health : std::make_shared<connection_health>()),
      prefix_("harvest:" + options_.crawl_name + ":"),
      rng_(std::random_device{}()) {
    instance_ = std::to_string(rng_()) + "." + std::to_string(rng_());
}

void shared_frontier::close() {
    if (client_) {
        client_->close();
    }
}

asio::awaitable<result<std::vector<reply>>> shared_frontier::call(
    std::vector<std::vector<std::string>> commands) {
    unsigned failures = 0;
    std::chrono::steady_clock::duration previous{};
    for (;;) {
        if (client_) {
            // Calls run concurrently: one whose reply was lost may come back after another has
            // already reconnected, and must not close that new connection.
            const std::shared_ptr<client> used = client_;
            auto replies = co_await used->pipeline(commands);
            const auto refusal = replies ? refusal_of(*replies) : refusal::none;
            if (replies && refusal == refusal::none) {
                if (away_since_) {
                    spdlog::warn("redis frontier: Redis is back after {} ms ({} reconnects)",
                                 std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - *away_since_)
                                     .count(),
                                 health_->reconnects.load(std::memory_order_relaxed));
                    away_since_.reset();
                    health_->up.store(true, std::memory_order_relaxed);
                }
                co_return replies;
            }
            if (refusal == refusal::loading) {
                lost_with_ = make_error_code(client_error::closed);
            } else {
                // A broken connection, or a primary demoted to replica by a failover: find the
                // primary again (through Sentinel when configured).
                lost_with_ = refusal == refusal::demoted
                                 ? make_error_code(client_error::not_primary)
                                 : replies.error();
                if (client_ == used) {
                    client_->close();
                    client_.reset();
                } else if (client_) {
                    continue;  // another call reconnected meanwhile: send again on its connection
                }
            }
        }
        if (!options_.reconnect) {
            co_return lost_with_ ? lost_with_ : make_error_code(client_error::closed);
        }
        const auto& policy = *options_.reconnect;
        const auto now = std::chrono::steady_clock::now();
        if (!away_since_) {
            away_since_ = now;
            health_->up.store(false, std::memory_order_relaxed);
            spdlog::warn(
                "redis frontier: lost Redis ({}); reconnecting with backoff, holding completions "
                "and links meanwhile (gives up after {} s)",
                lost_with_.message(),
                std::chrono::duration_cast<std::chrono::seconds>(policy.give_up_after).count());
        }
        const auto away = now - *away_since_;
        if (away >= policy.give_up_after) {
            spdlog::critical("redis frontier: Redis unreachable for {} s (last error: {})",
                             std::chrono::duration_cast<std::chrono::seconds>(away).count(),
                             lost_with_.message());
            co_return make_error_code(client_error::unreachable);
        }
        const resilience::backoff backoff(policy.backoff);
        auto delay = backoff.delay(++failures, previous, rng_);
        previous = delay;
        // Never a busy loop (full jitter can draw 0), never past the give-up moment.
        delay = std::min<std::chrono::steady_clock::duration>(
            std::max<std::chrono::steady_clock::duration>(delay, std::chrono::milliseconds(10)),
            policy.give_up_after - away);
        auto executor = co_await asio::this_coro::executor;
        asio::steady_timer timer(executor);
        timer.expires_after(delay);
        boost::system::error_code ignored;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        if (client_) {
            continue;  // still connected, Redis was loading
        }
        auto connected = co_await client::connect(executor, policy.where);
        if (!connected) {
            lost_with_ = connected.error();
            continue;
        }
        if (client_) {
            (*connected)->close();  // another call reconnected first: use its connection
            continue;
        }
        client_ = *connected;
        health_->reconnects.fetch_add(1, std::memory_order_relaxed);
    }
}

asio::awaitable<result<reply>> shared_frontier::call_one(std::vector<std::string> args) {
    std::vector<std::vector<std::string>> one;
    one.push_back(std::move(args));
    auto replies = co_await call(std::move(one));
    if (!replies) {
        co_return replies.error();
    }
    co_return std::move(replies->front());
}

std::string shared_frontier::fingerprint_bytes(std::uint64_t fingerprint) {
    std::string bytes(8, '\0');
    for (int i = 7; i >= 0; --i) {
        bytes[static_cast<std::size_t>(i)] = static_cast<char>(fingerprint & 0xff);
        fingerprint >>= 8;
    }
    return bytes;
}

asio::awaitable<result<void>> shared_frontier::load_scripts() {
    std::vector<std::vector<std::string>> commands;
    for (const char* body : scripts) {
        commands.push_back({"SCRIPT", "LOAD", body});
    }
    auto replies = co_await call(std::move(commands));
    if (!replies) {
        co_return replies.error();
    }
    for (std::size_t i = 0; i < script_count; ++i) {
        const reply& r = (*replies)[i];
        if (r.type != reply::kind::string) {
            co_return unexpected(r, "SCRIPT LOAD");
        }
        shas_[i] = r.str;
    }
    co_return result<void>{};
}

asio::awaitable<result<reply>> shared_frontier::eval(script_id id, std::vector<std::string> keys,
                                                     std::vector<std::string> args) {
    if (shas_[id].empty()) {
        auto loaded = co_await load_scripts();
        if (!loaded) {
            co_return loaded.error();
        }
    }
    std::vector<std::string> command{"EVALSHA", shas_[id], std::to_string(keys.size())};
    command.insert(command.end(), keys.begin(), keys.end());
    command.push_back(prefix_);
    command.insert(command.end(), args.begin(), args.end());
    auto first = co_await call_one(command);
    if (!first || !first->is_error() || first->str.rfind("NOSCRIPT", 0) != 0) {
        co_return first;
    }
    // The server lost its script cache (restart, SCRIPT FLUSH): load again, once.
    auto loaded = co_await load_scripts();
    if (!loaded) {
        co_return loaded.error();
    }
    command[1] = shas_[id];
    auto second = co_await call_one(std::move(command));
    co_return second;
}

asio::awaitable<result<std::vector<bool>>> shared_frontier::admit(std::vector<admission> requests) {
    if (requests.empty()) {
        co_return std::vector<bool>{};
    }
    std::vector<std::string> args;
    args.reserve(requests.size() * 3);
    for (auto& r : requests) {
        args.push_back(std::move(r.host));
        args.push_back(r.dedup ? fingerprint_bytes(r.fingerprint) : std::string());
        args.push_back(std::move(r.payload));
    }
    auto r = co_await eval(admit_script, no_keys, std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::array || r->elements.size() != requests.size()) {
        co_return unexpected(*r, "admit");
    }
    std::vector<bool> queued;
    queued.reserve(requests.size());
    for (const auto& e : r->elements) {
        queued.push_back(e.integer == 1);
    }
    co_return queued;
}

asio::awaitable<result<take_result>> shared_frontier::take(std::string host, std::size_t max,
                                                           host_rate rate) {
    long long interval_us = 0;
    long long tolerance_us = 0;
    if (rate.per_second > 0) {
        interval_us = std::max(1LL, std::llround(1e6 / rate.per_second));
        tolerance_us = std::llround(std::max(0.0, std::max(1.0, rate.burst) - 1.0) *
                                    static_cast<double>(interval_us));
    }
    std::vector<std::string> args{std::move(host),
                                  std::to_string(max),
                                  std::to_string(options_.lease.count()),
                                  std::to_string(interval_us),
                                  std::to_string(tolerance_us),
                                  instance_ + "." + std::to_string(++call_seq_)};
    auto r = co_await eval(take_script, no_keys, std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::array || r->elements.size() < 4 ||
        (r->elements.size() - 4) % 2 != 0 ||
        static_cast<std::size_t>(r->elements[0].integer) * 2 != r->elements.size() - 4) {
        co_return unexpected(*r, "take");
    }
    take_result taken;
    taken.retry_in = std::chrono::microseconds(r->elements[1].integer);
    taken.breaker_open = r->elements[2].integer == 1;
    taken.server_time = std::chrono::microseconds(r->elements[3].integer);
    taken.requests.reserve(static_cast<std::size_t>(r->elements[0].integer));
    for (std::size_t i = 4; i < r->elements.size(); i += 2) {
        taken.requests.push_back(
            {std::move(r->elements[i].str), std::move(r->elements[i + 1].str)});
    }
    co_return taken;
}

asio::awaitable<result<std::size_t>> shared_frontier::complete(std::vector<std::string> lease_ids) {
    if (lease_ids.empty()) {
        co_return std::size_t{0};
    }
    auto r = co_await eval(complete_script, no_keys, std::move(lease_ids));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::integer) {
        co_return unexpected(*r, "complete");
    }
    co_return static_cast<std::size_t>(r->integer);
}

asio::awaitable<result<std::size_t>> shared_frontier::renew(std::vector<std::string> lease_ids) {
    if (lease_ids.empty()) {
        co_return std::size_t{0};
    }
    lease_ids.insert(lease_ids.begin(), std::to_string(options_.lease.count()));
    auto r = co_await eval(renew_script, no_keys, std::move(lease_ids));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::integer) {
        co_return unexpected(*r, "renew");
    }
    co_return static_cast<std::size_t>(r->integer);
}

asio::awaitable<result<std::size_t>> shared_frontier::requeue_expired(std::size_t limit) {
    std::vector<std::string> args{std::to_string(limit)};
    auto r = co_await eval(requeue_script, no_keys, std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::integer) {
        co_return unexpected(*r, "requeue_expired");
    }
    co_return static_cast<std::size_t>(r->integer);
}

asio::awaitable<result<void>> shared_frontier::open_breaker(std::string host,
                                                            std::chrono::milliseconds open_for) {
    std::vector<std::string> args{std::move(host),
                                  std::to_string(std::max<long long>(1, open_for.count()))};
    auto r = co_await eval(breaker_script, no_keys, std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::integer) {
        co_return unexpected(*r, "open_breaker");
    }
    co_return result<void>{};
}

asio::awaitable<result<void>> shared_frontier::close_breaker(std::string host) {
    std::vector<std::string> args{std::move(host), "0"};
    auto r = co_await eval(breaker_script, no_keys, std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::integer) {
        co_return unexpected(*r, "close_breaker");
    }
    co_return result<void>{};
}

asio::awaitable<result<bool>> shared_frontier::claim_seeding(std::string worker) {
    std::vector<std::string> args{std::move(worker),
                                  std::to_string(std::max<long long>(1, options_.lease.count()))};
    auto r = co_await eval(seeding_script, no_keys, std::move(args));
    if (!r) {
        co_return result<bool>(boost::system::in_place_error, r.error());
    }
    if (r->type != reply::kind::integer) {
        co_return result<bool>(boost::system::in_place_error, unexpected(*r, "claim_seeding"));
    }
    co_return r->integer == 1;
}

asio::awaitable<result<void>> shared_frontier::mark_seeded() {
    std::vector<std::string> args{"SET", prefix_ + "seeded", "1"};
    auto r = co_await call_one(std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->is_error()) {
        co_return unexpected(*r, "mark_seeded");
    }
    co_return result<void>{};
}

asio::awaitable<result<bool>> shared_frontier::seeded() {
    std::vector<std::string> args{"EXISTS", prefix_ + "seeded"};
    auto r = co_await call_one(std::move(args));
    if (!r) {
        co_return result<bool>(boost::system::in_place_error, r.error());
    }
    if (r->type != reply::kind::integer) {
        co_return result<bool>(boost::system::in_place_error, unexpected(*r, "seeded"));
    }
    co_return r->integer == 1;
}

asio::awaitable<result<std::vector<bool>>> shared_frontier::mark_seen(
    std::vector<std::uint64_t> fingerprints) {
    if (fingerprints.empty()) {
        co_return std::vector<bool>{};
    }
    std::vector<std::string> args;
    args.reserve(fingerprints.size() + 1);
    args.push_back(instance_ + ".c" + std::to_string(++call_seq_));
    for (const auto print : fingerprints) {
        args.push_back(fingerprint_bytes(print));
    }
    auto r = co_await eval(claim_script, no_keys, std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::array || r->elements.size() != fingerprints.size()) {
        co_return unexpected(*r, "mark_seen");
    }
    std::vector<bool> fresh;
    fresh.reserve(fingerprints.size());
    for (const auto& e : r->elements) {
        fresh.push_back(e.integer == 1);
    }
    co_return fresh;
}

asio::awaitable<result<std::vector<std::string>>> shared_frontier::ready_hosts() {
    std::vector<std::string> args{"SMEMBERS", prefix_ + "hosts"};
    auto r = co_await call_one(std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::array) {
        co_return unexpected(*r, "ready_hosts");
    }
    std::vector<std::string> hosts;
    hosts.reserve(r->elements.size());
    for (auto& e : r->elements) {
        hosts.push_back(std::move(e.str));
    }
    co_return hosts;
}

asio::awaitable<result<frontier_counts>> shared_frontier::counts() {
    std::vector<std::string> none;
    auto r = co_await eval(counts_script, none, none);
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::array || r->elements.size() != 4) {
        co_return unexpected(*r, "counts");
    }
    frontier_counts c;
    c.queued = static_cast<std::uint64_t>(r->elements[0].integer);
    c.in_flight = static_cast<std::uint64_t>(r->elements[1].integer);
    c.seen = static_cast<std::uint64_t>(r->elements[2].integer);
    c.redelivered = static_cast<std::uint64_t>(r->elements[3].integer);
    co_return c;
}

}  // namespace harvest::redis
