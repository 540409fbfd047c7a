#include "engine/net/fetch_error.hpp"

#include <string>

namespace harvest::net {

std::string_view to_string(fetch_error e) noexcept {
    switch (e) {
        case fetch_error::connect:
            return "connect";
        case fetch_error::dns:
            return "dns";
        case fetch_error::tls_handshake:
            return "tls_handshake";
        case fetch_error::tls_verify:
            return "tls_verify";
        case fetch_error::timeout:
            return "timeout";
        case fetch_error::reset:
            return "reset";
        case fetch_error::protocol:
            return "protocol";
        case fetch_error::body_too_large:
            return "body_too_large";
        case fetch_error::too_many_redirects:
            return "too_many_redirects";
        case fetch_error::unsupported_scheme:
            return "unsupported_scheme";
        case fetch_error::cancelled:
            return "cancelled";
        case fetch_error::egress_denied:
            return "egress_denied";
    }
    return "unknown";
}

namespace {
class fetch_error_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "harvest.fetch"; }
    std::string message(int ev) const override {
        return std::string(to_string(static_cast<fetch_error>(ev)));
    }
};
}  // namespace

const boost::system::error_category& fetch_error_category() noexcept {
    static const fetch_error_category_impl category;
    return category;
}

}  // namespace harvest::net
