#pragma once
// An RFC 6265 cookie jar: Set-Cookie parsed as section 5.2 says (a malformed header is ignored,
// never an error), stored as 5.3 says (host-only and Domain cookies, public suffixes refused,
// default paths), and sent as 5.4 says (domain and path matching, Secure only over https, longer
// paths first). Pure: the time is passed in, no I/O, no Asio.
//
// Thread-safety: one jar is shared by every fetch of a session, whatever thread runs them; each
// call takes the jar's mutex for its own duration only (never across a suspension point).

#include "engine/core/public_suffix.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::core {

using cookie_clock = std::chrono::system_clock;

struct cookie {
    std::string name;
    std::string value;
    std::string domain;  // lower-case, no leading dot
    std::string path;
    // Set by Max-Age or Expires; a cookie without one lasts as long as its jar (its session).
    std::optional<cookie_clock::time_point> expires;
    bool host_only = true;  // sent to `domain` exactly, not to its subdomains
    bool secure = false;
    bool http_only = false;
    cookie_clock::time_point created{};
    cookie_clock::time_point last_access{};
};

// What the jar needs of a request's URL.
struct cookie_url {
    std::string_view host;  // without IPv6 brackets; compared ASCII case-insensitively
    std::string_view path;  // the path, or the request target (what follows '?' is dropped)
    bool secure = false;    // https
};

struct cookie_limits {
    std::size_t per_domain = 50;          // cookies of one domain; its least recently used go first
    std::size_t total = 3000;             // cookies in the jar; the least recently used go first
    std::size_t max_cookie_bytes = 4096;  // name + value; a bigger cookie is ignored
    std::size_t max_attribute_bytes = 1024;  // a longer Domain or Path makes the cookie ignored
    // A cookie's lifetime is cut to this (RFC 6265bis: 400 days).
    std::chrono::seconds max_age{std::chrono::hours(24 * 400)};
};

// One Set-Cookie header value read as RFC 6265 section 5.2 says; nullopt when the header is to be
// ignored (no '=' in the name-value pair, an empty name). The cookie's domain is the Domain
// attribute's (or empty), its path the Path attribute's (or empty); `expires` comes from Max-Age
// (preferred) or Expires, measured from `now`.
struct parsed_set_cookie {
    cookie value;
    bool has_domain = false;
    std::string same_site;  // parsed, not enforced: a crawler has no cross-site context
};
[[nodiscard]] std::optional<parsed_set_cookie> parse_set_cookie(std::string_view header,
                                                                cookie_clock::time_point now,
                                                                const cookie_limits& limits = {});

// RFC 6265 section 5.1.1's cookie-date (the Expires attribute's lenient date); nullopt when it
// does not parse. Dates beyond the clock's range are clamped to it.
[[nodiscard]] std::optional<cookie_clock::time_point> parse_cookie_date(std::string_view text);

// Section 5.1.3 and 5.1.4.
[[nodiscard]] bool domain_matches(std::string_view host, std::string_view domain);
[[nodiscard]] bool path_matches(std::string_view request_path, std::string_view cookie_path);
[[nodiscard]] std::string default_cookie_path(std::string_view request_path);

class cookie_jar {
  public:
    explicit cookie_jar(const public_suffix_list& suffixes = public_suffix_list::system(),
                        cookie_limits limits = {});
    cookie_jar(const cookie_jar&) = delete;
    cookie_jar& operator=(const cookie_jar&) = delete;

    // One Set-Cookie value received from `url`: stored, replacing a cookie of the same name,
    // domain and path, or deleting it when already expired (Max-Age=0). Returns whether the
    // header was accepted (false: malformed, a public suffix, another domain, ...).
    bool set_cookie(std::string_view header, const cookie_url& url, cookie_clock::time_point now);

    // The Cookie header value for a request to `url` ("" when no cookie applies); marks the
    // cookies sent as used (for the limits' least-recently-used eviction).
    [[nodiscard]] std::string cookie_header(const cookie_url& url, cookie_clock::time_point now);

    // The live cookies (for the journal and tests), and their restoration on resume.
    [[nodiscard]] std::vector<cookie> cookies(cookie_clock::time_point now) const;
    void restore(std::vector<cookie> cookies, cookie_clock::time_point now);
    [[nodiscard]] std::size_t size() const;
    void clear();

    // What another cookie store did with this jar's cookies (a browser tab that rendered a page
    // for the jar's session, engine/render/browser_pool.hpp): it started from `sent` and holds
    // `held` now. A cookie it added, changed or deleted is stored, replaced or deleted here as
    // it is (that store applied the domain, path and Secure rules when the page set it), unless
    // this jar changed that same cookie (name, domain, path) since `sent` was taken: the crawl's
    // own answer meanwhile wins. Cookies the other store left as they were are not touched.
    void merge(const std::vector<cookie>& sent, const std::vector<cookie>& held,
               cookie_clock::time_point now);
    // Grows with every change of the stored cookies (not with their use): whether the jar must
    // be saved again.
    [[nodiscard]] std::uint64_t version() const noexcept { return version_.load(); }

    // A compact, versioned encoding of cookies (the journal's); decode returns nullopt for bytes
    // that are not one.
    [[nodiscard]] static std::string encode(const std::vector<cookie>& cookies);
    [[nodiscard]] static std::optional<std::vector<cookie>> decode(std::string_view bytes);

  private:
    void evict(const std::string& domain, cookie_clock::time_point now);

    const public_suffix_list* suffixes_;
    cookie_limits limits_;
    mutable std::mutex mutex_;
    std::vector<cookie> cookies_;
    std::atomic<std::uint64_t> version_{0};
};

}  // namespace harvest::core
