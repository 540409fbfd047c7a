// Fuzzes Set-Cookie parsing, the jar's storage and Cookie header, the cookie-date parser and
// the jar's journal encoding. Input: lines of Set-Cookie values received from one host; the
// whole input is also read as a cookie-date and as an encoded jar.

#include "engine/core/cookie_jar.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace harvest::core;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto now = cookie_clock::time_point(std::chrono::seconds(1767225600));
    (void)parse_cookie_date(text);
    (void)cookie_jar::decode(text);

    static const public_suffix_list suffixes = public_suffix_list::parse("com\nco.uk\n*.ck\n");
    cookie_limits limits;
    limits.per_domain = 4;
    limits.total = 6;
    cookie_jar jar(suffixes, limits);
    std::size_t pos = 0;
    bool secure = false;
    while (pos <= text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        (void)jar.set_cookie(text.substr(pos, end - pos),
                             cookie_url{"www.shop.co.uk", "/a/b?c", secure}, now);
        secure = !secure;
        pos = end + 1;
    }
    if (jar.size() > limits.total) {
        __builtin_trap();
    }
    const std::string header = jar.cookie_header(cookie_url{"www.shop.co.uk", "/a/b", true}, now);
    if (header.find_first_of("\r\n") != std::string::npos) {
        __builtin_trap();  // a cookie must never split the request's header lines
    }
    const auto back = cookie_jar::decode(cookie_jar::encode(jar.cookies(now)));
    if (!back || back->size() != jar.size()) {
        __builtin_trap();
    }
    return 0;
}
