// IDNA: a small nameprep, RFC 3492 punycode and idna_to_ascii. See engine/core/idna.hpp.

#include "engine/core/idna.hpp"

#include "engine/core/detail/percent_encoding.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::core {

namespace {

using boost::system::result;
using detail::invalid_url;
using detail::to_code_points;

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// A small stand-in for nameprep (RFC 3491): the case folds and "map to nothing" characters that
// real host names use. Full NFKC is not attempted; such hosts are punycoded as they are.
void nameprep_append(char32_t c, std::u32string& out) {
    switch (c) {
        case 0x00AD:
        case 0x034F:
        case 0x1806:
        case 0x180B:
        case 0x180C:
        case 0x180D:
        case 0x200B:
        case 0x200C:
        case 0x200D:
        case 0x2060:
        case 0xFEFF:
            return;  // RFC 3454 table B.1: mapped to nothing
        case 0x00DF:
            out += U"ss";
            return;
        default:
            break;
    }
    if (c >= 0xFE00 && c <= 0xFE0F) {
        return;  // variation selectors
    }
    if (c < 0x80) {
        out += (c >= 'A' && c <= 'Z') ? c + 32 : c;
    } else if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2) ||
               (c >= 0x410 && c <= 0x42F)) {
        out += c + 32;  // Latin-1, Greek and Cyrillic capitals
    } else if (c >= 0x400 && c <= 0x40F) {
        out += c + 80;
    } else if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
               (c >= 0x14A && c <= 0x177)) {
        out += (c % 2 == 0) ? c + 1 : c;  // Latin Extended-A pairs, capital first
    } else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) {
        out += (c % 2 == 1) ? c + 1 : c;
    } else if (c == 0x178) {
        out += 0xFF;
    } else if (c >= 0xFF01 && c <= 0xFF5E) {
        // Full-width ASCII (NFKC), then lower-cased.
        const char32_t a = c - 0xFF01 + 0x21;
        out += (a >= 'A' && a <= 'Z') ? a + 32 : a;
    } else {
        out += c;
    }
}

char punycode_digit(std::uint32_t d) {
    return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
}

std::uint32_t punycode_adapt(std::uint32_t delta, std::uint32_t num_points, bool first) {
    constexpr std::uint32_t base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700;
    delta = first ? delta / damp : delta / 2;
    delta += delta / num_points;
    std::uint32_t k = 0;
    while (delta > ((base - tmin) * tmax) / 2) {
        delta /= base - tmin;
        k += base;
    }
    return k + (base - tmin + 1) * delta / (delta + skew);
}

// RFC 3492 encoder. nullopt on arithmetic overflow (absurd inputs only).
std::optional<std::string> punycode_encode(const std::u32string& input) {
    constexpr std::uint32_t base = 36, tmin = 1, tmax = 26;
    constexpr std::uint32_t max_u32 = std::numeric_limits<std::uint32_t>::max();
    std::string out;
    for (char32_t c : input) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        }
    }
    const auto basic = static_cast<std::uint32_t>(out.size());
    std::uint32_t handled = basic;
    if (basic > 0) {
        out += '-';
    }
    std::uint32_t n = 0x80;
    std::uint32_t delta = 0;
    std::uint32_t bias = 72;
    while (handled < input.size()) {
        std::uint32_t m = max_u32;
        for (char32_t c : input) {
            if (c >= n && c < m) {
                m = c;
            }
        }
        if ((m - n) > (max_u32 - delta) / (handled + 1)) {
            return std::nullopt;
        }
        delta += (m - n) * (handled + 1);
        n = m;
        for (char32_t c : input) {
            if (c < n && ++delta == 0) {
                return std::nullopt;
            }
            if (c == n) {
                std::uint32_t q = delta;
                for (std::uint32_t k = base;; k += base) {
                    const std::uint32_t t = k <= bias ? tmin : (k >= bias + tmax ? tmax : k - bias);
                    if (q < t) {
                        break;
                    }
                    out += punycode_digit(t + (q - t) % (base - t));
                    q = (q - t) / (base - t);
                }
                out += punycode_digit(q);
                bias = punycode_adapt(delta, handled + 1, handled == basic);
                delta = 0;
                ++handled;
            }
        }
        ++delta;
        ++n;
    }
    return out;
}

bool is_idna_dot(char32_t c) {
    return c == U'.' || c == 0x3002 || c == 0xFF0E || c == 0xFF61;
}

}  // namespace

result<std::string> idna_to_ascii(std::string_view host) {
    if (host.empty()) {
        return std::string();
    }
    if (is_ascii(host)) {
        // Python's ASCII fast path: only label lengths are checked (a final empty label is a
        // trailing dot, allowed).
        std::size_t pos = 0;
        while (true) {
            const std::size_t dot = host.find('.', pos);
            const std::size_t len = (dot == std::string_view::npos ? host.size() : dot) - pos;
            if (dot == std::string_view::npos) {
                if (len >= 64) {
                    return invalid_url();
                }
                break;
            }
            if (len == 0 || len >= 64) {
                return invalid_url();
            }
            pos = dot + 1;
        }
        return std::string(host);
    }
    const std::u32string cps = to_code_points(host);
    std::vector<std::u32string> labels(1);
    for (char32_t c : cps) {
        if (is_idna_dot(c)) {
            labels.emplace_back();
        } else {
            labels.back() += c;
        }
    }
    bool trailing_dot = false;
    if (labels.size() > 1 && labels.back().empty()) {
        trailing_dot = true;
        labels.pop_back();
    }
    std::string out;
    for (const auto& label : labels) {
        if (!out.empty()) {
            out += '.';
        }
        const bool label_ascii =
            std::all_of(label.begin(), label.end(), [](char32_t c) { return c < 0x80; });
        std::u32string prepared;
        if (label_ascii) {
            prepared = label;  // ASCII labels skip nameprep
        } else {
            for (char32_t c : label) {
                nameprep_append(c, prepared);
            }
        }
        const bool prepared_ascii =
            std::all_of(prepared.begin(), prepared.end(), [](char32_t c) { return c < 0x80; });
        std::string encoded;
        if (prepared_ascii) {
            for (char32_t c : prepared) {
                encoded += static_cast<char>(c);
            }
        } else {
            if (prepared.size() >= 4 && prepared[0] == 'x' && prepared[1] == 'n' &&
                prepared[2] == '-' && prepared[3] == '-') {
                return invalid_url();
            }
            auto puny = punycode_encode(prepared);
            if (!puny) {
                return invalid_url();
            }
            encoded = "xn--" + *puny;
        }
        if (encoded.empty() || encoded.size() >= 64) {
            return invalid_url();
        }
        out += encoded;
    }
    if (trailing_dot) {
        out += '.';
    }
    return out;
}

}  // namespace harvest::core
