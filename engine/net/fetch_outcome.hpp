#pragma once
// The one reading of a fetch's result as the retry policy and the host's guard see it: the
// response's status and Retry-After, or the transport error that left no response. Used by
// every attempt loop (the crawler's fetches and robots.txt, the resilient sender).

#include "engine/net/fetch_error.hpp"
#include "engine/net/http_client.hpp"
#include "engine/resilience/retry_policy.hpp"

#include <boost/system/result.hpp>

namespace harvest::net {

// `retry_after` views the response's header: use the outcome while `fetched` lives.
inline resilience::attempt_outcome outcome_of(
    const boost::system::result<http_response>& fetched) noexcept {
    resilience::attempt_outcome outcome;
    if (fetched) {
        outcome.status = fetched->status;
        outcome.retry_after = fetched->header("Retry-After");
    } else {
        outcome.error = fetch_error_of(fetched.error());
    }
    return outcome;
}

}  // namespace harvest::net
