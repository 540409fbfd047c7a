#pragma once
// Seeds as a stream: files are read a line at a time as the frontier asks for more, so a
// seed list of millions of URLs costs one line of memory, not the whole file.

#include "engine/crawl/request.hpp"

#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace harvest::crawl {

struct seed_spec {
    enum class kind { url, urls_file, template_values, sitemap };
    kind what = kind::url;
    std::string url;  // url: the URL; template_values: the template containing "{id}"
    std::string method = "GET";
    net::header_list headers;
    std::string body;
    std::string file;  // urls_file or values_file
};

class seed_stream {
  public:
    explicit seed_stream(std::vector<seed_spec> seeds);
    // Opens every file up front so that a missing file is reported before the crawl starts.
    // Throws std::runtime_error naming the file.
    void open();
    // The next seed request, or nullopt when every seed has been produced.
    std::optional<crawl_request> next();
    bool exhausted() const noexcept { return index_ >= seeds_.size(); }
    // Back to the first seed (a distributed crawl whose store lost them loads them again).
    void rewind() noexcept {
        index_ = 0;
        file_.reset();
    }

  private:
    std::vector<seed_spec> seeds_;
    std::size_t index_ = 0;
    std::unique_ptr<std::ifstream> file_;  // the open file of seeds_[index_], if any
};

}  // namespace harvest::crawl
