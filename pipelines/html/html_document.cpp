// html_document: encoding detection, decoding to clean UTF-8, libxml2's HTML parser.

#include "engine/core/text.hpp"
#include "pipelines/html/html.hpp"
#include "pipelines/html/libxml_support.hpp"

#include <libxml/HTMLparser.h>
#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace harvest::pipelines {
namespace html_detail {
namespace {

void ignore_generic(void* /*context*/, const char* /*message*/, ...) {}

void keep_structured(void* context, xmlErrorPtr error) {
    if (context != nullptr && error != nullptr && error->message != nullptr) {
        *static_cast<std::string*>(context) = error->message;
    }
}

}  // namespace

void ensure_libxml_initialized() {
    static std::once_flag once;
    std::call_once(once, [] { xmlInitParser(); });
}

quiet_libxml::quiet_libxml(std::string* sink)
    : generic_(xmlGenericError),
      generic_context_(xmlGenericErrorContext),
      structured_(xmlStructuredError),
      structured_context_(xmlStructuredErrorContext) {
    xmlSetGenericErrorFunc(nullptr, ignore_generic);
    xmlSetStructuredErrorFunc(sink, keep_structured);
}

quiet_libxml::~quiet_libxml() {
    xmlSetGenericErrorFunc(generic_context_, generic_);
    xmlSetStructuredErrorFunc(structured_context_, structured_);
}

}  // namespace html_detail

