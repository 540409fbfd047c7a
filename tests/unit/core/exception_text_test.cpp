#include "engine/core/exception_text.hpp"

#include <catch2/catch.hpp>

#include <exception>
#include <stdexcept>

using harvest::core::exception_text;

TEST_CASE("exception_text: a standard exception's what(), else a fixed text", "[unit]") {
    CHECK(exception_text(std::make_exception_ptr(std::runtime_error("disk full"))) == "disk full");
    CHECK(exception_text(std::make_exception_ptr(42)) == "an unknown exception");
}
