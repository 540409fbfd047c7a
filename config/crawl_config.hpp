#pragma once
// A whole crawl config, typed and validated (docs/config.md).

#include "engine/crawl/options.hpp"
#include "pipelines/rules.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace harvest::config {

enum class seed_kind { url, urls_file, sitemap, template_values };

struct seed {
    seed_kind kind = seed_kind::url;
    std::string url;  // url, sitemap; for template_values: the template with {id}
    std::string method = "GET";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string file;  // urls_file or values_file, resolved against the config dir
};

struct crawl_config {
    std::string source_path;  // the YAML file this came from
    crawl::crawl_options crawl;
    std::vector<seed> seeds;
    std::vector<pipelines::follow_rule> follow;
    std::vector<pipelines::extract_rule> extract;
    std::vector<pipelines::output_spec> outputs;
};

// A config error: `file:line:col: message` where message says what is wrong and what would be
// right. Thrown by the loader, caught at the edges (CLI, service).
class config_error : public std::runtime_error {
  public:
    config_error(std::string file, int line, int column, const std::string& message);
    // An error with no place in a file, e.g. in a `--set path=value` override: `origin: message`
    // with line() and column() 0.
    config_error(std::string origin, const std::string& message);
    const std::string& file() const noexcept { return file_; }
    int line() const noexcept { return line_; }
    int column() const noexcept { return column_; }

  private:
    std::string file_;
    int line_;
    int column_;
};

}  // namespace harvest::config
