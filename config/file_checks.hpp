#pragma once
// Internal to the config module: what `harvest check` asks the file system about the paths of a
// crawl config, so that it finds what `harvest run` would fail on at start (exit 3) without
// creating or changing anything. Each returns "" when the path is fine, else why it is not
// ("No such file or directory", "/srv/out is not a folder", ...), to follow the path in an error.

#include <string>

namespace harvest::config::detail {

// A file harvest will read (a seed's urls_file or values_file): it exists, is not a folder and
// this process may read it.
std::string unreadable_file_reason(const std::string& path);

// A file harvest will create or append to (an output's path), with its folder made as needed:
// the path is not a folder, an existing file is writable, and the folder it goes in is
// writable or can be made. Files beside it (a SQLite journal, the JSONL error stream) need the
// folder writable too.
std::string unwritable_file_reason(const std::string& path);

// A folder harvest will make as needed and write in (state.dir): an existing one is a writable
// folder; otherwise its nearest existing ancestor is a folder where this process may create
// entries (access(2) W_OK | X_OK: nothing is created to find out).
std::string unwritable_folder_reason(const std::string& path);

}  // namespace harvest::config::detail
