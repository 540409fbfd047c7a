// The YAML -> crawl_config mapping: every supported key, the defaults, paths, examples.

#include "config/loader.hpp"
#include "config/service_config.hpp"
#include "config_test_util.hpp"

#include "pipelines/html/html.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace harvest;
using config_test::parse;

namespace {

// Every supported key of docs/config.md, each set away from its default.
const std::string full_config = R"(name: catalog_2-b
seeds:
  - url: http://127.0.0.1:8080/catalog/page-1.html
  - url: http://127.0.0.1:8080/api/search
    method: POST
    headers: {Content-Type: application/json, X-Token: abc}
    body: '{"q": "laptop"}'
  - urls_file: urls.txt
  - template: "https://127.0.0.1:8443/api/products/{id}.json"
    values_file: /data/asins.txt
engine:
  concurrency: 64
  per_host_concurrency: 8
  threads: 3
  network_threads: 2
  user_agent: "my-bot/1.0"
  robots_txt: ignore
  max_depth: 4
  dedup: false
  max_requests: 100000
  frontier_memory: 64MiB
http:
  timeouts: {connect: 1s, tls: 2s, response_headers: 3s, idle_read: 4s, total: 1.5m}
  max_body: 512KiB
  max_redirects: 2
  decompress: [gzip, br]
  headers: {Accept-Language: de-DE, Accept: application/json}
  tls: {verify: false, ca_file: certs/ca.pem}
rate_limit:
  per_second: 12.5
  burst: 3
  adaptive: false
  global: {per_second: 1000, burst: 50}
retry:
  max_attempts: 6
  on_status: [429, 503]
  on_errors: [connect, dns, tls_handshake, tls_verify, timeout, reset, protocol,
              body_too_large, too_many_redirects]
  backoff: {strategy: decorrelated_jitter, base: 100ms, max: 10s}
  retry_after: {honor: false, max: 60s}
  methods: [GET, HEAD]
  idempotency_key: {header: X-Idempotency, for: [POST]}
  budget: {ratio: 0.5, min_per_second: 2}
circuit_breaker:
  window: 40
  min_calls: 5
  failure_rate: 0.25
  open_for: 10s
  half_open_probes: 3
  give_up_after: 1h
hosts:
  "API.example.com":
    per_host_concurrency: 2
    rate_limit: {per_second: 5}
    http: {max_redirects: 0}
    retry: {max_attempts: 2}
    circuit_breaker: {open_for: 1m}
  "127.0.0.1:8080":
    rate_limit: {burst: 7}
  quiet.example.com: ~
extract:
  - match: "/api/products/"
    type: json
    fields:
      id: /asin
      title: /title
      price: {pointer: /price, as: price}
      eu_price: {pointer: /eu, as: price, decimal_separator: ",", currency: EUR}
      count: {pointer: /n, as: int}
      score: {pointer: /s, as: number}
      ok: {pointer: /ok, as: bool}
      stock: {pointer: /stock, as: availability}
      label: {pointer: /a~1b, as: string}
    required: [id, price]
outputs:
  - type: jsonl
    path: out/items.jsonl
  - type: jsonl
    path: /tmp/abs.jsonl
frontier:
  backend: memory
  lease: 30s
metrics:
  listen: 127.0.0.1:9465
  host_label_limit: 9
  linger: 45s
)";

}  // namespace

