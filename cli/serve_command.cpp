// `harvest serve --config FILE`: the bulk job service (docs/bulk-api.md).

#include "cli/run_command.hpp"

#include "config/service_config.hpp"
#include "service/service.hpp"

#include <cstdio>
#include <exception>

namespace harvest::cli {

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
