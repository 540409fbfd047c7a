// Redis Cluster support: hash slots as Redis computes them, redis-cluster:// URLs, and the
// cluster client against a real 3-primary cluster — commands routed by slot, a slot moved to
// another primary (MOVED) and a slot being migrated (ASK) followed.

#include "engine/redis/cluster.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/unit/redis/redis_test_util.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace asio = boost::asio;
using harvest::redis::key_slot;
using harvest::redis::routed_command;

namespace {

asio::awaitable<std::shared_ptr<harvest::redis::cluster>> open_cluster(std::string url) {
    auto where = harvest::redis::parse_url(url);
    if (!where) {
        throw std::runtime_error("bad url " + url);
    }
    auto executor = co_await asio::this_coro::executor;
    auto opened = co_await harvest::redis::cluster::connect(executor, *where);
    if (!opened) {
        throw std::runtime_error("connect: " + opened.error().message());
    }
    co_return *opened;
}

asio::awaitable<boost::system::result<std::vector<harvest::redis::reply>>> send(
    std::shared_ptr<harvest::redis::cluster> c, std::vector<routed_command> commands) {
    auto replies = co_await c->pipeline(std::move(commands));
    co_return replies;
}

routed_command on_key(std::vector<std::string> args, const std::string& key) {
    return routed_command{std::move(args), key_slot(key)};
}

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    return text;
}

}  // namespace

TEST_CASE("key_slot is Redis Cluster's: CRC16 of the key or of its hash tag, mod 16384",
          "[unit][redis]") {
    // The check value of CRC16-XMODEM, and slots redis-server 7.0 gives (CLUSTER KEYSLOT).
    CHECK(key_slot("123456789") == 12739);
    CHECK(key_slot("a") == 15495);
    CHECK(key_slot("{a}") == 15495);
    CHECK(key_slot("{b}") == 3300);
    CHECK(key_slot("{c}") == 7365);
    CHECK(key_slot("") == 0);
    // The hash tag rules of the cluster specification.
    CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
    CHECK(key_slot("{user1000}.following") == key_slot("user1000"));
    CHECK(key_slot("foo{}{bar}") != key_slot("bar"));  // an empty tag: the whole key
    CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
    CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));
    CHECK(key_slot("harvest:{crawl:7}:q:http://h:80") == key_slot("crawl:7"));
}

TEST_CASE("parse_url reads a redis-cluster:// node list and credentials", "[unit][redis]") {
    auto where =
        harvest::redis::parse_url("redis-cluster://u:p@10.0.0.1:7000,10.0.0.2,[::1]:7002/");
    REQUIRE(where.has_value());
    REQUIRE(where->cluster_nodes.size() == 3);
    CHECK(where->cluster_nodes[0].host == "10.0.0.1");
    CHECK(where->cluster_nodes[0].port == 7000);
    CHECK(where->cluster_nodes[1].port == 6379);
    CHECK(where->cluster_nodes[2].host == "::1");
    CHECK(where->user == "u");
    CHECK(where->password == "p");
    CHECK(where->db == 0);
    CHECK(harvest::redis::parse_url("redis-cluster://127.0.0.1:7000/0").has_value());
    CHECK(harvest::redis::parse_url("redis-cluster://127.0.0.1:7000").has_value());
    // A cluster has database 0 only; lists need hosts.
    CHECK_FALSE(harvest::redis::parse_url("redis-cluster://127.0.0.1:7000/1").has_value());
    CHECK_FALSE(harvest::redis::parse_url("redis-cluster://").has_value());
    CHECK_FALSE(harvest::redis::parse_url("redis-cluster://a:1,").has_value());
    CHECK_FALSE(harvest::redis::parse_url("redis-cluster://a:0").has_value());
}

