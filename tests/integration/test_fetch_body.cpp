// `harvest fetch --body` and `-o FILE` against the fixture nginx: the body as the extractors see
// it (Content-Encoding decoded), exact bytes in the file, and a non-2xx page still shown with
// fetch's own exit status.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {

using namespace harvest::test;
namespace json = boost::json;

// Every byte value, NUL and CR LF included, a few times over: what a text-mode write or a
// C-string copy would damage.
std::string binary_bytes() {
    std::string bytes;
    for (int round = 0; round < 4; ++round) {
        for (int b = 0; b < 256; ++b) {
            bytes.push_back(static_cast<char>(b));
        }
        bytes += "\r\n\n\r";
    }
    return bytes;
}

// The JSON summary --body moves to stderr: its last line (a log line may come before it).
json::object summary_of(const std::string& err) {
    std::string text = err;
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    const auto start = text.rfind('\n');
    return json::parse(start == std::string::npos ? text : text.substr(start + 1)).as_object();
}

}  // namespace

TEST_CASE("harvest fetch --body prints the decoded body; -o writes its exact bytes",
          "[integration][fetch]") {
    temp_dir tmp("harvest-fetch-body");
    const fs::path site = tmp / "site";
    fs::create_directories(site);
    std::string page = "<html><head><title>Body</title></head><body>\n";
    for (int i = 0; i < 200; ++i) {
        page += "<p class=\"row\">row " + std::to_string(i) + " of a page worth compressing</p>\n";
    }
    page += "</body></html>\n";
    write_file(site / "page.html", page);
    // nginx's gzip_static sends page.html.gz to a client that accepts gzip.
    auto zipped = run_process({"gzip", "-k", "-9", (site / "page.html").string()});
    REQUIRE(zipped.exit_code == 0);
    write_file(site / "blob.bin", binary_bytes());
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 1});

    SECTION("--body: the gzip-compressed page decoded on stdout, the JSON on stderr") {
        auto result = run_process(
            {harvest_binary().string(), "fetch", nginx.base_url() + "/page.html", "--body"});
        INFO(describe(result));
        REQUIRE(result.exit_code == 0);
        CHECK(result.out == page);
        const auto summary = summary_of(result.err);
        CHECK(summary.at("status") == 200);
        CHECK(json_int(summary.at("body_bytes")) == static_cast<long long>(page.size()));
        CHECK(json_int(summary.at("wire_bytes")) < static_cast<long long>(page.size()));
        bool sent_gzip = false;
        for (const auto& entry : nginx.access_entries()) {
            if (entry.uri == "/page.html") {
                sent_gzip = entry.content_encoding == "gzip";
            }
        }
        CHECK(sent_gzip);
    }
    SECTION("-o FILE: the exact bytes in the file, the JSON on stdout as without it") {
        const fs::path saved = tmp / "saved.bin";
        auto result = run_process({harvest_binary().string(), "fetch",
                                   nginx.base_url() + "/blob.bin", "-o", saved.string()});
        INFO(describe(result));
        REQUIRE(result.exit_code == 0);
        CHECK(read_file(saved) == binary_bytes());
        CHECK(json::parse(result.out).as_object().at("status") == 200);

        const fs::path page_copy = tmp / "page-copy.html";
        result = run_process({harvest_binary().string(), "fetch", nginx.base_url() + "/page.html",
                              "--output", page_copy.string()});
        INFO(describe(result));
        REQUIRE(result.exit_code == 0);
        CHECK(read_file(page_copy) == page);
    }
    SECTION("a 404 still shows its page, and exits 1 as fetch does for it") {
        const fs::path saved = tmp / "missing.html";
        auto result = run_process(
            {harvest_binary().string(), "fetch", nginx.base_url() + "/missing.html", "--body"});
        INFO(describe(result));
        CHECK(result.exit_code == 1);
        CHECK(result.out.find("404 Not Found") != std::string::npos);
        const auto summary = summary_of(result.err);
        CHECK(summary.at("status") == 404);
        CHECK(summary.at("error").as_string() == "status_4xx");

        result = run_process({harvest_binary().string(), "fetch",
                              nginx.base_url() + "/missing.html", "-o", saved.string()});
        INFO(describe(result));
        CHECK(result.exit_code == 1);
        CHECK(read_file(saved).find("404 Not Found") != std::string::npos);
        CHECK(json::parse(result.out).as_object().at("status") == 404);
    }
    SECTION("-o to a path that cannot be written: exit 2 before anything is fetched") {
        auto result =
            run_process({harvest_binary().string(), "fetch", nginx.base_url() + "/page.html", "-o",
                         (tmp / "no-such-dir" / "x.html").string()});
        INFO(describe(result));
        CHECK(result.exit_code == 2);
        CHECK(result.out.empty());
        CHECK(nginx.request_counts().count("/page.html") == 0);
    }
}
