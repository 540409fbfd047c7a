// Every error class names demo.yaml:line:col, what is wrong and what would be right.

#include "config_test_util.hpp"
#include "pipelines/html/html.hpp"

#include <catch2/catch.hpp>

using config_test::check_error;
using config_test::minimal;  // 3 lines: an appended line is line 4

TEST_CASE("unknown keys are errors with a did-you-mean hint", "[unit]") {
    check_error(minimal + "engine:\n  concurency: 3\n", 5, 3,
                "unknown key 'concurency' in 'engine'; did you mean 'concurrency'?");
    check_error(minimal + "extracts: []\n", 4, 1,
                "unknown key 'extracts' at the top level; did you mean 'extract'?");
    check_error(minimal + "http:\n  timeouts: {conect: 1s}\n", 5, 14,
                "unknown key 'conect' in 'http.timeouts'; did you mean 'connect'?");
    check_error(minimal + "engine:\n  zzzzzzzz: 1\n", 5, 3,
                "unknown key 'zzzzzzzz' in 'engine'; valid keys: concurrency, "
                "per_host_concurrency, threads,");
    check_error("name: t\nseeds:\n  - url: http://127.0.0.1/\n    methd: POST\n", 4, 5,
                "unknown key 'methd' in 'seeds.0'; did you mean 'method'?");
    check_error(minimal + "hosts:\n  a.example:\n    rate_limit: {per_second: 1, adaptive: true}\n",
                6, 33, "unknown key 'adaptive' in 'hosts.a.example.rate_limit'");
    check_error(minimal + "outputs:\n  - {type: jsonl, path: x, table: t}\n", 5, 28,
                "unknown key 'table' in 'outputs.0'");
    check_error(minimal + "engine:\n  dedup: true\n  dedup: false\n", 6, 3,
                "duplicate key 'dedup' in 'engine'");
}

