#pragma once
// RFC 3986's removal of dot segments from a URL path: the one implementation behind the crawl's
// canonical URLs (core/url_canonical) and microdata's urljoin (pipelines/structured).
// Header-only and dependency-free, so the pure pipeline libraries can use it without linking
// the engine.

#include <string>
#include <string_view>
#include <vector>

namespace harvest::core {

// `path` without its "." and ".." segments (RFC 3986 §5.2.4). An absolute path stays absolute
// ("/a/./b/../c" -> "/a/c", "/.." -> "/"), a relative one relative ("a/./b" -> "a/b",
// "a/.." -> ""); a path whose last segment is a dot segment ends in '/' ("/a/b/.." -> "/a/",
// "/a//." -> "/a//"). Empty segments stay ("/a//b").
inline std::string remove_dot_segments(std::string_view path) {
    std::vector<std::string_view> segments;
    const bool absolute = !path.empty() && path.front() == '/';
    std::string_view rest = absolute ? path.substr(1) : path;
    bool trailing_slash = false;
    while (true) {
        const std::size_t slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        const bool last = slash == std::string_view::npos;
        if (segment == ".") {
            trailing_slash = last;
        } else if (segment == "..") {
            if (!segments.empty()) {
                segments.pop_back();
            }
            trailing_slash = last;
        } else {
            segments.push_back(segment);
            trailing_slash = false;
        }
        if (last) {
            break;
        }
        rest.remove_prefix(slash + 1);
    }
    std::string out;
    out.reserve(path.size());
    if (absolute) {
        out += '/';
    }
    for (std::size_t k = 0; k < segments.size(); ++k) {
        if (k > 0) {
            out += '/';
        }
        out += segments[k];
    }
    if (trailing_slash && !segments.empty()) {
        out += '/';
    }
    return out;
}

}  // namespace harvest::core
