// `render` in `harvest serve` jobs: the real service renders a job's pages in Debian's headless
// Chromium before the profile's extractors read them, and the service's egress guard applies to
// what the pages' scripts ask for. Every address is on 127.0.0.1: the refused request's target is
// a second nginx the guard does not allow, whose access log must stay empty.

#include "tests/integration/proxy_daemons.hpp"
#include "tests/integration/serve_process.hpp"
#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <thread>

namespace {

using namespace harvest::test;
using namespace std::chrono_literals;

// A profile's settings for the SPA pages: one attempt, `title` and `fields` read from the
// rendered page, `title` required.
std::string spa_profile(const std::string& fields) {
    return "    http: {timeouts: {connect: 2s, total: 10s}}\n"
           "    retry: {max_attempts: 1}\n"
           "    extract:\n"
           "      - type: html\n"
           "        fields:\n"
           "          title: {css: h1, text: true}\n" +
           fields + "        required: [title]\n";
}
namespace json = boost::json;

// `pages` shell pages site/spa/N.html: the product ("<title_prefix> N", from the page's own
// host's API, site/spa/api/N.json) is on the page, with a p.done, only once its script has run.
void write_shell_pages(const fs::path& site, int pages, const std::string& title_prefix) {
    fs::create_directories(site / "spa" / "api");
    for (int i = 1; i <= pages; ++i) {
        const std::string id = std::to_string(i);
        write_file(site / "spa" / "api" / (id + ".json"),
                   "{\"title\": \"" + title_prefix + " " + id + "\"}");
        write_file(site / "spa" / (id + ".html"),
                   "<!DOCTYPE html><html><body><div id=\"app\">Loading</div><script>\n"
                   "fetch('/spa/api/" +
                       id +
                       ".json').then(r => r.json()).then(p => {\n"
                       "  document.getElementById('app').innerHTML =\n"
                       "    '<h1>' + p.title + '</h1><p class=\"done\"></p>'; });\n"
                       "</script></body></html>");
    }
}

// GET /v1/jobs/<id> as key-alpha every 100 ms until the job is done (60 s at most); its last
// answer.
json::object wait_done(const temp_dir& tmp, const std::string& base, const std::string& id) {
    json::object last;
    for (int i = 0; i < 600; ++i) {
        const auto answer = curl(tmp, "GET", base + "/v1/jobs/" + id, "key-alpha");
        REQUIRE(answer.status == 200);
        last = json::parse(answer.body).as_object();
        if (last.at("status").as_string() == "done") {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    return last;
}

}  // namespace

TEST_CASE(
    "serve: a job with render gets the rendered fields; the egress guard refuses in the "
    "browser",
    "[integration][render][render-serve]") {
    temp_dir tmp("harvest-render-serve");
    const fs::path site = tmp / "site";
    const fs::path other_site = tmp / "other";
    fs::create_directories(site / "spa" / "api");
    fs::create_directories(other_site);
    write_file(other_site / "secret.json", "{\"secret\": true}");
    // Where the guard must not let the browser go: loopback, but not in egress.allow.
    nginx_server other(nginx_options{other_site, tmp / "nginx-other", std::nullopt, 1});
    constexpr int pages = 4;
    for (int i = 1; i <= pages; ++i) {
        const std::string id = std::to_string(i);
        write_file(site / "spa" / "api" / (id + ".json"),
                   "{\"title\": \"Rendered product " + id + "\", \"sku\": \"R-" + id + "\"}");
        // The product from the page's own host; then a try at the other listener, whose
        // outcome the page writes down too.
        write_file(
            site / "spa" / (id + ".html"),
            "<!DOCTYPE html><html><body><div id=\"app\">Loading</div><script>\n"
            "fetch('/spa/api/" +
                id +
                ".json').then(r => r.json()).then(p => {\n"
                "  const other = () => fetch('http://127.0.0.1:" +
                std::to_string(other.port()) +
                "/secret.json').then(() => 'reached', () => 'refused');\n"
                "  other().then(o => { document.getElementById('app').innerHTML =\n"
                "    '<h1>' + p.title + '</h1><b class=\"sku\">' + p.sku + '</b>' +\n"
                "    '<i class=\"other\">' + o + '</i><u class=\"ua\">' + navigator.userAgent +\n"
                "    '</u><p class=\"done\"></p>'; });\n"
                "});\n"
                "</script></body></html>");
    }
    nginx_server nginx(nginx_options{site, tmp / "nginx", std::nullopt, 1});

    const int port = free_port();
    const int metrics_port = free_port();
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    serve_config settings;
    settings.port = port;
    settings.profiles = "  spa:\n" + spa_profile(
                                         "          sku: {css: .sku, text: true}\n"
                                         "          other: {css: .other, text: true}\n"
                                         "          ua: {css: .ua, text: true}\n");
    settings.allow = "\"127.0.0.1:" + std::to_string(nginx.port()) + "\"";
    settings.metrics_port = metrics_port;
    write_serve_config(tmp, settings);
    serve_process service(tmp / "serve.yaml", tmp / "serve.log", port);

    json::array urls;
    for (int i = 1; i <= pages; ++i) {
        urls.emplace_back(nginx.base_url() + "/spa/" + std::to_string(i) + ".html");
    }
    auto submit = [&](const std::string& render) {
        const std::string body =
            R"({"profile": "spa", "urls": )" + json::serialize(urls) + render + "}";
        return curl(tmp, "POST", base + "/v1/jobs", "key-alpha", body);
    };
    auto wait_done = [&](const std::string& id) { return ::wait_done(tmp, base, id); };
    auto results = [&](const std::string& id) {
        const auto answer = curl(tmp, "GET", base + "/v1/jobs/" + id + "/results", "key-alpha");
        REQUIRE(answer.status == 200);
        std::vector<json::object> lines;
        std::istringstream in(answer.body);
        for (std::string line; std::getline(in, line);) {
            lines.push_back(json::parse(line).as_object());
        }
        return lines;
    };

    SECTION("bad render options are a 400 naming the field") {
        const auto timeout = submit(R"(, "render": {"timeout": -1})");
        CHECK(timeout.status == 400);
        CHECK(timeout.body.find("render.timeout") != std::string::npos);
        const auto selector = submit(R"(, "render": {"wait_for": "div[[["})");
        CHECK(selector.status == 400);
        CHECK(selector.body.find("render.wait_for") != std::string::npos);
        const auto unknown = submit(R"(, "render": {"wait": "load"})");
        CHECK(unknown.status == 400);
        CHECK(unknown.body.find("render.wait") != std::string::npos);
        const auto kind = submit(R"(, "render": "yes")");
        CHECK(kind.status == 400);
        const auto block = submit(R"(, "render": {"block": ["script"]})");
        CHECK(block.status == 400);
    }

    SECTION("without render: the shell, no item; with it: every field") {
        const auto plain = submit("");
        REQUIRE(plain.status == 202);
        const std::string plain_id(json::parse(plain.body).at("job_id").as_string());
        CHECK(wait_done(plain_id).at("failed").as_int64() == pages);
        for (const auto& r : results(plain_id)) {
            CHECK(r.at("error").as_string() == "no_item");
        }

        const auto rendered =
            submit(R"(, "render": {"wait_for": ".done", "timeout": 10, "block": ["image"]})");
        INFO(rendered.body);
        REQUIRE(rendered.status == 202);
        const std::string id(json::parse(rendered.body).at("job_id").as_string());
        const auto done = wait_done(id);
        INFO(read_file(tmp / "serve.log"));
        CHECK(done.at("status").as_string() == "done");
        CHECK(done.at("succeeded").as_int64() == pages);
        const auto lines = results(id);
        REQUIRE(lines.size() == static_cast<std::size_t>(pages));
        for (const auto& r : lines) {
            INFO(json::serialize(r));
            REQUIRE(r.at("status").as_string() == "ok");
            const std::string url(r.at("url").as_string());
            const std::string n =
                url.substr(url.rfind('/') + 1, url.find(".html") - url.rfind('/') - 1);
            const auto& data = r.at("data").as_object();
            CHECK(data.at("title").as_string() == "Rendered product " + n);
            CHECK(data.at("sku").as_string() == "R-" + n);
            // The page's script was refused in the browser, never sent.
            CHECK(data.at("other").as_string() == "refused");
            // The tab speaks as the service fetched the page, not as HeadlessChrome.
            CHECK(std::string_view(data.at("ua").as_string()).starts_with("harvest/"));
        }
        CHECK(other.access_entries().empty());
        const auto metrics =
            curl(tmp, "GET", "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics", "");
        REQUIRE(metrics.status == 200);
        CHECK(metrics.body.find(
                  "harvest_render_subrequests_total{crawl=\"serve\",action=\"refused\"} " +
                  std::to_string(pages)) != std::string::npos);
    }
    CHECK(other.access_entries().empty());
}

TEST_CASE(
    "serve: render per item overrides the job's, and a restarted service renders an item the "
    "way it was submitted",
    "[integration][render][render-serve]") {
    temp_dir tmp("harvest-render-item");
    const fs::path site = tmp / "site";
    constexpr int pages = 4;
    write_shell_pages(site, pages, "Item product");
    nginx_server nginx(nginx_options{site, tmp / "nginx", std::nullopt, 1});

    const int port = free_port();
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    const std::string extract = spa_profile("");
    // `slow`: one request a second to the site (a rendered page's API call included), so that a
    // job is still running when the service is stopped.
    serve_config settings;
    settings.port = port;
    settings.profiles = "  spa:\n" + extract +
                        "  slow:\n"
                        "    rate_limit: {per_second: 1, burst: 1}\n" +
                        extract;
    settings.allow = "\"127.0.0.1:" + std::to_string(nginx.port()) + "\"";
    write_serve_config(tmp, settings);
    serve_process service(tmp / "serve.yaml", tmp / "serve.log", port);

    const std::string wait = R"({"wait_for": ".done", "timeout": 10})";
    auto page = [&](int i) { return nginx.base_url() + "/spa/" + std::to_string(i) + ".html"; };
    // Odd pages with their own render, even ones as plain strings (or render: false).
    auto mixed_urls = [&](const std::string& even_render) {
        std::string urls = "[";
        for (int i = 1; i <= pages; ++i) {
            urls += i > 1 ? ", " : "";
            if (i % 2 == 1) {
                urls += R"({"url": ")" + page(i) + R"(", "render": )" + wait + "}";
            } else if (even_render.empty()) {
                urls += "\"" + page(i) + "\"";
            } else {
                urls += R"({"url": ")" + page(i) + R"(", "render": )" + even_render + "}";
            }
        }
        return urls + "]";
    };
    auto submit = [&](const std::string& body) {
        return curl(tmp, "POST", base + "/v1/jobs", "key-alpha", body);
    };
    auto job = [&](const std::string& id) {
        const auto answer = curl(tmp, "GET", base + "/v1/jobs/" + id, "key-alpha");
        REQUIRE(answer.status == 200);
        return json::parse(answer.body).as_object();
    };
    auto wait_done = [&](const std::string& id) { return ::wait_done(tmp, base, id); };
    // Rendered (odd) pages have their title; the even ones on the same SPA are a shell.
    auto check_results = [&](const std::string& id) {
        const auto answer = curl(tmp, "GET", base + "/v1/jobs/" + id + "/results", "key-alpha");
        REQUIRE(answer.status == 200);
        std::istringstream in(answer.body);
        int n = 0;
        for (std::string line; std::getline(in, line);) {
            ++n;
            INFO(line);
            const auto r = json::parse(line).as_object();
            CHECK(r.at("url").as_string() == page(n));
            CHECK(r.at("input").as_string() == page(n));
            if (n % 2 == 1) {
                REQUIRE(r.at("status").as_string() == "ok");
                CHECK(r.at("data").at("title").as_string() == "Item product " + std::to_string(n));
            } else {
                CHECK(r.at("status").as_string() == "failed");
                CHECK(r.at("error").as_string() == "no_item");
                CHECK(r.at("http_status").as_int64() == 200);
            }
        }
        CHECK(n == pages);
    };

    SECTION("bad entries are a 400 naming the field") {
        const auto timeout =
            submit(R"({"profile": "spa", "urls": [")" + page(1) + R"(", ")" + page(2) +
                   R"(", {"url": ")" + page(3) + R"(", "render": {"timeout": -1}}]})");
        CHECK(timeout.status == 400);
        CHECK(timeout.body.find("urls[2].render.timeout: ") != std::string::npos);
        const auto unknown =
            submit(R"({"profile": "spa", "urls": [{"url": ")" + page(1) + R"(", "x": 1}]})");
        CHECK(unknown.status == 400);
        CHECK(unknown.body.find(R"(urls[0]: unknown field \"x\"; expected url, render)") !=
              std::string::npos);
    }

    SECTION("items' own render: on in a job without, off in a job with") {
        const auto on = submit(R"({"profile": "spa", "urls": )" + mixed_urls("") + "}");
        INFO(on.body);
        REQUIRE(on.status == 202);
        const auto off = submit(R"({"profile": "spa", "render": )" + wait + R"(, "urls": )" +
                                mixed_urls("false") + "}");
        INFO(off.body);
        REQUIRE(off.status == 202);
        for (const auto* body : {&on.body, &off.body}) {
            const std::string id(json::parse(*body).at("job_id").as_string());
            const auto done = wait_done(id);
            INFO(read_file(tmp / "serve.log"));
            CHECK(done.at("status").as_string() == "done");
            CHECK(done.at("succeeded").as_int64() == pages / 2);
            CHECK(done.at("failed").as_int64() == pages / 2);
            check_results(id);
        }
    }

    SECTION("a stopped and restarted service renders the unsettled items as submitted") {
        const auto submitted = submit(R"({"profile": "slow", "urls": )" + mixed_urls("") + "}");
        INFO(submitted.body);
        REQUIRE(submitted.status == 202);
        const std::string id(json::parse(submitted.body).at("job_id").as_string());
        // The first settles after about a second; the last not before 5 s.
        json::object before;
        for (int i = 0; i < 300; ++i) {  // 30 s at most
            before = job(id);
            if (before.at("succeeded").as_int64() + before.at("failed").as_int64() > 0) {
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
        CHECK(service.kill(SIGTERM) == 0);
        const auto settled_before =
            before.at("succeeded").as_int64() + before.at("failed").as_int64();
        REQUIRE(settled_before > 0);
        REQUIRE(settled_before < pages);
        service.start();
        const auto done = wait_done(id);
        INFO(read_file(tmp / "serve.log"));
        CHECK(done.at("status").as_string() == "done");
        CHECK(done.at("succeeded").as_int64() == pages / 2);
        CHECK(done.at("failed").as_int64() == pages / 2);
        check_results(id);
    }
    CHECK(service.kill(SIGTERM) == 0);
}

TEST_CASE("serve: the service config's render: is the browser pool its jobs render in",
          "[integration][render][render-serve]") {
    // render.chromium names a browser that is not there: a job that renders fails its items as
    // render_crash (after render.max_attempts, here 1), which it would not with the default
    // pool on a machine with Chromium; a job that does not render is untouched.
    temp_dir tmp("harvest-render-serve-pool");
    const fs::path site = tmp / "site";
    fs::create_directories(site);
    write_file(site / "page.html", "<!DOCTYPE html><html><body><h1>Plain</h1></body></html>");
    nginx_server nginx(nginx_options{site, tmp / "nginx", std::nullopt, 1});
    const int port = free_port();
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    serve_config settings;
    settings.port = port;
    settings.top = "render: {chromium: " + (tmp / "no-chromium").string() +
                   ", max_attempts: 1, start_timeout: 5s}\n";
    settings.profiles = "  spa:\n" + spa_profile("");
    settings.allow = "\"127.0.0.1:" + std::to_string(nginx.port()) + "\"";
    write_serve_config(tmp, settings);
    serve_process service(tmp / "serve.yaml", tmp / "serve.log", port);

    auto run_job = [&](const std::string& render) {
        const std::string body = R"({"profile": "spa", "urls": [")" + nginx.base_url() +
                                 R"(/page.html"])" + render + "}";
        const auto submitted = curl(tmp, "POST", base + "/v1/jobs", "key-alpha", body);
        INFO(submitted.body);
        REQUIRE(submitted.status == 202);
        const std::string id(json::parse(submitted.body).at("job_id").as_string());
        for (int i = 0; i < 300; ++i) {  // 30 s at most
            const auto answer = curl(tmp, "GET", base + "/v1/jobs/" + id, "key-alpha");
            REQUIRE(answer.status == 200);
            if (json::parse(answer.body).at("status").as_string() == "done") {
                break;
            }
            std::this_thread::sleep_for(100ms);
        }
        const auto results = curl(tmp, "GET", base + "/v1/jobs/" + id + "/results", "key-alpha");
        REQUIRE(results.status == 200);
        return json::parse(results.body).as_object();
    };
    const auto rendered = run_job(R"(, "render": true)");
    INFO(json::serialize(rendered) << "\n" << read_file(tmp / "serve.log"));
    CHECK(rendered.at("status").as_string() == "failed");
    CHECK(rendered.at("error").as_string() == "render_crash");
    const auto plain = run_job("");
    INFO(json::serialize(plain));
    CHECK(plain.at("status").as_string() == "ok");
    CHECK(plain.at("data").at("title").as_string() == "Plain");
}

