// The proxy handshakes of detail/tunnel.hpp: CONNECT and SOCKS5.

#include "engine/net/detail/tunnel.hpp"

#include "engine/net/fetch_error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace harvest::net::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::as_tuple;
using asio::use_awaitable;
using bytes = std::vector<std::uint8_t>;

asio::awaitable<bool> send(beast::tcp_stream& stream, const bytes& data) {
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(data), as_tuple(use_awaitable));
    co_return !ec && n == data.size();
}

asio::awaitable<bool> receive(beast::tcp_stream& stream, std::uint8_t* data, std::size_t size) {
    auto [ec, n] =
        co_await asio::async_read(stream, asio::buffer(data, size), as_tuple(use_awaitable));
    co_return !ec && n == size;
}

// A CONNECT answer's header block; more is not a proxy we can talk to.
constexpr std::size_t connect_answer_limit = std::size_t{16} << 10;

// The status of "HTTP/1.x NNN ..."; 0 when the line is not one.
unsigned status_of(std::string_view head) {
    if (head.size() < 12 || !head.starts_with("HTTP/1.") || head[8] != ' ') {
        return 0;
    }
    unsigned status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        if (head[i] < '0' || head[i] > '9') {
            return 0;
        }
        status = status * 10 + static_cast<unsigned>(head[i] - '0');
    }
    return status;
}

std::string host_port(const tunnel_request& tunnel) {
    const bool v6 = tunnel.host.find(':') != std::string::npos;
    std::string out;
    out.append(v6 ? "[" : "").append(tunnel.host).append(v6 ? "]" : "");
    return out.append(":").append(std::to_string(tunnel.port));
}

asio::awaitable<boost::system::error_code> http_connect(beast::tcp_stream& stream,
                                                        const tunnel_request& tunnel) {
    const std::string target = host_port(tunnel);
    std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    if (!tunnel.user.empty()) {
        request +=
            "Proxy-Authorization: " + basic_credentials(tunnel.user, tunnel.password) + "\r\n";
    }
    request += "\r\n";
    auto [write_ec, written] =
        co_await asio::async_write(stream, asio::buffer(request), as_tuple(use_awaitable));
    (void)written;
    if (write_ec) {
        co_return fetch_error::proxy_tunnel;
    }
    // Read byte-wise up to the blank line: anything after it belongs to the target (a TLS
    // server speaks only after our ClientHello, but an over-read would lose bytes anyway).
    std::string head;
    std::array<char, 1> byte{};
    while (!head.ends_with("\r\n\r\n")) {
        if (head.size() >= connect_answer_limit) {
            co_return fetch_error::proxy_tunnel;
        }
        auto [read_ec, n] =
            co_await asio::async_read(stream, asio::buffer(byte), as_tuple(use_awaitable));
        if (read_ec || n != 1) {
            co_return fetch_error::proxy_tunnel;
        }
        head.push_back(byte[0]);
    }
    const unsigned status = status_of(head);
    // The answer to CONNECT is the proxy's own: a 401 is about our credentials too (tinyproxy
    // answers wrong ones with 401, missing ones with 407).
    if (status == 407 || status == 401) {
        co_return fetch_error::proxy_auth;
    }
    if (status < 200 || status > 299) {
        co_return fetch_error::proxy_tunnel;
    }
    co_return boost::system::error_code{};
}