namespace {

constexpr std::size_t meta_scan_limit = 8192;
constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

using core::ascii_lower;

using core::is_html_space;

// Reads one attribute of a tag at `pos` (after the name): name, and value when there is one.
// Returns false at '>' or the end.
bool next_attribute(std::string_view tag, std::size_t& pos, std::string& name, std::string& value) {
    while (pos < tag.size() && (is_html_space(tag[pos]) || tag[pos] == '/')) {
        ++pos;
    }
    if (pos >= tag.size() || tag[pos] == '>') {
        return false;
    }
    name.clear();
    value.clear();
    while (pos < tag.size() && !is_html_space(tag[pos]) && tag[pos] != '=' && tag[pos] != '>' &&
           !(tag[pos] == '/' && !name.empty())) {
        name.push_back(ascii_lower(tag[pos]));
        ++pos;
    }
    while (pos < tag.size() && is_html_space(tag[pos])) {
        ++pos;
    }
    if (pos >= tag.size() || tag[pos] != '=') {
        return true;
    }
    ++pos;
    while (pos < tag.size() && is_html_space(tag[pos])) {
        ++pos;
    }
    if (pos < tag.size() && (tag[pos] == '"' || tag[pos] == '\'')) {
        const char quote = tag[pos++];
        while (pos < tag.size() && tag[pos] != quote) {
            value.push_back(tag[pos++]);
        }
        ++pos;
    } else {
        while (pos < tag.size() && !is_html_space(tag[pos]) && tag[pos] != '>') {
            value.push_back(tag[pos++]);
        }
    }
    return true;
}

// The charset in a Content-Type value ("text/html; charset=ISO-8859-1").
std::string charset_from_content(std::string_view content) {
    const std::string lowered = core::ascii_lowered(content);
    const std::size_t at = lowered.find("charset");
    if (at == std::string::npos) {
        return {};
    }
    std::size_t pos = at + 7;
    while (pos < lowered.size() && is_html_space(lowered[pos])) {
        ++pos;
    }
    if (pos >= lowered.size() || lowered[pos] != '=') {
        return {};
    }
    ++pos;
    while (pos < lowered.size() && is_html_space(lowered[pos])) {
        ++pos;
    }
    std::string out;
    const char quote = pos < lowered.size() && (lowered[pos] == '"' || lowered[pos] == '\'')
                           ? lowered[pos++]
                           : '\0';
    while (pos < lowered.size() && lowered[pos] != quote && lowered[pos] != ';' &&
           !(quote == '\0' && is_html_space(lowered[pos]))) {
        out.push_back(lowered[pos++]);
    }
    return out;
}

// A simplified form of the WHATWG prescan: <meta charset> or <meta http-equiv=content-type
// content="...charset=..."> in the first bytes, skipping comments.
std::string sniff_meta_charset(std::string_view bytes) {
    const std::string_view head = bytes.substr(0, meta_scan_limit);
    std::size_t pos = 0;
    std::string name;
    std::string value;
    while ((pos = head.find('<', pos)) != std::string_view::npos) {
        if (head.substr(pos, 4) == "<!--") {
            const std::size_t end = head.find("-->", pos + 4);
            if (end == std::string_view::npos) {
                return {};
            }
            pos = end + 3;
            continue;
        }
        const bool is_meta = head.size() - pos > 5 && ascii_lower(head[pos + 1]) == 'm' &&
                             ascii_lower(head[pos + 2]) == 'e' &&
                             ascii_lower(head[pos + 3]) == 't' &&
                             ascii_lower(head[pos + 4]) == 'a' &&
                             (is_html_space(head[pos + 5]) || head[pos + 5] == '/');
        ++pos;
        if (!is_meta) {
            continue;
        }
        pos += 4;
        bool content_type = false;
        std::string content;
        while (next_attribute(head, pos, name, value)) {
            if (name == "charset" && !value.empty()) {
                std::string label;
                for (const char c : value) {
                    label.push_back(ascii_lower(c));
                }
                return label;
            }
            if (name == "http-equiv") {
                std::string lowered;
                for (const char c : value) {
                    lowered.push_back(ascii_lower(c));
                }
                content_type = lowered == "content-type";
            } else if (name == "content") {
                content = value;
            }
        }
        if (content_type) {
            std::string label = charset_from_content(content);
            if (!label.empty()) {
                return label;
            }
        }
    }
    return {};
}

// A WHATWG label to what iconv should decode, or "UTF-8".
std::string encoding_for_label(std::string label) {
    const auto begin = label.find_first_not_of(" \t\r\n\f");
    if (begin == std::string::npos) {
        return "UTF-8";
    }
    label = label.substr(begin, label.find_last_not_of(" \t\r\n\f") - begin + 1);
    static constexpr std::string_view utf8_labels[] = {
        "utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8",
        // A page that says UTF-16 in a meta tag cannot be UTF-16 (the tag was read as ASCII):
        // WHATWG decodes it as UTF-8.
        "utf-16", "utf-16le", "utf-16be", "unicode", "ucs-2", "csunicode"};
    static constexpr std::string_view windows_1252_labels[] = {
        "windows-1252", "cp1252",      "x-cp1252",   "iso-8859-1",      "iso8859-1",     "iso88591",
        "iso_8859-1",   "latin1",      "l1",         "us-ascii",        "ascii",         "cp819",
        "ibm819",       "csisolatin1", "iso-ir-100", "iso_8859-1:1987", "ansi_x3.4-1968"};
    if (std::find(std::begin(utf8_labels), std::end(utf8_labels), label) != std::end(utf8_labels)) {
        return "UTF-8";
    }
    if (std::find(std::begin(windows_1252_labels), std::end(windows_1252_labels), label) !=
        std::end(windows_1252_labels)) {
        return "WINDOWS-1252";
    }
    for (const char c : label) {
        // iconv takes "//TRANSLIT" style suffixes and the like: accept plain labels only.
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                        c == '.' || c == ':';
        if (!ok) {
            return "UTF-8";
        }
    }
    const iconv_t probe = iconv_open("UTF-8", label.c_str());
    if (probe == reinterpret_cast<iconv_t>(-1)) {
        return "UTF-8";
    }
    iconv_close(probe);
    return label;
}

// Characters libxml2 must not see: NUL ends its C strings, the other C0 controls (but tab,
// LF, FF, CR) and U+FFFE / U+FFFF are not XML characters and make it drop text.
bool bad_character(std::string_view text, std::size_t pos, std::size_t length) {
    const auto b0 = static_cast<unsigned char>(text[pos]);
    if (length == 1) {
        return b0 < 0x20 && b0 != '\t' && b0 != '\n' && b0 != '\r' && b0 != '\f';
    }
    return length == 3 && b0 == 0xEF && static_cast<unsigned char>(text[pos + 1]) == 0xBF &&
           static_cast<unsigned char>(text[pos + 2]) >= 0xBE;
}

bool is_clean_utf8(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
        const auto b = static_cast<unsigned char>(text[pos]);
        if (b >= 0x20 && b < 0x80) {
            ++pos;  // the common case, kept cheap for 10 MB pages
            continue;
        }
        const std::size_t length = core::utf8_sequence_length(text, pos);
        if (length == 0 || bad_character(text, pos, length)) {
            return false;
        }
        pos += length;
    }
    return true;
}

std::string to_clean_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t length = core::utf8_sequence_length(text, pos);
        if (length == 0) {
            out += replacement;
            ++pos;
        } else if (bad_character(text, pos, length)) {
            out += replacement;
            pos += length;
        } else {
            out.append(text.substr(pos, length));
            pos += length;
        }
    }
    return out;
}

