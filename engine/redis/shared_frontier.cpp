#include "engine/redis/shared_frontier.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>

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
        // CLUSTERDOWN: a shard lost its primary and no replica took over yet. TRYAGAIN: a slot
        // is being migrated. Both pass.
        if (r.str.starts_with("LOADING") || r.str.starts_with("CLUSTERDOWN") ||
            r.str.starts_with("TRYAGAIN")) {
            return refusal::loading;
        }
        if (r.str.starts_with("READONLY") || r.str.starts_with("MASTERDOWN")) {
            return refusal::demoted;
        }
    }
    return refusal::none;
}

// Every script gets its partition's key prefix as ARGV[1] and reads the server clock itself.
// KEYS[1] is a key of that partition (its `hosts` set), declared so that a Redis Cluster routes
// the call (MOVED when it reached the wrong primary); the scripts build their key names from the
// prefix, all in the partition's hash slot.

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
redis.call('INCR', prefix .. 'changes')
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
  redis.call('INCR', prefix .. 'changes')
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
if held > 0 then
  redis.call('INCR', prefix .. 'changes')
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
  redis.call('INCR', prefix .. 'changes')
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

// ARGV: prefix. Returns {queued, in flight, seen, redelivered, changes}.
constexpr const char* counts_lua = R"lua(
local prefix = ARGV[1]
local queued = 0
for _, host in ipairs(redis.call('SMEMBERS', prefix .. 'hosts')) do
  queued = queued + redis.call('LLEN', prefix .. 'q:' .. host)
end
return {queued, redis.call('ZCARD', prefix .. 'inflight'), redis.call('SCARD', prefix .. 'seen'),
        tonumber(redis.call('GET', prefix .. 'redelivered') or '0'),
        tonumber(redis.call('GET', prefix .. 'changes') or '0')}
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

// FNV-1a, 64 bits: every worker, on any platform, puts a host in the same partition.
std::uint64_t fnv1a(std::string_view bytes) noexcept {
    std::uint64_t hash = 14695981039346656037ULL;
    for (const char c : bytes) {
        hash ^= static_cast<std::uint8_t>(c);
        hash *= 1099511628211ULL;
    }
    return hash;
}

// Lease ids on Cluster: "<partition>~<token>:<n>".
constexpr char partition_mark = '~';

boost::system::error_code unexpected(const reply& r, const char* what) {
    spdlog::error("redis frontier: unexpected reply to {}: {}", what,
                  r.is_error() ? r.str : std::string("(wrong type)"));
    return make_error_code(client_error::unexpected_reply);
}

}  // namespace

shared_frontier::shared_frontier(std::shared_ptr<connection> link, shared_frontier_options options)
    : link_(std::move(link)),
      options_(std::move(options)),
      health_(options_.health ? options_.health : std::make_shared<connection_health>()),
      rng_(std::random_device{}()) {
    instance_ = std::to_string(rng_()) + "." + std::to_string(rng_());
    if (link_->clustered()) {
        for (std::size_t k = 0; k < cluster_partitions; ++k) {
            const std::string tag = options_.crawl_name + ":" + std::to_string(k);
            partitions_.push_back(partition{"harvest:{" + tag + "}:", key_slot(tag)});
        }
    } else {
        partitions_.push_back(partition{"harvest:" + options_.crawl_name + ":", 0});
    }
}

shared_frontier::shared_frontier(std::shared_ptr<client> single, shared_frontier_options options)
    : shared_frontier(connection::wrap(std::move(single)), std::move(options)) {}

void shared_frontier::close() {
    if (link_) {
        link_->close();
    }
}

std::size_t shared_frontier::partition_of(std::string_view host) const noexcept {
    return partitions_.size() == 1 ? 0 : fnv1a(host) % partitions_.size();
}

std::size_t shared_frontier::partition_of_lease(std::string_view lease_id) const noexcept {
    if (partitions_.size() == 1) {
        return 0;
    }
    const auto mark = lease_id.find(partition_mark);
    if (mark == std::string_view::npos) {
        return 0;
    }
    std::size_t k = 0;
    auto [end, ec] = std::from_chars(lease_id.data(), lease_id.data() + mark, k);
    if (ec != std::errc{} || end != lease_id.data() + mark || k >= partitions_.size()) {
        return 0;  // not one of ours: the scripts find no such lease and do nothing
    }
    return k;
}