asio::awaitable<boost::system::error_code> socks5(beast::tcp_stream& stream,
                                                  const tunnel_request& tunnel) {
    const bool credentials = !tunnel.user.empty();
    // Greeting: version 5, our methods (0 = none, 2 = user/pass).
    const bytes greeting = credentials ? bytes{5, 2, 0, 2} : bytes{5, 1, 0};
    if (!co_await send(stream, greeting)) {
        co_return fetch_error::proxy_tunnel;
    }
    std::array<std::uint8_t, 2> chosen{};
    if (!co_await receive(stream, chosen.data(), chosen.size()) || chosen[0] != 5) {
        co_return fetch_error::proxy_tunnel;
    }
    if (chosen[1] == 0xff) {
        co_return fetch_error::proxy_auth;  // none of our methods: it wants credentials
    }
    if (chosen[1] == 2) {
        if (!credentials) {
            co_return fetch_error::proxy_auth;
        }
        bytes auth{1, static_cast<std::uint8_t>(tunnel.user.size())};
        auth.insert(auth.end(), tunnel.user.begin(), tunnel.user.end());
        auth.push_back(static_cast<std::uint8_t>(tunnel.password.size()));
        auth.insert(auth.end(), tunnel.password.begin(), tunnel.password.end());
        if (!co_await send(stream, auth)) {
            co_return fetch_error::proxy_tunnel;
        }
        std::array<std::uint8_t, 2> verdict{};
        if (!co_await receive(stream, verdict.data(), verdict.size())) {
            co_return fetch_error::proxy_tunnel;
        }
        if (verdict[1] != 0) {
            co_return fetch_error::proxy_auth;
        }
    } else if (chosen[1] != 0) {
        co_return fetch_error::proxy_tunnel;
    }
    // CONNECT to the address (socks5) or the name (socks5h).
    bytes request{5, 1, 0};
    if (tunnel.address && tunnel.address->is_v4()) {
        request.push_back(1);
        const auto raw = tunnel.address->to_v4().to_bytes();
        request.insert(request.end(), raw.begin(), raw.end());
    } else if (tunnel.address) {
        request.push_back(4);
        const auto raw = tunnel.address->to_v6().to_bytes();
        request.insert(request.end(), raw.begin(), raw.end());
    } else {
        if (tunnel.host.empty() || tunnel.host.size() > 255) {
            co_return fetch_error::proxy_tunnel;
        }
        request.push_back(3);
        request.push_back(static_cast<std::uint8_t>(tunnel.host.size()));
        request.insert(request.end(), tunnel.host.begin(), tunnel.host.end());
    }
    request.push_back(static_cast<std::uint8_t>(tunnel.port >> 8));
    request.push_back(static_cast<std::uint8_t>(tunnel.port & 0xff));
    if (!co_await send(stream, request)) {
        co_return fetch_error::proxy_tunnel;
    }
    std::array<std::uint8_t, 4> reply{};
    if (!co_await receive(stream, reply.data(), reply.size()) || reply[0] != 5 || reply[1] != 0) {
        co_return fetch_error::proxy_tunnel;
    }
    // The bound address, which we do not need, then the port.
    std::size_t rest = 0;
    if (reply[3] == 1) {
        rest = 4 + 2;
    } else if (reply[3] == 4) {
        rest = 16 + 2;
    } else if (reply[3] == 3) {
        std::array<std::uint8_t, 1> length{};
        if (!co_await receive(stream, length.data(), length.size())) {
            co_return fetch_error::proxy_tunnel;
        }
        rest = std::size_t{length[0]} + 2;
    } else {
        co_return fetch_error::proxy_tunnel;
    }
    std::array<std::uint8_t, 257> bound{};
    if (!co_await receive(stream, bound.data(), rest)) {
        co_return fetch_error::proxy_tunnel;
    }
    co_return boost::system::error_code{};
}

}  // namespace

std::string basic_credentials(const std::string& user, const std::string& password) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::string plain = user + ":" + password;
    std::string out = "Basic ";
    std::size_t i = 0;
    for (; i + 2 < plain.size(); i += 3) {
        const auto v = (std::uint32_t{static_cast<unsigned char>(plain[i])} << 16) |
                       (std::uint32_t{static_cast<unsigned char>(plain[i + 1])} << 8) |
                       std::uint32_t{static_cast<unsigned char>(plain[i + 2])};
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (i < plain.size()) {
        std::uint32_t v = std::uint32_t{static_cast<unsigned char>(plain[i])} << 16;
        const bool two = i + 1 < plain.size();
        if (two) {
            v |= std::uint32_t{static_cast<unsigned char>(plain[i + 1])} << 8;
        }
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += two ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

boost::asio::awaitable<boost::system::error_code> open_tunnel(beast::tcp_stream& stream,
                                                              const tunnel_request& tunnel,
                                                              connect_limits limits) {
    const auto step = clamp_timeout(limits.connect, limits.deadline);
    if (step.count() <= 0) {
        co_return fetch_error::proxy_tunnel;
    }
    stream.expires_after(step);
    boost::system::error_code ec;
    if (tunnel.type == tunnel_request::kind::http_connect) {
        ec = co_await http_connect(stream, tunnel);
    } else {
        ec = co_await socks5(stream, tunnel);
    }
    stream.expires_never();
    co_return ec;
}

}  // namespace harvest::net::detail
