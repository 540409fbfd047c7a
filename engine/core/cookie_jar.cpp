#include "engine/core/cookie_jar.hpp"

#include "engine/core/text.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace harvest::core {
namespace {

using std::chrono::seconds;

constexpr std::string_view wsp = " \t";  // RFC 6265 trims SP and HTAB only

// RFC 6265 5.1.1 delimiter: %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E.
bool is_date_delimiter(unsigned char c) {
    return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
           (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

// 1*max DIGIT followed by nothing or a non-digit (and anything): the digits' value.
std::optional<int> leading_number(std::string_view token, std::size_t min, std::size_t max,
                                  std::size_t& used) {
    std::size_t n = 0;
    int value = 0;
    while (n < token.size() && is_ascii_digit(token[n])) {
        if (n == max) {
            return std::nullopt;  // more digits than the production allows
        }
        value = value * 10 + (token[n] - '0');
        ++n;
    }
    if (n < min) {
        return std::nullopt;
    }
    used = n;
    return value;
}

bool parse_time(std::string_view token, int& h, int& m, int& s) {
    std::array<int, 3> parts{};
    for (std::size_t i = 0; i < 3; ++i) {
        std::size_t used = 0;
        auto v = leading_number(token, 1, 2, used);
        if (!v) {
            return false;
        }
        parts[i] = *v;
        token.remove_prefix(used);
        if (i < 2) {
            if (token.empty() || token.front() != ':') {
                return false;
            }
            token.remove_prefix(1);
        }
    }
    h = parts[0];
    m = parts[1];
    s = parts[2];
    return true;
}

int month_of(std::string_view token) {
    static constexpr std::array<std::string_view, 12> names{
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
    if (token.size() < 3) {
        return 0;
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (iequals(token.substr(0, 3), names[i])) {
            return static_cast<int>(i) + 1;
        }
    }
    return 0;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

cookie_clock::time_point clamped_time(std::int64_t secs) {
    // system_clock counts nanoseconds in 64 bits: about 1677..2262.
    constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
    secs = std::clamp<std::int64_t>(secs, -limit, limit);
    return cookie_clock::time_point(
        std::chrono::duration_cast<cookie_clock::duration>(seconds(secs)));
}

bool is_ip_literal(std::string_view host) {
    if (host.find(':') != std::string_view::npos) {
        return true;  // IPv6
    }
    return !host.empty() && std::all_of(host.begin(), host.end(),
                                        [](char c) { return is_ascii_digit(c) || c == '.'; });
}

std::string_view path_of(std::string_view target) {
    const auto cut = target.find_first_of("?#");
    return cut == std::string_view::npos ? target : target.substr(0, cut);
}

bool expired(const cookie& c, cookie_clock::time_point now) {
    return c.expires && *c.expires <= now;
}

}  // namespace

std::optional<cookie_clock::time_point> parse_cookie_date(std::string_view text) {
    bool found_time = false;
    bool found_day = false;
    bool found_month = false;
    bool found_year = false;
    int hour = 0;
    int minute = 0;
    int second = 0;
    int day = 0;
    int month = 0;
    int year = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_date_delimiter(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && !is_date_delimiter(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        const std::string_view token = text.substr(start, i - start);
        if (token.empty()) {
            continue;
        }
        std::size_t used = 0;
        if (!found_time && parse_time(token, hour, minute, second)) {
            found_time = true;
        } else if (!found_day && leading_number(token, 1, 2, used)) {
            day = *leading_number(token, 1, 2, used);
            found_day = true;
        } else if (!found_month && month_of(token) != 0) {
            month = month_of(token);
            found_month = true;
        } else if (!found_year && leading_number(token, 2, 4, used)) {
            year = *leading_number(token, 2, 4, used);
            found_year = true;
        }
    }
    if (found_year && year >= 70 && year <= 99) {
        year += 1900;
    } else if (found_year && year >= 0 && year <= 69) {
        year += 2000;
    }
    if (!found_time || !found_day || !found_month || !found_year) {
        return std::nullopt;
    }
    static constexpr std::array<int, 12> month_days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const int last_day = month == 2 && leap(year) ? 29 : month_days[month - 1];
    if (day < 1 || day > last_day || year < 1601 || hour > 23 || minute > 59 || second > 59) {
        return std::nullopt;
    }
    const std::int64_t secs =
        days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
        hour * 3600 + minute * 60 + second;
    return clamped_time(secs);
}

bool domain_matches(std::string_view host, std::string_view domain) {
    if (iequals(host, domain)) {
        return true;
    }
    if (domain.empty() || host.size() <= domain.size() || is_ip_literal(host)) {
        return false;
    }
    const std::size_t at = host.size() - domain.size();
    return host[at - 1] == '.' && iequals(host.substr(at), domain);
}

bool path_matches(std::string_view request_path, std::string_view cookie_path) {
    if (request_path == cookie_path) {
        return true;
    }
    if (!request_path.starts_with(cookie_path)) {
        return false;
    }
    return cookie_path.ends_with('/') || request_path[cookie_path.size()] == '/';
}

std::string default_cookie_path(std::string_view request_path) {
    if (request_path.empty() || request_path.front() != '/') {
        return "/";
    }
    const auto last = request_path.rfind('/');
    if (last == 0) {
        return "/";
    }
    return std::string(request_path.substr(0, last));
}

std::optional<parsed_set_cookie> parse_set_cookie(std::string_view header,
                                                  cookie_clock::time_point now,
                                                  const cookie_limits& limits) {
    const auto semicolon = header.find(';');
    const std::string_view pair = header.substr(0, semicolon);
    std::string_view attributes =
        semicolon == std::string_view::npos ? std::string_view{} : header.substr(semicolon);
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view name = trim(pair.substr(0, equals), wsp);
    const std::string_view value = trim(pair.substr(equals + 1), wsp);
    if (name.empty() || name.size() + value.size() > limits.max_cookie_bytes) {
        return std::nullopt;
    }
    // Control characters would let a server smuggle header lines into our requests.
    const auto control = [](std::string_view s) {
        return std::any_of(s.begin(), s.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return (u < 0x20 && c != '\t') || u == 0x7f;
        });
    };
    if (control(name) || control(value)) {
        return std::nullopt;
    }
    parsed_set_cookie out;
    out.value.name = std::string(name);
    out.value.value = std::string(value);
    std::optional<cookie_clock::time_point> max_age;
    std::optional<cookie_clock::time_point> expires;
    while (!attributes.empty()) {
        attributes.remove_prefix(1);  // the ';'
        const auto next = attributes.find(';');
        const std::string_view av = attributes.substr(0, next);
        attributes = next == std::string_view::npos ? std::string_view{} : attributes.substr(next);
        const auto eq = av.find('=');
        const std::string_view key = trim(av.substr(0, eq), wsp);
        const std::string_view val =
            eq == std::string_view::npos ? std::string_view{} : trim(av.substr(eq + 1), wsp);
        if (iequals(key, "expires")) {
            if (auto date = parse_cookie_date(val)) {
                expires = date;
            }
        } else if (iequals(key, "max-age")) {
            if (val.empty() || !(is_ascii_digit(val.front()) || val.front() == '-')) {
                continue;
            }
            const bool negative = val.front() == '-';
            const std::string_view digits = negative ? val.substr(1) : val;
            if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_ascii_digit)) {
                continue;
            }
            // Past 400 days it is cut anyway: count no further than that (no overflow).
            std::int64_t delta = 0;
            for (char c : digits) {
                delta = std::min<std::int64_t>(delta * 10 + (c - '0'), limits.max_age.count() + 1);
            }
            if (negative || delta <= 0) {
                max_age = cookie_clock::time_point::min();  // "the earliest representable"
            } else {
                max_age = now + seconds(delta);
            }
        } else if (iequals(key, "domain")) {
            if (val.empty() || val.size() > limits.max_attribute_bytes) {
                continue;
            }
            std::string_view domain = val;
            if (domain.front() == '.') {
                domain.remove_prefix(1);
            }
            out.value.domain = ascii_lowered(domain);
            out.has_domain = true;
        } else if (iequals(key, "path")) {
            if (val.size() > limits.max_attribute_bytes) {
                continue;
            }
            out.value.path = val.empty() || val.front() != '/' ? std::string() : std::string(val);
        } else if (iequals(key, "secure")) {
            out.value.secure = true;
        } else if (iequals(key, "httponly")) {
            out.value.http_only = true;
        } else if (iequals(key, "samesite")) {
            out.same_site = ascii_lowered(val);
        }
    }
    if (max_age) {
        out.value.expires = max_age;
    } else if (expires) {
        out.value.expires = expires;
    }
    if (out.value.expires && *out.value.expires > now + limits.max_age) {
        out.value.expires = now + limits.max_age;
    }
    out.value.created = now;
    out.value.last_access = now;
    return out;
}

cookie_jar::cookie_jar(const public_suffix_list& suffixes, cookie_limits limits)
    : suffixes_(&suffixes), limits_(limits) {}

bool cookie_jar::set_cookie(std::string_view header, const cookie_url& url,
                            cookie_clock::time_point now) {
    auto parsed = parse_set_cookie(header, now, limits_);
    if (!parsed) {
        return false;
    }
    cookie c = std::move(parsed->value);
    std::string host = ascii_lowered(url.host);
    if (host.ends_with('.')) {
        host.pop_back();
    }
    if (host.empty()) {
        return false;
    }
    if (parsed->has_domain && suffixes_->is_public_suffix(c.domain)) {
        if (c.domain != host) {
            return false;  // Domain=com from shop.com: a cookie for every site under com
        }
        c.domain.clear();  // the suffix is the host itself: a host-only cookie
        parsed->has_domain = false;
    }
    if (parsed->has_domain) {
        if (!domain_matches(host, c.domain)) {
            return false;  // Domain=other.org from shop.com
        }
        c.host_only = false;
    } else {
        c.host_only = true;
        c.domain = host;
    }
    if (c.path.empty()) {
        c.path = default_cookie_path(path_of(url.path));
    }
    if (c.secure && !url.secure) {
        return false;  // RFC 6265bis: only a secure origin sets a Secure cookie
    }
    const std::lock_guard lock(mutex_);
    const auto same = std::find_if(cookies_.begin(), cookies_.end(), [&c](const cookie& old) {
        return old.name == c.name && old.domain == c.domain && old.path == c.path;
    });
    version_.fetch_add(1);
    if (same != cookies_.end()) {
        c.created = same->created;
        cookies_.erase(same);
    }
    if (expired(c, now)) {
        return true;  // Max-Age=0 or an Expires in the past: a deletion
    }
    const std::string domain = c.domain;
    cookies_.push_back(std::move(c));
    evict(domain, now);
    return true;
}

void cookie_jar::evict(const std::string& domain, cookie_clock::time_point now) {
    std::erase_if(cookies_, [now](const cookie& c) { return expired(c, now); });
    const auto oldest_of = [this](auto&& pred) {
        auto oldest = cookies_.end();
        for (auto it = cookies_.begin(); it != cookies_.end(); ++it) {
            if (pred(*it) && (oldest == cookies_.end() || it->last_access < oldest->last_access)) {
                oldest = it;
            }
        }
        return oldest;
    };
    // Bounded: each pass removes one cookie.
    while (static_cast<std::size_t>(std::count_if(
               cookies_.begin(), cookies_.end(),
               [&domain](const cookie& c) { return c.domain == domain; })) > limits_.per_domain) {
        cookies_.erase(oldest_of([&domain](const cookie& c) { return c.domain == domain; }));
    }
    while (cookies_.size() > limits_.total) {
        cookies_.erase(oldest_of([](const cookie&) { return true; }));
    }
}

std::string cookie_jar::cookie_header(const cookie_url& url, cookie_clock::time_point now) {
    const std::lock_guard lock(mutex_);
    if (cookies_.empty()) {
        return {};  // every request of a crawl that never got a cookie: nothing to lower or match
    }
    std::string host = ascii_lowered(url.host);
    if (host.ends_with('.')) {
        host.pop_back();
    }
    const std::string_view path = path_of(url.path);
    std::vector<cookie*> chosen;
    for (auto& c : cookies_) {
        if (expired(c, now)) {
            continue;
        }
        const bool domain_ok = c.host_only ? c.domain == host : domain_matches(host, c.domain);
        if (domain_ok && path_matches(path.empty() ? "/" : path, c.path) &&
            (!c.secure || url.secure)) {
            chosen.push_back(&c);
        }
    }
    // Section 5.4 step 2: longer paths first, then the earlier created.
    std::stable_sort(chosen.begin(), chosen.end(), [](const cookie* a, const cookie* b) {
        if (a->path.size() != b->path.size()) {
            return a->path.size() > b->path.size();
        }
        return a->created < b->created;
    });
    std::string header;
    for (cookie* c : chosen) {
        c->last_access = now;
        if (!header.empty()) {
            header.append("; ");
        }
        header.append(c->name).append("=").append(c->value);
    }
    return header;
}

std::vector<cookie> cookie_jar::cookies(cookie_clock::time_point now) const {
    const std::lock_guard lock(mutex_);
    std::vector<cookie> live;
    for (const auto& c : cookies_) {
        if (!expired(c, now)) {
            live.push_back(c);
        }
    }
    return live;
}

void cookie_jar::restore(std::vector<cookie> cookies, cookie_clock::time_point now) {
    const std::lock_guard lock(mutex_);
    version_.fetch_add(1);
    cookies_.clear();
    for (auto& c : cookies) {
        if (!expired(c, now) && !c.name.empty() && !c.domain.empty()) {
            cookies_.push_back(std::move(c));
        }
    }
    while (cookies_.size() > limits_.total) {
        cookies_.erase(cookies_.begin());
    }
}

std::size_t cookie_jar::size() const {
    const std::lock_guard lock(mutex_);
    return cookies_.size();
}

void cookie_jar::clear() {
    const std::lock_guard lock(mutex_);
    version_.fetch_add(1);
    cookies_.clear();
}

namespace {

bool same_key(const cookie& a, const cookie& b) {
    return a.name == b.name && a.domain == b.domain && a.path == b.path;
}

// Equal as a cookie store keeps them: expiry to the second (a browser reports it as seconds).
bool same_cookie(const cookie& a, const cookie& b) {
    const auto second = [](const std::optional<cookie_clock::time_point>& t) {
        return t ? std::optional<std::int64_t>(
                       std::chrono::floor<seconds>(*t).time_since_epoch().count())
                 : std::nullopt;
    };
    return same_key(a, b) && a.value == b.value && a.host_only == b.host_only &&
           a.secure == b.secure && a.http_only == b.http_only &&
           second(a.expires) == second(b.expires);
}

const cookie* find_key(const std::vector<cookie>& cookies, const cookie& key) {
    const auto it = std::find_if(cookies.begin(), cookies.end(),
                                 [&key](const cookie& c) { return same_key(c, key); });
    return it == cookies.end() ? nullptr : &*it;
}

}  // namespace

void cookie_jar::merge(const std::vector<cookie>& sent, const std::vector<cookie>& held,
                       cookie_clock::time_point now) {
    const std::lock_guard lock(mutex_);
    // Whether the jar still has for `key` what it had when `sent` was taken (nothing, if it
    // had nothing).
    const auto unchanged_here = [this, &sent, now](const cookie& key) {
        const cookie* before = find_key(sent, key);
        const auto here = std::find_if(cookies_.begin(), cookies_.end(), [&](const cookie& c) {
            return same_key(c, key) && !expired(c, now);
        });
        if (here == cookies_.end()) {
            return before == nullptr;
        }
        return before != nullptr && same_cookie(*here, *before);
    };
    const auto erase_key = [this](const cookie& key) {
        std::erase_if(cookies_, [&key](const cookie& c) { return same_key(c, key); });
    };
    bool changed = false;
    std::vector<std::string> grown;  // domains that got a cookie: evicted past their limit
    for (const auto& c : held) {
        const cookie* before = find_key(sent, c);
        if ((before != nullptr && same_cookie(*before, c)) || !unchanged_here(c) ||
            c.name.empty() || c.domain.empty()) {
            continue;
        }
        cookie stored = c;
        if (stored.expires && *stored.expires > now + limits_.max_age) {
            stored.expires = now + limits_.max_age;
        }
        stored.created = before != nullptr ? before->created : now;
        stored.last_access = now;
        erase_key(stored);
        changed = true;
        if (!expired(stored, now)) {
            grown.push_back(stored.domain);
            cookies_.push_back(std::move(stored));
        }
    }
    for (const auto& c : sent) {
        if (find_key(held, c) == nullptr && unchanged_here(c)) {
            erase_key(c);  // deleted by the page (document.cookie, Set-Cookie, or expired)
            changed = true;
        }
    }
    for (const auto& domain : grown) {
        evict(domain, now);
    }
    if (changed) {
        version_.fetch_add(1);
    }
}

namespace {

constexpr std::string_view encoding_magic = "HCJ1";

void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

void put_str(std::string& out, std::string_view s) {
    put_u64(out, s.size());
    out.append(s);
}

std::int64_t ticks(cookie_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// A stored time the clock cannot hold (beyond about 1677..2262 in nanoseconds) is corrupt.
std::optional<cookie_clock::time_point> from_ticks(std::int64_t us) {
    constexpr auto limit =
        std::chrono::duration_cast<std::chrono::microseconds>(cookie_clock::duration::max());
    if (us > limit.count() || us < -limit.count()) {
        return std::nullopt;
    }
    return cookie_clock::time_point(
        std::chrono::duration_cast<cookie_clock::duration>(std::chrono::microseconds(us)));
}

struct reader {
    std::string_view in;
    bool ok = true;
    std::uint64_t u64() {
        if (in.size() < 8) {
            ok = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) {
            v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
        }
        in.remove_prefix(8);
        return v;
    }
    std::string str() {
        const auto n = u64();
        if (!ok || n > in.size()) {
            ok = false;
            return {};
        }
        std::string s(in.substr(0, n));
        in.remove_prefix(n);
        return s;
    }
};

}  // namespace

std::string cookie_jar::encode(const std::vector<cookie>& cookies) {
    std::string out(encoding_magic);
    put_u64(out, cookies.size());
    for (const auto& c : cookies) {
        put_str(out, c.name);
        put_str(out, c.value);
        put_str(out, c.domain);
        put_str(out, c.path);
        const std::uint64_t flags = (c.expires ? 1u : 0u) | (c.host_only ? 2u : 0u) |
                                    (c.secure ? 4u : 0u) | (c.http_only ? 8u : 0u);
        put_u64(out, flags);
        put_u64(out, static_cast<std::uint64_t>(c.expires ? ticks(*c.expires) : 0));
        put_u64(out, static_cast<std::uint64_t>(ticks(c.created)));
        put_u64(out, static_cast<std::uint64_t>(ticks(c.last_access)));
    }
    return out;
}

std::optional<std::vector<cookie>> cookie_jar::decode(std::string_view bytes) {
    if (!bytes.starts_with(encoding_magic)) {
        return std::nullopt;
    }
    reader r{bytes.substr(encoding_magic.size())};
    const auto count = r.u64();
    std::vector<cookie> out;
    // Each cookie takes at least 64 bytes: a count beyond that is corrupt, not a reserve.
    if (!r.ok || count > r.in.size() / 64) {
        return std::nullopt;
    }
    out.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
        cookie c;
        c.name = r.str();
        c.value = r.str();
        c.domain = r.str();
        c.path = r.str();
        const auto flags = r.u64();
        const auto expires = from_ticks(static_cast<std::int64_t>(r.u64()));
        const auto created = from_ticks(static_cast<std::int64_t>(r.u64()));
        const auto last_access = from_ticks(static_cast<std::int64_t>(r.u64()));
        if (!r.ok || !expires || !created || !last_access) {
            return std::nullopt;
        }
        c.created = *created;
        c.last_access = *last_access;
        if ((flags & 1u) != 0) {
            c.expires = expires;
        }
        c.host_only = (flags & 2u) != 0;
        c.secure = (flags & 4u) != 0;
        c.http_only = (flags & 8u) != 0;
        out.push_back(std::move(c));
    }
    if (!r.in.empty()) {
        return std::nullopt;
    }
    return out;
}

}  // namespace harvest::core
