#pragma once
// `harvest serve`: the bulk job service put together (docs/bulk-api.md). One io_context thread
// runs the API server, the job runner, the webhook deliveries and /metrics; SQLite is touched
// only from it.

#include "config/service_config.hpp"

namespace harvest::service {

// Runs until SIGINT or SIGTERM, then stops accepting, lets in-flight fetches end (bounded) and
// returns 0. Throws std::runtime_error / std::system_error when it cannot start (jobs_db, keys,
// a listen address in use).
int run_service(const config::service_config& config);

}  // namespace harvest::service
