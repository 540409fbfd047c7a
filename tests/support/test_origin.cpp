#include "test_origin.hpp"
#include "run_to_end.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace harvest::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

constexpr std::size_t max_request_head = 1 << 20;

class socket_peer final : public peer {
  public:
    socket_peer(tcp::socket socket, asio::ssl::context* tls) : socket_(std::move(socket)) {
        if (tls != nullptr) {
            tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *tls);
        }
    }

    // Empty string on success, else what went wrong.
    std::string handshake() {
        if (!tls_) {
            return {};
        }
        boost::system::error_code ec;
        tls_->handshake(asio::ssl::stream_base::server, ec);
        return ec ? "server handshake: " + ec.message() : std::string();
    }

    std::optional<received_request> read_request() override {
        // Bounded: every iteration reads bytes or returns; the head is capped.
        std::size_t end = std::string::npos;
        while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
            if (pending_.size() > max_request_head || !read_more()) {
                return std::nullopt;
            }
        }
        received_request req;
        req.head = pending_.substr(0, end + 2);
        pending_.erase(0, end + 4);
        const auto sp1 = req.head.find(' ');
        const auto sp2 = req.head.find(' ', sp1 + 1);
        req.method = req.head.substr(0, sp1);
        req.target = req.head.substr(sp1 + 1, sp2 - sp1 - 1);
        const std::string length = req.header("Content-Length");
        const std::size_t n = length.empty() ? 0 : std::stoul(length);
        while (pending_.size() < n) {
            if (!read_more()) {
                return std::nullopt;
            }
        }
        req.body = pending_.substr(0, n);
        pending_.erase(0, n);
        return req;
    }

    std::optional<std::string> read_exact(std::size_t n) override {
        // Bounded: every iteration reads bytes or returns.
        while (pending_.size() < n) {
            if (!read_more()) {
                return std::nullopt;
            }
        }
        std::string out = pending_.substr(0, n);
        pending_.erase(0, n);
        return out;
    }

    bool write(std::string_view bytes) override {
        boost::system::error_code ec;
        if (tls_) {
            asio::write(*tls_, asio::buffer(bytes.data(), bytes.size()), ec);
        } else {
            asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
        }
        return !ec;
    }

    void close() override {
        std::lock_guard lock(mutex_);
        boost::system::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

    void reset() override {
        std::lock_guard lock(mutex_);
        boost::system::error_code ignored;
        socket_.set_option(asio::socket_base::linger(true, 0), ignored);
        socket_.close(ignored);
    }

    // From the stopping thread: unblocks a read or write in the handler's thread.
    void interrupt() {
        std::lock_guard lock(mutex_);
        if (socket_.is_open()) {
            ::shutdown(socket_.native_handle(), SHUT_RDWR);
        }
    }

  private:
    bool read_more() {
        char buf[16384];
        boost::system::error_code ec;
        const std::size_t n = tls_ ? tls_->read_some(asio::buffer(buf), ec)
                                   : socket_.read_some(asio::buffer(buf), ec);
        if (ec || n == 0) {
            return false;
        }
        pending_.append(buf, n);
        return true;
    }

    std::mutex mutex_;  // guards closing the socket against interrupt()
    tcp::socket socket_;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
    std::string pending_;
};

}  // namespace

std::string received_request::header(std::string_view name) const {
    std::size_t pos = head.find("\r\n");
    // Bounded by the head's length.
    while (pos != std::string::npos && pos + 2 < head.size()) {
        const std::size_t line_start = pos + 2;
        const std::size_t line_end = head.find("\r\n", line_start);
        const std::string_view line(
            head.data() + line_start,
            (line_end == std::string::npos ? head.size() : line_end) - line_start);
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') {
                value.remove_prefix(1);
            }
            return std::string(value);
        }
        pos = line_end;
    }
    return {};
}

struct test_origin::state {
    asio::io_context ioc;  // never run: the origin only uses blocking calls
    tcp::acceptor acceptor{ioc};
    std::unique_ptr<asio::ssl::context> tls;
    handler on_connection;
    std::atomic<bool> stopping{false};
    mutable std::mutex mutex;
    std::vector<std::shared_ptr<socket_peer>> peers;
    std::vector<std::thread> threads;
    std::vector<std::string> errors;
};

