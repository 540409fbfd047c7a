#pragma once
// Sitemaps (sitemaps.org): a <urlset> lists pages, a <sitemapindex> lists more sitemaps. Read
// by scanning for <loc> elements — no DOM, bounded work — so a 50 MB sitemap costs one pass.

#include <string>
#include <string_view>
#include <vector>

namespace harvest::crawl {

struct sitemap_entries {
    bool is_index = false;          // <sitemapindex>: the locations are sitemaps
    std::vector<std::string> locations;  // <loc> values, entity-decoded and trimmed, in order
};

// A body that is not a sitemap yields no locations. Never throws on what a server can send.
sitemap_entries parse_sitemap(std::string_view xml);

}  // namespace harvest::crawl
