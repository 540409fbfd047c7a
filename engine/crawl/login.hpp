#pragma once
// The `login:` steps (docs/config.md, "Cookies, sessions, login"): the request a step sends for
// one identity, and the verdict on its answer. Plain functions, no I/O: the crawler sends the
// request (through the host's guard and the proxies, engine/crawl/sessions.cpp) and asks here
// what the answer means.

#include "engine/crawl/identities.hpp"
#include "engine/crawl/options.hpp"
#include "engine/net/http_client.hpp"

#include <boost/system/result.hpp>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace harvest::crawl {

// application/x-www-form-urlencoded (WHATWG): unreserved bytes as they are, space as '+'.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& form);

// The request of `step` for `who`: its headers, the identity's User-Agent unless the step sets
// one, and its form as the body (with a form Content-Type unless the step sets one).
net::http_request login_request(const login_step& step, const identity& who);

// "login.<index> (METHOD URL)": how errors name a step.
std::string login_step_name(const login_step& step, std::size_t index);

// "" when the step passed (2xx or 3xx after redirects, and its expect_cookie in `who`'s jar),
// else why not, after login_step_name().
std::string login_verdict(const login_step& step, std::size_t index,
                          const boost::system::result<net::http_response>& result,
                          const identity& who);

}  // namespace harvest::crawl
