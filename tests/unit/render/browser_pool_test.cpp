// The browser pool against a real headless Chromium: pages are handed to it as bytes (the
// document is never fetched by the browser), and every address a page would reach is a loopback
// listener of the test that must accept nothing when the request is blocked or refused.

#include "engine/render/browser_pool.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/metrics/registry.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using harvest::crawl::render_input;
using harvest::crawl::render_outcome;
using harvest::render::browser_pool;
using harvest::render::render_options;
using harvest::render::render_pool_options;
using namespace std::chrono_literals;

// A loopback TCP listener that never answers: what connects to it is counted by accept().
class listener {
  public:
    listener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd_, 16) == 0);
        socklen_t size = sizeof address;
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
        port_ = ntohs(address.sin_port);
    }
    ~listener() { ::close(fd_); }
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    int port() const { return port_; }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    // Requests made to it so far: connections that sent something within 300 ms (each accepted
    // and closed). Chromium may open a connection ahead of a navigation to the page's origin
    // (a preconnect) and send nothing on it: that is not a request.
    int accepted() {
        int n = 0;
        for (int i = 0; i < 100; ++i) {
            const int client = ::accept(fd_, nullptr, nullptr);
            if (client < 0) {
                break;
            }
            // What was asked, for the failure message (the request line, if it came already).
            char request[256] = {};
            timeval wait{0, 300000};
            ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
            const auto got = ::recv(client, request, sizeof request - 1, 0);
            if (got > 0) {
                const std::string text(request, static_cast<std::size_t>(got));
                UNSCOPED_INFO("a connection asked: " << text.substr(0, text.find('\r')));
                ++n;
            }
            ::close(client);
        }
        return n;
    }

  private:
    int fd_ = -1;
    int port_ = 0;
};

render_pool_options pool_options() {
    render_pool_options options;
    options.browsers = 1;
    options.tabs_per_browser = 2;
    options.start_timeout = 20s;
    options.command_timeout = 10s;
    return options;
}

render_input page(std::string url, std::string body) {
    render_input in;
    in.url = std::move(url);
    in.content_type = "text/html; charset=utf-8";
    in.body = std::move(body);
    return in;
}

// Runs `io` until every outcome is in (bounded); `between` runs after each handler.
void run_until(asio::io_context& io, const std::vector<std::optional<render_outcome>>& outcomes,
               std::chrono::seconds limit, const std::function<void()>& between = {}) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    const auto done = [&outcomes] {
        return std::all_of(outcomes.begin(), outcomes.end(),
                           [](const auto& o) { return o.has_value(); });
    };
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        io.run_one_for(50ms);
        if (between) {
            between();
        }
    }
    REQUIRE(done());
}

render_outcome render_one(asio::io_context& io, browser_pool& pool, render_input in,
                          render_options options) {
    std::vector<std::optional<render_outcome>> outcomes(1);
    asio::co_spawn(io, pool.render(std::move(in), std::move(options)),
                   [&outcomes](const std::exception_ptr& error, render_outcome outcome) {
                       REQUIRE(!error);
                       outcomes[0] = std::move(outcome);
                   });
    run_until(io, outcomes, 60s);
    return *outcomes[0];
}

render_options selector(std::string css, std::chrono::milliseconds timeout = 10s) {
    render_options options;
    options.wait_for = render_options::wait::selector;
    options.selector = std::move(css);
    options.timeout = timeout;
    return options;
}

}  // namespace

