// Address classification for the SSRF guard (egress_guard.hpp).

#include "service/egress_guard.hpp"

#include <boost/url/parse.hpp>

#include <charconv>
#include <stdexcept>

namespace harvest::service {

namespace {

bool internal_v4(const boost::asio::ip::address_v4& v4) noexcept {
    const auto a = v4.to_uint();
    auto in = [a](std::uint32_t net, int bits) {
        const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
        return (a & mask) == net;
    };
    return in(0x00000000, 8)      // "this network", 0.0.0.0 included
           || in(0x0A000000, 8)   // 10/8
           || in(0x64400000, 10)  // 100.64/10 shared address space
           || in(0x7F000000, 8)   // loopback
           || in(0xA9FE0000, 16)  // link-local, 169.254.169.254 metadata
           || in(0xAC100000, 12)  // 172.16/12
           || in(0xC0000000, 24)  // IETF protocol assignments
           || in(0xC0A80000, 16)  // 192.168/16
           || in(0xC6120000, 15)  // 198.18/15 benchmarking
           || in(0xE0000000, 4)   // multicast
           || in(0xF0000000, 4);  // reserved and 255.255.255.255
}

}  // namespace

bool is_internal_address(const boost::asio::ip::address& address) noexcept {
    if (address.is_v4()) {
        return internal_v4(address.to_v4());
    }
    const auto v6 = address.to_v6();
    const auto bytes = v6.to_bytes();
    if (v6.is_v4_mapped()) {
        return internal_v4(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
    }
    auto embedded_v4 = [&bytes] {
        return boost::asio::ip::address_v4(
            boost::asio::ip::address_v4::bytes_type{bytes[12], bytes[13], bytes[14], bytes[15]});
    };
    bool zero_prefix = true;  // ::/96, IPv4-compatible (:: and ::1 included)
    for (int i = 0; i < 12; ++i) {
        zero_prefix = zero_prefix && bytes[i] == 0;
    }
    if (zero_prefix) {
        return true;  // ::, ::1 and deprecated ::a.b.c.d: never a public destination
    }
    auto zero = [&bytes](int from, int to) {  // bytes [from, to) are all zero
        for (int i = from; i < to; ++i) {
            if (bytes[i] != 0) {
                return false;
            }
        }
        return true;
    };
    const bool nat64_prefix =
        bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b;
    if (nat64_prefix && zero(4, 12)) {
        return internal_v4(embedded_v4());  // 64:ff9b::/96, the well-known NAT64 prefix
    }
    if (nat64_prefix && bytes[4] == 0x00 && bytes[5] == 0x01) {
        // 64:ff9b:1::/48 (RFC 8215): NAT64 for local use, whatever IPv4 address it embeds (and
        // where in the address: it may use any RFC 6052 layout) the translator is the
        // operator's own, inside.
        return true;
    }
    if (zero(0, 8) && bytes[8] == 0xff && bytes[9] == 0xff && bytes[10] == 0 && bytes[11] == 0) {
        return internal_v4(embedded_v4());  // ::ffff:0:a.b.c.d, SIIT IPv4-translated (RFC 7915)
    }
    if (bytes[0] == 0x20 && bytes[1] == 0x02) {
        // 2002::/16 6to4 (RFC 3056): the relay delivers to the IPv4 address in bytes 2..5.
        return internal_v4(boost::asio::ip::address_v4(
            boost::asio::ip::address_v4::bytes_type{bytes[2], bytes[3], bytes[4], bytes[5]}));
    }
    if (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0 && bytes[3] == 0) {
        // 2001::/32 Teredo (RFC 4380): the client's IPv4 address is the last 32 bits inverted.
        return internal_v4(boost::asio::ip::address_v4(boost::asio::ip::address_v4::bytes_type{
            static_cast<unsigned char>(~bytes[12]), static_cast<unsigned char>(~bytes[13]),
            static_cast<unsigned char>(~bytes[14]), static_cast<unsigned char>(~bytes[15])}));
    }
    if (bytes[0] == 0x01 && zero(1, 8)) {
        return true;  // 100::/64 discard-only (RFC 6666)
    }
    return v6.is_link_local()            // fe80::/10
           || (bytes[0] & 0xfe) == 0xfc  // fc00::/7 unique local (AWS fd00:ec2::254)
           || bytes[0] == 0xff           // multicast
           || (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0xc0)  // fec0::/10 site-local
           || (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8);
}

egress_guard::egress_guard(const config::egress_settings& settings)
    : deny_private_(settings.deny_private) {
    for (const auto& text : settings.allow) {
        entry e;
        std::string host = text;
        std::string port;
        if (!text.empty() && text.front() == '[') {
            const auto close = text.find(']');
            if (close == std::string::npos) {
                throw std::invalid_argument("egress.allow entry \"" + text + "\": missing ]");
            }
            host = text.substr(1, close - 1);
            if (close + 1 < text.size()) {
                if (text[close + 1] != ':') {
                    throw std::invalid_argument("egress.allow entry \"" + text +
                                                "\": expected :port after ]");
                }
                port = text.substr(close + 2);
            }
        } else if (std::count(text.begin(), text.end(), ':') == 1) {
            host = text.substr(0, text.find(':'));
            port = text.substr(text.find(':') + 1);
        }
        boost::system::error_code ec;
        e.address = boost::asio::ip::make_address(host, ec);
        if (ec) {
            throw std::invalid_argument("egress.allow entry \"" + text +
                                        "\": give an IP address, optionally with :port");
        }
        if (!port.empty()) {
            unsigned value = 0;
            const auto [end, perr] = std::from_chars(port.data(), port.data() + port.size(), value);
            if (perr != std::errc() || end != port.data() + port.size() || value == 0 ||
                value > 65535) {
                throw std::invalid_argument("egress.allow entry \"" + text + "\": bad port");
            }
            e.port = static_cast<unsigned short>(value);
        }
        allow_.push_back(e);
    }
}

bool egress_guard::allowed(const boost::asio::ip::address& address,
                           unsigned short port) const noexcept {
    if (!deny_private_ || !is_internal_address(address)) {
        return true;
    }
    for (const auto& e : allow_) {
        if (e.address == address && (e.port == 0 || e.port == port)) {
            return true;
        }
    }
    return false;
}

bool egress_guard::literal_allowed(std::string_view url) const {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) {
        return true;
    }
    std::string host(parsed->encoded_host_address());
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    if (ec) {
        return true;
    }
    unsigned short port = parsed->port_number();
    if (!parsed->has_port()) {
        port = parsed->scheme_id() == boost::urls::scheme::https ? 443 : 80;
    }
    return allowed(address, port);
}

}  // namespace harvest::service
