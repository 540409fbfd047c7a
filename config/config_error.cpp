#include "config/crawl_config.hpp"

#include <utility>

namespace harvest::config {

config_error::config_error(std::string file, int line, int column, const std::string& message)
    : std::runtime_error(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                         message),
      file_(std::move(file)),
      line_(line),
      column_(column) {}

config_error::config_error(std::string origin, const std::string& message)
    : std::runtime_error(origin + ": " + message), file_(std::move(origin)), line_(0), column_(0) {}

}  // namespace harvest::config
