#pragma once
// Helpers shared by the corpus-driven tests of unit_core.

#include <boost/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace harvest::test {

inline boost::json::value load_json(const std::string& relative) {
    const std::string path = std::string(HARVEST_TEST_DATA_DIR) + "/" + relative;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open " + path);
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return boost::json::parse(buffer.str());
}

inline std::string from_hex(std::string_view hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        throw std::runtime_error("bad hex digit");
    };
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1]));
    }
    return out;
}

inline std::string str(const boost::json::value& v) {
    return std::string(v.as_string().data(), v.as_string().size());
}

// Printable form of a test string (control and non-ASCII bytes as \xNN).
inline std::string printable(std::string_view s, std::size_t max = 160) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (char c : s.substr(0, max)) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7F) {
            out += "\\x";
            out += k_hex[b >> 4];
            out += k_hex[b & 0x0F];
        } else {
            out += c;
        }
    }
    if (s.size() > max) {
        out += "...(" + std::to_string(s.size()) + " bytes)";
    }
    return out;
}

}  // namespace harvest::test
