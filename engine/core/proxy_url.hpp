#pragma once
// The proxy URLs of `proxies:` (docs/config.md): http://[user:pass@]host:port,
// socks5://[user:pass@]host:port (harvest resolves the target's name) and
// socks5h://[user:pass@]host:port (the proxy resolves it). Pure parsing: no I/O, no Asio, so
// it is fuzzed (tests/fuzz/fuzz_proxy_url.cpp).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace harvest::core
