// `rate_limit:`, `retry:`, `circuit_breaker:` and the `hosts:` that override them
// (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

crawl::bucket_options read_bucket(const reader& r, const section& s, crawl::bucket_options bucket) {
    if (const auto* v = s.get("per_second")) {
        bucket.per_second = r.rate(*v, s.path_of("per_second"));
    }
    if (const auto* v = s.get("burst")) {
        bucket.burst = r.rate(*v, s.path_of("burst"));
    }
    return bucket;
}

crawl::rate_limit_options read_rate_limit(const reader& r, const node& n) {
    section s(r, n, "rate_limit", {"per_second", "burst", "adaptive", "global"});
    crawl::rate_limit_options rate_limit;
    rate_limit.per_host = read_bucket(r, s, rate_limit.per_host);
    if (const auto* v = s.get("adaptive")) {
        rate_limit.adaptive = r.boolean(*v, s.path_of("adaptive"));
        r.check_supported("rate_limit.adaptive", rate_limit.adaptive ? "true" : "false", v->where,
                          s.path_of("adaptive"));
    }
    if (const auto* v = s.get("global")) {
        section g(r, *v, s.path_of("global"), {"per_second", "burst"});
        rate_limit.global = read_bucket(r, g, rate_limit.global);
    }
    return rate_limit;
}