TEST_CASE("a page renders from the bytes given, and the browser never fetches the document",
          "[unit][render]") {
    asio::io_context io;
    harvest::metrics::registry registry({{"crawl", "render"}});
    harvest::metrics::crawl_metrics metrics(registry);
    browser_pool pool(io.get_executor(), pool_options(), &metrics);
    listener origin;  // the page's own address: nothing may connect to it

    const auto rendered = render_one(
        io, pool,
        page(origin.url("/p/1.html"),
             "<html><body><div id=app></div><script>document.getElementById('app').innerHTML = "
             "'<h1 class=t>Hello ' + (1 + 2) + '</h1>';</script></body></html>"),
        render_options{});
    INFO(rendered.html);
    REQUIRE(!rendered.failure.has_value());
    CHECK(rendered.html.find("<h1 class=\"t\">Hello 3</h1>") != std::string::npos);
    CHECK(origin.accepted() == 0);

    SECTION("bytes that are not HTML render as whatever the browser makes of them") {
        const auto odd = render_one(
            io, pool, page(origin.url("/p/2.html"), std::string("\xff\xfe<<</>>\0x", 10)),
            render_options{});
        CHECK(!odd.failure.has_value());
        CHECK(odd.html.find("<html>") != std::string::npos);
    }
    SECTION("a selector that comes after a timer is waited for; load alone does not wait") {
        const auto late = [](int ms) {
            return "<html><body><script>setTimeout(() => { const p = "
                   "document.createElement('p'); p.id = 'late'; p.textContent = 'arrived'; "
                   "document.body.appendChild(p); }, " +
                   std::to_string(ms) + ");</script></body></html>";
        };
        const auto waited =
            render_one(io, pool, page(origin.url("/t/1.html"), late(400)), selector("#late"));
        REQUIRE(!waited.failure.has_value());
        CHECK(waited.html.find("<p id=\"late\">arrived</p>") != std::string::npos);
        // Long enough that the load event comes first even on a busy machine.
        const auto loaded =
            render_one(io, pool, page(origin.url("/t/2.html"), late(5000)), render_options{});
        REQUIRE(!loaded.failure.has_value());
        CHECK(loaded.html.find("<p id=\"late\">") == std::string::npos);
    }
    CHECK(metrics.renders.with({"ok"}).value() >= 1);
}

TEST_CASE("blocked resource types and refused addresses never leave the browser",
          "[unit][render]") {
    asio::io_context io;
    browser_pool pool(io.get_executor(), pool_options());
    listener origin;
    listener images;
    listener forbidden;
    const int forbidden_port = forbidden.port();
    // The service's egress guard asks the same question (net::client_options::allow_endpoint).
    pool.set_endpoint_filter([forbidden_port](const asio::ip::address&, unsigned short port) {
        return port != forbidden_port;
    });

    const std::string with_images = "<html><body><img src=\"" + images.url("/a.png") +
                                    "\"><img src=\"" + images.url("/b.png") +
                                    "\"><p id=done>x</p></body></html>";
    const auto shown =
        render_one(io, pool, page(origin.url("/p.html"), with_images), render_options{});
    REQUIRE(!shown.failure.has_value());
    CHECK(pool.blocked_requests() == 2);
    CHECK(images.accepted() == 0);

    const std::string calling_out =
        "<html><body><script>fetch('" + forbidden.url("/secret") +
        "', {mode: 'no-cors'}).then(() => 'sent', () => 'refused')"
        ".then(r => { document.body.dataset.r = r; });</script></body></html>";
    const auto refused =
        render_one(io, pool, page(origin.url("/q.html"), calling_out), selector("body[data-r]"));
    INFO(refused.html);
    REQUIRE(!refused.failure.has_value());
    CHECK(refused.html.find("data-r=\"refused\"") != std::string::npos);
    CHECK(pool.refused_requests() == 1);
    CHECK(forbidden.accepted() == 0);
    CHECK(origin.accepted() == 0);
}

