#include "engine/crawl/sitemap.hpp"

#include "engine/core/text.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace harvest::crawl {
namespace {

// XML's predefined entities and numeric references (ASCII range; others are kept as written:
// URLs in sitemaps are ASCII by the sitemaps.org rules).
std::string decode_entities(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '&') {
            out.push_back(text[i]);
            continue;
        }
        const auto end = text.find(';', i);
        if (end == std::string_view::npos || end - i > 10) {
            out.push_back('&');
            continue;
        }
        const std::string_view name = text.substr(i + 1, end - i - 1);
        char decoded = 0;
        if (name == "amp") {
            decoded = '&';
        } else if (name == "lt") {
            decoded = '<';
        } else if (name == "gt") {
            decoded = '>';
        } else if (name == "quot") {
            decoded = '"';
        } else if (name == "apos") {
            decoded = '\'';
        } else if (name.size() > 1 && name[0] == '#') {
            unsigned long code = 0;
            bool hex = name[1] == 'x' || name[1] == 'X';
            bool valid = name.size() > (hex ? 2u : 1u);
            for (char c : name.substr(hex ? 2 : 1)) {
                const int digit = std::isdigit(static_cast<unsigned char>(c)) != 0 ? c - '0'
                                  : hex && std::isxdigit(static_cast<unsigned char>(c)) != 0
                                      ? core::ascii_lower(c) - 'a' + 10
                                      : -1;
                if (digit < 0 || code > 0x10ffff) {
                    valid = false;
                    break;
                }
                code = code * (hex ? 16 : 10) + static_cast<unsigned>(digit);
            }
            if (valid && code > 0 && code < 0x80) {
                decoded = static_cast<char>(code);
            }
        }
        if (decoded == 0) {
            out.push_back('&');
            continue;
        }
        out.push_back(decoded);
        i = end;
    }
    return out;
}

enum class tag_match { no, yes, incomplete };

// How far past a '<' the scanner looks to name a tag (its namespace prefix) and to find the '>'
// closing a <loc ...> start tag. Limited so the bytes kept between chunks are bounded, and
// by the bytes alone (not where chunks happen to end), so any split gives the same result.
constexpr std::size_t max_tag = 1024;

// Whether `<name` (or `</name` when closing) starts at `lt`, followed by '>', '/' or
// whitespace, case-sensitively as XML is, allowing a namespace prefix ("<sm:loc>") ended
// within max_tag bytes. Until `final`, a tag cut off by the end of the bytes so far is
// `incomplete`.
tag_match tag_at(std::string_view xml, std::size_t lt, std::string_view name, bool closing,
                 bool final) {
    const tag_match short_input = final ? tag_match::no : tag_match::incomplete;
    std::size_t p = lt + 1;
    if (closing) {
        if (p >= xml.size()) {
            return short_input;
        }
        if (xml[p] != '/') {
            return tag_match::no;
        }
        ++p;
    }
    const std::string_view window = xml.substr(0, std::min(xml.size(), lt + max_tag));
    const auto colon = window.find_first_of(":> \t\r\n/", p);
    if (colon == std::string_view::npos) {
        if (!final && xml.size() < lt + max_tag) {
            return tag_match::incomplete;
        }
    } else if (xml[colon] == ':') {
        p = colon + 1;
    }
    if (p > xml.size() || xml.size() - p < name.size() + 1) {
        const std::size_t have = p > xml.size() ? 0 : xml.size() - p;
        if (xml.compare(std::min(p, xml.size()), std::min(have, name.size()),
                        name.substr(0, std::min(have, name.size()))) != 0) {
            return tag_match::no;
        }
        return short_input;
    }
    if (xml.compare(p, name.size(), name) != 0) {
        return tag_match::no;
    }
    const char after = xml[p + name.size()];
    return after == '>' || after == '/' || std::isspace(static_cast<unsigned char>(after)) != 0
               ? tag_match::yes
               : tag_match::no;
}

