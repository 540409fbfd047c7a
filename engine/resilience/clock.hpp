#pragma once
// The one clock of the resilience policies. The policies never read it: every call is told
// `now`, so tests drive them with a fake clock and production code with steady_clock::now().

#include <chrono>

namespace harvest::resilience {

using clock = std::chrono::steady_clock;

}  // namespace harvest::resilience
