#pragma once
// `harvest run`, `harvest check`, `harvest fetch` and `harvest serve`: thin users of the
// library.

#include <string>
#include <vector>

namespace harvest::cli {

// Exit statuses of docs/cli.md.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_cannot_start = 3;
inline constexpr int exit_interrupted = 130;
// `login:` failed for a session: nothing was crawled (docs/cli.md).
inline constexpr int exit_login_failed = 4;

enum class progress_mode { automatic, always, never };

struct run_arguments {
    std::string config_path;
    std::vector<std::string> overrides;
    bool resume = false;
    std::string stats_json;
    progress_mode progress = progress_mode::automatic;
};

struct fetch_arguments {
    bool render = false;  // --render: the rendered DOM (engine/render)
    std::string url;
    std::string config_path;  // optional: its rules, limits, retries and extractors
    std::vector<std::string> overrides;
    bool extract = false;
    // --body: the decoded body on stdout, the JSON summary on stderr. --output FILE: the body
    // in FILE (exact bytes), the JSON summary on stdout as without it.
    bool body = false;
    std::string body_path;
};

int run_crawl(const run_arguments& args);
int fetch_url(const fetch_arguments& args);
int check_config(const std::string& config_path);
// `harvest serve --config FILE` and `harvest check --serve FILE` (serve_command.cpp).
int serve(const std::string& config_path);
int check_service_config(const std::string& config_path);

}  // namespace harvest::cli
