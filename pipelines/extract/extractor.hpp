#pragma once
// An extractor of a library user's own, added to a crawl next to the configured rules:
//
//   class my_extractor final : public harvest::pipelines::extractor { ... };
//   sink.add_extractor(std::make_shared<my_extractor>());   // before sink.open()
//
// config/examples/custom_extractor.cpp is a whole program doing this. Thread-safety: extract()
// is called from many fetching threads at once, so it must be const-safe.

#include "engine/crawl/sink.hpp"
#include "pipelines/item.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace harvest::pipelines {

class extractor {
  public:
    virtual ~extractor() = default;
    // Appends the page's items to `out` (each starting with url, fetched_at and status, as
    // items.md requires: see make_item_header). Returns how many it emitted and how many it
    // dropped as invalid. Must not throw on what a server can send.
    struct result {
        std::uint64_t emitted = 0;
        std::uint64_t invalid = 0;
    };
    virtual result extract(const crawl::fetched_page& page, std::vector<item>& out) const = 0;
};

// The fields every item starts with: url (final), fetched_at, status.
item make_item_header(const crawl::fetched_page& page);

}  // namespace harvest::pipelines