const std::string& shared_frontier::key_prefix(std::string_view host) const {
    return partitions_[partition_of(host)].prefix;
}

asio::awaitable<result<std::vector<reply>>> shared_frontier::call(
    std::vector<routed_command> commands) {
    unsigned failures = 0;
    std::chrono::steady_clock::duration previous{};
    for (;;) {
        if (link_) {
            // Calls run concurrently: one whose reply was lost may come back after another has
            // already reconnected, and must not close that new connection.
            const std::shared_ptr<connection> used = link_;
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
                // primary again (through Sentinel, or the cluster's slot map, when configured).
                lost_with_ = refusal == refusal::demoted
                                 ? make_error_code(client_error::not_primary)
                                 : replies.error();
                if (link_ == used) {
                    link_->close();
                    link_.reset();
                } else if (link_) {
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
        if (link_) {
            continue;  // still connected, Redis was loading (or the cluster had no primary)
        }
        auto connected = co_await connection::open(executor, policy.where);
        if (!connected) {
            lost_with_ = connected.error();
            continue;
        }
        if (link_) {
            (*connected)->close();  // another call reconnected first: use its connection
            continue;
        }
        link_ = *connected;
        health_->reconnects.fetch_add(1, std::memory_order_relaxed);
    }
}

std::string shared_frontier::fingerprint_bytes(std::uint64_t fingerprint) {
    std::string bytes(8, '\0');
    for (int i = 7; i >= 0; --i) {
        bytes[static_cast<std::size_t>(i)] = static_cast<char>(fingerprint & 0xff);
        fingerprint >>= 8;
    }
    return bytes;
}

asio::awaitable<result<void>> shared_frontier::load_scripts_on(std::uint16_t slot) {
    std::vector<routed_command> commands;
    for (const char* body : scripts) {
        commands.push_back(routed_command{{"SCRIPT", "LOAD", body}, slot});
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

asio::awaitable<result<void>> shared_frontier::load_scripts() {
    // On Cluster, the other primaries get them when they first answer NOSCRIPT (eval_each).
    auto loaded = co_await load_scripts_on(partitions_.front().slot);
    co_return loaded;
}

asio::awaitable<result<std::vector<reply>>> shared_frontier::eval_each(
    script_id id, std::vector<script_call> calls) {
    if (shas_[id].empty()) {
        auto loaded = co_await load_scripts();
        if (!loaded) {
            co_return loaded.error();
        }
    }
    std::vector<routed_command> commands;
    commands.reserve(calls.size());
    for (auto& [k, args] : calls) {
        const partition& part = partitions_[k];
        routed_command command;
        command.slot = part.slot;
        command.args.reserve(args.size() + 5);
        command.args.insert(command.args.end(),
                            {"EVALSHA", shas_[id], "1", part.prefix + "hosts", part.prefix});
        std::move(args.begin(), args.end(), std::back_inserter(command.args));
        commands.push_back(std::move(command));
    }
    auto replies = co_await call(commands);
    if (!replies) {
        co_return replies.error();
    }
    // A node that lost its script cache (restart, SCRIPT FLUSH) or was never asked (Cluster):
    // load them there, then send again what it refused.
    std::vector<std::size_t> refused;
    for (std::size_t i = 0; i < replies->size(); ++i) {
        if ((*replies)[i].is_error() && (*replies)[i].str.starts_with("NOSCRIPT")) {
            refused.push_back(i);
        }
    }
    if (refused.empty()) {
        co_return replies;
    }
    std::vector<std::uint16_t> slots;
    for (const auto i : refused) {
        if (std::find(slots.begin(), slots.end(), commands[i].slot) == slots.end()) {
            slots.push_back(commands[i].slot);
        }
    }
    for (const auto slot : slots) {
        auto loaded = co_await load_scripts_on(slot);
        if (!loaded) {
            co_return loaded.error();
        }
    }
    std::vector<routed_command> again;
    again.reserve(refused.size());
    for (const auto i : refused) {
        again.push_back(commands[i]);
        again.back().args[1] = shas_[id];
    }
    auto second = co_await call(std::move(again));
    if (!second) {
        co_return second.error();
    }
    for (std::size_t j = 0; j < refused.size(); ++j) {
        (*replies)[refused[j]] = std::move((*second)[j]);
    }
    co_return replies;
}

asio::awaitable<result<reply>> shared_frontier::eval(script_id id, std::size_t partition,
                                                     std::vector<std::string> args) {
    std::vector<script_call> one;
    one.emplace_back(partition, std::move(args));
    auto replies = co_await eval_each(id, std::move(one));
    if (!replies) {
        co_return replies.error();
    }
    co_return std::move(replies->front());
}

asio::awaitable<result<std::vector<reply>>> shared_frontier::on_every_partition(
    std::string verb, std::string key, std::vector<std::string> trailing) {
    std::vector<routed_command> commands;
    commands.reserve(partitions_.size());
    for (const auto& part : partitions_) {
        routed_command c;
        c.slot = part.slot;
        c.args.push_back(verb);
        c.args.push_back(part.prefix + key);
        c.args.insert(c.args.end(), trailing.begin(), trailing.end());
        commands.push_back(std::move(c));
    }
    auto replies = co_await call(std::move(commands));
    co_return replies;
}

asio::awaitable<result<std::vector<bool>>> shared_frontier::admit(std::vector<admission> requests) {
    if (requests.empty()) {
        co_return std::vector<bool>{};
    }
    // Per partition: the admissions' places in `requests`, and the script's ARGV.
    std::vector<std::vector<std::size_t>> members(partitions_.size());
    std::vector<std::vector<std::string>> args(partitions_.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        auto& r = requests[i];
        const std::size_t k = partition_of(r.host);
        members[k].push_back(i);
        args[k].push_back(std::move(r.host));
        args[k].push_back(r.dedup ? fingerprint_bytes(r.fingerprint) : std::string());
        args[k].push_back(std::move(r.payload));
    }
    auto queued = co_await eval_flags(admit_script, std::move(members), std::move(args),
                                      requests.size(), "admit");
    co_return queued;
}

asio::awaitable<result<std::vector<bool>>> shared_frontier::eval_flags(
    script_id id, std::vector<std::vector<std::size_t>> members,
    std::vector<std::vector<std::string>> args, std::size_t count, const char* what) {
    std::vector<script_call> calls;
    std::vector<std::size_t> called;
    for (std::size_t k = 0; k < partitions_.size(); ++k) {
        if (!members[k].empty()) {
            calls.emplace_back(k, std::move(args[k]));
            called.push_back(k);
        }
    }
    auto replies = co_await eval_each(id, std::move(calls));
    if (!replies) {
        co_return replies.error();
    }
    std::vector<bool> flags(count, false);
    for (std::size_t c = 0; c < called.size(); ++c) {
        const reply& r = (*replies)[c];
        const auto& placed = members[called[c]];
        if (r.type != reply::kind::array || r.elements.size() != placed.size()) {
            co_return unexpected(r, what);
        }
        for (std::size_t j = 0; j < placed.size(); ++j) {
            flags[placed[j]] = r.elements[j].integer == 1;
        }
    }
    co_return flags;
}

asio::awaitable<result<std::size_t>> shared_frontier::eval_sum(
    script_id id, std::vector<std::vector<std::string>> args, const char* what) {
    std::vector<script_call> calls;
    for (std::size_t k = 0; k < args.size(); ++k) {
        if (!args[k].empty()) {
            calls.emplace_back(k, std::move(args[k]));
        }
    }
    auto replies = co_await eval_each(id, std::move(calls));
    if (!replies) {
        co_return replies.error();
    }
    std::size_t sum = 0;
    for (const auto& r : *replies) {
        if (r.type != reply::kind::integer) {
            co_return unexpected(r, what);
        }
        sum += static_cast<std::size_t>(r.integer);
    }
    co_return sum;
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
    const std::size_t k = partition_of(host);
    std::string token = instance_ + "." + std::to_string(++call_seq_);
    if (partitions_.size() > 1) {
        token = std::to_string(k) + partition_mark + token;  // complete and renew find it
    }
    std::vector<std::string> args{std::move(host),
                                  std::to_string(max),
                                  std::to_string(options_.lease.count()),
                                  std::to_string(interval_us),
                                  std::to_string(tolerance_us),
                                  std::move(token)};
    auto r = co_await eval(take_script, k, std::move(args));
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
    std::vector<std::vector<std::string>> by_partition(partitions_.size());
    for (auto& id : lease_ids) {
        by_partition[partition_of_lease(id)].push_back(std::move(id));
    }
    auto held = co_await eval_sum(complete_script, std::move(by_partition), "complete");
    co_return held;
}

asio::awaitable<result<std::size_t>> shared_frontier::renew(std::vector<std::string> lease_ids) {
    if (lease_ids.empty()) {
        co_return std::size_t{0};
    }
    std::vector<std::vector<std::string>> by_partition(partitions_.size());
    for (auto& id : lease_ids) {
        auto& ids = by_partition[partition_of_lease(id)];
        if (ids.empty()) {
            ids.push_back(std::to_string(options_.lease.count()));
        }
        ids.push_back(std::move(id));
    }
    auto held = co_await eval_sum(renew_script, std::move(by_partition), "renew");
    co_return held;
}

asio::awaitable<result<std::size_t>> shared_frontier::requeue_expired(std::size_t limit) {
    std::vector<std::vector<std::string>> every(partitions_.size(),
                                                std::vector<std::string>{std::to_string(limit)});
    auto requeued = co_await eval_sum(requeue_script, std::move(every), "requeue_expired");
    co_return requeued;
}

asio::awaitable<result<void>> shared_frontier::open_breaker(std::string host,
                                                            std::chrono::milliseconds open_for) {
    co_return co_await set_breaker(
        std::move(host), std::to_string(std::max<long long>(1, open_for.count())), "open_breaker");
}

asio::awaitable<result<void>> shared_frontier::close_breaker(std::string host) {
    co_return co_await set_breaker(std::move(host), "0", "close_breaker");
}

asio::awaitable<result<void>> shared_frontier::set_breaker(std::string host, std::string open_ms,
                                                           const char* what) {
    const std::size_t k = partition_of(host);
    std::vector<std::string> args{std::move(host), std::move(open_ms)};
    auto r = co_await eval(breaker_script, k, std::move(args));
    if (!r) {
        co_return r.error();
    }
    if (r->type != reply::kind::integer) {
        co_return unexpected(*r, what);
    }
    co_return result<void>{};
}

asio::awaitable<result<bool>> shared_frontier::claim_seeding(std::string worker) {
    std::vector<std::string> args{std::move(worker),
                                  std::to_string(std::max<long long>(1, options_.lease.count()))};
    auto r = co_await eval(seeding_script, 0, std::move(args));
    if (!r) {
        co_return result<bool>(boost::system::in_place_error, r.error());
    }
    if (r->type != reply::kind::integer) {
        co_return result<bool>(boost::system::in_place_error, unexpected(*r, "claim_seeding"));
    }
    co_return r->integer == 1;
}

asio::awaitable<result<void>> shared_frontier::mark_seeded() {
    std::vector<std::string> value{"1"};
    auto replies = co_await on_every_partition("SET", "seeded", std::move(value));
    if (!replies) {
        co_return replies.error();
    }
    for (const auto& r : *replies) {
        if (r.is_error()) {
            co_return unexpected(r, "mark_seeded");
        }
    }
    co_return result<void>{};
}

asio::awaitable<result<bool>> shared_frontier::seeded() {
    std::vector<std::string> none;
    auto replies = co_await on_every_partition("EXISTS", "seeded", std::move(none));
    if (!replies) {
        co_return result<bool>(boost::system::in_place_error, replies.error());
    }
    bool everywhere = true;
    for (const auto& r : *replies) {
        if (r.type != reply::kind::integer) {
            co_return result<bool>(boost::system::in_place_error, unexpected(r, "seeded"));
        }
        everywhere = everywhere && r.integer == 1;
    }
    co_return everywhere;
}

asio::awaitable<result<void>> shared_frontier::forget_seeded() {
    std::vector<std::string> none;
    auto replies = co_await on_every_partition("DEL", "seeded", std::move(none));
    if (!replies) {
        co_return replies.error();
    }
    // The seeding worker's claim, if it still runs, goes too: whoever asks first loads again.
    std::vector<routed_command> release;
    release.push_back(
        routed_command{{"DEL", partitions_.front().prefix + "seeding"}, partitions_.front().slot});
    auto released = co_await call(std::move(release));
    if (!released) {
        co_return released.error();
    }
    replies->push_back(std::move(released->front()));
    for (const auto& r : *replies) {
        if (r.is_error()) {
            co_return unexpected(r, "forget_seeded");
        }
    }
    co_return result<void>{};
}

asio::awaitable<result<std::vector<bool>>> shared_frontier::mark_seen(
    std::vector<seen_mark> marks) {
    if (marks.empty()) {
        co_return std::vector<bool>{};
    }
    const std::string token = instance_ + ".c" + std::to_string(++call_seq_);
    std::vector<std::vector<std::size_t>> members(partitions_.size());
    std::vector<std::vector<std::string>> args(partitions_.size());
    for (std::size_t i = 0; i < marks.size(); ++i) {
        const std::size_t k = partition_of(marks[i].host);
        if (args[k].empty()) {
            args[k].push_back(token);
        }
        members[k].push_back(i);
        args[k].push_back(fingerprint_bytes(marks[i].fingerprint));
    }
    auto fresh = co_await eval_flags(claim_script, std::move(members), std::move(args),
                                     marks.size(), "mark_seen");
    co_return fresh;
}

asio::awaitable<result<std::vector<std::string>>> shared_frontier::ready_hosts() {
    std::vector<std::string> none;
    auto replies = co_await on_every_partition("SMEMBERS", "hosts", std::move(none));
    if (!replies) {
        co_return replies.error();
    }
    std::vector<std::string> hosts;
    for (auto& r : *replies) {
        if (r.type != reply::kind::array) {
            co_return unexpected(r, "ready_hosts");
        }
        for (auto& e : r.elements) {
            hosts.push_back(std::move(e.str));
        }
    }
    co_return hosts;
}

asio::awaitable<result<std::vector<reply>>> shared_frontier::count_partitions() {
    std::vector<script_call> calls;
    for (std::size_t k = 0; k < partitions_.size(); ++k) {
        calls.emplace_back(k, std::vector<std::string>{});
    }
    auto replies = co_await eval_each(counts_script, std::move(calls));
    if (!replies) {
        co_return replies.error();
    }
    for (const auto& r : *replies) {
        if (r.type != reply::kind::array || r.elements.size() != 5) {
            co_return unexpected(r, "counts");
        }
    }
    co_return replies;
}

asio::awaitable<result<frontier_counts>> shared_frontier::counts() {
    auto first = co_await count_partitions();
    if (!first) {
        co_return first.error();
    }
    frontier_counts c;
    for (const auto& r : *first) {
        c.queued += static_cast<std::uint64_t>(r.elements[0].integer);
        c.in_flight += static_cast<std::uint64_t>(r.elements[1].integer);
        c.seen += static_cast<std::uint64_t>(r.elements[2].integer);
        c.redelivered += static_cast<std::uint64_t>(r.elements[3].integer);
    }
    if (partitions_.size() == 1 || c.queued != 0 || c.in_flight != 0) {
        co_return c;  // one script: a snapshot; or not empty, which is all a caller acts on
    }
    // Empty as read, partition after partition: it was empty at one moment only if no partition
    // changed between this read and a second one.
    auto second = co_await count_partitions();
    if (!second) {
        co_return second.error();
    }
    for (std::size_t k = 0; k < partitions_.size(); ++k) {
        const auto& before = (*first)[k].elements;
        const auto& after = (*second)[k].elements;
        if (after[4].integer != before[4].integer || after[0].integer != 0 ||
            after[1].integer != 0) {
            c.settled = false;
        }
    }
    co_return c;
}

}  // namespace harvest::redis
