#include "config/crawl_config.hpp"

#include <utility>

namespace harvest::config {

config_error::config_error(std::string file, int line, int column, const std::string& message)
    : std::runtime_error(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                         message),
      file_(std::move(file)),
      line_(line),
      column_(column) {}

}  // namespace harvest::config
