#include "engine/redis/cluster.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

namespace harvest::redis {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::result;

namespace {

constexpr std::uint16_t no_owner = 0xffff;

// CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster slots keys by.
constexpr std::array<std::uint16_t, 256> crc16_table = [] {
    std::array<std::uint16_t, 256> table{};
    for (unsigned byte = 0; byte < 256; ++byte) {
        auto crc = static_cast<std::uint16_t>(byte << 8);
        for (int bit = 0; bit < 8; ++bit) {
            crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
        }
        table[byte] = crc;
    }
    return table;
}();

std::uint16_t crc16(std::string_view bytes) noexcept {
    std::uint16_t crc = 0;
    for (const char c : bytes) {
        const auto index = static_cast<std::uint8_t>((crc >> 8) ^ static_cast<std::uint8_t>(c));
        crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_table[index]);
    }
    return crc;
}

// "host:port" at the end of a MOVED or ASK error ("MOVED 3999 127.0.0.1:6381"). Redis writes
// IPv6 addresses without brackets, so the port is after the last colon.
std::optional<server_address> redirect_target(std::string_view error) {
    const auto space = error.rfind(' ');
    if (space == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view target = error.substr(space + 1);
    const auto colon = target.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    unsigned port = 0;
    const std::string_view digits = target.substr(colon + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535) {
        return std::nullopt;
    }
    return server_address{std::string(target.substr(0, colon)), static_cast<std::uint16_t>(port)};
}

// A node entry of CLUSTER SLOTS: {ip, port, id, ...}. An empty or "?" ip means "the address
// you reached me at".
std::optional<server_address> node_of(const reply& entry, const server_address& asked) {
    if (entry.type != reply::kind::array || entry.elements.size() < 2 ||
        entry.elements[1].type != reply::kind::integer) {
        return std::nullopt;
    }
    const auto port = entry.elements[1].integer;
    if (port <= 0 || port > 65535) {
        return std::nullopt;
    }
    std::string host = entry.elements[0].str;
    if (host.empty() || host == "?") {
        host = asked.host;
    }
    return server_address{std::move(host), static_cast<std::uint16_t>(port)};
}

}  // namespace

std::uint16_t key_slot(std::string_view key) noexcept {
    if (const auto open = key.find('{'); open != std::string_view::npos) {
        const auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    return static_cast<std::uint16_t>(crc16(key) % cluster_slots);
}

cluster::cluster(asio::any_io_executor executor, endpoint where)
    : executor_(std::move(executor)), where_(std::move(where)), known_(where_.cluster_nodes) {
    owner_.fill(no_owner);
    // Every node is asked as itself: no Sentinel, no database but 0.
    where_.sentinels.clear();
    where_.cluster_nodes.clear();
    where_.db = 0;
}

std::string cluster::name_of(const server_address& address) {
    return address.host + ":" + std::to_string(address.port);
}

asio::awaitable<result<std::shared_ptr<cluster>>> cluster::connect(asio::any_io_executor executor,
                                                                   endpoint where) {
    std::shared_ptr<cluster> made(new cluster(std::move(executor), std::move(where)));
    const error_code failed = co_await made->refresh();
    if (failed) {
        made->close();
        co_return failed;
    }
    co_return made;
}

std::vector<std::string> cluster::primaries() const {
    std::vector<std::string> names;
    names.reserve(primaries_.size());
    for (const auto& p : primaries_) {
        names.push_back(name_of(p));
    }
    return names;
}

void cluster::close() {
    closed_ = true;
    for (auto& [name, c] : connections_) {
        c->close();
    }
    connections_.clear();
}

asio::awaitable<result<std::shared_ptr<client>>> cluster::node(const server_address& address) {
    const std::string name = name_of(address);
    if (const auto it = connections_.find(name); it != connections_.end()) {
        co_return it->second;
    }
    endpoint at = where_;
    at.host = address.host;
    at.port = address.port;
    auto connected = co_await client::connect(executor_, at);
    if (!connected) {
        co_return connected.error();
    }
    if (closed_) {
        (*connected)->close();
        co_return make_error_code(client_error::closed);
    }
    // Another coroutine may have connected meanwhile: keep one connection per node.
    auto [it, inserted] = connections_.try_emplace(name, *connected);
    if (!inserted) {
        (*connected)->close();
    }
    co_return it->second;
}

// Asks the primaries it knows, then every node it was given or learned, for CLUSTER SLOTS; the
// first complete answer becomes the slot map.
asio::awaitable<error_code> cluster::refresh() {
    std::vector<server_address> candidates = primaries_;
    candidates.insert(candidates.end(), known_.begin(), known_.end());
    error_code last = make_error_code(client_error::cluster_down);
    for (const auto& asked : candidates) {
        auto c = co_await node(asked);
        if (!c) {
            last = c.error();
            continue;
        }
        std::vector<std::string> slots_command{"CLUSTER", "SLOTS"};
        auto answer = co_await (*c)->command(std::move(slots_command));
        if (!answer) {
            (*c)->close();
            connections_.erase(name_of(asked));
            last = answer.error();
            continue;
        }
        if (answer->type != reply::kind::array || answer->elements.empty()) {
            // An error reply (not in cluster mode), or a node that serves no slot yet.
            spdlog::warn("redis cluster: {} gave no slot map: {}", name_of(asked),
                         answer->is_error() ? answer->str : std::string("(empty)"));
            last = make_error_code(client_error::cluster_down);
            continue;
        }
        std::vector<server_address> primaries;
        std::array<std::uint16_t, cluster_slots> owner{};
        owner.fill(no_owner);
        std::vector<server_address> learned;
        bool well_formed = true;
        for (const auto& range : answer->elements) {
            if (range.type != reply::kind::array || range.elements.size() < 3) {
                well_formed = false;
                break;
            }
            const auto first = range.elements[0].integer;
            const auto last_slot = range.elements[1].integer;
            auto primary = node_of(range.elements[2], asked);
            if (!primary || first < 0 || last_slot < first || last_slot >= cluster_slots) {
                well_formed = false;
                break;
            }
            const auto named = name_of(*primary);
            auto found = std::find_if(primaries.begin(), primaries.end(),
                                      [&](const server_address& p) { return name_of(p) == named; });
            const auto index = static_cast<std::uint16_t>(found - primaries.begin());
            if (found == primaries.end()) {
                primaries.push_back(*primary);
            }
            std::fill(owner.begin() + first, owner.begin() + last_slot + 1, index);
            for (std::size_t i = 2; i < range.elements.size(); ++i) {
                if (auto n = node_of(range.elements[i], asked)) {
                    learned.push_back(std::move(*n));
                }
            }
        }
        if (!well_formed) {
            last = make_error_code(client_error::unexpected_reply);
            continue;
        }
        primaries_ = std::move(primaries);
        owner_ = owner;
        for (auto& n : learned) {
            const auto named = name_of(n);
            if (std::none_of(known_.begin(), known_.end(),
                             [&](const server_address& k) { return name_of(k) == named; })) {
                known_.push_back(std::move(n));
            }
        }
        co_return error_code{};
    }
    co_return last;
}

void cluster::assign(std::uint16_t slot, const server_address& primary) {
    const std::string named = name_of(primary);
    auto found = std::find_if(primaries_.begin(), primaries_.end(),
                              [&](const server_address& p) { return name_of(p) == named; });
    if (found == primaries_.end()) {
        primaries_.push_back(primary);
        found = primaries_.end() - 1;
    }
    owner_[slot % cluster_slots] = static_cast<std::uint16_t>(found - primaries_.begin());
}

asio::awaitable<result<std::vector<reply>>> cluster::pipeline(
    std::vector<routed_command> commands) {
    struct pending {
        std::size_t index = 0;
        std::optional<server_address> ask;  // ASK: send to this node, after ASKING
    };
    std::vector<reply> out(commands.size());
    std::vector<pending> todo;
    todo.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
        todo.push_back(pending{i, std::nullopt});
    }
    for (int attempt = 0; attempt < max_redirects && !todo.empty(); ++attempt) {
        if (closed_) {
            co_return make_error_code(client_error::closed);
        }
        // Per node, in the order the commands came: one round trip to each.
        std::vector<std::pair<server_address, std::vector<pending>>> groups;
        for (auto& p : todo) {
            const std::uint16_t owner = owner_[commands[p.index].slot % cluster_slots];
            if (!p.ask && owner == no_owner) {
                co_return make_error_code(client_error::cluster_down);
            }
            server_address target = p.ask ? *p.ask : primaries_[owner];
            const std::string named = name_of(target);
            auto group = std::find_if(groups.begin(), groups.end(),
                                      [&](const auto& g) { return name_of(g.first) == named; });
            if (group == groups.end()) {
                groups.emplace_back(std::move(target), std::vector<pending>{});
                group = groups.end() - 1;
            }
            group->second.push_back(std::move(p));
        }
        std::vector<pending> again;
        for (auto& [address, members] : groups) {
            auto c = co_await node(address);
            if (!c) {
                co_return c.error();
            }
            std::vector<std::vector<std::string>> batch;
            batch.reserve(members.size());
            for (const auto& p : members) {
                if (p.ask) {
                    batch.push_back({"ASKING"});
                }
                batch.push_back(commands[p.index].args);
            }
            auto replies = co_await (*c)->pipeline(std::move(batch));
            if (!replies) {
                (*c)->close();
                connections_.erase(name_of(address));
                co_return replies.error();
            }
            std::size_t at = 0;
            for (auto& p : members) {
                if (p.ask) {
                    ++at;  // ASKING's +OK
                }
                reply& r = (*replies)[at++];
                if (r.is_error() && r.str.starts_with("MOVED ")) {
                    // The node that answers MOVED knows where the slot is now; the other nodes
                    // may learn it later (gossip), so their slot map is not asked.
                    auto target = redirect_target(r.str);
                    if (!target) {
                        co_return make_error_code(client_error::unexpected_reply);
                    }
                    assign(commands[p.index].slot, *target);
                    again.push_back(pending{p.index, std::nullopt});
                } else if (r.is_error() && r.str.starts_with("ASK ")) {
                    auto target = redirect_target(r.str);
                    if (!target) {
                        co_return make_error_code(client_error::unexpected_reply);
                    }
                    again.push_back(pending{p.index, std::move(target)});
                } else {
                    out[p.index] = std::move(r);
                }
            }
        }
        todo = std::move(again);
    }
    if (!todo.empty()) {
        co_return make_error_code(client_error::redirected);
    }
    co_return out;
}

asio::awaitable<result<std::shared_ptr<connection>>> connection::open(
    asio::any_io_executor executor, endpoint where) {
    auto made = std::make_shared<connection>();
    if (!where.cluster_nodes.empty()) {
        auto opened = co_await cluster::connect(std::move(executor), std::move(where));
        if (!opened) {
            co_return opened.error();
        }
        made->cluster_ = *opened;
        co_return made;
    }
    auto opened = co_await client::connect(std::move(executor), std::move(where));
    if (!opened) {
        co_return opened.error();
    }
    made->single_ = *opened;
    co_return made;
}

std::shared_ptr<connection> connection::wrap(std::shared_ptr<client> single) {
    auto made = std::make_shared<connection>();
    made->single_ = std::move(single);
    return made;
}

asio::awaitable<result<std::vector<reply>>> connection::pipeline(
    std::vector<routed_command> commands) {
    if (cluster_) {
        auto replies = co_await cluster_->pipeline(std::move(commands));
        co_return replies;
    }
    std::vector<std::vector<std::string>> plain;
    plain.reserve(commands.size());
    for (auto& c : commands) {
        plain.push_back(std::move(c.args));
    }
    auto replies = co_await single_->pipeline(std::move(plain));
    co_return replies;
}

void connection::close() {
    if (cluster_) {
        cluster_->close();
    }
    if (single_) {
        single_->close();
    }
}

}  // namespace harvest::redis