TEST_CASE("a full config maps every supported key into the struct", "[unit]") {
    const auto c = config::parse_config(full_config, "dir/full.yaml", "/cfg");
    CHECK(c.source_path == "dir/full.yaml");
    const auto& k = c.crawl;
    CHECK(k.name == "catalog_2-b");

    REQUIRE(c.seeds.size() == 4);
    CHECK(c.seeds[0].kind == config::seed_kind::url);
    CHECK(c.seeds[0].url == "http://127.0.0.1:8080/catalog/page-1.html");
    CHECK(c.seeds[0].method == "GET");
    CHECK(c.seeds[0].headers.empty());
    CHECK(c.seeds[1].method == "POST");
    using header = std::pair<std::string, std::string>;
    CHECK(c.seeds[1].headers ==
          std::vector<header>{{"Content-Type", "application/json"}, {"X-Token", "abc"}});
    CHECK(c.seeds[1].body == R"({"q": "laptop"})");
    CHECK(c.seeds[2].kind == config::seed_kind::urls_file);
    CHECK(c.seeds[2].file == "/cfg/urls.txt");
    CHECK(c.seeds[3].kind == config::seed_kind::template_values);
    CHECK(c.seeds[3].url == "https://127.0.0.1:8443/api/products/{id}.json");
    CHECK(c.seeds[3].file == "/data/asins.txt");

    CHECK(k.engine.concurrency == 64);
    CHECK(k.engine.per_host_concurrency == 8);
    CHECK(k.engine.threads == 3);
    CHECK(k.engine.network_threads == 2);
    CHECK(k.engine.user_agent == "my-bot/1.0");
    CHECK_FALSE(k.engine.obey_robots_txt);
    CHECK(k.engine.max_depth == 4);
    CHECK_FALSE(k.engine.dedup);
    CHECK(k.engine.max_requests == 100000);
    CHECK(k.engine.frontier_memory == (64ull << 20));
    CHECK(k.frontier.backend == harvest::crawl::frontier_options::kind::memory);
    CHECK(k.frontier.lease == std::chrono::milliseconds(30000));
    CHECK(k.metrics_listen == "127.0.0.1:9465");
    CHECK(k.host_label_limit == 9);
    CHECK(k.metrics_linger == std::chrono::milliseconds(45000));

    using std::chrono::milliseconds;
    CHECK(k.http.timeouts.connect == milliseconds(1000));
    CHECK(k.http.timeouts.tls == milliseconds(2000));
    CHECK(k.http.timeouts.response_headers == milliseconds(3000));
    CHECK(k.http.timeouts.idle_read == milliseconds(4000));
    CHECK(k.http.timeouts.total == milliseconds(90000));
    CHECK(k.http.max_body == 512 * 1024);
    CHECK(k.http.max_redirects == 2);
    CHECK(k.http.gzip);
    CHECK_FALSE(k.http.deflate);
    CHECK(k.http.br);
    CHECK(k.http.headers ==
          std::vector<header>{{"Accept-Language", "de-DE"}, {"Accept", "application/json"}});
    CHECK_FALSE(k.http.tls.verify);
    CHECK(k.http.tls.ca_file == "/cfg/certs/ca.pem");

    CHECK(k.rate_limit.per_host.per_second == 12.5);
    CHECK(k.rate_limit.per_host.burst == 3);
    CHECK_FALSE(k.rate_limit.adaptive);
    CHECK(k.rate_limit.global.per_second == 1000);
    CHECK(k.rate_limit.global.burst == 50);

    CHECK(k.retry.max_attempts == 6);
    CHECK(k.retry.on_status == std::vector<unsigned>{429, 503});
    CHECK(k.retry.on_errors ==
          std::vector<core::failure_kind>{
              core::failure_kind::connect, core::failure_kind::dns,
              core::failure_kind::tls_handshake, core::failure_kind::tls_verify,
              core::failure_kind::timeout, core::failure_kind::reset, core::failure_kind::protocol,
              core::failure_kind::body_too_large, core::failure_kind::too_many_redirects});
    CHECK(k.retry.backoff.strategy == crawl::backoff_strategy::decorrelated_jitter);
    CHECK(k.retry.backoff.base == milliseconds(100));
    CHECK(k.retry.backoff.max == milliseconds(10000));
    CHECK_FALSE(k.retry.honor_retry_after);
    CHECK(k.retry.retry_after_max == milliseconds(60000));
    CHECK(k.retry.methods == std::vector<std::string>{"GET", "HEAD"});
    CHECK(k.retry.idempotency_header == "X-Idempotency");
    CHECK(k.retry.idempotency_methods == std::vector<std::string>{"POST"});
    CHECK(k.retry.budget_ratio == 0.5);
    CHECK(k.retry.budget_min_per_second == 2);

    CHECK(k.circuit_breaker.window == 40);
    CHECK(k.circuit_breaker.min_calls == 5);
    CHECK(k.circuit_breaker.failure_rate == 0.25);
    CHECK(k.circuit_breaker.open_for == milliseconds(10000));
    CHECK(k.circuit_breaker.half_open_probes == 3);
    CHECK(k.circuit_breaker.give_up_after == milliseconds(3600000));

    REQUIRE(k.hosts.size() == 3);
    const auto& api = k.hosts.at("api.example.com");  // lower-cased
    CHECK(api.per_host_concurrency == 2u);
    REQUIRE(api.rate_limit);
    CHECK(api.rate_limit->per_second == 5);
    CHECK(api.rate_limit->burst == 3);  // inherited from the crawl-wide rate_limit
    REQUIRE(api.http);
    CHECK(api.http->max_redirects == 0);
    CHECK(api.http->max_body == 512 * 1024);  // inherited
    CHECK(api.http->tls.ca_file == "/cfg/certs/ca.pem");
    REQUIRE(api.retry);
    CHECK(api.retry->max_attempts == 2);
    CHECK(api.retry->on_status == std::vector<unsigned>{429, 503});  // inherited
    REQUIRE(api.circuit_breaker);
    CHECK(api.circuit_breaker->open_for == milliseconds(60000));
    CHECK(api.circuit_breaker->window == 40);  // inherited
    const auto& local = k.hosts.at("127.0.0.1:8080");
    CHECK_FALSE(local.per_host_concurrency);
    CHECK_FALSE(local.http);
    CHECK_FALSE(local.retry);
    CHECK_FALSE(local.circuit_breaker);
    REQUIRE(local.rate_limit);
    CHECK(local.rate_limit->per_second == 12.5);
    CHECK(local.rate_limit->burst == 7);
    const auto& quiet = k.hosts.at("quiet.example.com");
    CHECK_FALSE(quiet.per_host_concurrency);
    CHECK_FALSE(quiet.rate_limit);

    REQUIRE(c.extract.size() == 1);
    const auto& rule = c.extract[0];
    CHECK(rule.match == "/api/products/");
    CHECK(rule.type == pipelines::extract_type::json);
    CHECK(rule.required == std::vector<std::string>{"id", "price"});
    REQUIRE(rule.fields.size() == 9);
    CHECK(rule.fields[0].name == "id");
    CHECK(rule.fields[0].pointer == "/asin");
    CHECK(rule.fields[0].as == pipelines::value_kind::raw);
    CHECK(rule.fields[2].name == "price");
    CHECK(rule.fields[2].as == pipelines::value_kind::price);
    CHECK_FALSE(rule.fields[2].decimal_separator);
    CHECK(rule.fields[3].name == "eu_price");
    CHECK(rule.fields[3].pointer == "/eu");
    CHECK(rule.fields[3].decimal_separator == ',');
    CHECK(rule.fields[3].currency == "EUR");
    CHECK(rule.fields[4].as == pipelines::value_kind::integer);
    CHECK(rule.fields[5].as == pipelines::value_kind::number);
    CHECK(rule.fields[6].as == pipelines::value_kind::boolean);
    CHECK(rule.fields[7].as == pipelines::value_kind::availability);
    CHECK(rule.fields[8].as == pipelines::value_kind::string);
    CHECK(rule.fields[8].pointer == "/a~1b");

    REQUIRE(c.outputs.size() == 2);
    CHECK(c.outputs[0].type == pipelines::output_type::jsonl);
    CHECK(c.outputs[0].path == "/cfg/out/items.jsonl");
    CHECK(c.outputs[1].path == "/tmp/abs.jsonl");
    CHECK(c.follow.empty());
}

