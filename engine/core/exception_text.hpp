#pragma once
// What an escaped exception says, for the log line of a coroutine's co_spawn completion.
// Header-only.

#include <exception>
#include <string>

namespace harvest::core {

// The what() of the exception `error` holds, or "an unknown exception" for one not derived
// from std::exception. `error` must not be null.
inline std::string exception_text(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an unknown exception";
    }
}

}  // namespace harvest::core