crawl::retry_options read_retry(const reader& r, const node& n, const std::string& path,
                                crawl::retry_options retry) {
    section s(r, n, path,
              {"max_attempts", "on_status", "on_errors", "backoff", "retry_after", "methods",
               "idempotency_key", "budget"});
    r.attempt([&] {
        if (const auto* v = s.get("max_attempts")) {
            retry.max_attempts =
                static_cast<unsigned>(r.integer(*v, s.path_of("max_attempts"), 1, 100));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("on_status")) {
            retry.on_status.clear();
            const auto& items = r.list(*v, s.path_of("on_status"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                retry.on_status.push_back(static_cast<unsigned>(r.integer(
                    items[i], s.path_of("on_status") + "." + std::to_string(i), 100, 599)));
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("on_errors")) {
            retry.on_errors.clear();
            const auto& items = r.list(*v, s.path_of("on_errors"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                const auto kind = items[i].type == node::kind::scalar
                                      ? retry_on_errors_kind(items[i].scalar)
                                      : std::nullopt;
                // Not one of them: choice() throws, listing the valid names (and a close one).
                retry.on_errors.push_back(
                    kind ? *kind
                         : core::retry_on_errors_kinds[r.choice(
                               items[i], s.path_of("on_errors") + "." + std::to_string(i),
                               retry_on_errors_names)]);
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("backoff")) {
            section b(r, *v, s.path_of("backoff"), {"strategy", "base", "max"});
            if (const auto* strategy = b.get("strategy")) {
                static constexpr auto strategies = std::to_array<std::string_view>(
                    {"full_jitter", "equal_jitter", "decorrelated_jitter", "none"});
                retry.backoff.strategy = static_cast<crawl::backoff_strategy>(
                    r.choice(*strategy, b.path_of("strategy"), strategies));
            }
            if (const auto* base = b.get("base")) {
                retry.backoff.base = r.duration(*base, b.path_of("base"));
            }
            if (const auto* max = b.get("max")) {
                retry.backoff.max = r.duration(*max, b.path_of("max"));
                if (retry.backoff.max < retry.backoff.base) {
                    r.error(max->where, "'" + b.path_of("max") + "' must be at least '" +
                                            b.path_of("base") + "' (" +
                                            std::to_string(retry.backoff.base.count()) + "ms)");
                }
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("retry_after")) {
            section a(r, *v, s.path_of("retry_after"), {"honor", "max"});
            if (const auto* honor = a.get("honor")) {
                retry.honor_retry_after = r.boolean(*honor, a.path_of("honor"));
            }
            if (const auto* max = a.get("max")) {
                retry.retry_after_max = r.duration(*max, a.path_of("max"));
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("methods")) {
            retry.methods = r.methods(*v, s.path_of("methods"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("idempotency_key")) {
            section k(r, *v, s.path_of("idempotency_key"), {"header", "for"});
            if (const auto* header = k.get("header")) {
                const auto& name = r.text(*header, k.path_of("header"));
                if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
                    r.expected(*header, k.path_of("header"), "a header name like Idempotency-Key");
                }
                retry.idempotency_header = name;
            }
            if (const auto* methods = k.get("for")) {
                retry.idempotency_methods = r.methods(*methods, k.path_of("for"));
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("budget")) {
            section b(r, *v, s.path_of("budget"), {"ratio", "min_per_second"});
            if (const auto* ratio = b.get("ratio")) {
                retry.budget_ratio =
                    r.number(*ratio, b.path_of("ratio"), 0, 1e6, false,
                             "a number >= 0 (0.2 = retries up to 20% of requests)");
            }
            if (const auto* min = b.get("min_per_second")) {
                retry.budget_min_per_second = r.rate(*min, b.path_of("min_per_second"));
            }
        }
    });
    return retry;
}

crawl::breaker_options read_breaker(const reader& r, const node& n, const std::string& path,
                                    crawl::breaker_options breaker) {
    section s(r, n, path,
              {"window", "min_calls", "failure_rate", "min_open_for", "open_for",
               "half_open_probes", "give_up_after"});
    // Each key on its own (check mode); the limits between two keys only when both were read.
    bool counts_read = r.attempt([&] {
        if (const auto* v = s.get("window")) {
            breaker.window = static_cast<unsigned>(r.integer(*v, s.path_of("window"), 1, 1000000));
        }
    });
    counts_read &= r.attempt([&] {
        if (const auto* v = s.get("min_calls")) {
            breaker.min_calls =
                static_cast<unsigned>(r.integer(*v, s.path_of("min_calls"), 1, 1000000));
        }
    });
    if (counts_read && breaker.min_calls > breaker.window) {
        const node* at = s.get("min_calls") != nullptr ? s.get("min_calls") : s.get("window");
        r.error(at->where, "'" + s.path_of("min_calls") + "' (" +
                               std::to_string(breaker.min_calls) + ") must not exceed '" +
                               s.path_of("window") + "' (" + std::to_string(breaker.window) +
                               "), or the breaker never decides");
    }
    r.attempt([&] {
        if (const auto* v = s.get("failure_rate")) {
            breaker.failure_rate =
                r.number(*v, s.path_of("failure_rate"), 0, 1, true, "a number in (0, 1], like 0.5");
        }
    });
    bool durations_read = r.attempt([&] {
        if (const auto* v = s.get("open_for")) {
            breaker.open_for = r.duration(*v, s.path_of("open_for"), true);
        }
    });
    durations_read &= r.attempt([&] {
        if (const auto* v = s.get("min_open_for")) {
            breaker.min_open_for = r.duration(*v, s.path_of("min_open_for"), true);
        }
    });
    if (durations_read && breaker.min_open_for > breaker.open_for) {
        if (const auto* v = s.get("min_open_for")) {
            r.error(v->where, "'" + s.path_of("min_open_for") + "' must not exceed '" +
                                  s.path_of("open_for") + "' (the longest an opening lasts)");
        }
        breaker.min_open_for = breaker.open_for;  // only open_for was set, below the default
    }
    r.attempt([&] {
        if (const auto* v = s.get("half_open_probes")) {
            breaker.half_open_probes =
                static_cast<unsigned>(r.integer(*v, s.path_of("half_open_probes"), 1, 1000000));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("give_up_after")) {
            breaker.give_up_after = r.duration(*v, s.path_of("give_up_after"), true);
        }
    });
    return breaker;
}

// `hosts:` maps "host" or "host:port" to overrides. Inside an entry the per-host concurrency is
// the key `per_host_concurrency` (the host's own engine.per_host_concurrency); http, rate_limit
// (per_second, burst), retry and circuit_breaker each start from the crawl-wide section and
// change only what the entry gives. Host names are lower-cased (DNS names are case-insensitive).
void read_hosts(const reader& r, const node& n, crawl::crawl_options& crawl) {
    if (n.type != node::kind::map) {
        r.expected(n, "hosts", "a map of host names (or host:port) to settings");
    }
    for (const auto& entry : n.entries) {
        r.attempt([&] {  // each host on its own
            std::string host = entry.key;
            std::transform(host.begin(), host.end(), host.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            const std::string path = "hosts." + entry.key;
            const auto colon = host.rfind(':');
            const std::string name = host.substr(0, colon);
            bool valid = !name.empty() && name.find_first_of("/@?# \t[]") == std::string::npos &&
                         name.find("://") == std::string::npos;
            if (valid && colon != std::string::npos) {
                const std::string port = host.substr(colon + 1);
                unsigned long value = 0;
                const auto [ptr, ec] =
                    std::from_chars(port.data(), port.data() + port.size(), value);
                valid = ec == std::errc() && ptr == port.data() + port.size() && value >= 1 &&
                        value <= 65535 && !port.empty();
            }
            if (!valid) {
                r.error(entry.key_where,
                        "'" + path +
                            "': a host key must be a host name or "
                            "host:port like api.example.com or 127.0.0.1:8080 (got " +
                            quote_text(entry.key) + ")");
            }
            if (crawl.hosts.count(host) != 0) {
                r.error(entry.key_where, "host '" + host + "' is given twice in 'hosts'; keep one");
            }
            crawl::host_overrides overrides;
            if (entry.value.type != node::kind::null) {
                section s(
                    r, entry.value, path,
                    {"per_host_concurrency", "http", "rate_limit", "retry", "circuit_breaker"});
                if (const auto* v = s.get("per_host_concurrency")) {
                    overrides.per_host_concurrency =
                        r.integer(*v, s.path_of("per_host_concurrency"), 1, UINT32_MAX);
                }
                if (const auto* v = s.get("http")) {
                    overrides.http = read_http(r, *v, s.path_of("http"), crawl.http);
                }
                if (const auto* v = s.get("rate_limit")) {
                    section b(r, *v, s.path_of("rate_limit"), {"per_second", "burst"});
                    overrides.rate_limit = read_bucket(r, b, crawl.rate_limit.per_host);
                }
                if (const auto* v = s.get("retry")) {
                    overrides.retry = read_retry(r, *v, s.path_of("retry"), crawl.retry);
                }
                if (const auto* v = s.get("circuit_breaker")) {
                    overrides.circuit_breaker =
                        read_breaker(r, *v, s.path_of("circuit_breaker"), crawl.circuit_breaker);
                }
            }
            crawl.hosts.emplace(host, std::move(overrides));
        });
    }
}

}  // namespace harvest::config::reading
