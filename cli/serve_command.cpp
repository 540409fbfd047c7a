// `harvest serve --config FILE`: the bulk job service (docs/bulk-api.md); and
// `harvest check --serve FILE`, which loads the same config and starts nothing.

#include "cli/run_command.hpp"

#include "config/service_config.hpp"
#include "service/service.hpp"

#include <cstdio>
#include <exception>
#include <string>

namespace harvest::cli {

int check_service_config(const std::string& config_path) {
    try {
        const auto config = config::load_service_config(config_path);
        const auto names = [](const auto& map) {
            std::string list;
            for (const auto& entry : map) {
                list += (list.empty() ? "" : ", ") + entry.first;
            }
            return list.empty() ? std::string("none") : list;
        };
        std::fprintf(stdout, "%s: valid (service on %s; profiles: %s; templates: %s)\n",
                     config_path.c_str(), config.listen.c_str(), names(config.profiles).c_str(),
                     names(config.templates).c_str());
        return exit_ok;
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return exit_usage;
    }
}

int serve(const std::string& config_path) {
    config::service_config config;
    try {
        config = config::load_service_config(config_path);
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return exit_usage;
    }
    try {
        return service::run_service(config);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "harvest serve: %s\n", e.what());
        return exit_cannot_start;
    }
}

}  // namespace harvest::cli