TEST_CASE("a script that never ends fails as render_timeout; the next page renders",
          "[unit][render]") {
    asio::io_context io;
    browser_pool pool(io.get_executor(), pool_options());
    listener origin;
    render_options quick;
    quick.timeout = 1500ms;
    const auto started = std::chrono::steady_clock::now();
    const auto stuck = render_one(
        io, pool,
        page(origin.url("/loop.html"), "<html><body><script>for (;;) {}</script></body></html>"),
        quick);
    CHECK(stuck.failure == harvest::core::failure_kind::render_timeout);
    CHECK(std::chrono::steady_clock::now() - started < 15s);
    const auto next =
        render_one(io, pool, page(origin.url("/ok.html"), "<html><body><p>fine</p></body></html>"),
                   render_options{});
    REQUIRE(!next.failure.has_value());
    CHECK(next.html.find("fine") != std::string::npos);
}

TEST_CASE("a browser killed mid-page is started again and the page rendered", "[unit][render]") {
    asio::io_context io;
    harvest::metrics::registry registry({{"crawl", "render"}});
    harvest::metrics::crawl_metrics metrics(registry);
    browser_pool pool(io.get_executor(), pool_options(), &metrics);
    listener origin;
    const std::string body =
        "<html><body><script>setTimeout(() => { document.body.innerHTML = "
        "'<p id=ready>survived</p>'; }, 1200);</script></body></html>";
    std::vector<std::optional<render_outcome>> outcomes(1);
    asio::co_spawn(io, pool.render(page(origin.url("/slow.html"), body), selector("#ready")),
                   [&outcomes](const std::exception_ptr& error, render_outcome outcome) {
                       REQUIRE(!error);
                       outcomes[0] = std::move(outcome);
                   });
    int killed = 0;
    std::optional<std::chrono::steady_clock::time_point> seen;
    run_until(io, outcomes, 60s, [&] {
        const auto pids = pool.browser_pids();
        if (killed == 0 && !pids.empty()) {
            if (!seen) {
                seen = std::chrono::steady_clock::now();
            } else if (std::chrono::steady_clock::now() - *seen > 500ms) {
                killed = pids.front();
                ::kill(killed, SIGKILL);  // mid-page: the timer has not fired yet
            }
        }
    });
    REQUIRE(killed != 0);
    REQUIRE(!outcomes[0]->failure.has_value());
    CHECK(outcomes[0]->html.find("<p id=\"ready\">survived</p>") != std::string::npos);
    CHECK(pool.restarts() == 1);
    CHECK(metrics.browser_restarts.with({"crash"}).value() == 1);
    const auto pids = pool.browser_pids();
    REQUIRE(pids.size() == 1);
    CHECK(pids.front() != killed);
}

TEST_CASE("pages at once over recycled tabs each get their own DOM", "[unit][render]") {
    asio::io_context io;
    auto options = pool_options();
    options.tabs_per_browser = 3;
    options.pages_per_tab = 2;  // every tab is closed and opened again along the way
    browser_pool pool(io.get_executor(), options);
    listener origin;
    std::mt19937 rng(Catch::rngSeed());
    const int pages = 9;
    std::vector<std::optional<render_outcome>> outcomes(pages);
    std::vector<std::string> markers;
    for (int i = 0; i < pages; ++i) {
        markers.push_back("marker-" + std::to_string(i) + "-" + std::to_string(rng() % 100000));
        const int delay = static_cast<int>(rng() % 300);
        const std::string body =
            "<html><body><script>setTimeout(() => { const p = "
            "document.createElement('p'); p.id = 'm'; p.textContent = '" +
            markers.back() + "'; document.body.appendChild(p); }, " + std::to_string(delay) +
            ");</script></body></html>";
        asio::co_spawn(io,
                       pool.render(page(origin.url("/p/" + std::to_string(i) + ".html"), body),
                                   selector("#m")),
                       [&outcomes, i](const std::exception_ptr& error, render_outcome outcome) {
                           REQUIRE(!error);
                           outcomes[static_cast<std::size_t>(i)] = std::move(outcome);
                       });
    }
    run_until(io, outcomes, 90s);
    for (int i = 0; i < pages; ++i) {
        const auto& outcome = *outcomes[static_cast<std::size_t>(i)];
        INFO("page " << i);
        REQUIRE(!outcome.failure.has_value());
        // The element the page's timer made (the script's text holds the marker too).
        CHECK(outcome.html.find("<p id=\"m\">" + markers[static_cast<std::size_t>(i)] + "</p>") !=
              std::string::npos);
        for (int j = 0; j < pages; ++j) {
            if (j != i) {
                CHECK(outcome.html.find(markers[static_cast<std::size_t>(j)]) == std::string::npos);
            }
        }
    }
    CHECK(origin.accepted() == 0);
}