TEST_CASE("the cluster client routes by slot and follows MOVED and ASK", "[unit][redis][cluster]") {
    harvest::test::redis_cluster nodes(3, 0);
    asio::io_context io;
    auto c = harvest::test::sync(io, open_cluster(nodes.url()));
    CHECK(c->primaries().size() == 3);

    // Keys of three tags on three primaries, written in one pipeline, read back in order.
    std::vector<routed_command> writes{
        on_key({"SET", "{a}k", "1"}, "{a}k"), on_key({"SET", "{b}k", "2"}, "{b}k"),
        on_key({"SET", "{c}k", "3"}, "{c}k"), on_key({"GET", "{a}k"}, "{a}k")};
    auto replies = harvest::test::sync(io, send(c, writes));
    REQUIRE(replies.has_value());
    REQUIRE(replies->size() == 4);
    CHECK((*replies)[0].str == "OK");
    CHECK((*replies)[3].str == "1");
    auto* a_owner = nodes.primary_of(key_slot("{a}"));
    auto* b_owner = nodes.primary_of(key_slot("{b}"));
    REQUIRE(a_owner != nullptr);
    REQUIRE(b_owner != nullptr);
    CHECK(a_owner != b_owner);
    CHECK(trimmed(a_owner->cli("GET {a}k")) == "1");

    // MOVED: the empty slot of tag "m" is handed to another primary behind the client's back,
    // the way redis-cli reshards: IMPORTING on the target and MIGRATING on the source first, so
    // that the target's SETSLOT NODE bumps its config epoch. Without that bump the source's
    // gossip, if it comes between the two SETSLOTs, wins the slot back (an UPDATE message) and
    // the two nodes answer MOVED to each other.
    const int moved_slot = key_slot("{m}");
    auto* from = nodes.primary_of(moved_slot);
    REQUIRE(from != nullptr);
    auto* to = from == a_owner ? b_owner : a_owner;
    const std::string from_id = trimmed(from->cli("CLUSTER MYID"));
    const std::string to_id = trimmed(to->cli("CLUSTER MYID"));
    const std::string moved = std::to_string(moved_slot);
    CHECK(trimmed(to->cli("CLUSTER SETSLOT " + moved + " IMPORTING " + from_id)) == "OK");
    CHECK(trimmed(from->cli("CLUSTER SETSLOT " + moved + " MIGRATING " + to_id)) == "OK");
    CHECK(trimmed(to->cli("CLUSTER SETSLOT " + moved + " NODE " + to_id)) == "OK");
    CHECK(trimmed(from->cli("CLUSTER SETSLOT " + moved + " NODE " + to_id)) == "OK");
    std::vector<routed_command> to_moved{on_key({"SET", "{m}k", "moved"}, "{m}k")};
    auto after_move = harvest::test::sync(io, send(c, to_moved));
    INFO((after_move ? std::string("ok") : after_move.error().message()));
    REQUIRE(after_move.has_value());
    CHECK((*after_move)[0].str == "OK");
    CHECK(trimmed(to->cli("GET {m}k")) == "moved");

    // ASK: the slot of tag "x" is being migrated; a key not on the source any more is asked of
    // the target, after ASKING.
    const int asked_slot = key_slot("{x}");
    auto* source = nodes.primary_of(asked_slot);
    REQUIRE(source != nullptr);
    auto* target = source == a_owner ? b_owner : a_owner;
    const std::string source_id = trimmed(source->cli("CLUSTER MYID"));
    const std::string target_id = trimmed(target->cli("CLUSTER MYID"));
    CHECK(trimmed(target->cli("CLUSTER SETSLOT " + std::to_string(asked_slot) + " IMPORTING " +
                              source_id)) == "OK");
    CHECK(trimmed(source->cli("CLUSTER SETSLOT " + std::to_string(asked_slot) + " MIGRATING " +
                              target_id)) == "OK");
    std::vector<routed_command> asked{on_key({"SET", "{x}k", "asked"}, "{x}k")};
    auto after_ask = harvest::test::sync(io, send(c, asked));
    INFO((after_ask ? std::string("ok") : after_ask.error().message()));
    REQUIRE(after_ask.has_value());
    CHECK((*after_ask)[0].str == "OK");
    CHECK(trimmed(target->cli("CLUSTER COUNTKEYSINSLOT " + std::to_string(asked_slot))) == "1");
    CHECK(trimmed(source->cli("CLUSTER COUNTKEYSINSLOT " + std::to_string(asked_slot))) == "0");
    c->close();
}
