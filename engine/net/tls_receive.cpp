// Reading an HTTP response over TLS, instantiated once here (connection_tls.cpp declares it
// extern) so the heaviest Beast instantiation compiles in parallel with the rest.

#include "engine/net/detail/exchange.hpp"
#include "engine/net/tls_connection.hpp"

namespace harvest::net::detail {

template boost::asio::awaitable<exchange_result> receive_response<tls_stream>(tls_stream&,
                                                                              beast::flat_buffer&,
                                                                              bool,
                                                                              exchange_limits);

}  // namespace harvest::net::detail