TEST_CASE("a browser that cannot start fails its pages as render_crash", "[unit][render]") {
    asio::io_context io;
    auto options = pool_options();
    options.chromium = "/nonexistent/chromium";
    options.start_timeout = 2s;
    options.max_attempts = 2;
    browser_pool pool(io.get_executor(), options);
    const auto outcome =
        render_one(io, pool, page("http://127.0.0.1:1/x", "<p>x</p>"), render_options{});
    CHECK(outcome.failure == harvest::core::failure_kind::render_crash);
    CHECK(!harvest::render::chromium_available("/nonexistent/chromium"));
    CHECK(harvest::render::chromium_available("/usr/bin/chromium"));
}

namespace {

// A page that sets `mine=<tag>` and deletes `gone` with document.cookie, then shows, after
// `delay_ms`, what document.cookie holds in p#jar.
std::string cookie_page(const std::string& tag, int delay_ms) {
    return "<html><body><script>document.cookie = 'mine=" + tag +
           "; Path=/'; document.cookie = 'gone=; Max-Age=0; Path=/';\n"
           "setTimeout(() => { const p = document.createElement('p'); p.id = 'jar'; "
           "p.textContent = '[' + document.cookie + ']'; document.body.appendChild(p); }, " +
           std::to_string(delay_ms) + ");</script></body></html>";
}

// A session's jar for the page's host: x=<tag>, an HttpOnly secret and `gone`.
std::shared_ptr<harvest::core::cookie_jar> session_jar(const std::string& tag) {
    auto jar = std::make_shared<harvest::core::cookie_jar>();
    const auto now = harvest::core::cookie_clock::now();
    const harvest::core::cookie_url url{"127.0.0.1", "/", false};
    REQUIRE(jar->set_cookie("x=" + tag + "; Path=/", url, now));
    REQUIRE(jar->set_cookie("secret=" + tag + "; Path=/; HttpOnly", url, now));
    REQUIRE(jar->set_cookie("gone=1; Path=/", url, now));
    return jar;
}

std::string jar_text(const render_outcome& outcome) {
    const auto start = outcome.html.find("<p id=\"jar\">");
    REQUIRE(start != std::string::npos);
    return outcome.html.substr(start, outcome.html.find("</p>", start) - start);
}

}  // namespace

