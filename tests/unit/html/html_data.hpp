#pragma once
// The html test pages of tests/data/html/, read whole.

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <string>

namespace html_test {

inline std::string read_data(const std::string& name) {
    std::ifstream in(std::string(HARVEST_TEST_DATA_DIR) + "/html/" + name, std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace html_test
