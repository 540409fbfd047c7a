#include "engine/net/fetch_error.hpp"

#include <string>

namespace harvest::net {

std::string_view to_string(fetch_error e) noexcept {
    if (static_cast<int>(e) < static_cast<int>(fetch_error::connect) ||
        static_cast<int>(e) > static_cast<int>(fetch_error::proxy_tunnel)) {
        return "unknown";
    }
    return core::to_string(failure_kind_of(e));
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
