#pragma once
// URL canonicalization and request fingerprints: pure functions, no I/O, no Asio.
//
// Semantics follow w3lib (Scrapy's canonicalize_url / safe_url_string), checked against its test
// suite in tests/data/url_canonicalization. Input strings are UTF-8 text; bytes that are not valid
// UTF-8 are percent-encoded as they are ("%A3"), as w3lib does with its "percentencode" handler.
//
// This header is the whole URL API: IDNA (idna.hpp) and the request fingerprints
// (url_fingerprint.hpp) have headers of their own and are included here.

#include "engine/core/idna.hpp"
#include "engine/core/url_fingerprint.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

namespace harvest::core {

// How text is turned into bytes before percent-encoding a query (w3lib's `encoding`): UTF-8,
// Latin-1 or Windows-1251. Text the chosen encoding cannot represent falls back to UTF-8, as
// w3lib's canonicalize_url does.
enum class text_encoding { utf8, latin1, cp1251 };

struct canonicalize_options {
    bool keep_fragments = false;
    bool sort_query = true;  // by (name, value) bytes, as w3lib; equal pairs keep their order
    bool keep_blank_values = true;
    // Added beyond the brief: w3lib's `encoding` (query only) and `query_separator`.
    text_encoding query_encoding = text_encoding::utf8;
    char query_separator = '&';
};

// Canonical form for dedup: scheme/host lowercased, IDNA host to punycode, default port and
// empty port dropped, path dot-segments removed, percent-encoding normalized (unreserved and
// harmless reserved characters decoded, `/` `?` `#` kept escaped, hex upper-cased, unsafe
// characters encoded), query args sorted, spaces as `+`, fragment dropped, empty path -> "/".
// Errors (errc::invalid_argument) for empty input, a non-numeric or out-of-range port, and a
// host that is not one: text around a bracketed host, a bracketed host that is no RFC 3986
// IP-literal, credentials or a port without a host, a host name host_to_ascii refuses
// (forbidden or confusable code points, an invalid IPv4 spelling). ';' only splits params off
// the last path segment; earlier segments are normalized like the rest of the path.
[[nodiscard]] boost::system::result<std::string> canonicalize_url(
    std::string_view url, const canonicalize_options& options = {});

// True when canonicalize_url(url, options) is `url` itself, decided by a narrow grammar
// (http(s), lower-case ASCII host, no default port, plain path without dot segments, sorted
// name=value query of unreserved characters, no fragment). False says nothing: the URL may
// still be canonical. Allocates nothing.
[[nodiscard]] bool is_canonical_url(std::string_view url, const canonicalize_options& options = {});

namespace detail {
// canonicalize_url without the is_canonical_url shortcut (for the test that checks the two agree).
[[nodiscard]] boost::system::result<std::string> canonicalize_url_general(
    std::string_view url, const canonicalize_options& options);
}  // namespace detail

struct safe_url_options {
    text_encoding encoding = text_encoding::utf8;       // query and fragment
    text_encoding path_encoding = text_encoding::utf8;  // path
    bool quote_path = true;
};

// Percent-encodes what is unsafe in a URL, as w3lib's safe_url_string: tabs/newlines removed,
// leading/trailing C0 and spaces stripped, `\` read as `/` in special schemes, IDNA hosts to
// punycode (with a small built-in case mapping instead of full nameprep), userinfo re-escaped.
// Already-safe URLs come back unchanged. Errors for an invalid port or host, as canonicalize_url.
[[nodiscard]] boost::system::result<std::string> safe_url_string(std::string_view url);
[[nodiscard]] boost::system::result<std::string> safe_url_string(std::string_view url,
                                                                 const safe_url_options& options);

// An absolute http:// or https:// URL with a host (what a seed, a callback or a template
// expansion must be before anything is fetched).
[[nodiscard]] bool is_http_url(std::string_view text);

// Re-encodes Latin-1 bytes as UTF-8 (for URLs read from a page declared as Latin-1).
[[nodiscard]] std::string latin1_to_utf8(std::string_view bytes);

}  // namespace harvest::core
