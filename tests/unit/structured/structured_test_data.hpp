#pragma once
// Helpers shared by the unit_structured tests: reading tests/data/structured_data.

#include <boost/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace harvest::pipelines::test {

inline std::string structured_data_dir() {
    return std::string(HARVEST_TEST_DATA_DIR) + "/structured_data";
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open " + path);
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

inline boost::json::value read_json(const std::string& path) {
    return boost::json::parse(read_file(path));
}

}  // namespace harvest::pipelines::test