// Decodes with iconv; undecodable input units become U+FFFD.
std::string decode_with_iconv(std::string_view bytes, const std::string& encoding,
                              std::size_t unit) {
    const iconv_t converter = iconv_open("UTF-8", encoding.c_str());
    if (converter == reinterpret_cast<iconv_t>(-1)) {
        return to_clean_utf8(bytes);
    }
    std::string out;
    out.resize(bytes.size() * 2 + 16);
    // iconv's interface takes char** for input it does not modify.
    char* in = const_cast<char*>(bytes.data());
    std::size_t in_left = bytes.size();
    char* target = out.data();
    std::size_t out_left = out.size();
    while (in_left > 0) {
        const std::size_t converted = iconv(converter, &in, &in_left, &target, &out_left);
        if (converted != static_cast<std::size_t>(-1)) {
            break;
        }
        if (errno == E2BIG || out_left < 8) {
            const std::size_t used = out.size() - out_left;
            out.resize(out.size() * 2);
            target = out.data() + used;
            out_left = out.size() - used;
            continue;
        }
        // EILSEQ or EINVAL (truncated at the end): replace one input unit and go on.
        std::memcpy(target, replacement.data(), replacement.size());
        target += replacement.size();
        out_left -= replacement.size();
        const std::size_t skip = std::min(unit, in_left);
        in += skip;
        in_left -= skip;
        iconv(converter, nullptr, nullptr, nullptr, nullptr);  // reset the shift state
    }
    out.resize(out.size() - out_left);
    iconv_close(converter);
    // iconv's output is UTF-8, but it passes NUL and control characters through.
    return is_clean_utf8(out) ? out : to_clean_utf8(out);
}

struct decoded_input {
    std::string storage;  // used when the bytes had to change
    std::string_view text;
    std::string encoding;
};

decoded_input decode(std::string_view bytes) {
    decoded_input result;
    std::string encoding;
    std::size_t unit = 1;
    if (bytes.substr(0, 3) == "\xEF\xBB\xBF") {
        bytes.remove_prefix(3);
        encoding = "UTF-8";
    } else if (bytes.substr(0, 2) == "\xFF\xFE") {
        bytes.remove_prefix(2);
        encoding = "UTF-16LE";
        unit = 2;
    } else if (bytes.substr(0, 2) == "\xFE\xFF") {
        bytes.remove_prefix(2);
        encoding = "UTF-16BE";
        unit = 2;
    } else {
        encoding = encoding_for_label(sniff_meta_charset(bytes));
    }
    result.encoding = encoding;
    if (encoding == "UTF-8") {
        if (is_clean_utf8(bytes)) {
            result.text = bytes;
        } else {
            result.storage = to_clean_utf8(bytes);
            result.text = result.storage;
        }
        return result;
    }
    result.storage = decode_with_iconv(bytes, encoding, unit);
    result.text = result.storage;
    return result;
}

}  // namespace

std::string_view html_detail::clean_html_text(std::string_view bytes, std::string& storage) {
    decoded_input input = decode(bytes);
    if (input.storage.empty()) {
        return input.text;
    }
    storage = std::move(input.storage);
    return storage;
}

html_document html_document::parse(std::string_view bytes, std::string_view url) {
    html_detail::ensure_libxml_initialized();
    html_document document;
    document.url_ = std::string(url);
    decoded_input input = decode(bytes);
    document.encoding_ = std::move(input.encoding);
    if (input.text.empty()) {
        return document;
    }
    // htmlReadMemory takes an int size; nothing we fetch comes near 2 GiB, but never overflow.
    const int size = static_cast<int>(std::min<std::size_t>(input.text.size(), INT_MAX));
    const html_detail::quiet_libxml quiet;
    // XML_PARSE_HUGE lifts libxml2's nesting limit (256: deeper pages, e.g. hundreds of unclosed
    // <div>s, would be cut off there with everything after) and its 10 MB text node limit. The
    // HTML parser keeps its open elements on the heap, so depth costs no stack.
    constexpr int options = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                            HTML_PARSE_NONET | HTML_PARSE_COMPACT | HTML_PARSE_IGNORE_ENC |
                            XML_PARSE_HUGE;
    document.doc_ =
        htmlReadMemory(input.text.data(), size,
                       document.url_.empty() ? nullptr : document.url_.c_str(), "UTF-8", options);
    if (document.doc_ != nullptr) {
        // Stores each element's document order in the tree once, so XPath results (unions,
        // `//`) are sorted by a comparison instead of tree walks. Done before the document is
        // shared: afterwards the document is only read.
        xmlXPathOrderDocElems(document.doc_);
    }
    return document;
}

html_document::html_document(html_document&& other) noexcept
    : doc_(std::exchange(other.doc_, nullptr)),
      url_(std::move(other.url_)),
      encoding_(std::move(other.encoding_)) {}

html_document& html_document::operator=(html_document&& other) noexcept {
    if (this != &other) {
        if (doc_ != nullptr) {
            xmlFreeDoc(doc_);
        }
        doc_ = std::exchange(other.doc_, nullptr);
        url_ = std::move(other.url_);
        encoding_ = std::move(other.encoding_);
    }
    return *this;
}

html_document::~html_document() {
    if (doc_ != nullptr) {
        xmlFreeDoc(doc_);
    }
}

}  // namespace harvest::pipelines
