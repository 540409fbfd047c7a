#pragma once
// The proxy URLs of `proxies:` (docs/config.md): http://[user:pass@]host:port,
// socks5://[user:pass@]host:port (harvest resolves the target's name) and
// socks5h://[user:pass@]host:port (the proxy resolves it). Pure parsing: no I/O, no Asio, so
// it is fuzzed (tests/fuzz/fuzz_proxy_url.cpp).

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::core {

enum class proxy_scheme : std::uint8_t { http, socks5, socks5h };

struct proxy_url {
    proxy_scheme scheme = proxy_scheme::http;
    std::string host;  // a name, an IPv4 literal, or an IPv6 literal without brackets
    std::uint16_t port = 0;
    std::string user;  // percent-decoded; empty = no credentials
    std::string password;

    bool has_credentials() const noexcept { return !user.empty(); }
    // "host:port" ("[v6]:port"): the proxy's name in metrics and logs. Never the credentials.
    std::string label() const;
};

// Reads one proxy URL. On failure returns nullopt and, when `error` is given, says what is
// wrong and what would be right (the config loader puts it after file:line:col).
[[nodiscard]] std::optional<proxy_url> parse_proxy_url(std::string_view text,
                                                       std::string* error = nullptr);

// A malformed line of a proxies file: where (1-based) and what is wrong (never the URL).
struct proxy_line_error {
    int line = 0;
    int column = 0;
    std::string why;
};

// Reads a `proxies_file`: one proxy URL a line, `#` starts a comment, blank lines skipped.
// Streamed a line at a time. Appends what it reads to `out`; at the first malformed line it
// stops and says where (the config loader at start, the crawl's reload on SIGHUP).
[[nodiscard]] std::optional<proxy_line_error> read_proxy_lines(std::istream& in,
                                                               std::vector<proxy_url>& out);

}  // namespace harvest::core
