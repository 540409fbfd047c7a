// Fuzzes the proxy URL reader of `proxies:` and `proxies_file:` (engine/core/proxy_url.hpp).

#include "engine/core/proxy_url.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto url = harvest::core::parse_proxy_url(text, &error);
    if (!url) {
        if (error.empty()) {
            __builtin_trap();  // a refusal always says why
        }
        return 0;
    }
    // What it accepts is usable as is: a host, a port, and fields that cannot split a header
    // or overflow a SOCKS5 length byte.
    if (url->host.empty() || url->port == 0 || url->user.size() > 255 ||
        url->password.size() > 255 || url->label().empty()) {
        __builtin_trap();
    }
    for (const char c : url->user + url->password + url->host) {
        if (c == '\r' || c == '\n' || c == '\0') {
            __builtin_trap();
        }
    }
    // Credentials are never part of the label metrics and logs show.
    if (url->has_credentials() && url->label().find('@') != std::string::npos) {
        __builtin_trap();
    }
    return 0;
}
