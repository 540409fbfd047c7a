// Replays tests/data/retry_semantics (urllib3 and Scrapy vectors, see its README.md) through
// parse_retry_after and retry_policy, with retry_options configured like the library each
// vector came from. Every vector must pass; the per-kind counts are printed.

#include "engine/resilience/retry_after.hpp"
#include "engine/resilience/retry_policy.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

namespace {

using namespace harvest;
using namespace harvest::resilience;
using harvest::core::failure_kind;
using std::chrono::milliseconds;
using std::chrono::seconds;
namespace json = boost::json;

json::array load(const std::string& name) {
    const std::string path = std::string(HARVEST_TEST_DATA_DIR) + "/retry_semantics/" + name;
    std::ifstream in(path);
    REQUIRE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str()).as_array();
}

double number(const json::value& v) {
    if (v.is_int64()) {
        return static_cast<double>(v.as_int64());
    }
    if (v.is_uint64()) {
        return static_cast<double>(v.as_uint64());
    }
    return v.as_double();
}

const json::value* find(const json::object& o, const char* key) {
    const auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

milliseconds seconds_to_ms(double s) {
    return milliseconds(std::llround(s * 1000));
}

std::chrono::system_clock::time_point epoch_seconds(std::int64_t s) {
    return std::chrono::system_clock::time_point(seconds(s));
}

// urllib3 Retry(...) kwargs -> retry_options. `for_errors`: urllib3 counts status retries
// (status=) and read/connect retries (read=, connect=) apart; Harvest has one max_attempts, so
// the helper picks the counter that applies to the outcome being classified.
resilience::retry_options urllib3_options(const json::object& kwargs, bool for_errors = false) {
    resilience::retry_options o;
    // Retry.DEFAULT: total=10 retries = 11 attempts.
    unsigned retries = 10;
    if (const auto* total = find(kwargs, "total")) {
        if (total->is_null()) {
            retries = 1000;  // None: no overall limit; the per-kind counters decide
        } else if (total->is_bool()) {
            retries = total->as_bool() ? 10 : 0;
        } else {
            retries = static_cast<unsigned>(number(*total));
        }
    }
    static constexpr std::array<const char*, 2> error_counters{"read", "connect"};
    static constexpr std::array<const char*, 2> status_counters{"status", "status"};
    for (const char* key : for_errors ? error_counters : status_counters) {
        if (const auto* v = find(kwargs, key); v && !v->is_null()) {
            retries = std::min(retries, static_cast<unsigned>(number(*v)));
        }
    }
    o.max_attempts = retries + 1;

    o.on_status.clear();  // status_forcelist=None
    if (const auto* list = find(kwargs, "status_forcelist"); list && !list->is_null()) {
        if (list->is_string()) {  // "500-599" = range(500, 600)
            const std::string text(list->as_string());
            const auto dash = text.find('-');
            const unsigned lo = static_cast<unsigned>(std::stoul(text.substr(0, dash)));
            const unsigned hi = static_cast<unsigned>(std::stoul(text.substr(dash + 1)));
            for (unsigned s = lo; s <= hi; ++s) {
                o.on_status.push_back(s);
            }
        } else {
            for (const auto& s : list->as_array()) {
                o.on_status.push_back(static_cast<unsigned>(number(s)));
            }
        }
    }
    o.on_status_with_retry_after = {413, 429, 503};  // Retry.RETRY_AFTER_STATUS_CODES

    // Connection errors (the request never left) are retried for any method; read errors
    // (timeout, reset, protocol) only for allowed methods.
    o.on_errors = {failure_kind::connect, failure_kind::dns,      failure_kind::timeout,
                   failure_kind::reset,   failure_kind::protocol, failure_kind::tls_handshake};
    o.on_errors_any_method = {failure_kind::connect, failure_kind::dns};

    o.methods = {"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE"};
    o.idempotency_methods.clear();
    if (const auto* methods = find(kwargs, "allowed_methods")) {
        if (methods->is_null()) {
            o.any_method = true;
        } else {
            o.methods.clear();
            for (const auto& m : methods->as_array()) {
                o.methods.emplace_back(m.as_string());
            }
        }
    }

    // backoff = 0 for the first retry, then min(backoff_max, factor * 2^(n-1) + jitter).
    o.backoff.strategy = resilience::backoff_strategy::none;
    o.backoff.base = milliseconds(0);
    o.backoff.max = seconds(120);  // DEFAULT_BACKOFF_MAX
    o.immediate_first_retry = true;
    if (const auto* v = find(kwargs, "backoff_factor")) {
        o.backoff.base = seconds_to_ms(number(*v));
    }
    if (const auto* v = find(kwargs, "backoff_max")) {
        o.backoff.max = seconds_to_ms(number(*v));
    }
    if (const auto* v = find(kwargs, "backoff_jitter")) {
        o.backoff_jitter = seconds_to_ms(number(*v));
    }

    o.honor_retry_after = true;
    if (const auto* v = find(kwargs, "respect_retry_after_header")) {
        o.honor_retry_after = v->as_bool();
    }
    o.retry_after_max = seconds(21600);  // DEFAULT_RETRY_AFTER_MAX, longer values clamped
    o.retry_after_clamp = true;
    if (const auto* v = find(kwargs, "retry_after_max"); v && !v->is_null()) {
        o.retry_after_max = seconds_to_ms(number(*v));
    }
    return o;
}

// Scrapy's RetryMiddleware defaults (RETRY_TIMES=2, RETRY_HTTP_CODES, RETRY_EXCEPTIONS), with
// the request meta applied. Scrapy retries any method and ignores Retry-After.
resilience::retry_options scrapy_options(const json::object& meta, unsigned max_retry_times) {
    resilience::retry_options o;
    o.max_attempts = max_retry_times + 1;
    if (const auto* v = find(meta, "max_retry_times")) {
        o.max_attempts = static_cast<unsigned>(number(*v)) + 1;
    }
    o.on_status = {500, 502, 503, 504, 522, 524, 408, 429};
    o.on_errors = {failure_kind::dns, failure_kind::connect, failure_kind::timeout,
                   failure_kind::reset, failure_kind::protocol};
    o.any_method = true;
    o.honor_retry_after = false;
    if (const auto* v = find(meta, "dont_retry"); v && v->as_bool()) {
        // dont_retry: the middleware steps aside; the answer is passed on as it is.
        o.on_status.clear();
        o.on_errors.clear();
    }
    return o;
}

std::optional<net::fetch_error> urllib3_error(std::string_view name) {
    if (name == "read_timeout") {
        return net::fetch_error::timeout;
    }
    if (name == "connect_timeout" || name == "connect_error" || name == "new_connection_error") {
        return net::fetch_error::connect;
    }
    if (name == "name_resolution_error") {
        return net::fetch_error::dns;
    }
    if (name == "protocol_error" || name == "read_error") {
        return net::fetch_error::reset;
    }
    return std::nullopt;
}

std::optional<net::fetch_error> scrapy_error(std::string_view name) {
    if (name == "CannotResolveHostError" || name == "DNSLookupError") {
        return net::fetch_error::dns;
    }
    if (name == "DownloadConnectionRefusedError" || name == "ConnectionRefusedError" ||
        name == "ConnectError" || name == "TunnelError" || name == "OSError") {
        return net::fetch_error::connect;
    }
    if (name == "DownloadTimeoutError" || name == "TimeoutError" || name == "TCPTimedOutError") {
        return net::fetch_error::timeout;
    }
    if (name == "ConnectionDone" || name == "ConnectionLost" || name == "ResponseDataLossError" ||
        name == "DownloadFailedError" || name == "ResponseFailed") {
        return net::fetch_error::reset;
    }
    return std::nullopt;
}

// Counts per kind: {passed, total}.
struct tally {
    std::map<std::string, std::pair<int, int>> kinds;
    void add(const std::string& kind, bool ok) {
        auto& [passed, total] = kinds[kind];
        passed += ok ? 1 : 0;
        ++total;
    }
    void print(const char* title) const {
        std::cout << title << ":";
        for (const auto& [kind, counts] : kinds) {
            std::cout << " " << kind << " " << counts.first << "/" << counts.second << ";";
        }
        std::cout << "\n";
    }
    bool all_passed() const {
        for (const auto& [kind, counts] : kinds) {
            if (counts.first != counts.second) {
                return false;
            }
        }
        return true;
    }
};

// A fixed wall clock for vectors that give none: 2019-06-03T11:00:00Z.
const auto default_now = epoch_seconds(1559559600);

bool run_vector(const json::object& v) {
    const std::string kind(v.at("kind").as_string());
    std::mt19937_64 rng(7);
    const auto decide = [&](const retry_policy& policy, const attempt_outcome& outcome,
                            unsigned attempts_made, std::string_view method,
                            std::chrono::system_clock::time_point now) {
        return policy.classify(outcome, attempts_made, method, false, {}, rng, now);
    };

    if (kind == "parse_delta_seconds" || kind == "parse_invalid" || kind == "parse_clamp_max") {
        const std::string header(v.at("header").as_string());
        auto now = default_now;
        if (const auto* e = find(v, "now_epoch"); e && !e->is_null()) {
            now = epoch_seconds(static_cast<std::int64_t>(number(*e)));
        }
        const auto parsed = parse_retry_after(header, now);
        if (v.at("expected_error").as_bool()) {
            CHECK_FALSE(parsed.has_value());
            // The policy must not take an invalid value as the server's delay either.
            json::object kwargs;
            const retry_policy policy(urllib3_options(kwargs));
            const auto d = decide(policy, {503, std::nullopt, header}, 1, "GET", now);
            CHECK_FALSE(d.from_retry_after);
            return !parsed && !d.from_retry_after;
        }
        const auto expected = seconds(static_cast<std::int64_t>(number(v.at("expected_seconds"))));
        json::object kwargs;
        if (const auto* m = find(v, "retry_after_max"); m && !m->is_null()) {
            kwargs["retry_after_max"] = *m;
        }
        // urllib3 parse_retry_after = min(parsed, retry_after_max): parse, then let the policy
        // (configured to clamp like urllib3) apply the maximum.
        const retry_policy policy(urllib3_options(kwargs));
        const auto d = decide(policy, {503, std::nullopt, header}, 1, "GET", now);
        CHECK(parsed.has_value());
        CHECK(d.what == verdict::retry);
        CHECK(d.from_retry_after);
        CHECK(d.delay == expected);
        if (kind == "parse_delta_seconds") {
            CHECK(parsed == expected);
        }
        return parsed && d.what == verdict::retry && d.from_retry_after && d.delay == expected &&
               (kind != "parse_delta_seconds" || parsed == expected);
    }

    if (kind == "sleep_delta_seconds" || kind == "sleep_http_date") {
        json::object kwargs;
        kwargs["respect_retry_after_header"] = v.at("respect_retry_after_header");
        const retry_policy policy(urllib3_options(kwargs));
        const std::string header(v.at("header").as_string());
        const auto status = static_cast<unsigned>(number(v.at("status")));
        const auto now = epoch_seconds(static_cast<std::int64_t>(number(v.at("now_epoch"))));
        const auto d = decide(policy, {status, std::nullopt, header}, 1, "GET", now);
        const auto& expected = v.at("expected_sleep_seconds");
        if (expected.is_null()) {
            // No sleep: either no retry at all, or a retry at once.
            const bool ok = d.what != verdict::retry || d.delay == clock::duration::zero();
            CHECK(ok);
            return ok;
        }
        const auto want = seconds(static_cast<std::int64_t>(number(expected)));
        CHECK(d.what == verdict::retry);
        CHECK(d.from_retry_after);
        CHECK(d.delay == want);
        return d.what == verdict::retry && d.from_retry_after && d.delay == want;
    }

    if (kind == "is_retry" || kind == "is_retry_default_derived") {
        const retry_policy policy(urllib3_options(v.at("retry_config").as_object()));
        const std::string method(v.at("method").as_string());
        const auto status = static_cast<unsigned>(number(v.at("status")));
        const bool has_retry_after = v.at("has_retry_after").as_bool();
        const auto d = decide(policy, {status, std::nullopt, has_retry_after ? "1" : ""}, 1, method,
                              default_now);
        const bool expected = v.at("expected_retry").as_bool();
        CHECK((d.what == verdict::retry) == expected);
        return (d.what == verdict::retry) == expected;
    }

    if (kind == "error_retry") {
        const std::string name(v.at("error").as_string());
        const auto error = urllib3_error(name);
        INFO("urllib3 error " << name);
        REQUIRE(error.has_value());
        const retry_policy policy(urllib3_options(v.at("retry_config").as_object(), true));
        const std::string method(v.at("method").as_string());
        const auto d = decide(policy, {std::nullopt, error, ""}, 1, method, default_now);
        const bool expected = v.at("expected_retry").as_bool();
        CHECK((d.what == verdict::retry) == expected);
        return (d.what == verdict::retry) == expected;
    }

    if (kind == "backoff") {
        const retry_policy policy(urllib3_options(v.at("retry_config").as_object()));
        const auto n = static_cast<unsigned>(number(v.at("consecutive_errors")));
        double lo = 0;
        double hi = 0;
        if (const auto* e = find(v, "expected_backoff")) {
            lo = hi = number(*e);
        } else {
            lo = number(v.at("expected_backoff_min"));
            hi = number(v.at("expected_backoff_max"));
        }
        // Options hold milliseconds: allow one millisecond of rounding either way.
        const double tolerance = 0.001;
        bool ok = true;
        for (int draw = 0; draw < 1000; ++draw) {
            const double got =
                std::chrono::duration<double>(policy.backoff_delay(n, {}, rng)).count();
            if (got < lo - tolerance || got > hi + tolerance) {
                INFO("backoff " << got << " outside [" << lo << ", " << hi << "]");
                CHECK(false);
                ok = false;
                break;
            }
        }
        return ok;
    }

    if (kind == "scrapy_response" || kind == "scrapy_exception") {
        const auto& meta = v.at("meta").as_object();
        const auto max_retry_times = static_cast<unsigned>(number(v.at("max_retry_times")));
        const retry_policy policy(scrapy_options(meta, max_retry_times));
        const auto so_far = static_cast<unsigned>(number(v.at("retry_times_so_far")));
        attempt_outcome outcome;
        if (kind == "scrapy_response") {
            outcome.status = static_cast<unsigned>(number(v.at("status")));
        } else {
            const std::string name(v.at("error").as_string());
            INFO("scrapy exception " << name);
            outcome.error = scrapy_error(name);
            REQUIRE(outcome.error.has_value());
        }
        // Scrapy's retry_times counts retries made; Harvest counts attempts made.
        const unsigned attempts_made = so_far + 1;
        const auto d = decide(policy, outcome, attempts_made, "GET", default_now);
        const std::string expected(v.at("expected").as_string());
        bool ok = false;
        if (expected == "retry") {
            ok = d.what == verdict::retry;
            if (const auto* t = find(v, "expected_retry_times")) {
                // The next attempt is retry number attempts_made.
                ok = ok && static_cast<unsigned>(number(*t)) == attempts_made;
            }
        } else if (expected == "give_up") {
            ok = d.what == verdict::fail && d.failure == failure_kind::retries_exhausted;
        } else {  // no_retry: passed on as it is, not counted as giving up
            ok = d.what == verdict::fail && d.failure != failure_kind::retries_exhausted;
        }
        INFO("verdict " << static_cast<int>(d.what) << " kind "
                        << harvest::core::to_string(d.failure));
        CHECK(ok);
        return ok;
    }

    INFO("unknown vector kind " << kind);
    CHECK(false);
    return false;
}

}  // namespace

TEST_CASE("retry_semantics corpus: retry_vectors.json", "[unit][corpus]") {
    const auto vectors = load("retry_vectors.json");
    REQUIRE(vectors.size() >= 50);
    tally counts;
    for (const auto& item : vectors) {
        const auto& v = item.as_object();
        INFO("vector " << v.at("id").as_string() << " from " << v.at("source_test").as_string());
        counts.add(std::string(v.at("kind").as_string()), run_vector(v));
    }
    counts.print("retry_vectors.json passing per kind");
    CHECK(counts.all_passed());
}

TEST_CASE("retry_semantics corpus: retry_defaults_matrix.json (urllib3 Retry() defaults)",
          "[unit][corpus]") {
    const auto vectors = load("retry_defaults_matrix.json");
    REQUIRE(vectors.size() >= 100);
    tally counts;
    for (const auto& item : vectors) {
        const auto& v = item.as_object();
        INFO("vector " << v.at("id").as_string() << " " << v.at("method").as_string() << " "
                       << number(v.at("status")));
        counts.add(std::string(v.at("kind").as_string()), run_vector(v));
    }
    counts.print("retry_defaults_matrix.json passing per kind");
    CHECK(counts.all_passed());
}