// A <loc>'s raw text to the location it names; empty when it names none.
std::string location_from(std::string_view raw) {
    std::string_view value = core::trim(raw);
    constexpr std::string_view cdata_open = "<![CDATA[";
    constexpr std::string_view cdata_close = "]]>";
    if (value.substr(0, cdata_open.size()) == cdata_open &&
        value.size() >= cdata_open.size() + cdata_close.size() &&
        value.substr(value.size() - cdata_close.size()) == cdata_close) {
        return std::string(core::trim(value.substr(
            cdata_open.size(), value.size() - cdata_open.size() - cdata_close.size())));
    }
    return decode_entities(value);
}

}  // namespace

sitemap_parser::sitemap_parser(sitemap_location_fn on_location)
    : on_location_(std::move(on_location)) {}

void sitemap_parser::feed(std::string_view bytes) {
    // Slices keep the buffer bounded whatever the caller's chunk size.
    while (!bytes.empty()) {
        const std::string_view part = bytes.substr(0, slice);
        bytes.remove_prefix(part.size());
        buffer_.append(part);
        high_water_ = std::max(high_water_, buffer_.size());
        process(false);
    }
}

void sitemap_parser::finish() {
    process(true);
    // A <loc> the document ends inside is dropped, like a truncated download's last line.
    in_location_ = false;
    skipping_ = false;
    buffer_.clear();
    buffer_.shrink_to_fit();
    scan_ = 0;
    value_at_ = 0;
}

void sitemap_parser::process(bool final) {
    const std::string_view xml = buffer_;
    while (true) {
        const std::size_t lt = xml.find('<', scan_);
        if (lt == std::string_view::npos) {
            scan_ = xml.size();
            break;
        }
        bool incomplete = false;
        if (in_location_) {
            const tag_match close = tag_at(xml, lt, "loc", true, final);
            if (close == tag_match::yes) {
                // Too long is decided by the length alone, not by where chunks ended.
                if (!skipping_ && lt - value_at_ <= max_location) {
                    std::string location = location_from(xml.substr(value_at_, lt - value_at_));
                    if (!location.empty()) {
                        on_location_(std::move(location));
                    }
                }
                in_location_ = false;
                skipping_ = false;
                scan_ = lt + 1;
                continue;
            }
            incomplete = close == tag_match::incomplete;
        } else if (root_ == root_kind::none) {
            const tag_match urlset = tag_at(xml, lt, "urlset", false, final);
            const tag_match index = tag_at(xml, lt, "sitemapindex", false, final);
            if (urlset == tag_match::yes || index == tag_match::yes) {
                root_ = urlset == tag_match::yes ? root_kind::urlset : root_kind::index;
                scan_ = lt + 1;
                continue;
            }
            incomplete = urlset == tag_match::incomplete || index == tag_match::incomplete;
        } else {
            const tag_match open = tag_at(xml, lt, "loc", false, final);
            if (open == tag_match::yes) {
                // The start tag's '>' within max_tag bytes, else it is no start tag.
                const std::size_t gt = xml.substr(0, lt + max_tag).find('>', lt);
                if (gt != std::string_view::npos) {
                    in_location_ = true;
                    value_at_ = gt + 1;
                    scan_ = gt + 1;
                    continue;
                }
                incomplete = !final && xml.size() < lt + max_tag;
            }
            incomplete = incomplete || open == tag_match::incomplete;
        }
        if (incomplete) {
            scan_ = lt;  // wait for more bytes (fewer than max_tag + a name are kept)
            break;
        }
        scan_ = lt + 1;
    }
    // Keep only what is still needed: a <loc>'s text so far, else the unclassified tail.
    if (in_location_ && !skipping_ && xml.size() - value_at_ > max_location) {
        skipping_ = true;
    }
    const std::size_t drop = in_location_ && !skipping_ ? value_at_ : scan_;
    buffer_.erase(0, drop);
    scan_ -= drop;
    value_at_ -= std::min(value_at_, drop);
}

struct sitemap_reader::inflater {
    z_stream stream{};
    bool ready = false;
    std::array<char, sitemap_parser::slice> out{};