TEST_CASE("the spec's follow and structured / html extract rules load", "[unit]") {
    const auto c = parse(config_test::minimal + R"(follow:
  - css: "a.product-link"
    allow: ["^/p/"]
    max_depth: 3
  - xpath: "//a[@rel='next']/@href"
    deny: ["/private/"]
extract:
  - match: "/p/"
    type: jsonld
    schema: Product
    required: [id, price]
  - match: "/raw/"
    type: jsonld
  - match: "/p/"
    type: microdata
    schema: Product
  - match: "/p/"
    type: html
    fields:
      title: {css: "h1#title", text: true}
      price: {xpath: "//span[@class='price']", text: true, as: price}
      image: {css: "img.main", attribute: src}
      stock: {css: p.stock, text: true, regex: "(\\d+) left", as: int, default: 0}
      materials: {css: li, text: true, all: true, join: ", ", strip: true}
    required: [title]
  - match: "/catalogue/"
    type: product
    sources: [html, jsonld]
    fields:
      price: {css: p.price_color, text: true, as: price}
      upc: {css: "table td", text: true}
    required: [name, upc]
  - match: "/shop/"
    type: product
)");
    REQUIRE(c.follow.size() == 2);
    CHECK(c.follow[0].css == "a.product-link");
    CHECK(c.follow[0].allow == std::vector<std::string>{"^/p/"});
    CHECK(c.follow[0].max_depth == 3);
    CHECK(c.follow[1].xpath == "//a[@rel='next']/@href");
    CHECK(c.follow[1].deny == std::vector<std::string>{"/private/"});
    CHECK(c.follow[1].max_depth == 0);
    REQUIRE(c.extract.size() == 6);
    CHECK(c.extract[0].type == pipelines::extract_type::jsonld);
    CHECK(c.extract[0].schema == "Product");
    CHECK(c.extract[1].schema.empty());
    CHECK(c.extract[2].type == pipelines::extract_type::microdata);
    const auto& html = c.extract[3];
    CHECK(html.type == pipelines::extract_type::html);
    REQUIRE(html.fields.size() == 5);
    CHECK(html.fields[0].css == "h1#title");
    CHECK(html.fields[0].text);
    CHECK(html.fields[1].xpath == "//span[@class='price']");
    CHECK(html.fields[1].as == pipelines::value_kind::price);
    CHECK(html.fields[2].attribute == "src");
    REQUIRE(html.fields[3].pattern);
    CHECK(pipelines::apply_field_pattern(*html.fields[3].pattern, "only 3 left") ==
          std::optional<std::string>("3"));
    CHECK(html.fields[3].default_value == std::optional<std::string>("0"));
    CHECK(html.fields[3].as == pipelines::value_kind::integer);
    CHECK_FALSE(html.fields[3].all);
    CHECK(html.fields[4].all);
    CHECK(html.fields[4].join == std::optional<std::string>(", "));
    CHECK(html.fields[4].strip);
    CHECK_FALSE(html.fields[3].strip);
    CHECK(html.required == std::vector<std::string>{"title"});
    const auto& product = c.extract[4];
    CHECK(product.type == pipelines::extract_type::product);
    CHECK(product.sources == std::vector<pipelines::extract_type>{pipelines::extract_type::html,
                                                                  pipelines::extract_type::jsonld});
    REQUIRE(product.fields.size() == 2);
    CHECK(product.fields[0].as == pipelines::value_kind::price);
    CHECK(product.required == std::vector<std::string>{"name", "upc"});
    CHECK(c.extract[5].sources ==
          std::vector<pipelines::extract_type>{pipelines::extract_type::jsonld,
                                               pipelines::extract_type::microdata,
                                               pipelines::extract_type::html});
    CHECK(c.extract[5].fields.empty());
}

