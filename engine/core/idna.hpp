#pragma once
// Internationalized host names to ASCII (IDNA 2003, as Python's "idna" codec): pure, no I/O.

#include <string>
#include <string_view>

#include <boost/system/result.hpp>

namespace harvest::core {

// IDNA (2003-style, like Python's "idna" codec) host to ASCII: labels split on `.` and its
// full-width forms, non-ASCII labels case-folded and punycoded with `xn--`. Errors when a label
// is empty or longer than 63 bytes (callers then keep the host as it was).
[[nodiscard]] boost::system::result<std::string> idna_to_ascii(std::string_view host);

}  // namespace harvest::core