TEST_CASE("values of the wrong form say what would be right", "[unit]") {
    check_error(minimal + "http:\n  timeouts: {connect: 5 seconds}\n", 5, 23,
                "'http.timeouts.connect' must be a positive duration like 250ms, 5s, 2m, 1h "
                "(got \"5 seconds\")");
    check_error(minimal + "engine:\n  robots_txt: maybe\n", 5, 15,
                "'engine.robots_txt' must be one of obey, ignore (got \"maybe\")");
    check_error("name: My Crawl\nseeds:\n  - url: http://127.0.0.1/\n", 1, 7,
                "'name' must match [a-z0-9_-]+ (got \"My Crawl\")");
    check_error(minimal + "engine:\n  concurrency: abc\n", 5, 16,
                "'engine.concurrency' must be a positive integer (got \"abc\")");
    check_error(minimal + "engine:\n  per_host_concurrency: 0\n", 5, 25,
                "'engine.per_host_concurrency' must be a positive integer (got \"0\")");
    check_error(minimal + "engine:\n  network_threads: 0\n", 5, 20,
                "'engine.network_threads' must be an integer from 1 to 1024 (got \"0\")");
    check_error(minimal + "engine:\n  threads: 2\n  network_threads: 3\n", 6, 20,
                "'engine.network_threads' must be at most engine.threads (2), got 3");
    check_error(minimal + "engine:\n  dedup: maybe\n", 5, 10,
                "'engine.dedup' must be true or false (got \"maybe\")");
    check_error(minimal + "engine:\n  frontier_memory: 1 GB\n", 5, 20,
                "'engine.frontier_memory' must be a positive size like 512KiB");
    check_error(minimal + "http:\n  decompress: [gzip, zstd]\n", 5, 22,
                "'http.decompress.1' must be one of gzip, deflate, br (got \"zstd\")");
    check_error(minimal + "rate_limit:\n  burst: -1\n", 5, 10,
                "'rate_limit.burst' must be a number >= 0 (got \"-1\")");
    check_error(minimal + "metrics:\n  linger: 30\n", 5, 11,
                "'metrics.linger' must be a duration like 30s or 2m, or 0 to exit at once "
                "(got \"30\")");
    check_error(minimal + "metrics:\n  linger: -5s\n", 5, 11,
                "'metrics.linger' must be a duration like 30s or 2m, or 0 to exit at once "
                "(got \"-5s\")");
    check_error(minimal + "metrics:\n  linger: [30s]\n", 5, 11,
                "'metrics.linger' must be a duration like 30s or 2m, or 0 to exit at once");
    check_error(minimal + "retry:\n  max_attempts: 0\n", 5, 17,
                "'retry.max_attempts' must be an integer from 1 to 100 (got \"0\")");
    check_error(minimal + "retry:\n  on_status: [429, 600]\n", 5, 20,
                "'retry.on_status.1' must be an integer from 100 to 599 (got \"600\")");
    check_error(minimal + "retry:\n  on_errors: [connect, timout]\n", 5, 24,
                "'retry.on_errors.1' must be one of connect, dns, tls_handshake, tls_verify, "
                "timeout, reset, protocol, body_too_large, too_many_redirects, proxy_connect, "
                "proxy_auth, proxy_tunnel (got \"timout\"); "
                "did you mean 'timeout'?");
    check_error(minimal + "retry:\n  backoff: {strategy: jitter}\n", 5, 23,
                "'retry.backoff.strategy' must be one of full_jitter");
    check_error(minimal + "retry:\n  backoff: {base: 2s, max: 1s}\n", 5, 28,
                "'retry.backoff.max' must be at least 'retry.backoff.base' (2000ms)");
    check_error(minimal + "retry:\n  methods: [GET, post]\n", 5, 18,
                "'retry.methods.1' must be an HTTP method in capitals like GET or POST");
    check_error(
        minimal + "circuit_breaker:\n  failure_rate: 1.5\n", 5, 17,
        "'circuit_breaker.failure_rate' must be a number in (0, 1], like 0.5 (got \"1.5\")");
    check_error(minimal + "circuit_breaker:\n  failure_rate: 0\n", 5, 17,
                "'circuit_breaker.failure_rate' must be a number in (0, 1]");
    check_error(minimal + "circuit_breaker:\n  window: 5\n  min_calls: 6\n", 6, 14,
                "'circuit_breaker.min_calls' (6) must not exceed 'circuit_breaker.window' (5)");
    check_error(minimal + "hosts:\n  \"http://a.example\":\n    per_host_concurrency: 1\n", 5, 3,
                "a host key must be a host name or host:port");
    check_error(minimal + "hosts:\n  a.example:99999: {}\n", 5, 3,
                "a host key must be a host name or host:port");
    check_error(minimal + "http:\n  headers: {\"Bad Header\": x}\n", 5, 13,
                "a header name must be a token");
    check_error(minimal + "http:\n  tls: {verify: sometimes}\n", 5, 17,
                "'http.tls.verify' must be true or false (got \"sometimes\")");
}

TEST_CASE("wrong types name what was given", "[unit]") {
    check_error("name: t\nseeds:\n  url: http://127.0.0.1/\n", 3, 3,
                "'seeds' must be a list like [a, b] or one '- item' per line (got a map)");
    check_error(minimal + "outputs: {type: jsonl, path: x}\n", 4, 10, "'outputs' must be a list");
    check_error(minimal + "engine: [1, 2]\n", 4, 9,
                "'engine' must be a map of settings (key: value) (got a list)");
    check_error(minimal + "engine:\n  concurrency: [1]\n", 5, 16,
                "'engine.concurrency' must be a positive integer (got a list)");
    check_error(minimal + "name2: 1\n", 4, 1, "unknown key 'name2'");
    check_error("- a\n- b\n", 1, 1, "a crawl config must be a map of settings");
    check_error("", 1, 1, "a crawl config must be a map of settings");
}

