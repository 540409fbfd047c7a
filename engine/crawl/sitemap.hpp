#pragma once
// Sitemaps (sitemaps.org): a <urlset> lists pages, a <sitemapindex> lists more sitemaps. Read
// by scanning for <loc> elements — no DOM, bounded work — and incrementally: a body is fed in
// chunks of any size, a gzip body is inflated in bounded blocks, and each <loc> is handed out as
// soon as its end tag is seen. The reader's own memory stays bounded (about max_location +
// 2 * slice bytes) whatever the sitemap's size, so a 50 MB / 50,000-URL sitemap is never held
// a second time, decompressed or not.
//
// Rules: the root element (<urlset> or <sitemapindex>, a namespace prefix allowed) decides the
// kind, and only <loc> elements after it count (a body without one is not a sitemap and yields
// nothing). A <loc>'s text is trimmed; CDATA is unwrapped, else XML's predefined entities and
// ASCII numeric references are decoded; empty ones are skipped. A <loc> longer than
// max_location bytes (sitemaps.org allows 2,048) is skipped, as is one the body ends inside.
// Never throws on what a server can send (only std::bad_alloc).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::crawl {

// Receives each location, in document order.
using sitemap_location_fn = std::function<void(std::string location)>;

// The XML scanner: plain (already decompressed) sitemap bytes in, locations out.
class sitemap_parser {
  public:
    static constexpr std::size_t max_location = 64 * 1024;
    // feed() works through its input this many bytes at a time.
    static constexpr std::size_t slice = 16 * 1024;

    explicit sitemap_parser(sitemap_location_fn on_location);

    // The next bytes of the document; may split anything anywhere (a tag, an entity, a URL).
    void feed(std::string_view bytes);
    // The end of the document: an unterminated <loc> is dropped.
    void finish();

    bool is_sitemap() const noexcept { return root_ != root_kind::none; }
    bool is_index() const noexcept { return root_ == root_kind::index; }
    // The most bytes the parser held at once (its carry-over buffer): the memory bound, tested.
    std::size_t buffer_high_water() const noexcept { return high_water_; }

  private:
    enum class root_kind { none, urlset, index };

    void process(bool final);

    sitemap_location_fn on_location_;
    std::string buffer_;        // unconsumed bytes: from the first one still needed
    std::size_t scan_ = 0;      // where the search for the next '<' resumes in buffer_
    std::size_t value_at_ = 0;  // inside a <loc>: where its text starts in buffer_
    bool in_location_ = false;
    bool skipping_ = false;  // inside a <loc> longer than max_location: its text is dropped
    root_kind root_ = root_kind::none;
    std::size_t high_water_ = 0;
};

// A sitemap body as received: gzip (magic bytes 1f 8b, e.g. sitemap.xml.gz served without
// Content-Encoding) is inflated block by block into the parser, at most max_inflated bytes in
// all; anything else goes to the parser as is. A corrupt or oversized gzip stream stops the
// reading there: the locations found before it stand.
class sitemap_reader {
  public:
    sitemap_reader(sitemap_location_fn on_location, std::uint64_t max_inflated);
    ~sitemap_reader();
    sitemap_reader(const sitemap_reader&) = delete;
    sitemap_reader& operator=(const sitemap_reader&) = delete;

    void feed(std::string_view bytes);
    void finish();

    bool is_sitemap() const noexcept { return parser_.is_sitemap(); }
    bool is_index() const noexcept { return parser_.is_index(); }
    bool gzip() const noexcept { return mode_ == mode::gzip; }
    // True when a gzip stream was corrupt, truncated or inflated past max_inflated.
    bool failed() const noexcept { return failed_; }
    std::uint64_t inflated_bytes() const noexcept { return inflated_; }
    const sitemap_parser& parser() const noexcept { return parser_; }

  private:
    enum class mode { undecided, plain, gzip };
    struct inflater;

    void inflate(std::string_view bytes);

    sitemap_parser parser_;
    std::uint64_t max_inflated_;
    mode mode_ = mode::undecided;
    std::string head_;  // the first byte, while the magic is undecided
    std::unique_ptr<inflater> inflater_;
    std::uint64_t inflated_ = 0;
    bool failed_ = false;
    bool member_complete_ = false;  // the last gzip member ended and no new one began
    bool trailing_ = false;         // junk after the last member: ignored
};

struct sitemap_entries {
    bool is_index = false;               // <sitemapindex>: the locations are sitemaps
    std::vector<std::string> locations;  // <loc> values, entity-decoded and trimmed, in order
};

// A whole plain sitemap at once (sitemap_parser underneath).
sitemap_entries parse_sitemap(std::string_view xml);

}  // namespace harvest::crawl
