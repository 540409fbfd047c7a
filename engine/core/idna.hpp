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

// A URL's host name (not a bracketed IP literal), as every URL function of the engine reads it:
// %XX escapes decoded (they must decode to UTF-8), ASCII lower-cased, then IDNA. Errors
// (invalid_argument) for a host that would name something else than it seems to:
//  - a WHATWG forbidden host code point (NUL, TAB, LF, CR, space, # % / : < > ? @ [ \ ] ^ |),
//    another C0 control, DEL or a C1 control, decoded from an escape or written as it is;
//  - a character that becomes one of those, or a '.', under compatibility mapping (NFKC):
//    full-width `＃` `／` `＼`, small `﹖`, `⒈` ("1."), `℀` ("a/c"), no-break spaces, ...
//    (only U+3002, U+FF0E and U+FF61 are label dots, as IDNA says);
//  - a name that ends in a number (its last label all digits, or 0x and hex) but is not a
//    valid IPv4 address as WHATWG reads one ("192.168.0.256", "1.2.3.4.5", "example.123").
// A valid numeric host is kept as written. When IDNA refuses only a label's length (an empty
// or over-long label), the decoded host is returned as it is (w3lib's fallback).
[[nodiscard]] boost::system::result<std::string> host_to_ascii(std::string_view host);

}  // namespace harvest::core