TEST_CASE("required keys and seeds", "[unit]") {
    check_error("seeds:\n  - url: http://127.0.0.1/\n", 1, 1, "'name' is required");
    check_error("name: t\n", 1, 1, "'seeds' needs at least one entry");
    check_error("name: t\nseeds: []\n", 2, 8, "'seeds' needs at least one entry");
    check_error("name: t\nseeds:\n", 2, 1, "'seeds' needs at least one entry");
    check_error("name: t\nseeds:\n  - url: http://a/\n    urls_file: u.txt\n", 3, 5,
                "'seeds.0' must have exactly one of url, urls_file, sitemap, template (got 2)");
    check_error("name: t\nseeds:\n  - method: POST\n", 3, 5,
                "'seeds.0' must have exactly one of url, urls_file, sitemap, template (got 0)");
    check_error("name: t\nseeds:\n  - url: ftp://a/\n", 3, 10,
                "'seeds.0.url' must be an absolute http:// or https:// URL (got \"ftp://a/\")");
    check_error("name: t\nseeds:\n  - template: http://a/p.json\n    values_file: v.txt\n", 3, 15,
                "'seeds.0.template' must contain {id}");
    check_error("name: t\nseeds:\n  - template: http://a/{id}\n", 3, 5,
                "'seeds.0.values_file' is required: a template seed needs a file of values");
    check_error("name: t\nseeds:\n  - url: http://a/\n    values_file: v.txt\n", 4, 18,
                "'seeds.0.values_file' goes with 'template'");
    check_error("name: t\nseeds:\n  - http://a/\n", 3, 5, "'seeds.0' must be a map of settings");
}

TEST_CASE("regexes and extract rules are checked", "[unit]") {
    check_error(minimal + "extract:\n  - match: \"([\"\n    type: json\n    fields: {id: /id}\n", 5,
                12,
                "'extract.0.match' must be a valid regular expression (ECMAScript) (got \"([\"");
    check_error(minimal + "follow:\n  - css: a\n    allow: [\"^/p/\", \"(\"]\n", 6, 21,
                "'follow.0.allow.1' must be a valid regular expression");
    check_error(minimal + "follow:\n  - css: a\n    deny: [\"*x\"]\n", 6, 12,
                "'follow.0.deny.0' must be a valid regular expression");
    check_error(minimal + "extract:\n  - match: x\n    fields: {id: /id}\n", 5, 5,
                "'extract.0.type' is required: one of json, jsonld, microdata, html");
    check_error(
        minimal + "extract:\n  - {type: jsn, fields: {id: /id}}\n", 5, 12,
        "'extract.0.type' must be one of json, jsonld, microdata, html, product (got \"jsn\"); "
        "did you mean 'json'?");
    check_error(minimal +
                    "extract:\n  - type: json\n    fields: {id: /id}\n    required: [id, "
                    "price]\n",
                7, 20,
                "'extract.0.required.1' names no field of 'extract.0.fields' (got "
                "\"price\"); fields are: id");
    check_error(minimal + "extract:\n  - type: json\n    fields: {id: asin}\n", 6, 18,
                "'extract.0.fields.id' must be a JSON Pointer like /price");
    check_error(minimal + "extract:\n  - type: json\n    fields: {p: {pointer: /p, as: money}}\n",
                6, 35,
                "'extract.0.fields.p.as' must be one of string, number, int, bool, "
                "price, availability, url (got \"money\")");
    check_error(minimal +
                    "extract:\n  - type: json\n    fields: {p: {pointer: /p, currency: "
                    "EUR}}\n",
                6, 41, "'extract.0.fields.p.currency' applies only with as: price");
    check_error(minimal + "extract:\n  - type: json\n    fields: {p: {as: price}}\n", 6, 17,
                "'extract.0.fields.p.pointer' is required");
    check_error(minimal + "extract:\n  - type: json\n", 5, 5, "'extract.0.fields' is required");
    check_error(minimal + "extract:\n  - type: json\n    schema: Product\n    fields: {a: /a}\n", 6,
                5, "unknown key 'schema' in 'extract.0'");
    check_error(minimal + "outputs:\n  - path: x.jsonl\n", 5, 5,
                "'outputs.0.type' is required: one of jsonl, csv, sqlite, webhook");
    check_error(minimal + "outputs:\n  - type: jsonl\n", 5, 5, "'outputs.0.path' is required");
}

TEST_CASE("a YAML syntax error is reported at yaml-cpp's mark", "[unit]") {
    check_error("name: t\nseeds: [\n", 3, 1, "invalid YAML: ");
    check_error("name: t\n  bad: indent\n", 2, 6, "invalid YAML: ");
    check_error("name: t\n- a\n", 2, 1, "invalid YAML: end of map not found");
}

