#include "engine/render/browser_pool.hpp"

#include "engine/metrics/crawl_metrics.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>

namespace harvest::render {
namespace asio = boost::asio;
namespace json = boost::json;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const auto n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += base64_alphabet[(n >> 6) & 63];
        out += base64_alphabet[n & 63];
    }
    if (i + 1 == bytes.size()) {
        const auto n = static_cast<unsigned char>(bytes[i]) << 16;
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == bytes.size()) {
        const auto n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += base64_alphabet[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

// Resident bytes of every process in process group `group` (the browser and the renderers,
// GPU and utility processes it started): /proc/<pid>/stat's pgrp and statm's resident pages.
std::uint64_t group_rss(int group) {
    std::uint64_t pages = 0;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) {
        return 0;
    }
    while (const dirent* entry = readdir(proc)) {
        const std::string_view name = entry->d_name;
        if (name.empty() || name.find_first_not_of("0123456789") != std::string_view::npos) {
            continue;
        }
        std::ifstream stat("/proc/" + std::string(name) + "/stat");
        std::string line;
        if (!std::getline(stat, line)) {
            continue;
        }
        // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        const auto close = line.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        int ppid = 0;
        int pgrp = 0;
        char state = 0;
        if (std::sscanf(line.c_str() + close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3 ||
            pgrp != group) {
            continue;
        }
        std::ifstream statm("/proc/" + std::string(name) + "/statm");
        std::uint64_t size = 0;
        std::uint64_t resident = 0;
        if (statm >> size >> resident) {
            pages += resident;
        }
    }
    closedir(proc);
    return pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string lower(std::string text) {
    for (auto& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return text;
}

// An http(s) URL parsed, with its scheme lower-cased; nothing for anything else (a data: URL, a
// blob) or what does not parse.
struct http_url {
    boost::urls::url_view url;
    std::string scheme;
};

std::optional<http_url> parse_http_url(std::string_view text) {
    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        return std::nullopt;
    }
    std::string scheme = lower(std::string(parsed->scheme()));
    if (scheme != "http" && scheme != "https") {
        return std::nullopt;
    }
    return http_url{*parsed, std::move(scheme)};
}

// scheme://host:port of an http(s) URL, lower case, with the default port spelled out; empty
// for anything else.
std::string origin_of(std::string_view url) {
    const auto parsed = parse_http_url(url);
    if (!parsed) {
        return {};
    }
    const auto port = parsed->url.has_port() ? static_cast<unsigned>(parsed->url.port_number())
                                             : (parsed->scheme == "https" ? 443u : 80u);
    return parsed->scheme + "://" + lower(std::string(parsed->url.host_address())) + ":" +
           std::to_string(port);
}

// The web origin of an http(s) URL as the browser writes it (RFC 6454: the port only when it
// is not the scheme's default); empty for anything else.
std::string web_origin_of(std::string_view url) {
    const auto parsed = parse_http_url(url);
    if (!parsed) {
        return {};
    }
    std::string origin =
        parsed->scheme + "://" + lower(std::string(parsed->url.encoded_host_and_port()));
    const std::string_view default_port = parsed->scheme == "https" ? ":443" : ":80";
    if (origin.ends_with(default_port)) {
        origin.resize(origin.size() - default_port.size());
    }
    return origin;
}

// The proxy as Chromium's --proxy-server / proxyServer spells it: scheme://host:port, an IPv6
// literal in brackets, never the credentials (they are answered to Fetch.authRequired).
// Chromium's SOCKS5 client always sends the target's name to the proxy: socks5 and socks5h
// both become socks5://.
std::string chromium_proxy_server(const core::proxy_url& proxy) {
    const bool ipv6 = proxy.host.find(':') != std::string::npos;
    return std::string(proxy.scheme == core::proxy_scheme::http ? "http://" : "socks5://") +
           (ipv6 ? "[" : "") + proxy.host + (ipv6 ? "]" : "") + ":" + std::to_string(proxy.port);
}

// What a tab's browser context is bound to: the proxy's server and credentials, or "" for a
// tab whose requests go directly. A tab renders only pages fetched the same way.
std::string proxy_key_of(const core::proxy_url* proxy) {
    if (proxy == nullptr) {
        return {};
    }
    return chromium_proxy_server(*proxy) + '\n' + proxy->user + '\n' + proxy->password;
}

// Chromium answers SOCKS5 proxies without authentication only.
bool browser_can_use(const core::proxy_url& proxy) {
    return proxy.scheme == core::proxy_scheme::http || !proxy.has_credentials();
}

// http(s)://host[:port]/favicon.ico, the icon browsers ask for on their own.
bool is_favicon(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return false;
    }
    const auto path = url.find('/', scheme + 3);
    return path != std::string_view::npos && url.substr(path) == "/favicon.ico";
}

// A jar's cookie as CDP's Network.CookieParam (Storage.setCookies): a Domain cookie by its
// domain with the leading dot, a host-only one by a URL of its host (a domain would make it a
// Domain cookie). The scheme of that URL is https for a Secure cookie, which the browser sets
// from a secure URL only.
json::object cdp_cookie(const core::cookie& c) {
    json::object out;
    out["name"] = c.name;
    out["value"] = c.value;
    out["path"] = c.path;
    if (c.host_only) {
        const bool ipv6 = c.domain.find(':') != std::string::npos;
        out["url"] = std::string(c.secure ? "https://" : "http://") + (ipv6 ? "[" : "") + c.domain +
                     (ipv6 ? "]" : "") + c.path;
    } else {
        out["domain"] = "." + c.domain;
    }
    out["secure"] = c.secure;
    out["httpOnly"] = c.http_only;
    if (c.expires) {
        out["expires"] =
            std::chrono::duration<double>(c.expires->time_since_epoch()).count();  // seconds
    }
    return out;
}

// A browser's cookie (CDP's Network.Cookie) as the jar keeps it; nullopt for one the jar has
// no place for (no name, no domain).
std::optional<core::cookie> jar_cookie(const json::object& c) {
    const auto text = [&c](std::string_view key) {
        const auto* v = c.if_contains(key);
        return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    const auto flag = [&c](std::string_view key) {
        const auto* v = c.if_contains(key);
        return v != nullptr && v->is_bool() && v->as_bool();
    };
    core::cookie out;
    out.name = text("name");
    out.value = text("value");
    out.path = text("path");
    std::string domain = lower(text("domain"));
    out.host_only = !domain.starts_with('.');
    out.domain = out.host_only ? domain : domain.substr(1);
    if (out.name.empty() || out.domain.empty()) {
        return std::nullopt;
    }
    if (out.path.empty()) {
        out.path = "/";
    }
    out.secure = flag("secure");
    out.http_only = flag("httpOnly");
    const auto* expires = c.if_contains("expires");
    if (!flag("session") && expires != nullptr && expires->is_number() &&
        expires->to_number<double>() >= 0) {
        // Chromium caps a cookie's life at 400 days; the clamp keeps any other browser's far
        // future inside what the clock holds (nanoseconds in 64 bits end in 2262).
        const double seconds = std::min(expires->to_number<double>(), 9.0e9);
        out.expires =
            core::cookie_clock::time_point(std::chrono::duration_cast<core::cookie_clock::duration>(
                std::chrono::duration<double>(seconds)));
    }
    return out;
}

enum class call_status { ok, crashed, timed_out, refused };

struct call_result {
    call_status status = call_status::crashed;
    json::object result;
    std::string error;  // refused: CDP's error message
};

struct pending_call {
    explicit pending_call(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    bool answered = false;
    json::value reply;
};

struct tab {
    explicit tab(const asio::any_io_executor& executor) : wake(executor) {}
    asio::steady_timer wake;  // cancelled by every event that may end a wait
    unsigned generation = 0;  // of its browser: a restarted browser's tabs are gone
    std::string target_id;
    std::string session_id;
    // The tab's own browser context: its cookie store holds the cookies of the page it renders
    // and no other tab's (see seed_cookies).
    std::string context_id;
    // The proxy its context sends through (proxy_key_of); "" directly.
    std::string proxy_key;
    // Requests whose proxy challenge was answered with the page's credentials: asked again,
    // the proxy refused them, and the request fails.
    std::set<std::string> auth_answered;
    std::vector<core::cookie> cookies_sent;  // what the page's jar gave the browser
    unsigned pages = 0;
    bool lost = false;  // the renderer crashed or the target went away
    // The page being rendered; `busy` false between pages (stray requests are aborted).
    bool busy = false;
    crawl::render_input page;
    std::vector<std::string> block;
    bool document_served = false;
    bool load_fired = false;
    std::string loader_id;  // of the navigation (Page.navigate's answer)
    // Documents (loader ids) that reached Chromium's networkIdle; it may come before the
    // navigation's answer, and a late one of the previous page must not count.
    std::set<std::string> idle_loaders;
    // The page's own requests to its host (the gate's): origin, when the page must be done,
    // and the permits of those sent and not answered yet (by Fetch request id).
    std::string origin;
    clock::time_point deadline{};
    unsigned serial = 0;  // of the page in the tab: a late answer of an earlier page is not its
    std::map<std::string, crawl::subrequest_gate::ticket> permits;
};

struct browser {
    int pid = -1;
    unsigned generation = 0;
    bool alive = false;
    bool starting = false;
    bool draining = false;  // past max_rss or told to: restarted once its tabs are free
    unsigned busy = 0;      // tabs rendering
    std::unique_ptr<asio::posix::stream_descriptor> to_browser;
    std::unique_ptr<asio::posix::stream_descriptor> from_browser;
    std::string profile_dir;
    std::uint64_t next_id = 1;
    std::map<std::uint64_t, std::shared_ptr<pending_call>> calls;
    std::map<std::string, std::shared_ptr<tab>> sessions;
    std::vector<std::shared_ptr<tab>> idle_tabs;
    std::deque<std::string> outbox;
    bool writing = false;
};

}  // namespace

struct browser_pool::impl : std::enable_shared_from_this<browser_pool::impl> {
    impl(asio::any_io_executor executor, render_pool_options pool_options,
         metrics::crawl_metrics* crawl_metrics)
        : strand(asio::make_strand(executor)),
          slot_freed(strand),
          options(std::move(pool_options)),
          metrics(crawl_metrics) {
        options.browsers = std::max(1u, options.browsers);
        options.tabs_per_browser = std::max(1u, options.tabs_per_browser);
        options.pages_per_tab = std::max(1u, options.pages_per_tab);
        options.max_attempts = std::max(1u, options.max_attempts);
        for (unsigned i = 0; i < options.browsers; ++i) {
            browsers.push_back(std::make_unique<browser>());
        }
        // A write to a browser that just died must fail with EPIPE, not kill the process.
        std::signal(SIGPIPE, SIG_IGN);
    }

    asio::strand<asio::any_io_executor> strand;
    std::atomic<bool> warned_socks_credentials{false};
    asio::steady_timer slot_freed;  // cancelled whenever a tab or a browser becomes free
    render_pool_options options;
    metrics::crawl_metrics* metrics;
    endpoint_filter allow_endpoint;
    std::vector<std::unique_ptr<browser>> browsers;
    std::vector<std::unique_ptr<asio::posix::stream_descriptor>> retired;
    bool closed = false;
    std::atomic<std::uint64_t> restart_count{0};
    std::atomic<std::uint64_t> blocked{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> held_back{0};
    mutable std::mutex pid_mutex;  // guards `pids`, the snapshot browser_pids() reads
    std::vector<int> pids;

    void publish_pids() {
        std::lock_guard lock(pid_mutex);
        pids.clear();
        for (const auto& b : browsers) {
            if (b->alive && b->pid > 0) {
                pids.push_back(b->pid);
            }
        }
    }

    void count_restart(std::string_view reason) {
        restart_count.fetch_add(1, std::memory_order_relaxed);
        if (metrics != nullptr) {
            const std::string label(reason);
            metrics->browser_restarts.with({label}).inc();
        }
    }

    void count_subrequest(std::string_view action) {
        if (metrics != nullptr) {
            const std::string label(action);
            metrics->render_subrequests.with({label}).inc();
        }
    }

    // ---- the pipe ------------------------------------------------------------------------

    void send(browser& b, json::object message) {
        if (!b.alive) {
            return;
        }
        std::string text = json::serialize(message);
        text.push_back('\0');
        b.outbox.push_back(std::move(text));
        if (!b.writing) {
            b.writing = true;
            asio::co_spawn(strand, write_loop(shared_from_this(), &b, b.generation),
                           asio::detached);
        }
    }

    static asio::awaitable<void> write_loop(std::shared_ptr<impl> self, browser* b,
                                            unsigned generation) {
        while (b->generation == generation && b->alive && !b->outbox.empty()) {
            const std::string& front = b->outbox.front();
            auto [ec, written] = co_await asio::async_write(*b->to_browser, asio::buffer(front),
                                                            asio::as_tuple(asio::use_awaitable));
            if (b->generation != generation) {
                co_return;
            }
            if (ec) {
                self->lost(*b, "crash");
                co_return;
            }
            b->outbox.pop_front();
        }
        if (b->generation == generation) {
            b->writing = false;
        }
    }

    static asio::awaitable<void> read_loop(std::shared_ptr<impl> self, browser* b,
                                           unsigned generation) {
        std::string pending;
        std::vector<char> buffer(1 << 16);
        for (;;) {
            auto [ec, n] = co_await b->from_browser->async_read_some(
                asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
            if (b->generation != generation) {
                co_return;  // killed and maybe started again meanwhile
            }
            if (ec) {
                self->lost(*b, "crash");
                co_return;
            }
            pending.append(buffer.data(), n);
            std::size_t start = 0;
            for (auto end = pending.find('\0'); end != std::string::npos;
                 end = pending.find('\0', start)) {
                boost::system::error_code parse_error;
                json::value message =
                    json::parse(std::string_view(pending).substr(start, end - start), parse_error);
                start = end + 1;
                if (!parse_error && message.is_object()) {
                    self->dispatch(*b, message.as_object());
                    if (b->generation != generation) {
                        co_return;
                    }
                }
            }
            pending.erase(0, start);
        }
    }

    void dispatch(browser& b, json::object& message) {
        if (const auto* id = message.if_contains("id")) {
            const auto key = id->is_uint64() ? id->as_uint64()
                                             : static_cast<std::uint64_t>(id->to_number<double>());
            if (auto it = b.calls.find(key); it != b.calls.end()) {
                it->second->answered = true;
                it->second->reply = std::move(message);
                it->second->timer.cancel();
                b.calls.erase(it);
            }
            return;
        }
        const auto* method = message.if_contains("method");
        if (method == nullptr || !method->is_string()) {
            return;
        }
        const std::string_view name = method->as_string();
        json::object params;
        if (auto* p = message.if_contains("params"); p != nullptr && p->is_object()) {
            params = std::move(p->as_object());
        }
        if (name == "Target.detachedFromTarget") {
            if (const auto* sid = params.if_contains("sessionId"); sid && sid->is_string()) {
                if (auto it = b.sessions.find(std::string(sid->as_string()));
                    it != b.sessions.end()) {
                    it->second->lost = true;
                    it->second->wake.cancel();
                }
            }
            return;
        }
        const auto* sid = message.if_contains("sessionId");
        if (sid == nullptr || !sid->is_string()) {
            return;
        }
        const auto it = b.sessions.find(std::string(sid->as_string()));
        if (it == b.sessions.end()) {
            return;
        }
        on_event(b, it->second, name, params);
    }

    void on_event(browser& b, const std::shared_ptr<tab>& t, std::string_view name,
                  json::object& params) {
        if (name == "Fetch.requestPaused") {
            on_request_paused(b, t, params);
        } else if (name == "Page.loadEventFired") {
            t->load_fired = true;
            t->wake.cancel();
        } else if (name == "Page.lifecycleEvent") {
            const auto* what = params.if_contains("name");
            const auto* loader = params.if_contains("loaderId");
            if (what && what->is_string() && what->as_string() == "networkIdle" && loader &&
                loader->is_string()) {
                t->idle_loaders.insert(std::string(loader->as_string()));
                t->wake.cancel();
            }
        } else if (name == "Fetch.authRequired") {
            on_auth_required(b, t, params);
        } else if (name == "Inspector.targetCrashed") {
            t->lost = true;
            t->wake.cancel();
        }
    }

    // A request of the page met a challenge (only in a tab whose proxy has credentials: the
    // others do not ask Fetch to handle them). The proxy's is answered once with the page's
    // proxy credentials; a site's own (a 401 to the page) is cancelled, so the page gets the
    // 401 as the crawl would, with no credentials of ours.
    void on_auth_required(browser& b, const std::shared_ptr<tab>& t, const json::object& params) {
        const auto* id = params.if_contains("requestId");
        if (id == nullptr || !id->is_string()) {
            return;
        }
        std::string request_id(id->as_string());
        bool from_proxy = false;
        if (const auto* challenge = params.if_contains("authChallenge");
            challenge && challenge->is_object()) {
            const auto* source = challenge->as_object().if_contains("source");
            from_proxy = source && source->is_string() && source->as_string() == "Proxy";
        }
        const auto& proxy = t->page.proxy;
        json::object response;
        if (t->busy && from_proxy && proxy && proxy->has_credentials() &&
            t->auth_answered.insert(request_id).second) {
            response["response"] = "ProvideCredentials";
            response["username"] = proxy->user;
            response["password"] = proxy->password;
        } else {
            response["response"] = "CancelAuth";
        }
        json::object answer;
        answer["authChallengeResponse"] = std::move(response);
        answer_request(b, t, std::move(request_id), "Fetch.continueWithAuth", std::move(answer));
    }

    void answer_request(browser& b, const std::shared_ptr<tab>& t, std::string request_id,
                        std::string_view method, json::object params) {
        params["requestId"] = std::move(request_id);
        json::object message;
        message["id"] = b.next_id++;  // the reply is not awaited (no entry in calls)
        message["method"] = method;
        message["sessionId"] = t->session_id;
        message["params"] = std::move(params);
        send(b, std::move(message));
    }

    void fail_request(browser& b, const std::shared_ptr<tab>& t, std::string request_id,
                      std::string_view reason) {
        json::object params;
        params["errorReason"] = reason;
        answer_request(b, t, std::move(request_id), "Fetch.failRequest", std::move(params));
    }

    void on_request_paused(browser& b, const std::shared_ptr<tab>& t, json::object& params) {
        std::string request_id;
        if (const auto* id = params.if_contains("requestId"); id && id->is_string()) {
            request_id = std::string(id->as_string());
        } else {
            return;
        }
        if (params.contains("responseStatusCode") || params.contains("responseErrorReason")) {
            on_response_paused(b, t, std::move(request_id), params);
            return;
        }
        std::string url;
        if (const auto* request = params.if_contains("request"); request && request->is_object()) {
            if (const auto* u = request->as_object().if_contains("url"); u && u->is_string()) {
                url = std::string(u->as_string());
            }
        }
        std::string type;
        if (const auto* r = params.if_contains("resourceType"); r && r->is_string()) {
            type = lower(std::string(r->as_string()));
        }
        if (!t->busy) {
            fail_request(b, t, std::move(request_id), "Aborted");
            return;
        }
        if (type == "document" && !t->document_served) {
            // The page itself (the first document the navigation asks for, whatever spelling of
            // its URL the browser normalized to): the bytes the crawl fetched through the host's
            // guard.
            t->document_served = true;
            json::object fulfill;
            fulfill["responseCode"] = t->page.status;
            json::array headers;
            json::object content_type;
            content_type["name"] = "Content-Type";
            content_type["value"] =
                t->page.content_type.empty() ? "text/html" : t->page.content_type;
            headers.push_back(std::move(content_type));
            fulfill["responseHeaders"] = std::move(headers);
            fulfill["body"] = base64(t->page.body);
            answer_request(b, t, std::move(request_id), "Fetch.fulfillRequest", std::move(fulfill));
            return;
        }
        if (type == "other" && is_favicon(url)) {
            // The browser's own request for the tab's icon: no page asked for it, no item needs
            // it, and it would be one more request to the host.
            fail_request(b, t, std::move(request_id), "BlockedByClient");
            return;
        }
        if (std::find(t->block.begin(), t->block.end(), type) != t->block.end()) {
            blocked.fetch_add(1, std::memory_order_relaxed);
            count_subrequest("blocked");
            fail_request(b, t, std::move(request_id), "BlockedByClient");
            return;
        }
        const bool gated = t->page.gate && !t->origin.empty() && origin_of(url) == t->origin;
        if (allow_endpoint || gated) {
            asio::co_spawn(strand,
                           admit_subrequest(shared_from_this(), &b, b.generation, t, t->serial,
                                            std::move(request_id), std::move(url), gated),
                           asio::detached);
            return;
        }
        count_subrequest("sent");
        answer_request(b, t, std::move(request_id), "Fetch.continueRequest", json::object{});
    }

    // A request continued with interceptResponse (one of the host's, under a permit) has its
    // answer: the status, or the network's error. The host's guard hears it; the browser gets
    // the answer as it came.
    void on_response_paused(browser& b, const std::shared_ptr<tab>& t, std::string request_id,
                            const json::object& params) {
        std::optional<unsigned> status;
        if (const auto* code = params.if_contains("responseStatusCode");
            code && code->is_number()) {
            status = static_cast<unsigned>(code->to_number<double>());
        }
        if (const auto it = t->permits.find(request_id); it != t->permits.end()) {
            if (t->page.gate) {
                t->page.gate->record(it->second, status);
            }
            t->permits.erase(it);
        }
        if (!status) {
            std::string reason = "Failed";
            if (const auto* r = params.if_contains("responseErrorReason"); r && r->is_string()) {
                reason = std::string(r->as_string());
            }
            fail_request(b, t, std::move(request_id), reason);
            return;
        }
        answer_request(b, t, std::move(request_id), "Fetch.continueRequest", json::object{});
    }

    // A page's request that asks first: the egress guard (when set), then, for one to the
    // page's own host, that host's guard, waited for until the page's deadline.
    static asio::awaitable<void> admit_subrequest(std::shared_ptr<impl> self, browser* b,
                                                  unsigned generation, std::shared_ptr<tab> t,
                                                  unsigned serial, std::string request_id,
                                                  std::string url, bool gated) {
        if (self->allow_endpoint) {
            const bool allowed = co_await egress_allows(self, url);
            if (b->generation != generation || !b->alive) {
                co_return;
            }
            if (!allowed) {
                self->refused.fetch_add(1, std::memory_order_relaxed);
                self->count_subrequest("refused");
                self->fail_request(*b, t, std::move(request_id), "AddressUnreachable");
                co_return;
            }
        }
        if (!gated || t->serial != serial || !t->busy) {
            self->count_subrequest("sent");
            self->answer_request(*b, t, std::move(request_id), "Fetch.continueRequest",
                                 json::object{});
            co_return;
        }
        const auto gate = t->page.gate;
        const auto permit = co_await gate->admit(t->deadline);
        const bool same_page =
            b->generation == generation && b->alive && t->busy && t->serial == serial && !t->lost;
        if (!same_page) {
            if (permit) {
                gate->cancel(*permit);  // never sent
            }
            if (b->generation == generation && b->alive) {
                self->fail_request(*b, t, std::move(request_id), "Aborted");
            }
            co_return;
        }
        if (!permit) {
            // Not before the page has to be done (its host's breaker stays open past it): the
            // request fails in the browser, as it would against a host that does not answer.
            self->held_back.fetch_add(1, std::memory_order_relaxed);
            self->count_subrequest("held_back");
            self->fail_request(*b, t, std::move(request_id), "BlockedByClient");
            co_return;
        }
        t->permits[request_id] = *permit;
        self->count_subrequest("sent");
        json::object params;
        params["interceptResponse"] = true;  // its answer comes back to the host's guard
        self->answer_request(*b, t, std::move(request_id), "Fetch.continueRequest",
                             std::move(params));
    }

    // The egress guard: a literal address is asked at once, a host name after resolving it
    // (refused when any of its addresses is: the browser may connect to any of them).
    static asio::awaitable<bool> egress_allows(std::shared_ptr<impl> self, std::string url) {
        bool allowed = true;
        const auto parsed = boost::urls::parse_uri(url);
        if (!parsed) {
            allowed = false;
        } else {
            const auto scheme = parsed->scheme();
            if (scheme == "http" || scheme == "https" || scheme == "ws" || scheme == "wss") {
                const bool secure = scheme == "https" || scheme == "wss";
                const auto port = parsed->has_port()
                                      ? parsed->port_number()
                                      : static_cast<std::uint16_t>(secure ? 443 : 80);
                std::string host = parsed->host_address();
                if (host.size() > 2 && host.front() == '[') {
                    host = host.substr(1, host.size() - 2);
                }
                boost::system::error_code ec;
                const auto address = asio::ip::make_address(host, ec);
                if (!ec) {
                    allowed = self->allow_endpoint(address, port);
                } else {
                    asio::ip::tcp::resolver resolver(self->strand);
                    auto [resolve_error, results] = co_await resolver.async_resolve(
                        host, std::to_string(port), asio::as_tuple(asio::use_awaitable));
                    allowed = !resolve_error && !results.empty();
                    for (const auto& entry : results) {
                        if (!self->allow_endpoint(entry.endpoint().address(), port)) {
                            allowed = false;
                        }
                    }
                }
            }
        }
        co_return allowed;
    }

    // One CDP command and its reply, or why there is none by `deadline`.
    static asio::awaitable<call_result> call(std::shared_ptr<impl> self, browser* b,
                                             std::string method, json::object params,
                                             std::string session, clock::time_point deadline) {
        call_result out;
        if (!b->alive) {
            co_return out;
        }
        const unsigned generation = b->generation;
        const auto id = b->next_id++;
        auto pending = std::make_shared<pending_call>(self->strand);
        b->calls.emplace(id, pending);
        json::object message;
        message["id"] = id;
        message["method"] = method;
        if (!session.empty()) {
            message["sessionId"] = session;
        }
        message["params"] = std::move(params);
        self->send(*b, std::move(message));
        pending->timer.expires_at(deadline);
        while (!pending->answered && b->generation == generation && b->alive &&
               clock::now() < deadline) {
            co_await pending->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (!pending->answered) {
            if (b->generation == generation) {
                b->calls.erase(id);
            }
            out.status = (b->generation == generation && b->alive) ? call_status::timed_out
                                                                   : call_status::crashed;
            co_return out;
        }
        auto& reply = pending->reply.as_object();
        if (const auto* error = reply.if_contains("error")) {
            out.status = call_status::refused;
            out.error = json::serialize(*error);
            co_return out;
        }
        out.status = call_status::ok;
        if (auto* result = reply.if_contains("result"); result && result->is_object()) {
            out.result = std::move(result->as_object());
        }
        co_return out;
    }

    // ---- browsers ------------------------------------------------------------------------

    // Kills `b`'s process group, fails its calls and forgets its tabs. `reason` (crash, hang,
    // memory) is counted as a restart; empty = the pool is closing.
    void kill_browser(browser& b, std::string_view reason) {
        if (!b.alive && b.pid <= 0) {
            return;
        }
        ++b.generation;
        b.alive = false;
        if (b.pid > 0) {
            ::kill(-b.pid, SIGKILL);
            ::kill(b.pid, SIGKILL);
            int status = 0;
            while (::waitpid(b.pid, &status, 0) < 0 && errno == EINTR) {
            }
            b.pid = -1;
        }
        boost::system::error_code ignored;
        // Closed, not destroyed: an operation of the old generation may still be completing on
        // them. They go with the pool.
        for (auto* pipe : {&b.to_browser, &b.from_browser}) {
            if (*pipe) {
                (*pipe)->close(ignored);
                retired.push_back(std::move(*pipe));
            }
        }
        for (auto& [id, pending] : b.calls) {
            pending->timer.cancel();
        }
        b.calls.clear();
        for (auto& [sid, t] : b.sessions) {
            t->lost = true;
            t->wake.cancel();
        }
        b.sessions.clear();
        b.idle_tabs.clear();
        b.outbox.clear();
        b.writing = false;
        b.draining = false;
        b.busy = 0;  // the pages it was rendering release nothing (their generation ended)
        if (!b.profile_dir.empty()) {
            std::error_code removed;
            std::filesystem::remove_all(b.profile_dir, removed);
            b.profile_dir.clear();
        }
        if (!reason.empty()) {
            count_restart(reason);
            spdlog::warn("render: browser killed ({}); it is started again on demand", reason);
        }
        publish_pids();
        slot_freed.cancel();
    }

    // The browser's pipe closed or failed: it crashed, or was killed from outside.
    void lost(browser& b, std::string_view reason) {
        if (b.alive) {
            kill_browser(b, reason);
        }
    }

    // Starts `b` and waits until it answers; false (and `b` cleaned up) when it does not.
    static asio::awaitable<bool> start(std::shared_ptr<impl> self, browser* b) {
        std::string profile =
            (std::filesystem::temp_directory_path() / "harvest-chromium-XXXXXX").string();
        if (::mkdtemp(profile.data()) == nullptr) {
            spdlog::error("render: cannot make a browser profile folder: {}", std::strerror(errno));
            co_return false;
        }
        std::vector<std::string> args{self->options.chromium,
                                      "--headless",
                                      "--no-sandbox",
                                      "--disable-gpu",
                                      "--disable-quic",
                                      "--no-first-run",
                                      "--disable-background-networking",
                                      "--disable-component-update",
                                      "--disable-sync",
                                      "--disable-dev-shm-usage",
                                      "--user-data-dir=" + profile,
                                      "--remote-debugging-pipe",
                                      "about:blank"};
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        int commands[2];  // harvest writes [1], the browser reads [0] as its fd 3
        int replies[2];   // the browser writes [1] as its fd 4, harvest reads [0]
        if (::pipe2(commands, O_CLOEXEC) != 0) {
            co_return false;
        }
        if (::pipe2(replies, O_CLOEXEC) != 0) {
            ::close(commands[0]);
            ::close(commands[1]);
            co_return false;
        }
        const int pid = ::fork();
        if (pid == 0) {
            // The child: only async-signal-safe calls until exec. Its own process group, so
            // that killing the browser takes its renderers along.
            ::setpgid(0, 0);
            const int null = ::open("/dev/null", O_RDWR);
            if (null >= 0) {
                ::dup2(null, 0);
                ::dup2(null, 1);
                ::dup2(null, 2);
            }
            // Above 4 first, so that dup2 onto 3 and 4 never meets its own source.
            const int in = ::fcntl(commands[0], F_DUPFD, 10);
            const int out = ::fcntl(replies[1], F_DUPFD, 10);
            if (in < 0 || out < 0 || ::dup2(in, 3) < 0 || ::dup2(out, 4) < 0) {
                ::_exit(126);
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(commands[0]);
        ::close(replies[1]);
        if (pid < 0) {
            ::close(commands[1]);
            ::close(replies[0]);
            co_return false;
        }
        ::setpgid(pid, pid);  // as the child does: whichever runs first
        b->pid = pid;
        ++b->generation;
        b->alive = true;
        b->profile_dir = profile;
        b->to_browser = std::make_unique<asio::posix::stream_descriptor>(self->strand, commands[1]);
        b->from_browser =
            std::make_unique<asio::posix::stream_descriptor>(self->strand, replies[0]);
        b->next_id = 1;
        asio::co_spawn(self->strand, read_loop(self, b, b->generation), asio::detached);
        const auto deadline = clock::now() + self->options.start_timeout;
        auto version = co_await call(self, b, "Browser.getVersion", json::object{}, "", deadline);
        if (version.status != call_status::ok) {
            spdlog::error("render: {} did not start (no answer on its DevTools pipe within {} ms)",
                          self->options.chromium, self->options.start_timeout.count());
            self->kill_browser(*b, "");
            co_return false;
        }
        self->publish_pids();
        co_return true;
    }

    // A browser with a free tab slot, started or restarted as needed; null when none could be
    // started or the pool closed.
    static asio::awaitable<browser*> acquire(std::shared_ptr<impl> self) {
        for (;;) {
            if (self->closed) {
                co_return nullptr;
            }
            browser* dead = nullptr;
            browser* best = nullptr;
            for (auto& b : self->browsers) {
                if (b->alive && b->draining && b->busy == 0) {
                    self->kill_browser(*b, "memory");
                }
                if (b->alive && !b->draining && b->busy < self->options.tabs_per_browser &&
                    (best == nullptr || b->busy < best->busy)) {
                    best = b.get();
                }
                if (!b->alive && !b->starting && dead == nullptr) {
                    dead = b.get();
                }
            }
            if (best != nullptr) {
                ++best->busy;
                co_return best;
            }
            if (dead != nullptr) {
                dead->starting = true;
                const bool started = co_await start(self, dead);
                dead->starting = false;
                self->slot_freed.cancel();
                if (!started) {
                    co_return nullptr;
                }
                continue;
            }
            // Every browser busy or starting: wait for a slot (re-checked at least every 250 ms).
            self->slot_freed.expires_after(milliseconds(250));
            co_await self->slot_freed.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    // A slot taken by acquire() given back; a browser killed meanwhile counted it no more.
    void release(browser& b, unsigned generation) {
        if (b.generation == generation && b.busy > 0) {
            --b.busy;
        }
        slot_freed.cancel();
    }

    // ---- one page ------------------------------------------------------------------------

    enum class page_result { ok, timeout, crashed, navigation_failed, proxy_unsupported };

    // `proxy`: the proxy the tab's requests go through (null: directly).
    static asio::awaitable<std::shared_ptr<tab>> open_tab(std::shared_ptr<impl> self, browser* b,
                                                          const core::proxy_url* proxy,
                                                          page_result& why) {
        const auto deadline = clock::now() + self->options.command_timeout;
        const auto generation = b->generation;
        // Each tab in a browser context of its own: tabs render pages of different sessions at
        // the same time, and one cookie store shared by them would hand one session's cookies
        // to another's page. The context is also where a proxy is set: the crawl's, for pages
        // fetched through it, loopback targets included (Chromium bypasses the proxy for them
        // unless told "<-loopback>").
        json::object context_params;
        if (proxy != nullptr) {
            context_params["proxyServer"] = chromium_proxy_server(*proxy);
            context_params["proxyBypassList"] = "<-loopback>";
        }
        auto context = co_await call(self, b, "Target.createBrowserContext",
                                     std::move(context_params), "", deadline);
        if (context.status != call_status::ok) {
            why = self->browser_failed(*b, generation, context.status);
            co_return nullptr;
        }
        const auto* context_id = context.result.if_contains("browserContextId");
        if (context_id == nullptr || !context_id->is_string()) {
            co_return nullptr;
        }
        auto t = std::make_shared<tab>(self->strand);
        t->generation = generation;
        t->context_id = std::string(context_id->as_string());
        t->proxy_key = proxy_key_of(proxy);
        json::object create_params;
        create_params["url"] = "about:blank";
        create_params["browserContextId"] = t->context_id;
        auto created =
            co_await call(self, b, "Target.createTarget", std::move(create_params), "", deadline);
        if (created.status != call_status::ok) {
            why = self->browser_failed(*b, generation, created.status);
            self->dispose_context(*b, *t);
            co_return nullptr;
        }
        const auto* target = created.result.if_contains("targetId");
        if (target == nullptr || !target->is_string()) {
            self->dispose_context(*b, *t);
            co_return nullptr;
        }
        t->target_id = std::string(target->as_string());
        json::object attach_params;
        attach_params["targetId"] = t->target_id;
        attach_params["flatten"] = true;
        auto attached =
            co_await call(self, b, "Target.attachToTarget", std::move(attach_params), "", deadline);
        if (attached.status != call_status::ok) {
            why = self->browser_failed(*b, generation, attached.status);
            self->dispose_context(*b, *t);  // its target with it
            co_return nullptr;
        }
        const auto* session = attached.result.if_contains("sessionId");
        if (session == nullptr || !session->is_string()) {
            self->dispose_context(*b, *t);  // its target with it
            co_return nullptr;
        }
        t->session_id = std::string(session->as_string());
        b->sessions[t->session_id] = t;
        json::object lifecycle;
        lifecycle["enabled"] = true;
        json::object pattern;
        pattern["urlPattern"] = "*";
        pattern["requestStage"] = "Request";
        json::array patterns;
        patterns.push_back(std::move(pattern));
        json::object fetch;
        fetch["patterns"] = std::move(patterns);
        if (proxy != nullptr && proxy->has_credentials()) {
            fetch["handleAuthRequests"] = true;  // on_auth_required
        }
        const std::vector<std::pair<std::string, json::object>> setup{
            {"Page.enable", json::object{}},
            {"Page.setLifecycleEventsEnabled", std::move(lifecycle)},
            {"Fetch.enable", std::move(fetch)}};
        for (const auto& [method, params] : setup) {
            auto done = co_await call(self, b, method, params, t->session_id, deadline);
            if (done.status != call_status::ok) {
                why = self->browser_failed(*b, generation, done.status);
                self->dispose_context(*b, *t);  // its target with it
                co_return nullptr;
            }
        }
        co_return t;
    }

    // A browser command failed: a timeout means the browser hangs (killed); a refusal or a
    // lost pipe ends the attempt as a crash.
    page_result browser_failed(browser& b, unsigned generation, call_status status) {
        if (status == call_status::timed_out && b.generation == generation) {
            kill_browser(b, "hang");
        }
        return page_result::crashed;
    }

    // A browser command whose reply nobody waits for.
    void send_command(browser& b, std::string_view method, json::object params) {
        json::object message;
        message["id"] = b.next_id++;
        message["method"] = method;
        message["params"] = std::move(params);
        send(b, std::move(message));
    }

    void close_tab(browser& b, const std::shared_ptr<tab>& t) {
        b.sessions.erase(t->session_id);
        json::object params;
        params["targetId"] = t->target_id;
        send_command(b, "Target.closeTarget", std::move(params));
        dispose_context(b, *t);
    }

    // The tab's browser context goes with it (and its cookies).
    void dispose_context(browser& b, const tab& t) {
        if (!t.context_id.empty()) {
            json::object params;
            params["browserContextId"] = t.context_id;
            send_command(b, "Target.disposeBrowserContext", std::move(params));
        }
    }

    static asio::awaitable<std::optional<json::value>> evaluate(std::shared_ptr<impl> self,
                                                                browser* b, std::shared_ptr<tab> t,
                                                                std::string expression,
                                                                clock::time_point deadline,
                                                                call_status& status) {
        json::object params;
        params["expression"] = std::move(expression);
        params["returnByValue"] = true;
        auto reply =
            co_await call(self, b, "Runtime.evaluate", std::move(params), t->session_id, deadline);
        status = reply.status;
        if (reply.status != call_status::ok) {
            co_return std::nullopt;
        }
        if (auto* result = reply.result.if_contains("result"); result && result->is_object()) {
            if (auto* value = result->as_object().if_contains("value")) {
                co_return std::move(*value);
            }
        }
        co_return json::value(nullptr);
    }

    static bool ready(const tab& t, const render_options& options) {
        switch (options.wait_for) {
            case render_options::wait::load:
                return t.load_fired;
            case render_options::wait::network_idle:
                return t.load_fired && t.idle_loaders.count(t.loader_id) != 0;
            case render_options::wait::selector:
                return false;  // asked of the page
        }
        return false;
    }

    static asio::awaitable<page_result> render_page(std::shared_ptr<impl> self, browser* b,
                                                    crawl::render_input& page,
                                                    const render_options& options,
                                                    std::string& html) {
        const auto generation = b->generation;
        if (page.proxy && !browser_can_use(*page.proxy)) {
            co_return page_result::proxy_unsupported;
        }
        auto& idle = b->idle_tabs;
        std::erase_if(idle, [&](const std::shared_ptr<tab>& x) {
            if (x->lost) {
                self->close_tab(*b, x);  // its renderer died while idle
            }
            return x->lost;
        });
        // The most recently used idle tab bound to the page's proxy (or to none, like the page).
        // Without one, the oldest idle tab of another proxy makes room: the browser keeps at
        // most tabs_per_browser tabs.
        const std::string key = proxy_key_of(page.proxy.get());
        std::shared_ptr<tab> t;
        const auto same = std::find_if(idle.rbegin(), idle.rend(),
                                       [&](const auto& x) { return x->proxy_key == key; });
        if (same != idle.rend()) {
            t = std::move(*same);
            idle.erase(std::next(same).base());
        } else if (!idle.empty()) {
            self->close_tab(*b, idle.front());
            idle.erase(idle.begin());
        }
        if (!t) {
            page_result why = page_result::crashed;
            t = co_await open_tab(self, b, page.proxy.get(), why);
            if (!t) {
                co_return why;
            }
        }
        // The page's `timeout` starts once it has a tab: opening one (slow in a browser just
        // restarted after a crash) is the pool's work, bounded by command_timeout.
        const auto deadline = clock::now() + options.timeout;
        t->busy = true;
        t->page = std::move(page);
        t->block = options.block;
        t->document_served = false;
        t->load_fired = false;
        t->loader_id.clear();
        t->idle_loaders.clear();
        t->auth_answered.clear();
        t->origin = t->page.gate ? origin_of(t->page.url) : std::string();
        t->deadline = deadline;
        ++t->serial;
        const auto outcome = co_await drive(self, b, t, options, deadline, html);
        // Requests of the page still unanswered: the page does not wait for them any more.
        for (const auto& [id, permit] : t->permits) {
            t->page.gate->cancel(permit);
        }
        t->permits.clear();
        page = std::move(t->page);
        t->busy = false;
        t->page.body.clear();
        if (b->generation != generation || !b->alive) {
            co_return page_result::crashed;
        }
        if (outcome != page_result::ok || t->lost) {
            // A page that timed out may still be running its script: the tab goes, and a
            // browser that does not even close it in time is hung.
            b->sessions.erase(t->session_id);
            json::object params;
            params["targetId"] = t->target_id;
            const auto close_deadline = clock::now() + self->options.command_timeout;
            auto closed =
                co_await call(self, b, "Target.closeTarget", std::move(params), "", close_deadline);
            if (closed.status == call_status::timed_out && b->generation == generation) {
                self->kill_browser(*b, "hang");
            } else if (b->generation == generation) {
                self->dispose_context(*b, *t);
            }
            co_return t->lost&& outcome == page_result::ok ? page_result::crashed : outcome;
        }
        if (++t->pages >= self->options.pages_per_tab) {
            self->close_tab(*b, t);
        } else {
            b->idle_tabs.push_back(std::move(t));
        }
        if (group_rss(b->pid) > self->options.max_rss) {
            b->draining = true;  // restarted as soon as its last page is done (acquire)
        }
        co_return page_result::ok;
    }

    // The page's session's cookies in the browser, and no other. The browser's own cookie store
    // holds them (Storage.setCookies into the tab's context), rather than a Cookie header put on
    // each request paused in the Fetch domain: the page's scripts read and write
    // document.cookie, and the browser applies Domain, Path, Secure, HttpOnly and expiry to
    // every request the page makes and to every cookie it sets, which a header added here would
    // have to redo and could not show to document.cookie. The context is the tab's alone
    // (open_tab) and a tab renders one page at a time, so clearing it first leaves nothing of a
    // page of another session; with no jar (`http.cookies: false`) the page starts with none.
    static asio::awaitable<call_status> seed_cookies(std::shared_ptr<impl> self, browser* b,
                                                     std::shared_ptr<tab> t,
                                                     clock::time_point deadline) {
        t->cookies_sent.clear();
        json::object clear;
        clear["browserContextId"] = t->context_id;
        auto cleared =
            co_await call(self, b, "Storage.clearCookies", std::move(clear), "", deadline);
        if (cleared.status != call_status::ok || !t->page.cookies) {
            co_return cleared.status;
        }
        auto jar = t->page.cookies->cookies(core::cookie_clock::now());
        if (jar.empty()) {
            co_return call_status::ok;
        }
        auto all = co_await set_cookies(self, b, t->context_id, jar, deadline);
        if (all.status == call_status::ok) {
            t->cookies_sent = std::move(jar);
            co_return call_status::ok;
        }
        if (all.status != call_status::refused) {
            co_return all.status;
        }
        // One cookie the browser will not take refuses the lot: each alone then. Only those it
        // took count as sent; the others stay in the jar as they are, whatever the page does.
        spdlog::debug("render: the browser refused a cookie of the session: {}", all.error);
        for (auto& c : jar) {
            std::vector<core::cookie> alone(1, c);
            auto one = co_await set_cookies(self, b, t->context_id, std::move(alone), deadline);
            if (one.status == call_status::ok) {
                t->cookies_sent.push_back(std::move(c));
            } else if (one.status != call_status::refused) {
                co_return one.status;
            }
        }
        co_return call_status::ok;
    }

    static asio::awaitable<call_result> set_cookies(std::shared_ptr<impl> self, browser* b,
                                                    std::string context_id,
                                                    std::vector<core::cookie> cookies,
                                                    clock::time_point deadline) {
        json::array list;
        for (const auto& c : cookies) {
            list.push_back(cdp_cookie(c));
        }
        json::object params;
        params["cookies"] = std::move(list);
        params["browserContextId"] = std::move(context_id);
        co_return co_await call(self, b, "Storage.setCookies", std::move(params), "", deadline);
    }

    // What the page did to its session's cookies (added, changed, deleted, by Set-Cookie on its
    // requests or by document.cookie) into the session's jar: later plain fetches carry them.
    static asio::awaitable<call_status> return_cookies(std::shared_ptr<impl> self, browser* b,
                                                       std::shared_ptr<tab> t,
                                                       clock::time_point deadline) {
        json::object params;
        params["browserContextId"] = t->context_id;
        auto got = co_await call(self, b, "Storage.getCookies", std::move(params), "", deadline);
        if (got.status != call_status::ok) {
            co_return got.status;
        }
        std::vector<core::cookie> held;
        if (const auto* list = got.result.if_contains("cookies"); list && list->is_array()) {
            for (const auto& c : list->as_array()) {
                if (c.is_object()) {
                    if (auto cookie = jar_cookie(c.as_object())) {
                        held.push_back(std::move(*cookie));
                    }
                }
            }
        }
        t->page.cookies->merge(t->cookies_sent, held, core::cookie_clock::now());
        co_return call_status::ok;
    }

    // The tab takes on the User-Agent the page was fetched with, for navigator.userAgent and
    // every request of the page. Set for each page (the tab served another session before);
    // an empty one puts the browser's own back.
    static asio::awaitable<call_status> speak_as(std::shared_ptr<impl> self, browser* b,
                                                 std::shared_ptr<tab> t,
                                                 clock::time_point deadline) {
        json::object params;
        params["userAgent"] = t->page.user_agent;
        auto set = co_await call(self, b, "Emulation.setUserAgentOverride", std::move(params),
                                 t->session_id, deadline);
        co_return set.status;
    }

    // What the page before this one (another session's, maybe) stored for the page's origin in
    // this tab — localStorage, sessionStorage, IndexedDB, caches, service workers — is removed
    // before it opens. Cookies are the session's (seed_cookies, after this).
    static asio::awaitable<call_status> clear_storage(std::shared_ptr<impl> self, browser* b,
                                                      std::shared_ptr<tab> t,
                                                      clock::time_point deadline) {
        const std::string origin = web_origin_of(t->page.url);
        if (origin.empty()) {
            co_return call_status::ok;
        }
        json::object stored;
        stored["origin"] = origin;
        stored["storageTypes"] = "all";
        auto cleared = co_await call(self, b, "Storage.clearDataForOrigin", std::move(stored),
                                     t->session_id, deadline);
        if (cleared.status != call_status::ok) {
            spdlog::warn("render: the tab's storage for {} could not be emptied: {}", origin,
                         cleared.error);
        }
        co_return cleared.status;
    }

    static asio::awaitable<page_result> drive(std::shared_ptr<impl> self, browser* b,
                                              std::shared_ptr<tab> t, const render_options& options,
                                              clock::time_point deadline, std::string& html) {
        const auto generation = b->generation;
        if (const auto cleared = co_await clear_storage(self, b, t, deadline);
            cleared != call_status::ok) {
            co_return cleared == call_status::timed_out ? page_result::timeout
                                                        : page_result::crashed;
        }
        if (const auto seeded = co_await seed_cookies(self, b, t, deadline);
            seeded != call_status::ok) {
            co_return seeded == call_status::timed_out ? page_result::timeout
                                                       : page_result::crashed;
        }
        if (const auto spoken = co_await speak_as(self, b, t, deadline);
            spoken != call_status::ok) {
            co_return spoken == call_status::timed_out ? page_result::timeout
                                                       : page_result::crashed;
        }
        json::object navigate;
        navigate["url"] = t->page.url;
        auto navigated =
            co_await call(self, b, "Page.navigate", std::move(navigate), t->session_id, deadline);
        if (navigated.status == call_status::timed_out) {
            co_return page_result::timeout;
        }
        if (navigated.status != call_status::ok) {
            co_return page_result::crashed;
        }
        if (const auto* error = navigated.result.if_contains("errorText");
            error && error->is_string() && !error->as_string().empty()) {
            spdlog::warn("render: Chromium refused to open {}: {} (render_refused)", t->page.url,
                         std::string_view(error->as_string()));
            co_return page_result::navigation_failed;
        }
        if (const auto* loader = navigated.result.if_contains("loaderId");
            loader && loader->is_string()) {
            t->loader_id = std::string(loader->as_string());
        }
        call_status status = call_status::ok;
        const std::string selector_check =
            "!!document.querySelector(" + json::serialize(json::value(options.selector)) + ")";
        for (;;) {
            if (t->lost || b->generation != generation || !b->alive) {
                co_return page_result::crashed;
            }
            if (ready(*t, options)) {
                break;
            }
            if (options.wait_for == render_options::wait::selector) {
                auto found = co_await evaluate(self, b, t, selector_check, deadline, status);
                if (status == call_status::timed_out) {
                    co_return page_result::timeout;
                }
                if (found && found->is_bool() && found->as_bool()) {
                    break;
                }
                // A refusal: the document is being replaced; asked again.
            }
            if (clock::now() >= deadline) {
                co_return page_result::timeout;
            }
            const auto poll = options.wait_for == render_options::wait::selector
                                  ? std::min(deadline, clock::now() + milliseconds(50))
                                  : deadline;
            t->wake.expires_at(poll);
            co_await t->wake.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (options.scroll) {
            // Lazy lists grow as the page is scrolled: to the bottom until the height holds
            // still twice (or 30 rounds, or the deadline).
            double last_height = -1;
            unsigned still = 0;
            const std::string scroll =
                "(() => { const h = document.documentElement.scrollHeight; "
                "window.scrollTo(0, h); return h; })()";
            for (unsigned round = 0; round < 30 && still < 2; ++round) {
                auto height = co_await evaluate(self, b, t, scroll, deadline, status);
                if (status == call_status::timed_out) {
                    co_return page_result::timeout;
                }
                if (status != call_status::ok) {
                    co_return page_result::crashed;
                }
                const double h = height && height->is_number() ? height->to_number<double>() : 0;
                still = h == last_height ? still + 1 : 0;
                last_height = h;
                if (clock::now() >= deadline) {
                    co_return page_result::timeout;
                }
                t->wake.expires_at(std::min(deadline, clock::now() + milliseconds(150)));
                co_await t->wake.async_wait(asio::as_tuple(asio::use_awaitable));
            }
        }
        auto dom =
            co_await evaluate(self, b, t, "document.documentElement.outerHTML", deadline, status);
        if (status == call_status::timed_out) {
            co_return page_result::timeout;
        }
        if (status != call_status::ok || !dom || !dom->is_string()) {
            co_return page_result::crashed;
        }
        html = "<!DOCTYPE html>\n" + std::string(dom->as_string());
        if (t->page.cookies) {
            const auto returned = co_await return_cookies(self, b, t, deadline);
            if (returned == call_status::timed_out) {
                co_return page_result::timeout;
            }
            if (returned != call_status::ok) {
                co_return page_result::crashed;
            }
        }
        co_return page_result::ok;
    }

    static asio::awaitable<crawl::render_outcome> render_on_strand(std::shared_ptr<impl> self,
                                                                   crawl::render_input page,
                                                                   render_options options) {
        const auto started = clock::now();
        if (self->metrics != nullptr) {
            self->metrics->render_inflight.with({}).inc();
        }
        crawl::render_outcome outcome;
        outcome.failure = core::failure_kind::render_crash;
        for (unsigned attempt = 1; attempt <= self->options.max_attempts; ++attempt) {
            browser* b = co_await acquire(self);
            if (b == nullptr) {
                if (self->closed) {
                    break;
                }
                continue;  // chromium did not start: counts as an attempt
            }
            const auto generation = b->generation;
            std::string html;
            const auto result = co_await render_page(self, b, page, options, html);
            self->release(*b, generation);
            if (result == page_result::ok) {
                outcome.failure.reset();
                outcome.html = std::move(html);
                break;
            }
            if (result == page_result::timeout) {
                outcome.failure = core::failure_kind::render_timeout;
                break;
            }
            if (result == page_result::navigation_failed) {
                // Chromium's errorText is in the log (drive): not tried again, the same page
                // would fail the same way.
                outcome.failure = core::failure_kind::render_refused;
                break;
            }
            if (result == page_result::proxy_unsupported) {
                // Rendered without its proxy, the page's requests would leave from our own
                // address: not rendered at all.
                if (!self->warned_socks_credentials.exchange(true)) {
                    spdlog::warn(
                        "render: {} was fetched through a SOCKS5 proxy with "
                        "credentials, which Chromium cannot use; such pages are not "
                        "rendered (proxy_auth)",
                        page.url);
                }
                outcome.failure = core::failure_kind::proxy_auth;
                break;
            }
            // The browser crashed or hung under this page: another try in a fresh one.
        }
        if (self->metrics != nullptr) {
            self->metrics->render_inflight.with({}).dec();
            self->metrics->render_duration.with({}).observe(
                std::chrono::duration<double>(clock::now() - started).count());
            const std::string result(outcome.failure ? core::to_string(*outcome.failure)
                                                     : std::string_view("ok"));
            self->metrics->renders.with({result}).inc();
        }
        co_return outcome;
    }

    static asio::awaitable<void> close_on_strand(std::shared_ptr<impl> self) {
        self->shutdown();
        co_return;
    }

    void shutdown() {
        closed = true;
        for (auto& b : browsers) {
            kill_browser(*b, "");
        }
    }
};

browser_pool::browser_pool(asio::any_io_executor executor, render_pool_options options,
                           metrics::crawl_metrics* metrics)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options), metrics)) {
    if (metrics != nullptr) {
        // At 0 from the start, like every series of metrics.md.
        metrics->render_inflight.with({});
        for (const auto* reason : {"crash", "hang", "memory"}) {
            metrics->browser_restarts.with({reason});
        }
        for (const auto* result : {"ok", "render_timeout", "render_crash", "render_refused"}) {
            metrics->renders.with({result});
        }
        for (const auto* action : {"sent", "blocked", "refused", "held_back"}) {
            metrics->render_subrequests.with({action});
        }
    }
}

browser_pool::~browser_pool() {
    impl_->shutdown();
}

void browser_pool::set_endpoint_filter(endpoint_filter allow) {
    impl_->allow_endpoint = std::move(allow);
}

asio::awaitable<crawl::render_outcome> browser_pool::render(crawl::render_input page,
                                                            render_options options) {
    auto self = impl_;
    co_return co_await asio::co_spawn(
        self->strand, impl::render_on_strand(self, std::move(page), std::move(options)),
        asio::use_awaitable);
}

asio::awaitable<void> browser_pool::close() {
    auto self = impl_;
    co_await asio::co_spawn(self->strand, impl::close_on_strand(self), asio::use_awaitable);
}

std::vector<int> browser_pool::browser_pids() const {
    std::lock_guard lock(impl_->pid_mutex);
    return impl_->pids;
}

std::uint64_t browser_pool::restarts() const noexcept {
    return impl_->restart_count.load(std::memory_order_relaxed);
}

std::uint64_t browser_pool::blocked_requests() const noexcept {
    return impl_->blocked.load(std::memory_order_relaxed);
}

std::uint64_t browser_pool::refused_requests() const noexcept {
    return impl_->refused.load(std::memory_order_relaxed);
}

std::uint64_t browser_pool::held_back_requests() const noexcept {
    return impl_->held_back.load(std::memory_order_relaxed);
}

bool chromium_available(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

}  // namespace harvest::render
