#pragma once
// Percent-encoding and the text-to-bytes step before it, as w3lib does them: the character sets
// (w3lib's names in comments), quote/unquote, UTF-8 and the query encodings. An implementation
// detail of engine/core: shared by url_canonical.cpp (canonicalize_url, safe_url_string) and
// idna.cpp, defined in percent_encoding.cpp.

#include "engine/core/url_canonical.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>

namespace harvest::core::detail {

// The error of every URL function here that refuses its input.
inline boost::system::error_code invalid_url() {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Character sets (w3lib's names in comments). Every set contains the RFC 3986 unreserved set.

class char_set {
  public:
    constexpr explicit char_set(std::string_view extra, std::string_view removed = {}) {
        for (char c = 'a'; c <= 'z'; ++c) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c = 'A'; c <= 'Z'; ++c) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c = '0'; c <= '9'; ++c) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c : std::string_view("-._~")) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c : extra) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c : removed) {
            table_[static_cast<unsigned char>(c)] = false;
        }
    }
    constexpr bool contains(unsigned char c) const { return table_[c]; }

  private:
    std::array<bool, 256> table_{};
};

// _safe_chars: reserved + unreserved + "|" + "%".
inline constexpr std::string_view k_safe_extra = ":/?#[]@!$&'()*+,;=|%";
inline constexpr char_set k_safe{k_safe_extra};
// _path_safe_chars: _safe_chars without '#'.
inline constexpr char_set k_path_safe{k_safe_extra, "#"};
// _PATH_SAFEST_CHARS (= _QUERY_SAFEST_CHARS = _FRAGMENT_SAFEST_CHARS).
inline constexpr char_set k_path_safest{k_safe_extra, "#[]|"};
// _SPECIAL_QUERY_SAFEST_CHARS: a `'` in the query of a special scheme is escaped.
inline constexpr char_set k_special_query_safest{k_safe_extra, "#[]|'"};
// _USERINFO_SAFEST_CHARS: unreserved + sub-delims without ";=" (and no ':').
inline constexpr char_set k_userinfo_safest{"!$&'()*+,"};
// Python's quote_plus(safe=''): unreserved only.
inline constexpr char_set k_unreserved{""};

// ---------------------------------------------------------------------------------------------
// Escapes

// The byte of a well-formed "%XX" at s[i], or -1 (a stray '%', or not at a '%').
[[nodiscard]] int escaped_byte_at(std::string_view s, std::size_t i);

// Appends "%XX" (upper-case hex).
void append_escaped(std::string& out, unsigned char b);

// Appends `b` as it is when `safe` contains it, else "%XX".
void append_quoted(std::string& out, unsigned char b, const char_set& safe);

// w3lib _quote: every byte outside `safe` becomes %XX (upper-case hex).
[[nodiscard]] std::string quote(std::string_view bytes, const char_set& safe);

// Python's quote_plus(bytes, safe=''): as quote() over the unreserved set, space as '+'.
[[nodiscard]] std::string quote_plus(std::string_view bytes);

// w3lib _unquote: every well-formed %XX becomes its byte; a stray '%' stays.
[[nodiscard]] std::string unquote(std::string_view s);

// ---------------------------------------------------------------------------------------------
// UTF-8 and the query encodings

// Code points of valid UTF-8 (a stray byte is read as its Latin-1 code point).
[[nodiscard]] std::u32string to_code_points(std::string_view s);

// Text -> bytes in the given encoding; nullopt when a character is not representable.
[[nodiscard]] std::optional<std::string> encode_text(std::string_view utf8, text_encoding encoding);

// encode_text, or the UTF-8 text itself when the encoding cannot represent it.
[[nodiscard]] std::string encode_or_utf8(std::string_view utf8, text_encoding encoding);

// Invalid UTF-8 bytes -> "%XX" (w3lib's "percentencode" error handler), then w3lib's _strip:
// leading/trailing C0 controls and spaces removed, tabs and newlines removed everywhere.
[[nodiscard]] std::string sanitize_input(std::string_view in);

}  // namespace harvest::core::detail