TEST_CASE("css selectors and xpath expressions are compiled at load time", "[unit]") {
    check_error(minimal + "follow:\n  - css: \"a.product-link[\"\n", 5, 10,
                "'follow.0.css' must be a CSS selector like \"a.product-link\" (CSS selector "
                "\"a.product-link[\": expected");
    check_error(minimal + "follow:\n  - css: a:hover\n", 5, 10, "at offset 2");
    check_error(minimal + "follow:\n  - xpath: \"//a[@rel='next'\"\n", 5, 12,
                "'follow.0.xpath' must be an XPath 1.0 expression like");
    check_error(minimal +
                    "extract:\n  - type: html\n    fields:\n      title: {css: \"h1 >\", "
                    "text: true}\n",
                7, 20, "'extract.0.fields.title.css' must be a CSS selector");
    check_error(
        minimal + "extract:\n  - type: html\n    fields:\n      price: {xpath: \"//span[\"}\n", 7,
        22, "'extract.0.fields.price.xpath' must be an XPath 1.0 expression");
    CHECK_NOTHROW(config_test::parse(minimal +
                                     "follow:\n  - css: \"a.product-link, a[rel=next]\"\n"
                                     "  - xpath: \"//a[@rel='next']/@href\"\n"
                                     "extract:\n  - type: html\n    fields:\n"
                                     "      t: {css: \"h1#title\", text: true}\n"
                                     "      p: {xpath: \"string(//span[@class='price'])\"}\n"));
}

TEST_CASE("html fields: as: url, and raw: true to keep a URL attribute as written", "[unit]") {
    const std::string head = minimal + "extract:\n  - type: html\n    fields:\n";
    const auto c = config_test::parse(head +
                                      "      image: {css: img, attribute: src, raw: true}\n"
                                      "      next: {css: \"a.next\", text: true, as: url}\n");
    REQUIRE(c.extract.size() == 1);
    CHECK(c.extract[0].fields[0].raw);
    CHECK(c.extract[0].fields[0].as == harvest::pipelines::value_kind::raw);
    CHECK(c.extract[0].fields[1].as == harvest::pipelines::value_kind::url);
    check_error(head + "      image: {css: img, attribute: src, raw: true, as: string}\n", 7, 56,
                "takes either raw: true or as, not both");
    check_error(head + "      image: {css: img, attribute: src, raw: yes please}\n", 7, 46,
                "'extract.0.fields.image.raw' must be");
    check_error(
        minimal + "extract:\n  - type: json\n    fields:\n      u: {pointer: /u, as: url}\n", 7, 28,
        "url applies to html fields");
    check_error(
        minimal + "extract:\n  - type: json\n    fields:\n      u: {pointer: /u, raw: true}\n", 7,
        24, "unknown key 'raw'");
}

TEST_CASE("structured data rules: schema Product and the fields its items hold", "[unit]") {
    check_error(minimal + "extract:\n  - {type: jsonld, schema: Recipe}\n", 5, 28,
                "'extract.0.schema' must be Product");
    check_error(minimal + "extract:\n  - {type: microdata, schema: Product, required: [title]}\n",
                5, 51,
                "'extract.0.required.0' names no field of a Product item (got \"title\"); "
                "fields are: url, fetched_at, status, id, name,");
    check_error(minimal + "extract:\n  - {type: jsonld, required: [id]}\n", 5, 31,
                "fields are: url, fetched_at, status, jsonld");
    const auto c =
        config_test::parse(minimal +
                           "extract:\n  - {type: jsonld, schema: Product, required: [id, price]}\n"
                           "  - {type: microdata, required: [microdata]}\n");
    REQUIRE(c.extract.size() == 2);
    CHECK(c.extract[0].required == std::vector<std::string>{"id", "price"});
    CHECK(c.extract[1].required == std::vector<std::string>{"microdata"});
}

