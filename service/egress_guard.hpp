#pragma once
// The SSRF guard of the bulk service: which destination addresses job URLs and webhook callbacks
// may reach. Checked on the resolved address at connect time (net::client_options::
// allow_endpoint), so a name that resolves inside and a redirect to inside are refused the same
// way as a literal address.

#include "config/service_config.hpp"

#include <boost/asio/ip/address.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace harvest::service {

// Loopback, private (RFC 1918, ULA), shared (100.64/10), link-local (169.254/16 with the cloud
// metadata address, fe80::/10), multicast, unspecified, broadcast and reserved addresses, local-use
// NAT64 (64:ff9b:1::/48) and discard-only (100::/64); for IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible (::a.b.c.d), SIIT (::ffff:0:a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4
// (2002:AABB:CCDD::/48) and Teredo (2001::/32) IPv6, the embedded IPv4 address decides.
bool is_internal_address(const boost::asio::ip::address& address) noexcept;

class egress_guard {
  public:
    // Allow entries: "a.b.c.d:port", "[v6]:port", or an address alone (every port). Throws
    // std::invalid_argument naming an entry that is none of these.
    explicit egress_guard(const config::egress_settings& settings);

    bool allowed(const boost::asio::ip::address& address, unsigned short port) const noexcept;

    // For a URL whose host is an address literal: the same decision before anything resolves
    // (submission-time check). Names and unparsable URLs give true: connect time decides.
    bool literal_allowed(std::string_view url) const;

  private:
    struct entry {
        boost::asio::ip::address address;
        unsigned short port = 0;  // 0 = any
    };
    bool deny_private_;
    std::vector<entry> allow_;
};

}  // namespace harvest::service
