// Tests of the integration harness itself (tests/integration/support.*, tests/fixtures/*), with
// curl as the client: when these fail, a failing foundation test says nothing about harvest.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <chrono>

namespace {

using namespace harvest::test;

process_result curl(std::vector<std::string> args) {
    args.insert(args.begin(), {"curl", "--silent", "--show-error", "--max-time", "10"});
    return run_process(args, std::chrono::seconds(20));
}

}  // namespace

TEST_CASE("support: run_process collects output and exit codes, and enforces its timeout",
          "[integration][support]") {
    auto ok = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
    CHECK(ok.exit_code == 3);
    CHECK(ok.out == "out\n");
    CHECK(ok.err == "err\n");
    CHECK_FALSE(ok.timed_out);

    process_options env_opts;
    env_opts.env = {"HARVEST_SUPPORT_PROBE=42"};
    CHECK(run_process({"sh", "-c", "echo $HARVEST_SUPPORT_PROBE"}, env_opts).out == "42\n");

    auto start = std::chrono::steady_clock::now();
    auto slow = run_process({"sleep", "30"}, std::chrono::milliseconds(300));
    CHECK(slow.timed_out);
    CHECK(slow.exit_code == 128 + 9);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

    CHECK(run_process({"/nonexistent/program"}).exit_code == 127);
}

TEST_CASE("support: the generator, nginx fixture and test PKI behave as the tests assume",
          "[integration][support]") {
    fs::path kept;
    {
        temp_dir tmp("harvest-support");
        kept = tmp.path();
        generate_catalog(tmp / "site", {60, 7, 0.5});
        auto asins = read_lines(tmp / "site/asins.txt");
        REQUIRE(asins.size() == 60);
        auto gz = read_lines(tmp / "site/gzipped.txt");
        REQUIRE(!gz.empty());
        CHECK(read_jsonl(tmp / "site/truth.jsonl").size() == 60);
        CHECK(read_lines(tmp / "site/urls-json.txt")[0] == "/api/products/" + asins[0] + ".json");

        auto pki = make_test_pki(tmp / "pki");
        int port = 0;
        {
            nginx_server nginx({tmp / "site", tmp / "nginx", pki, 1});
            port = nginx.port();
            const auto base = nginx.base_url();
            const auto path = "/api/products/" + asins[0] + ".json";

            auto plain = curl({base + path});
            CHECK(plain.exit_code == 0);
            CHECK(plain.out == read_file(tmp / "site" / path.substr(1)));

            auto gz_path = "/api/products/" + gz[0] + ".json";
            auto compressed = curl({"--compressed", base + gz_path});
            CHECK(compressed.exit_code == 0);
            CHECK(compressed.out == read_file(tmp / "site" / gz_path.substr(1)));

            auto rel = curl({"-o", "/dev/null", "-D", "-", base + "/r/rel/" + asins[1]});
            CHECK(rel.out.find("Location: ../../api/products/" + asins[1] + ".json\r\n") !=
                  std::string::npos);
            auto followed = curl({"-L", "-o", "/dev/null", "-w", "%{http_code} %{url_effective}",
                                  base + "/r/rel/" + asins[1]});
            CHECK(followed.out == "200 " + base + "/api/products/" + asins[1] + ".json");
            auto abs = curl({"-o", "/dev/null", "-D", "-", base + "/r/abs/" + asins[2]});
            CHECK(abs.out.find("301 Moved Permanently") != std::string::npos);
            CHECK(abs.out.find("Location: " + base + "/api/products/" + asins[2] + ".json\r\n") !=
                  std::string::npos);
            auto loop = curl({"-L", "--max-redirs", "3", "-o", "/dev/null", base + "/r/loop"});
            CHECK(loop.exit_code == 47);  // CURLE_TOO_MANY_REDIRECTS
            auto missing = curl(
                {"-o", "/dev/null", "-w", "%{http_code}", base + "/api/products/B0NOTHERE0.json"});
            CHECK(missing.out == "404");

            auto verified = curl({"--cacert", pki.ca_cert.string(), "-o", "/dev/null", "-w",
                                  "%{http_code}", nginx.tls_base_url() + path});
            CHECK(verified.exit_code == 0);
            CHECK(verified.out == "200");
            auto localhost =
                curl({"--cacert", pki.ca_cert.string(), "-o", "/dev/null", "-w", "%{http_code}",
                      "https://localhost:" + std::to_string(nginx.tls_port()) + path});
            CHECK(localhost.out == "200");
            auto unverified = curl({"-o", "/dev/null", nginx.tls_base_url() + path});
            CHECK(unverified.exit_code == 60);  // CURLE_PEER_FAILED_VERIFICATION

            auto counts = nginx.request_counts();
            CHECK(counts[path] ==
                  3);  // plain, https, https via localhost; the unverified one never sent it
            bool saw_gzip = false;
            for (const auto& e : nginx.access_entries()) {
                if (e.uri == gz_path && e.content_encoding == "gzip") {
                    saw_gzip = true;
                    CHECK(e.body_bytes == static_cast<long long>(fs::file_size(
                                              tmp / "site" / (gz_path.substr(1) + ".gz"))));
                }
            }
            CHECK(saw_gzip);
            CHECK(counts["/r/loop"] == 4);  // the first request + 3 redirects
            CHECK(counts["/api/products/B0NOTHERE0.json"] == 1);
        }
        CHECK_FALSE(port_accepts(port));  // stopped with the fixture
        CHECK(fs::exists(kept));
    }
    if (std::getenv("HARVEST_KEEP_TMP") == nullptr) {
        CHECK_FALSE(fs::exists(kept));  // removed with the temp_dir
    }
}