TEST_CASE("frontier.backend: redis is read into crawl.frontier", "[unit]") {
    const auto c = config_test::parse(
        minimal + "frontier:\n  backend: redis\n  url: redis://127.0.0.1:6379/2\n  lease: 5s\n");
    CHECK(c.crawl.frontier.backend == harvest::crawl::frontier_options::kind::redis);
    CHECK(c.crawl.frontier.url == "redis://127.0.0.1:6379/2");
    CHECK(c.crawl.frontier.lease == std::chrono::milliseconds(5000));
    check_error(minimal + "frontier:\n  backend: redis\n", 5, 3, "'frontier.url' is required");
}

TEST_CASE("frontier.redis.give_up_after: a positive duration, only with backend: redis", "[unit]") {
    const std::string redis = minimal + "frontier:\n  backend: redis\n  url: redis://127.0.0.1/0\n";
    CHECK(config_test::parse(redis).crawl.frontier.redis_give_up_after ==
          std::chrono::milliseconds(300000));
    CHECK(config_test::parse(redis + "  redis: {give_up_after: 90s}\n")
              .crawl.frontier.redis_give_up_after == std::chrono::milliseconds(90000));
    check_error(redis + "  redis: {give_up_after: 0s}\n", 7, 26,
                "'frontier.redis.give_up_after' must be a positive duration");
    check_error(redis + "  redis: {give_up_after: soon}\n", 7, 26,
                "'frontier.redis.give_up_after' must be a positive duration");
    check_error(redis + "  redis: {give_up: 1m}\n", 7, 11, "give_up");
    check_error(minimal + "frontier:\n  redis: {give_up_after: 1m}\n", 5, 10,
                "'frontier.redis' is used only with backend: redis");
}

TEST_CASE("frontier.redis.command_timeout: a positive duration, default 10 s", "[unit]") {
    const std::string redis = minimal + "frontier:\n  backend: redis\n  url: redis://127.0.0.1/0\n";
    CHECK(config_test::parse(redis).crawl.frontier.redis_command_timeout ==
          std::chrono::milliseconds(10000));
    CHECK(config_test::parse(redis + "  redis: {command_timeout: 1500ms}\n")
              .crawl.frontier.redis_command_timeout == std::chrono::milliseconds(1500));
    check_error(redis + "  redis: {command_timeout: 0s}\n", 7, 28,
                "'frontier.redis.command_timeout' must be a positive duration");
    check_error(redis + "  redis: {command_timeout: -1s}\n", 7, 28,
                "'frontier.redis.command_timeout' must be a positive duration");
}

TEST_CASE("frontier.url: redis-sentinel:// names the Sentinels and the primary", "[unit]") {
    const std::string head = minimal + "frontier:\n  backend: redis\n  url: ";
    const auto c = config_test::parse(head + "redis-sentinel://127.0.0.1:26379,10.0.0.2/shop/1\n");
    CHECK(c.crawl.frontier.url == "redis-sentinel://127.0.0.1:26379,10.0.0.2/shop/1");
    check_error(head + "redis-sentinel://127.0.0.1:26379\n", 6, 8,
                "Sentinel addresses and the primary's name");
    check_error(head + "redis-sentinel:///shop\n", 6, 8,
                "Sentinel addresses and the primary's name");
    check_error(head + "rediss://127.0.0.1\n", 6, 8, "redis-sentinel://");
}

TEST_CASE("frontier.url: redis-cluster:// names cluster nodes, database 0 only", "[unit]") {
    const std::string head = minimal + "frontier:\n  backend: redis\n  url: ";
    const auto c = config_test::parse(head + "redis-cluster://127.0.0.1:7000,10.0.0.2:7001\n");
    CHECK(c.crawl.frontier.url == "redis-cluster://127.0.0.1:7000,10.0.0.2:7001");
    CHECK_NOTHROW(config_test::parse(head + "redis-cluster://127.0.0.1:7000/0\n"));
    check_error(head + "redis-cluster://127.0.0.1:7000/2\n", 6, 8, "database 0 only");
    check_error(head + "redis-cluster://\n", 6, 8, "cluster node addresses");
    check_error(head + "redis-cluster:///0\n", 6, 8, "cluster node addresses");
    check_error(head + "rediss://127.0.0.1\n", 6, 8, "redis-cluster://");
}

