#include "engine/crawl/connection_budget.hpp"

#include <catch2/catch.hpp>

using harvest::crawl::crawl_options;
using harvest::crawl::idle_connections_per_origin;
using harvest::crawl::min_idle_per_origin;

TEST_CASE("idle pool: small crawls keep the client's default", "[connection_budget]") {
    crawl_options o;
    o.engine.concurrency = 512;
    o.engine.per_host_concurrency = 32;
    CHECK(idle_connections_per_origin(o) == min_idle_per_origin);
}

TEST_CASE("idle pool: follows the per-host concurrency at scale", "[connection_budget]") {
    crawl_options o;
    o.engine.concurrency = 10000;
    o.engine.per_host_concurrency = 10000;
    CHECK(idle_connections_per_origin(o) == 10000);
}

TEST_CASE("idle pool: capped by the crawl-wide concurrency", "[connection_budget]") {
    crawl_options o;
    o.engine.concurrency = 2000;
    o.engine.per_host_concurrency = 10000;
    CHECK(idle_connections_per_origin(o) == 2000);
    o.engine.concurrency = 0;  // uncapped
    CHECK(idle_connections_per_origin(o) == 10000);
}

TEST_CASE("idle pool: a hosts: override may raise it", "[connection_budget]") {
    crawl_options o;
    o.engine.concurrency = 5000;
    o.engine.per_host_concurrency = 32;
    o.hosts["127.0.0.1:8080"].per_host_concurrency = 3000;
    o.hosts["example.com"].per_host_concurrency = 8;
    CHECK(idle_connections_per_origin(o) == 3000);
}