TEST_CASE("defaults are the spec's", "[unit]") {
    const auto c = parse(config_test::minimal);
    const crawl::crawl_options spec;  // options.hpp carries the spec's defaults
    const auto& k = c.crawl;
    CHECK(k.name == "t");
    CHECK(k.engine.concurrency == 512);
    CHECK(k.engine.per_host_concurrency == 32);
    CHECK(k.engine.threads == 0);
    CHECK(k.engine.network_threads == 1);
    CHECK(k.engine.user_agent.empty());
    CHECK(k.engine.obey_robots_txt);
    CHECK(k.engine.max_depth == 0);
    CHECK(k.engine.dedup);
    CHECK(k.engine.max_requests == 0);
    CHECK(k.engine.frontier_memory == (256ull << 20));
    using std::chrono::milliseconds;
    CHECK(k.http.timeouts.connect == milliseconds(5000));
    CHECK(k.http.timeouts.tls == milliseconds(5000));
    CHECK(k.http.timeouts.response_headers == milliseconds(15000));
    CHECK(k.http.timeouts.idle_read == milliseconds(15000));
    CHECK(k.http.timeouts.total == milliseconds(60000));
    CHECK(k.http.max_body == (8ull << 20));
    CHECK(k.http.max_redirects == 5);
    CHECK((k.http.gzip && k.http.deflate && k.http.br));
    CHECK(k.http.headers == spec.http.headers);
    CHECK(k.http.tls.verify);
    CHECK(k.http.tls.ca_file.empty());
    CHECK(k.rate_limit.per_host.per_second == 20);
    CHECK(k.rate_limit.per_host.burst == 20);
    CHECK_FALSE(k.rate_limit.adaptive);
    CHECK(k.rate_limit.global.per_second == 0);
    CHECK(k.rate_limit.global.burst == 0);
    CHECK(k.retry.max_attempts == 4);
    CHECK(k.retry.on_status == std::vector<unsigned>{429, 500, 502, 503, 504});
    CHECK(k.retry.on_errors ==
          std::vector<core::failure_kind>{
              core::failure_kind::connect, core::failure_kind::timeout, core::failure_kind::reset,
              core::failure_kind::dns, core::failure_kind::tls_handshake,
              core::failure_kind::proxy_connect, core::failure_kind::proxy_tunnel});
    CHECK(k.retry.backoff.strategy == crawl::backoff_strategy::full_jitter);
    CHECK(k.retry.backoff.base == milliseconds(500));
    CHECK(k.retry.backoff.max == milliseconds(30000));
    CHECK(k.retry.honor_retry_after);
    CHECK(k.retry.retry_after_max == milliseconds(120000));
    CHECK(k.retry.methods == std::vector<std::string>{"GET", "HEAD", "PUT", "DELETE", "OPTIONS"});
    CHECK(k.retry.idempotency_header == "Idempotency-Key");
    CHECK(k.retry.idempotency_methods == std::vector<std::string>{"POST", "PATCH"});
    CHECK(k.retry.budget_ratio == 0.2);
    CHECK(k.retry.budget_min_per_second == 5);
    CHECK(k.circuit_breaker.window == 20);
    CHECK(k.circuit_breaker.min_calls == 10);
    CHECK(k.circuit_breaker.failure_rate == 0.5);
    CHECK(k.circuit_breaker.min_open_for == milliseconds(1000));
    CHECK(k.circuit_breaker.open_for == milliseconds(30000));
    CHECK(k.circuit_breaker.half_open_probes == 2);
    CHECK(k.circuit_breaker.give_up_after == milliseconds(600000));
    CHECK(k.hosts.empty());
    CHECK(k.state_dir.empty());
    CHECK(k.metrics_listen.empty());
    CHECK(k.metrics_linger == milliseconds(30000));
    CHECK(c.extract.empty());
    CHECK(c.outputs.empty());  // items are then only counted
    CHECK(c.follow.empty());

    // An engine section without robots_txt keeps the obey default too.
    CHECK(parse(config_test::minimal + "engine: {concurrency: 2}\n").crawl.engine.obey_robots_txt);
    // Null values mean "the default".
    const auto nulls = parse(config_test::minimal + "engine: {concurrency: ~}\nhttp: ~\n");
    CHECK(nulls.crawl.engine.concurrency == 512);
}