TEST_CASE("sitemap seeds are validated; the optional sections parse", "[unit]") {
    CHECK_NOTHROW(
        config_test::parse("name: t\nseeds:\n  - sitemap: http://127.0.0.1/sitemap.xml\n"));
    // Parsed first: a malformed sitemap URL is reported as such.
    check_error("name: t\nseeds:\n  - sitemap: nope\n", 3, 14,
                "'seeds.0.sitemap' must be an absolute http:// or https:// URL");
    // What is supported of those sections passes.
    CHECK_NOTHROW(config_test::parse(minimal + "frontier: {backend: memory}\n"
                                               "rate_limit: {adaptive: true}\n"
                                               "engine: {robots_txt: ignore}\nfollow: []\n"));
}

TEST_CASE("circuit_breaker.min_open_for must not exceed open_for", "[unit]") {
    check_error(minimal + "circuit_breaker:\n  min_open_for: 5s\n  open_for: 2s\n", 5, 17,
                "'circuit_breaker.min_open_for' must not exceed 'circuit_breaker.open_for'");
}

TEST_CASE("html fields: regex and default post-process the selected text", "[unit]") {
    const std::string head = minimal + "extract:\n  - type: html\n    fields:\n";
    const auto c = config_test::parse(
        head +
        "      stock: {css: p.stock, text: true, regex: \"\\\\((\\\\d+) available\\\\)\", "
        "as: int, default: 0}\n"
        "      sku: {css: p.sku, text: true, regex: \"[A-Z]{2}-\\\\d+\"}\n");
    REQUIRE(c.extract.size() == 1);
    REQUIRE(c.extract[0].fields[0].pattern);
    CHECK(c.extract[0].fields[0].default_value == std::optional<std::string>("0"));
    CHECK(c.extract[0].fields[1].pattern);
    CHECK_FALSE(c.extract[0].fields[1].default_value);
    CHECK(harvest::pipelines::apply_field_pattern(*c.extract[0].fields[0].pattern,
                                                  "In stock (22 available)") ==
          std::optional<std::string>("22"));
    CHECK(
        harvest::pipelines::apply_field_pattern(*c.extract[0].fields[1].pattern, "SKU: AB-1234") ==
        std::optional<std::string>("AB-1234"));
    check_error(head + "      s: {css: p, text: true, regex: \"(\"}\n", 7, 38,
                "'extract.0.fields.s.regex' must be a valid regular expression");
    check_error(
        minimal + "extract:\n  - type: json\n    fields:\n      u: {pointer: /u, regex: x}\n", 7,
        24, "unknown key 'regex'");
    const auto lists =
        config_test::parse(head +
                           "      tags: {css: a.tag, text: true, all: true}\n"
                           "      text: {css: p, text: true, all: true, join: \" \"}\n");
    CHECK(lists.extract[0].fields[0].all);
    CHECK_FALSE(lists.extract[0].fields[0].join);
    CHECK(lists.extract[0].fields[1].join == std::optional<std::string>(" "));
    check_error(head + "      text: {css: p, text: true, join: \" \"}\n", 7, 40,
                "'extract.0.fields.text.join' applies only with all: true");
    check_error(head + "      text: {css: p, text: true, all: 2}\n", 7, 39,
                "'extract.0.fields.text.all' must be");
}

TEST_CASE("product rules: sources, their fields and what they may require", "[unit]") {
    const std::string head = minimal + "extract:\n  - type: product\n";
    check_error(head + "    sources: [jsonld, json]\n", 6, 23,
                "'extract.0.sources.1' must be one of jsonld, microdata, html");
    check_error(head + "    sources: [jsonld, jsonld]\n", 6, 23,
                "'extract.0.sources.1' names a source given before");
    check_error(head + "    sources: []\n", 6, 14, "'extract.0.sources' must be a list of sources");
    check_error(head + "    sources: [jsonld]\n    fields:\n      upc: {css: td, text: true}\n", 6,
                14, "'extract.0.sources' must list html when the rule has fields");
    check_error(head + "    required: [upc]\n", 6, 16, "'extract.0.required.0' names no field of");
    check_error(head + "    schema: Product\n", 6, 5, "unknown key 'schema'");
    CHECK_NOTHROW(config_test::parse(head + "    required: [price, image]\n"));
}
