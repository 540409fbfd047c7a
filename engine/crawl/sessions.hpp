#pragma once
// The crawl's sessions over time (`sessions:`, `login:`, docs/config.md): every session logs in
// before the first seed, a session answered with a `retire_on` status gets a fresh identity
// (logged in again when `login:` is set), and the jars are journaled so that a resume goes on
// logged in. The identities themselves are crawl_context::identities (identities.hpp); a login
// step's request and verdict are login.hpp's.
//
// Threading: save_cookies(), retire() and logins_in_flight() run on the scheduler strand;
// restore() before run(); login_all() from run(), before the scheduler starts.

#include "engine/crawl/crawl_context.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace harvest::crawl {

class session_keeper : public std::enable_shared_from_this<session_keeper> {
  public:
    explicit session_keeper(std::shared_ptr<crawl_context> context);

    // Before run(): the jars a previous run journaled (--resume), by session. Those sessions
    // are logged in already: login_all() skips them.
    void restore(const std::map<std::uint32_t, std::string>& cookies);

    // Every session logs in before the first seed is fetched; one failure stops the crawl
    // (stats.login_error says why).
    static boost::asio::awaitable<void> login_all(std::shared_ptr<session_keeper> self);

    // Scheduler strand: the jars that changed since they were last journaled, at most once a
    // second (`force`: all that changed, now). A resume continues with them, logged in.
    void save_cookies(clock::time_point now, bool force);

    // Scheduler strand: a request of `session` was answered with a retire_on status. Its
    // identity is replaced by a fresh one (an empty jar; logged in first when `login:` is set),
    // unless that already happened since the request took its jar.
    void retire(std::uint32_t session, const std::shared_ptr<core::cookie_jar>& used);

    // Scheduler strand: sessions logging in again after a retirement. The crawl does not end
    // before they are done, so their logins are counted and their cookies journaled.
    std::size_t logins_in_flight() const noexcept { return logins_in_flight_; }

  private:
    static boost::asio::awaitable<void> relogin(std::shared_ptr<session_keeper> self,
                                                std::uint32_t session,
                                                std::shared_ptr<core::cookie_jar> old_jar);

    static constexpr auto cookie_save_interval = std::chrono::seconds(1);

    std::shared_ptr<crawl_context> context_;
    std::vector<std::uint64_t> saved_jar_versions_;  // scheduler strand only
    std::vector<bool> retiring_;                     // scheduler strand only
    // Sessions whose jar came back from the journal (--resume): already logged in.
    std::vector<bool> restored_sessions_;
    std::size_t logins_in_flight_ = 0;  // scheduler strand only
    clock::time_point last_cookie_save_{};
};

}  // namespace harvest::crawl