    inflater() { ready = inflateInit2(&stream, 16 + MAX_WBITS) == Z_OK; }
    ~inflater() {
        if (ready) {
            inflateEnd(&stream);
        }
    }
    inflater(const inflater&) = delete;
    inflater& operator=(const inflater&) = delete;
};

sitemap_reader::sitemap_reader(sitemap_location_fn on_location, std::uint64_t max_inflated)
    : parser_(std::move(on_location)), max_inflated_(max_inflated) {}

sitemap_reader::~sitemap_reader() = default;

void sitemap_reader::feed(std::string_view bytes) {
    if (mode_ == mode::undecided) {
        const std::string_view take = bytes.substr(0, 2 - head_.size());
        head_.append(take);
        bytes.remove_prefix(take.size());
        if (head_.size() < 2) {
            return;
        }
        const bool gzip_magic = static_cast<unsigned char>(head_[0]) == 0x1f &&
                                static_cast<unsigned char>(head_[1]) == 0x8b;
        mode_ = gzip_magic ? mode::gzip : mode::plain;
        const std::string head = std::exchange(head_, std::string());
        if (gzip_magic) {
            inflater_ = std::make_unique<inflater>();
            failed_ = !inflater_->ready;
            inflate(head);
        } else {
            parser_.feed(head);
        }
    }
    if (mode_ == mode::gzip) {
        inflate(bytes);
    } else {
        parser_.feed(bytes);
    }
}

void sitemap_reader::inflate(std::string_view bytes) {
    if (failed_ || trailing_ || bytes.empty()) {
        return;
    }
    z_stream& stream = inflater_->stream;
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    stream.avail_in = static_cast<uInt>(bytes.size());  // callers feed bodies < 4 GiB
    while (true) {
        stream.next_out = reinterpret_cast<Bytef*>(inflater_->out.data());
        stream.avail_out = static_cast<uInt>(inflater_->out.size());
        const uInt input_before = stream.avail_in;
        const int status = ::inflate(&stream, Z_NO_FLUSH);
        const std::size_t produced = inflater_->out.size() - stream.avail_out;
        if (produced > 0) {
            if (produced > max_inflated_ - inflated_) {
                // Past the bound: what fits is read, the rest is not.
                parser_.feed(std::string_view(inflater_->out.data(), max_inflated_ - inflated_));
                inflated_ = max_inflated_;
                failed_ = true;
                return;
            }
            inflated_ += produced;
            parser_.feed(std::string_view(inflater_->out.data(), produced));
        }
        if (status == Z_STREAM_END) {
            // One gzip member done; concatenated members (`cat a.gz b.gz`) continue the document.
            member_complete_ = true;
            if (inflateReset(&stream) != Z_OK) {
                failed_ = true;
                return;
            }
            if (stream.avail_in == 0) {
                return;
            }
            continue;
        }
        if (status == Z_OK || status == Z_BUF_ERROR) {
            if (stream.avail_in != input_before || produced > 0) {
                member_complete_ = false;  // inside a member now
            }
            if (stream.avail_in == 0 && stream.avail_out != 0) {
                return;  // all input used: wait for more
            }
            if (status == Z_BUF_ERROR) {
                return;
            }
            continue;
        }
        if (member_complete_) {
            trailing_ = true;  // bytes after a complete member that are no gzip: ignored
        } else {
            failed_ = true;  // corrupt data
        }
        return;
    }
}

void sitemap_reader::finish() {
    if (mode_ == mode::undecided) {
        parser_.feed(head_);  // a body of one byte
        head_.clear();
    } else if (mode_ == mode::gzip && !member_complete_ && !trailing_) {
        failed_ = true;  // truncated
    }
    parser_.finish();
}

sitemap_entries parse_sitemap(std::string_view xml) {
    sitemap_entries out;
    sitemap_parser parser(
        [&out](std::string location) { out.locations.push_back(std::move(location)); });
    parser.feed(xml);
    parser.finish();
    out.is_index = parser.is_index();
    return out;
}

}  // namespace harvest::crawl
