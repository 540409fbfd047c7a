#include "config/file_checks.hpp"

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace harvest::config::detail {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int error) {
    return std::generic_category().message(error);
}

// `folder` must be a folder this process can create entries in, or be creatable: the nearest
// of it and its ancestors that exists decides (relative paths: the working folder's).
std::string folder_reason(const fs::path& folder) {
    fs::path probe = folder.empty() ? fs::path(".") : folder;
    std::error_code ec;
    while (!fs::exists(probe, ec)) {
        if (ec && ec != std::errc::no_such_file_or_directory) {
            return probe.string() + ": " + ec.message();
        }
        if (!probe.has_parent_path() || probe.parent_path() == probe) {
            probe = ".";
            break;
        }
        probe = probe.parent_path();
    }
    if (!fs::is_directory(probe, ec)) {
        return probe.string() + " is not a folder";
    }
    if (::access(probe.c_str(), W_OK | X_OK) != 0) {
        const int error = errno;
        return probe == folder
                   ? "the folder " + probe.string() + " is not writable (" + errno_text(error) + ")"
                   : "the folder " + probe.string() +
                         " is not writable, so the folders under it cannot be made (" +
                         errno_text(error) + ")";
    }
    return "";
}

}  // namespace

std::string unreadable_file_reason(const std::string& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        return path + " is a folder";
    }
    if (::access(path.c_str(), R_OK) != 0) {
        return path + ": " + errno_text(errno);
    }
    return "";
}

std::string unwritable_file_reason(const std::string& path) {
    std::error_code ec;
    const fs::path file(path);
    if (fs::is_directory(file, ec)) {
        return path + " is a folder";
    }
    if (fs::exists(file, ec) && ::access(file.c_str(), W_OK) != 0) {
        return path + ": " + errno_text(errno);
    }
    return folder_reason(file.parent_path());
}

std::string unwritable_folder_reason(const std::string& path) {
    return folder_reason(fs::path(path));
}

}  // namespace harvest::config::detail