TEST_CASE("a page has its own jar's cookies in the browser, and what it sets comes back",
          "[unit][render][cookies]") {
    asio::io_context io;
    auto options = pool_options();
    const bool one_tab = GENERATE(true, false);
    options.tabs_per_browser = one_tab ? 1 : 2;  // one after the other in one tab, or at once
    browser_pool pool(io.get_executor(), options);
    listener origin;
    const auto now = [] { return harvest::core::cookie_clock::now(); };
    const harvest::core::cookie_url at{"127.0.0.1", "/", false};
    auto jar_a = session_jar("a");
    auto jar_b = session_jar("b");
    std::vector<std::optional<render_outcome>> outcomes(3);
    const auto start = [&](std::size_t i, const std::string& tag,
                           std::shared_ptr<harvest::core::cookie_jar> jar) {
        auto in = page(origin.url("/c/" + tag + ".html"), cookie_page(tag, 300));
        in.cookies = std::move(jar);
        asio::co_spawn(io, pool.render(std::move(in), selector("#jar")),
                       [&outcomes, i](const std::exception_ptr& error, render_outcome outcome) {
                           REQUIRE(!error);
                           outcomes[i] = std::move(outcome);
                       });
    };
    start(0, "a", jar_a);
    start(1, "b", jar_b);
    start(2, "none", nullptr);  // http.cookies off: no jar
    run_until(io, outcomes, 90s);
    for (const auto& outcome : outcomes) {
        REQUIRE(!outcome->failure.has_value());
    }
    const auto a = jar_text(*outcomes[0]);
    const auto b = jar_text(*outcomes[1]);
    const auto none = jar_text(*outcomes[2]);
    INFO(a << "\n" << b << "\n" << none);
    // Each page sees its jar's cookies and its own, HttpOnly ones hidden, deleted ones gone.
    CHECK(a.find("x=a") != std::string::npos);
    CHECK(a.find("mine=a") != std::string::npos);
    CHECK(b.find("x=b") != std::string::npos);
    CHECK(b.find("mine=b") != std::string::npos);
    CHECK(none.find("mine=none") != std::string::npos);
    for (const auto& seen : {a, b, none}) {
        CHECK(seen.find("secret=") == std::string::npos);
        CHECK(seen.find("gone=") == std::string::npos);
    }
    // Nothing of another page's jar, nor of what another page set.
    CHECK(a.find("=b") == std::string::npos);
    CHECK(a.find("=none") == std::string::npos);
    CHECK(b.find("=a") == std::string::npos);
    CHECK(b.find("=none") == std::string::npos);
    CHECK(none.find("x=") == std::string::npos);
    CHECK(none.find("=a") == std::string::npos);
    CHECK(none.find("=b") == std::string::npos);

    // The jars: what the page set is in, what it deleted is out, the HttpOnly cookie kept.
    CHECK(jar_a->cookie_header(at, now()) == "x=a; secret=a; mine=a");
    CHECK(jar_b->cookie_header(at, now()) == "x=b; secret=b; mine=b");
    CHECK(origin.accepted() == 0);
}

namespace {

// A page that shows in p#found what localStorage and sessionStorage held for `who` when it
// opened ("none" for nothing), then stores its own `tag` in both.
std::string storage_page(const std::string& tag) {
    return "<html><body><script>\n"
           "const found = (localStorage.getItem('who') ?? 'none') + ',' +\n"
           "  (sessionStorage.getItem('who') ?? 'none');\n"
           "localStorage.setItem('who', '" +
           tag + "'); sessionStorage.setItem('who', '" + tag +
           "');\n"
           "const p = document.createElement('p'); p.id = 'found';\n"
           "p.textContent = '[' + found + ']'; document.body.appendChild(p);\n"
           "</script></body></html>";
}

std::string found_text(const render_outcome& outcome) {
    const auto start = outcome.html.find("<p id=\"found\">");
    REQUIRE(start != std::string::npos);
    const auto from = start + std::string_view("<p id=\"found\">").size();
    return outcome.html.substr(from, outcome.html.find("</p>", from) - from);
}

}  // namespace

TEST_CASE("a page sees nothing the page before it stored in its tab", "[unit][render]") {
    // One tab, the same origin twice: the second page (another session's, or none) must not
    // read what the first one put in localStorage or sessionStorage.
    asio::io_context io;
    auto options = pool_options();
    options.tabs_per_browser = 1;
    browser_pool pool(io.get_executor(), options);
    listener origin;
    std::vector<std::string> found;
    for (const std::string tag : {"first", "second", "third"}) {
        auto in = page(origin.url("/s/" + tag + ".html"), storage_page(tag));
        const auto outcome = render_one(io, pool, std::move(in), selector("#found"));
        REQUIRE(!outcome.failure.has_value());
        found.push_back(found_text(outcome));
    }
    CHECK(found == std::vector<std::string>{"[none,none]", "[none,none]", "[none,none]"});
    CHECK(origin.accepted() == 0);
}