TEST_CASE("serve: a profile's proxy carries the rendered pages' own requests too",
          "[integration][render][render-serve][proxy]") {
    temp_dir tmp("harvest-render-proxy");
    const fs::path site = tmp / "site";
    constexpr int pages = 4;
    write_shell_pages(site, pages, "Proxied product");
    nginx_server nginx(nginx_options{site, tmp / "nginx", std::nullopt, 1});
    tinyproxy proxy(tmp / "proxy", "walker s3cret");
    REQUIRE(proxy.process->ready());

    const int port = free_port();
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    serve_config settings;
    settings.port = port;
    settings.profiles =
        "  spa:\n" + spa_profile("") + "    proxies: [\"" + proxy.url("walker:s3cret") + "\"]\n";
    settings.allow = "\"127.0.0.1:" + std::to_string(nginx.port()) +
                     "\", \"127.0.0.1:" + std::to_string(proxy.port) + "\"";
    write_serve_config(tmp, settings);
    serve_process service(tmp / "serve.yaml", tmp / "serve.log", port);

    json::array urls;
    for (int i = 1; i <= pages; ++i) {
        urls.emplace_back(nginx.base_url() + "/spa/" + std::to_string(i) + ".html");
    }
    const auto submitted = curl(tmp, "POST", base + "/v1/jobs", "key-alpha",
                                R"({"profile": "spa", "urls": )" + json::serialize(urls) +
                                    R"(, "render": {"wait_for": ".done", "timeout": 10}})");
    INFO(submitted.body);
    REQUIRE(submitted.status == 202);
    const std::string id(json::parse(submitted.body).at("job_id").as_string());
    const json::object last = wait_done(tmp, base, id);
    INFO(read_file(tmp / "serve.log"));
    CHECK(last.at("status").as_string() == "done");
    // The product is on the page only if its API call passed the proxy's Basic auth.
    CHECK(last.at("succeeded").as_int64() == pages);
    // Each page and its API call went through the proxy (the API call once more when it was its
    // tab's first request: sent without credentials, refused with 407, sent again with them),
    // and nothing reached nginx but through the proxy.
    std::map<std::string, int> served;
    for (const auto& entry : nginx.access_entries()) {
        ++served[entry.uri];
    }
    for (int i = 1; i <= pages; ++i) {
        const std::string n = std::to_string(i);
        CHECK(served["/spa/" + n + ".html"] == 1);
        CHECK(served["/spa/api/" + n + ".json"] == 1);
    }
    for (const auto& [uri, count] : served) {
        INFO(uri);
        CHECK(proxy.requests_with(nginx.base_url() + uri + " ") >= count);
    }
}
