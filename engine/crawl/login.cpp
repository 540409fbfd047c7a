#include "engine/crawl/login.hpp"

#include "engine/core/text.hpp"

#include <algorithm>
#include <chrono>
#include <string_view>

namespace harvest::crawl {

namespace {

bool has_header(const net::header_list& headers, std::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [name](const auto& header) { return core::iequals(header.first, name); });
}

}  // namespace

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& form) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    const auto put = [&out](std::string_view text) {
        for (const char c : text) {
            const auto u = static_cast<unsigned char>(c);
            if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                c == '*' || c == '-' || c == '.' || c == '_') {
                out.push_back(c);
            } else if (c == ' ') {
                out.push_back('+');
            } else {
                out.push_back('%');
                out.push_back(hex[u >> 4]);
                out.push_back(hex[u & 0xf]);
            }
        }
    };
    for (const auto& [name, value] : form) {
        if (!out.empty()) {
            out.push_back('&');
        }
        put(name);
        out.push_back('=');
        put(value);
    }
    return out;
}

net::http_request login_request(const login_step& step, const identity& who) {
    net::http_request request;
    request.method = step.method;
    request.url = step.url;
    request.headers = step.headers;
    if (!who.user_agent.empty() && !has_header(request.headers, "User-Agent")) {
        request.headers.emplace_back("User-Agent", who.user_agent);
    }
    if (!step.form.empty()) {
        request.body = form_encode(step.form);
        if (!has_header(request.headers, "Content-Type")) {
            request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        }
    }
    return request;
}

std::string login_step_name(const login_step& step, std::size_t index) {
    return "login." + std::to_string(index) + " (" + step.method + " " + step.url + ")";
}

std::string login_verdict(const login_step& step, std::size_t index,
                          const boost::system::result<net::http_response>& result,
                          const identity& who) {
    if (!result) {
        return login_step_name(step, index) + ": " + result.error().message();
    }
    if (result->status < 200 || result->status >= 400) {
        return login_step_name(step, index) + ": status " + std::to_string(result->status);
    }
    if (!step.expect_cookie.empty()) {
        const auto cookies = who.jar->cookies(std::chrono::system_clock::now());
        const bool found =
            std::any_of(cookies.begin(), cookies.end(),
                        [&step](const core::cookie& c) { return c.name == step.expect_cookie; });
        if (!found) {
            return login_step_name(step, index) + ": no cookie " + step.expect_cookie + " was set";
        }
    }
    return std::string();
}

}  // namespace harvest::crawl
