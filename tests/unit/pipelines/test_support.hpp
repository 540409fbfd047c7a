#pragma once
// Helpers shared by the pipelines unit tests.

#include "engine/crawl/sink.hpp"

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace harvest::pipelines::test {

// A body as the HTTP client hands it over: with simdjson's 64 bytes of spare capacity.
inline std::string padded_body(std::string_view text) {
    std::string body;
    body.reserve(text.size() + 64);
    body.assign(text);
    return body;
}

inline crawl::fetched_page make_page(std::string url, std::string_view body, unsigned status = 200,
                                     std::chrono::system_clock::time_point fetched_at = {}) {
    crawl::fetched_page page;
    page.request.http.url = url;
    page.response.final_url = std::move(url);
    page.response.status = status;
    page.response.body = padded_body(body);
    page.fetched_at = fetched_at;
    return page;
}

// A fresh folder under the system temp folder, removed with everything in it at the end.
class temp_dir {
  public:
    temp_dir() {
        static std::atomic<unsigned> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("harvest-pipelines-test-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter.fetch_add(1)));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::string file(std::string_view relative) const { return (path_ / relative).string(); }

  private:
    std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

}  // namespace harvest::pipelines::test
