#include "engine/crawl/identities.hpp"

#include <algorithm>

namespace harvest::crawl {

identity_store::identity_store(const session_options& sessions)
    : user_agents_(sessions.user_agents) {
    const std::uint32_t count = std::max<std::uint32_t>(1, sessions.count);
    for (std::uint32_t i = 0; i < count; ++i) {
        current_.push_back(fresh(i));
    }
    initial_ = current_;
    replaced_ = std::make_unique<std::atomic<bool>[]>(count);
}

identity identity_store::fresh(std::uint32_t session) const {
    identity made;
    made.jar = std::make_shared<core::cookie_jar>();
    if (!user_agents_.empty()) {
        made.user_agent = user_agents_[session % user_agents_.size()];
    }
    return made;
}

identity identity_store::current(std::uint32_t session) const {
    const std::lock_guard lock(mutex_);
    return current_[session % current_.size()];
}

const identity& identity_store::of(std::uint32_t session, identity& scratch) const {
    const std::size_t index = session % initial_.size();
    if (!replaced_[index].load(std::memory_order_acquire)) {
        return initial_[index];
    }
    scratch = current(session);
    return scratch;
}

bool identity_store::holds(std::uint32_t session,
                           const std::shared_ptr<core::cookie_jar>& jar) const {
    const std::lock_guard lock(mutex_);
    return current_[session % current_.size()].jar == jar;
}

bool identity_store::replace_if(std::uint32_t session,
                                const std::shared_ptr<core::cookie_jar>& used, identity fresh) {
    const std::size_t index = session % current_.size();
    const std::lock_guard lock(mutex_);
    if (current_[index].jar != used) {
        return false;
    }
    replaced_[index].store(true, std::memory_order_release);
    current_[index] = std::move(fresh);
    return true;
}

}  // namespace harvest::crawl
