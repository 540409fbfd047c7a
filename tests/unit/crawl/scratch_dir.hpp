#pragma once
// A fresh folder under the system temp dir for one test, removed with everything in it.

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace harvest::test {

struct scratch_dir {
    std::filesystem::path path;
    scratch_dir() {
        static int counter = 0;
        path =
            std::filesystem::temp_directory_path() /
            ("harvest-crawl-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~scratch_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
};

}  // namespace harvest::test
