// crawl_session: what it refuses to start with (and how the CLI tells usage from the system),
// and the end it hands to settle.

#include "session/crawl_session.hpp"

#include "engine/crawl/stats.hpp"
#include "pipelines/pipeline_sink.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using harvest::session::crawl_session;
using harvest::session::session_end;
using harvest::session::session_error;
using harvest::session::session_options;

struct temp_folder {
    fs::path path;
    temp_folder() {
        path = fs::temp_directory_path() / ("harvest-session-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        fs::create_directories(path);
    }
    ~temp_folder() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
};

// A crawl with no seeds and no outputs: it is over as soon as it starts.
harvest::config::crawl_config empty_crawl(const fs::path& dir) {
    harvest::config::crawl_config config;
    config.source_path = (dir / "crawl.yaml").string();
    config.crawl.name = "session-test";
    config.crawl.engine.threads = 2;
    return config;
}

session_options quiet(bool resume = false) {
    session_options options;
    options.resume = resume;
    options.handle_signals = false;
    return options;
}

session_error::kind refusal(harvest::config::crawl_config config, session_options options) {
    try {
        crawl_session session(std::move(config), std::move(options));
    } catch (const session_error& e) {
        return e.what_kind();
    }
    FAIL("the session started");
    return session_error::kind::usage;
}

}  // namespace

TEST_CASE("crawl_session: --resume without a journal or with Redis is a usage error", "[unit]") {
    temp_folder tmp;
    auto no_journal = empty_crawl(tmp.path);
    no_journal.crawl.journal = false;
    CHECK(refusal(no_journal, quiet(/*resume=*/true)) == session_error::kind::usage);
    try {
        crawl_session session(no_journal, quiet(true));
    } catch (const session_error& e) {
        CHECK(std::string(e.what()).starts_with(no_journal.source_path + ": --resume"));
    }

    auto redis = empty_crawl(tmp.path);
    redis.crawl.frontier.backend = harvest::crawl::frontier_options::kind::redis;
    CHECK(refusal(redis, quiet(/*resume=*/true)) == session_error::kind::usage);
}

TEST_CASE("crawl_session: a state journal that cannot be opened cannot start", "[unit]") {
    temp_folder tmp;
    std::ofstream(tmp.path / "file") << "not a folder";
    auto config = empty_crawl(tmp.path);
    config.crawl.state_dir = (tmp.path / "file" / "state").string();
    CHECK(refusal(config, quiet()) == session_error::kind::cannot_start);
}

TEST_CASE("crawl_session: run() settles once with the end's figures and returns its status",
          "[unit]") {
    temp_folder tmp;
    const bool stop_first = GENERATE(false, true);
    crawl_session session(empty_crawl(tmp.path), quiet());
    if (stop_first) {
        session.stop();
    }
    int settled = 0;
    const int status = session.run([&](const session_end& end) {
        ++settled;
        CHECK(end.crawl == "session-test");
        CHECK(end.stats == &session.stats());
        CHECK(end.items == &session.items());
        CHECK(end.stopped == stop_first);
        CHECK(end.journal);
        CHECK_FALSE(end.shared_frontier_failed);
        CHECK(end.worker.empty());
        CHECK(end.linger == std::chrono::milliseconds::zero());  // no metrics.listen
        return 7;
    });
    CHECK(settled == 1);
    CHECK(status == 7);
    CHECK(session.stats().requests.load() == 0);
    CHECK(fs::exists(tmp.path / ".harvest" / "session-test"));  // the journal's default place
}

TEST_CASE("crawl_session: the http cache folder is made before the run, where the crawl uses it",
          "[unit]") {
    temp_folder tmp;
    SECTION("by default, cache in the state folder beside the config") {
        auto config = empty_crawl(tmp.path);
        config.crawl.http_cache.mode = harvest::crawl::http_cache_options::kind::conditional;
        crawl_session session(std::move(config), quiet());
        CHECK(fs::is_directory(tmp.path / ".harvest" / "session-test" / "cache"));
    }
    SECTION("http.cache.dir when set") {
        auto config = empty_crawl(tmp.path);
        config.crawl.http_cache.mode = harvest::crawl::http_cache_options::kind::replay;
        config.crawl.http_cache.dir = (tmp.path / "shared" / "cache").string();
        crawl_session session(std::move(config), quiet());
        CHECK(fs::is_directory(tmp.path / "shared" / "cache"));
        CHECK_FALSE(fs::exists(tmp.path / ".harvest" / "session-test" / "cache"));
    }
    SECTION("off: no folder") {
        crawl_session session(empty_crawl(tmp.path), quiet());
        CHECK_FALSE(fs::exists(tmp.path / ".harvest" / "session-test" / "cache"));
    }
    SECTION("a folder that cannot be made cannot start") {
        std::ofstream(tmp.path / "file") << "not a folder";
        auto config = empty_crawl(tmp.path);
        config.crawl.http_cache.mode = harvest::crawl::http_cache_options::kind::conditional;
        config.crawl.http_cache.dir = (tmp.path / "file" / "cache").string();
        CHECK(refusal(config, quiet()) == session_error::kind::cannot_start);
    }
}