test_origin::test_origin(handler h, std::optional<tls_files> tls)
    : state_(std::make_shared<state>()) {
    state_->on_connection = std::move(h);
    if (tls) {
        state_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
        state_->tls->use_certificate_chain_file(tls->cert_chain);
        state_->tls->use_private_key_file(tls->key, asio::ssl::context::pem);
    }
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen();
    port_ = state_->acceptor.local_endpoint().port();
    acceptor_thread_ = std::thread([this, s = state_] {
        // Bounded by the destructor, which sets `stopping` and wakes accept with a connection.
        while (!s->stopping) {
            boost::system::error_code ec;
            tcp::socket socket(s->ioc);
            s->acceptor.accept(socket, ec);
            if (ec || s->stopping) {
                break;
            }
            const int index = accepted_++;
            auto p = std::make_shared<socket_peer>(std::move(socket), s->tls.get());
            p->index = index;
            p->stopping = &s->stopping;
            std::lock_guard lock(s->mutex);
            s->peers.push_back(p);
            s->threads.emplace_back([s, p] {
                const std::string error = p->handshake();
                if (!error.empty()) {
                    std::lock_guard inner(s->mutex);
                    s->errors.push_back(error);
                    p->close();
                    return;
                }
                try {
                    s->on_connection(*p);
                } catch (const std::exception& e) {
                    std::lock_guard inner(s->mutex);
                    s->errors.push_back(std::string("handler: ") + e.what());
                }
                p->close();
            });
        }
    });
}

test_origin::~test_origin() {
    state_->stopping = true;
    {
        // Wake the blocking accept.
        boost::system::error_code ignored;
        tcp::socket waker(state_->ioc);
        waker.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
    }
    acceptor_thread_.join();
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(state_->mutex);
        for (auto& p : state_->peers) {
            p->interrupt();
        }
        threads.swap(state_->threads);
    }
    for (auto& t : threads) {
        t.join();
    }
}

std::vector<std::string> test_origin::errors() const {
    std::lock_guard lock(state_->mutex);
    return state_->errors;
}

std::string test_origin::url(std::string_view path, std::string_view host) const {
    return std::string(state_->tls ? "https://" : "http://") + std::string(host) + ":" +
           std::to_string(port_) + std::string(path);
}

std::string http_response_bytes(unsigned status, std::string_view body,
                                const net::header_list& headers) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
    for (const auto& [name, value] : headers) {
        out += name + ": " + value + "\r\n";
    }
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
}

handler serve_each(std::function<std::string(const received_request&)> route) {
    return [route = std::move(route)](peer& p) {
        // Bounded by the client closing the connection (or the origin stopping).
        while (auto req = p.read_request()) {
            if (!p.write(route(*req))) {
                return;
            }
        }
    };
}

boost::system::result<net::http_response> run_fetch(
    net::http_client& client, boost::asio::io_context& ioc, net::http_request request,
    std::shared_ptr<const crawl::http_options> options, std::chrono::milliseconds total) {
    return run_to_end(ioc, client.fetch(std::move(request), std::move(options),
                                        std::chrono::steady_clock::now() + total));
}

namespace {

struct pki_dir {
    std::filesystem::path dir;
    test_pki files;

    pki_dir() {
        char tmpl[] = "/tmp/harvest-net-pki-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir = tmpl;
        const std::string d = dir.string();
        auto run = [](const std::string& cmd) {
            if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) {
                throw std::runtime_error("failed: " + cmd);
            }
        };
        const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
        run("openssl req -x509 " + ec + "-keyout " + d + "/ca.key -out " + d +
            "/ca.pem -days 2 -subj /CN=harvest-test-ca"
            " -addext basicConstraints=critical,CA:TRUE"
            " -addext keyUsage=critical,keyCertSign,cRLSign");
        auto leaf = [&](const std::string& name, const std::string& san) {
            std::ofstream(d + "/" + name + ".ext")
                << "subjectAltName=" << san << "\nbasicConstraints=CA:FALSE\n"
                << "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n";
            run("openssl req " + ec + "-keyout " + d + "/" + name + ".key -out " + d + "/" + name +
                ".csr -subj /CN=" + name);
            run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.pem -CAkey " +
                d + "/ca.key -CAcreateserial -days 2 -out " + d + "/" + name + ".pem -extfile " +
                d + "/" + name + ".ext");
            return tls_files{d + "/" + name + ".pem", d + "/" + name + ".key"};
        };
        files.ca_file = d + "/ca.pem";
        files.localhost = leaf("localhost", "DNS:localhost,IP:127.0.0.1");
        files.wrong_host = leaf("wrong", "DNS:wrong.example");
    }
    ~pki_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
};

}  // namespace

const test_pki& pki() {
    static const pki_dir instance;
    return instance.files;
}

}  // namespace harvest::test