TEST_CASE("emptying one tab's storage leaves a page in another tab its own", "[unit][render]") {
    // Two tabs on one origin: the first page stores, waits, then reads its value back; the
    // second page opens in the other tab meanwhile, and its tab is emptied before it opens.
    asio::io_context io;
    auto options = pool_options();
    options.tabs_per_browser = 2;
    browser_pool pool(io.get_executor(), options);
    listener origin;
    const std::string keeper =
        "<html><body><script>\n"
        "localStorage.setItem('mine', 'kept'); sessionStorage.setItem('mine', 'kept');\n"
        "setTimeout(() => { const p = document.createElement('p'); p.id = 'found';\n"
        "  p.textContent = '[' + localStorage.getItem('mine') + ',' +\n"
        "    sessionStorage.getItem('mine') + ']'; document.body.appendChild(p); }, 1500);\n"
        "</script></body></html>";
    // The browser started first, so that the second page comes while the first one waits.
    REQUIRE(!render_one(io, pool, page(origin.url("/warm.html"), storage_page("warm")),
                        selector("#found"))
                 .failure.has_value());
    std::vector<std::optional<render_outcome>> outcomes(2);
    asio::co_spawn(io, pool.render(page(origin.url("/keeper.html"), keeper), selector("#found")),
                   [&outcomes](const std::exception_ptr& error, render_outcome outcome) {
                       REQUIRE(!error);
                       outcomes[0] = std::move(outcome);
                   });
    asio::steady_timer later(io, 500ms);
    later.async_wait([&](boost::system::error_code) {
        asio::co_spawn(
            io,
            pool.render(page(origin.url("/other.html"), storage_page("other")), selector("#found")),
            [&outcomes](const std::exception_ptr& error, render_outcome outcome) {
                REQUIRE(!error);
                outcomes[1] = std::move(outcome);
            });
    });
    run_until(io, outcomes, 60s);
    REQUIRE(!outcomes[0]->failure.has_value());
    REQUIRE(!outcomes[1]->failure.has_value());
    CHECK(found_text(*outcomes[0]) == "[kept,kept]");
    CHECK(found_text(*outcomes[1]) == "[none,none]");  // another tab's is not this one's
}

TEST_CASE("a page Chromium will not open fails as render_refused, tried once", "[unit][render]") {
    asio::io_context io;
    harvest::metrics::registry registry({{"crawl", "render"}});
    harvest::metrics::crawl_metrics metrics(registry);
    browser_pool pool(io.get_executor(), pool_options(), &metrics);
    listener origin;

    // Bytes whose Content-Type makes them a download: Chromium abandons the navigation.
    auto download = page(origin.url("/files/catalog.bin"), "not a page at all");
    download.content_type = "application/octet-stream";
    const auto refused = render_one(io, pool, std::move(download), render_options{});
    CHECK(refused.failure == harvest::core::failure_kind::render_refused);
    CHECK(refused.html.empty());
    // Once: the browser was neither restarted nor asked again.
    CHECK(metrics.renders.with({"render_refused"}).value() == 1);
    CHECK(metrics.renders.with({"render_crash"}).value() == 0);
    for (const auto* reason : {"crash", "hang", "memory"}) {
        CHECK(metrics.browser_restarts.with({reason}).value() == 0);
    }

    // A page on a port Chromium never connects to (X11's 6000) is not refused: its document is
    // the crawl's bytes, not a connection. And the pool renders on as before.
    const auto rendered = render_one(
        io, pool, page("http://127.0.0.1:6000/p/1.html", "<html><body><p>x</p></body></html>"),
        render_options{});
    INFO(rendered.html);
    CHECK(!rendered.failure.has_value());
    CHECK(rendered.html.find("<p>x</p>") != std::string::npos);
    CHECK(origin.accepted() == 0);
}