TEST_CASE("decompress: [] turns decoding off; headers replace the defaults", "[unit]") {
    const auto c = parse(config_test::minimal + "http: {decompress: [], headers: {}}\n");
    CHECK_FALSE((c.crawl.http.gzip || c.crawl.http.deflate || c.crawl.http.br));
    CHECK(c.crawl.http.headers.empty());
}

TEST_CASE("http.version: auto by default, \"1.1\" or \"2\" quoted or not; others are errors",
          "[unit][h2]") {
    using harvest::crawl::http_version;
    CHECK(parse(config_test::minimal).crawl.http.version == http_version::automatic);
    CHECK(parse(config_test::minimal + "http: {version: auto}\n").crawl.http.version ==
          http_version::automatic);
    CHECK(parse(config_test::minimal + "http: {version: \"1.1\"}\n").crawl.http.version ==
          http_version::http1_1);
    CHECK(parse(config_test::minimal + "http: {version: 1.1}\n").crawl.http.version ==
          http_version::http1_1);
    CHECK(parse(config_test::minimal + "http: {version: 2}\n").crawl.http.version ==
          http_version::http2);
    CHECK(parse(config_test::minimal, {"http.version=2"}).crawl.http.version ==
          http_version::http2);
    config_test::check_error(config_test::minimal + "http:\n  version: \"2.0\"\n", 5, 12,
                             "'http.version' must be one of");
    config_test::check_error(config_test::minimal + "http:\n  version: [2]\n", 5, 12,
                             "'http.version' must be one of");
}

