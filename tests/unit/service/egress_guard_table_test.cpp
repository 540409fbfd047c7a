// The egress guard's refusal table (issue 17, item 7): every prefix that can carry an internal
// IPv4 address or that is not a public destination, one row each. Pure classification: nothing
// is sent anywhere; literal_allowed() parses the URL and decides before any resolve or connect.

#include "config/service_config.hpp"
#include "service/egress_guard.hpp"

#include <boost/asio/ip/address.hpp>
#include <catch2/catch.hpp>

#include <string>

using namespace harvest;
using boost::asio::ip::make_address;

TEST_CASE("egress guard table: translation, 6to4 and discard prefixes are internal",
          "[unit][service]") {
    struct row {
        const char* address;
        bool internal;
    };
    const row rows[] = {
        // The red-team pass's four misses.
        {"64:ff9b:1::a00:1", true},  // RFC 8215 local-use NAT64, 10.0.0.1 inside
        {"2002:a00:1::1", true},     // 6to4 of 10.0.0.1
        {"::ffff:0:a00:1", true},    // SIIT (RFC 7915) IPv4-translated 10.0.0.1
        {"100::1", true},            // RFC 6666 discard-only
        // The rest of each prefix: whatever the embedded IPv4 address is.
        {"64:ff9b:1::808:808", true},  // local-use NAT64 is never a public path
        {"64:ff9b:1:ffff::1", true},
        {"2002:7f00:1::1", true},                         // 6to4 of 127.0.0.1
        {"2002:c0a8:101::1", true},                       // 6to4 of 192.168.1.1
        {"2002:a9fe:a9fe::1", true},                      // 6to4 of the metadata address
        {"2002:808:808::1", false},                       // 6to4 of a public address stays allowed
        {"::ffff:0:7f00:1", true},                        // SIIT of loopback
        {"::ffff:0:808:808", false},                      // SIIT of a public address
        {"2001:0:4136:e378:8000:63bf:f5ff:fffe", true},   // Teredo, client 10.0.0.1 (inverted)
        {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", false},  // Teredo, client 8.8.8.8
        {"100::", true},
        {"100::ffff:ffff:ffff:ffff", true},
        {"100:0:0:1::1", false},   // just outside 100::/64
        {"64:ff9b::a00:1", true},  // well-known NAT64 prefix (already covered)
        {"64:ff9b::808:808", false},
        {"2001:db8::1", true},
        {"2606:4700::1111", false},
    };
    for (const auto& r : rows) {
        INFO(r.address);
        CHECK(service::is_internal_address(make_address(r.address)) == r.internal);
    }

    // Submission-time check of literal URLs (the API's 400), with deny_private on and nothing
    // allowed: refused before any resolve or connect.
    config::egress_settings settings;
    settings.deny_private = true;
    const service::egress_guard guard(settings);
    for (const char* url : {"http://[64:ff9b:1::a00:1]/", "http://[2002:a00:1::1]:8080/x",
                            "https://[::ffff:0:a00:1]/", "http://[100::1]/"}) {
        INFO(url);
        CHECK_FALSE(guard.literal_allowed(url));
    }
    CHECK(guard.literal_allowed("http://[2002:808:808::1]/"));
}
