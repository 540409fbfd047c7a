#pragma once
// The identities of a crawl's sessions (`sessions:`, docs/config.md): per session a cookie jar
// and, with `sessions.user_agents`, a User-Agent. A session answered with a `retire_on` status
// gets a fresh identity (the crawler decides when; this store only swaps).
//
// Thread-safety: read by fetches on any thread, replaced by the crawl's scheduler strand. The
// current identities are behind a mutex; a fetch keeps the jar it took, so a retired jar lives
// on until its last answer (whose cookies go to it, not to the fresh one). Until a session is
// first replaced, of() reads the identity made at the start, which is never written again:
// no lock and no copy, so a crawl without sessions (or whose sessions are never retired) pays
// nothing for them on its fetch path.

#include "engine/core/cookie_jar.hpp"
#include "engine/crawl/options.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace harvest::crawl {

struct identity {
    std::shared_ptr<core::cookie_jar> jar;
    std::string user_agent;
};

class identity_store {
  public:
    // max(1, sessions.count) identities, each with an empty jar.
    explicit identity_store(const session_options& sessions);

    std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(initial_.size()); }

    // A new identity for `session`: an empty jar, its User-Agent.
    identity fresh(std::uint32_t session) const;

    // The session's identity now (a copy, taken under the lock). `session` is taken modulo
    // size() here and below.
    identity current(std::uint32_t session) const;

    // The fetch path's read: the initial identity while the session was never replaced, else
    // a copy in `scratch`. A replacement racing with this read leaves the caller with the
    // identity it had just before, as the lock would.
    const identity& of(std::uint32_t session, identity& scratch) const;

    // Whether the session's identity still has `jar`.
    bool holds(std::uint32_t session, const std::shared_ptr<core::cookie_jar>& jar) const;

    // Replaces the session's identity by `fresh` if its jar is still `used`; true if it did.
    bool replace_if(std::uint32_t session, const std::shared_ptr<core::cookie_jar>& used,
                    identity fresh);

  private:
    std::vector<std::string> user_agents_;
    mutable std::mutex mutex_;
    std::vector<identity> current_;  // guarded by mutex_
    std::vector<identity> initial_;  // never written after the constructor
    std::unique_ptr<std::atomic<bool>[]> replaced_;
};

}  // namespace harvest::crawl