TEST_CASE("relative paths resolve against the config folder; absolute ones stay", "[unit]") {
    const std::string yaml =
        "name: t\nseeds:\n  - urls_file: lists/../urls.txt\n"
        "  - template: http://h/{id}\n    values_file: /abs/ids.txt\n"
        "http: {tls: {ca_file: ca.pem}}\n"
        "outputs:\n  - {type: jsonl, path: out/x.jsonl}\n";
    const auto c = config::parse_config(yaml, "x.yaml", "/srv/crawls");
    CHECK(c.seeds[0].file == "/srv/crawls/urls.txt");
    CHECK(c.seeds[1].file == "/abs/ids.txt");
    CHECK(c.crawl.http.tls.ca_file == "/srv/crawls/ca.pem");
    CHECK(c.outputs[0].path == "/srv/crawls/out/x.jsonl");
    // Without a base folder they stay as written.
    const auto bare = config::parse_config(yaml, "x.yaml", "");
    CHECK(bare.seeds[0].file == "lists/../urls.txt");
    CHECK(bare.outputs[0].path == "out/x.jsonl");
}

TEST_CASE("load_config reads a file and resolves against its folder", "[unit]") {
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::temp_directory_path() / ("harvest-config-test-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path file = dir / "crawl.yaml";
    {
        std::ofstream out(file);
        out << "name: t\nseeds:\n  - urls_file: urls.txt\noutputs:\n"
               "  - {type: jsonl, path: items.jsonl}\n";
    }
    const auto c = config::load_config(file.string(), {"engine.concurrency=7"});
    CHECK(c.source_path == file.string());
    CHECK(c.seeds[0].file == (dir / "urls.txt").string());
    CHECK(c.outputs[0].path == (dir / "items.jsonl").string());
    CHECK(c.crawl.engine.concurrency == 7);
    {
        std::ofstream out(file);
        out << "name: t\nseeds:\n  - url: http://127.0.0.1/\nengine:\n  concurency: 3\n";
    }
    try {
        config::load_config(file.string());
        FAIL("no error");
    } catch (const config::config_error& e) {
        CHECK(std::string(e.what()) ==
              file.string() +
                  ":5:3: unknown key 'concurency' in 'engine'; did you mean 'concurrency'?");
    }
    fs::remove_all(dir);
    try {
        config::load_config((dir / "missing.yaml").string());
        FAIL("no error");
    } catch (const config::config_error& e) {
        CHECK_THAT(e.what(), Catch::Contains("missing.yaml: cannot read the config file"));
    }
}

TEST_CASE("the examples in config/examples load (crawls, and the service config serve.yaml)",
          "[unit]") {
    namespace fs = std::filesystem;
    const fs::path examples = fs::path(HARVEST_SOURCE_DIR) / "config" / "examples";
    int loaded = 0;
    for (const auto& entry : fs::directory_iterator(examples)) {
        if (entry.path().extension() != ".yaml") {
            continue;
        }
        INFO(entry.path().string());
        if (entry.path().filename() == "serve.yaml") {
            // The service config of the systemd unit (deploy/systemd), not a crawl.
            CHECK_NOTHROW(config::load_service_config(entry.path().string()));
        } else {
            CHECK_NOTHROW(config::load_config(entry.path().string()));
        }
        ++loaded;
    }
    CHECK(loaded >= 1);
}

TEST_CASE("metrics section sets the listen address and the host label limit", "[unit]") {
    const auto c = parse(config_test::minimal +
                         "metrics: {listen: \"127.0.0.1:9464\", host_label_limit: 7}\n");
    CHECK(c.crawl.metrics_listen == "127.0.0.1:9464");
    CHECK(c.crawl.host_label_limit == 7);
    const auto defaults = parse(config_test::minimal);
    CHECK(defaults.crawl.metrics_listen.empty());
    CHECK(defaults.crawl.host_label_limit == 100);
}

TEST_CASE("metrics.linger is a duration; 0 or 0s turns it off", "[unit]") {
    using std::chrono::milliseconds;
    CHECK(parse(config_test::minimal + "metrics: {linger: 2m}\n").crawl.metrics_linger ==
          milliseconds(120000));
    CHECK(parse(config_test::minimal + "metrics: {linger: 0}\n").crawl.metrics_linger ==
          milliseconds(0));
    CHECK(parse(config_test::minimal + "metrics: {linger: 0s}\n").crawl.metrics_linger ==
          milliseconds(0));
    CHECK(parse(config_test::minimal + "metrics: {linger: 1500ms}\n").crawl.metrics_linger ==
          milliseconds(1500));
}

TEST_CASE("rate_limit.adaptive is read", "[unit]") {
    CHECK(parse(config_test::minimal + "rate_limit: {adaptive: true}\n").crawl.rate_limit.adaptive);
}

TEST_CASE("circuit_breaker.min_open_for: read, and cut to an open_for set below it", "[unit]") {
    const auto both =
        parse(config_test::minimal + "circuit_breaker: {min_open_for: 250ms, open_for: 4s}\n")
            .crawl.circuit_breaker;
    CHECK(both.min_open_for == std::chrono::milliseconds(250));
    CHECK(both.open_for == std::chrono::milliseconds(4000));
    // Only open_for, below the 1 s default: every opening lasts open_for.
    const auto short_open =
        parse(config_test::minimal + "circuit_breaker: {open_for: 500ms}\n").crawl.circuit_breaker;
    CHECK(short_open.min_open_for == std::chrono::milliseconds(500));
}

TEST_CASE("http.cache is read at the top level, not in a hosts entry", "[unit]") {
    using kind = crawl::http_cache_options::kind;
    const auto defaults = parse(config_test::minimal);
    CHECK(defaults.crawl.http_cache.mode == kind::off);
    CHECK(defaults.crawl.http_cache.dir.empty());
    CHECK(defaults.crawl.http_cache.max_size == (1ull << 30));
    CHECK(defaults.crawl.http_cache.emit_unchanged);

    const auto c = parse(config_test::minimal +
                         "http:\n  cache: {mode: conditional, dir: cache, max_size: 64MiB, "
                         "unchanged: skip}\n");
    CHECK(c.crawl.http_cache.mode == kind::conditional);
    CHECK(c.crawl.http_cache.dir == "/base/cache");
    CHECK(c.crawl.http_cache.max_size == (64ull << 20));
    CHECK_FALSE(c.crawl.http_cache.emit_unchanged);
    CHECK(parse(config_test::minimal + "http: {cache: {mode: replay}}\n").crawl.http_cache.mode ==
          kind::replay);

    config_test::check_error(config_test::minimal + "http:\n  cache: {mode: sometimes}\n", 5, 17,
                             "mode");
    config_test::check_error(
        config_test::minimal + "hosts:\n  example.com:\n    http: {cache: {mode: replay}}\n", 6, 12,
        "cache");
}
