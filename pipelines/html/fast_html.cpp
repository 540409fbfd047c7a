// fast_html: the tree-less html selection (see fast_html.hpp).

#include "pipelines/html/fast_html.hpp"

#include "engine/core/text.hpp"
#include "pipelines/html/element_kinds.hpp"
#include "pipelines/html/html.hpp"
#include "pipelines/html/libxml_support.hpp"
#include "pipelines/html/simple_selector.hpp"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace harvest::pipelines {
namespace {

using html_detail::simple_selector;

// html_field's work bound (simple_selector steps); a page that could need more is declined.
constexpr double max_steps = 200'000'000;
// libxml2 reads at most this many characters of a name (HTML_PARSER_BUFFER_SIZE).
constexpr std::size_t max_name_length = 100;

// libxml2's IS_BLANK_CH: form feed is not blank there.
bool is_blank(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_letter(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// What starts and continues tag and attribute names. libxml2 reads a '.' into some names and
// not others (its start-close check and its tag parser disagree): a name at a '.' is declined.
bool is_html_name_start(char c) noexcept {
    return is_letter(c) || c == '_' || c == ':';
}

bool is_html_name_char(char c) noexcept {
    return is_letter(c) || core::is_ascii_digit(c) || c == ':' || c == '-' || c == '_';
}

// Entity names (htmlParseName) do take '.'.
bool is_entity_name_char(char c) noexcept {
    return is_html_name_char(c) || c == '.';
}

using core::ascii_lower;

// XML's Char production, which libxml2's character references must satisfy.
bool is_xml_char(unsigned value) noexcept {
    return value == 0x9 || value == 0xA || value == 0xD || (value >= 0x20 && value <= 0xD7FF) ||
           (value >= 0xE000 && value <= 0xFFFD) || (value >= 0x10000 && value <= 0x10FFFF);
}

// What the tokenizer needs to know about an element name.
struct tag_info {
    bool known = false;        // in the table below (else: not an HTML 4 element for libxml2)
    bool empty = false;        // void: closed right after its start tag
    bool closes_self = false;  // a start tag of the same name closes an open one
    bool hidden = false;       // contents left out of normalized text (html_field)
    bool block = false;        // a space at its boundaries in normalized text (html_field)
    bool raw = false;          // contents are raw text up to its end tag (libxml2: script, style)
    int end_priority = 100;    // libxml2's htmlEndPriority: an end tag closes no higher one
};

// libxml2 2.9's HTML 4 element table: every name its start-close rules can mention.
constexpr std::string_view html4_elements[] = {
    "a",        "abbr",    "acronym",  "address",    "applet",   "area",   "b",        "base",
    "basefont", "bdo",     "big",      "blockquote", "body",     "br",     "button",   "caption",
    "center",   "cite",    "code",     "col",        "colgroup", "dd",     "del",      "dfn",
    "dir",      "div",     "dl",       "dt",         "em",       "embed",  "fieldset", "font",
    "form",     "frame",   "frameset", "h1",         "h2",       "h3",     "h4",       "h5",
    "h6",       "head",    "hr",       "html",       "i",        "iframe", "img",      "input",
    "ins",      "isindex", "kbd",      "label",      "legend",   "li",     "link",     "map",
    "menu",     "meta",    "noframes", "noscript",   "object",   "ol",     "optgroup", "option",
    "p",        "param",   "pre",      "q",          "s",        "samp",   "script",   "select",
    "small",    "span",    "strike",   "strong",     "style",    "sub",    "sup",      "table",
    "tbody",    "td",      "textarea", "tfoot",      "th",       "thead",  "title",    "tr",
    "tt",       "u",       "ul",       "var"};

// Element facts, read from libxml2 itself where it has them (void elements, which start tags
// close which open elements), so the two paths cannot disagree on the tables.
class tag_table {
  public:
    static const tag_table& get() {
        static const tag_table table;
        return table;
    }

    // Null for a name libxml2 knows but this table does not (the caller declines).
    const tag_info* find(std::string_view name) const {
        const auto it = infos_.find(name);
        if (it != infos_.end()) {
            return &it->second;
        }
        if (is_html4_unlisted(name)) {
            return nullptr;
        }
        static const tag_info plain{};
        return &plain;
    }

    // Whether a start tag `new_name` closes an open `old_name` (libxml2's htmlCheckAutoClose).
    static bool closes(std::string_view new_name, std::string_view old_name,
                       const tag_info& old_info) {
        if (new_name == old_name) {
            return old_info.closes_self;
        }
        if (new_name.size() >= max_name_length || old_name.size() >= max_name_length) {
            return false;
        }
        // htmlAutoCloseTag(doc, name, elem) is htmlCheckAutoClose(elem->name, name) for an
        // element without children; it reads nothing else of the node.
        char new_buffer[max_name_length + 1];
        char old_buffer[max_name_length + 1];
        std::memcpy(new_buffer, new_name.data(), new_name.size());
        new_buffer[new_name.size()] = '\0';
        std::memcpy(old_buffer, old_name.data(), old_name.size());
        old_buffer[old_name.size()] = '\0';
        xmlNode probe{};
        probe.type = XML_ELEMENT_NODE;
        probe.name = reinterpret_cast<const xmlChar*>(new_buffer);
        return htmlAutoCloseTag(nullptr, reinterpret_cast<const xmlChar*>(old_buffer), &probe) == 1;
    }

  private:
    tag_table() {
        html_detail::ensure_libxml_initialized();
        for (const std::string_view name : html4_elements) {
            tag_info info;
            info.known = true;
            const std::string z(name);
            const htmlElemDesc* desc = htmlTagLookup(reinterpret_cast<const xmlChar*>(z.c_str()));
            info.empty = desc != nullptr && desc->empty != 0;
            info.closes_self = !info.empty && probe_closes_self(z);
            infos_.emplace(name, info);
        }
        for (const std::string_view name : html_detail::block_elements) {
            infos_[name].block = true;
        }
        for (const std::string_view name : html_detail::hidden_elements) {
            infos_[name].hidden = true;
        }
        infos_["script"].raw = true;
        infos_["style"].raw = true;
        const std::pair<std::string_view, int> priorities[] = {
            {"div", 150},   {"td", 160},    {"th", 160},    {"tr", 170},
            {"thead", 180}, {"tbody", 180}, {"tfoot", 180}, {"table", 190},
            {"head", 200},  {"body", 200},  {"html", 220}};
        for (const auto& [name, priority] : priorities) {
            infos_[name].end_priority = priority;
        }
    }

    static bool is_html4_unlisted(std::string_view name) {
        if (name.size() >= max_name_length) {
            return false;
        }
        char buffer[max_name_length + 1];
        std::memcpy(buffer, name.data(), name.size());
        buffer[name.size()] = '\0';
        return htmlTagLookup(reinterpret_cast<const xmlChar*>(buffer)) != nullptr;
    }

    // The start-close table cannot be asked about a name against itself (htmlAutoCloseTag
    // answers 0 for equal names): parse `<X><X>` and see whether the second nests.
    static bool probe_closes_self(const std::string& name) {
        if (name == "html" || name == "head" || name == "body" || name == "script" ||
            name == "style") {
            return false;  // repeated ones are declined; raw text holds no tags
        }
        const std::string page = "<html><body><" + name + "><" + name + ">x</body></html>";
        const html_detail::quiet_libxml quiet;
        xmlDocPtr doc = htmlReadMemory(
            page.data(), static_cast<int>(page.size()), nullptr, "UTF-8",
            HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
        if (doc == nullptr) {
            return false;
        }
        bool nested = false;
        bool found = false;
        // Find the first element called `name`; does an element of that name sit below it?
        const xmlNode* node = xmlDocGetRootElement(doc);
        std::vector<const xmlNode*> todo;
        if (node != nullptr) {
            todo.push_back(node);
        }
        while (!todo.empty() && !found) {
            const xmlNode* current = todo.back();
            todo.pop_back();
            if (current->type == XML_ELEMENT_NODE &&
                name == reinterpret_cast<const char*>(current->name)) {
                found = true;
                for (const xmlNode* child = current->children; child != nullptr;
                     child = child->next) {
                    if (child->type == XML_ELEMENT_NODE &&
                        name == reinterpret_cast<const char*>(child->name)) {
                        nested = true;
                    }
                }
                break;
            }
            for (const xmlNode* child = current->last; child != nullptr; child = child->prev) {
                todo.push_back(child);
            }
        }
        xmlFreeDoc(doc);
        return found && !nested;
    }

    std::unordered_map<std::string_view, tag_info> infos_;
};

}  // namespace

struct fast_html_selection::program {
    struct compound_ref {
        const simple_selector::compound* test;
        std::size_t field;
        bool first;  // first compound of its selector
        bool last;   // last compound: a match of the field
    };
    std::vector<simple_selector> selectors;        // per field
    std::vector<compound_ref> compounds;           // all fields' compounds, flattened
    std::vector<std::string> attributes;           // per field, lowercased; empty: text
    std::vector<bool> text;                        // per field: rule.text
    std::vector<unsigned> descendant_combinators;  // per field, for the work bound
};

namespace {

using program = fast_html_selection::program;

struct attribute {
    std::string name;
    std::string value;
};

// One open element.
struct open_element {
    std::string name;
    const tag_info* info;
    std::uint64_t prefix;     // bit k: a chain for compounds ..k of its selector ends here
    std::uint64_t inherited;  // OR of the ancestors' prefix bits
};

// A matched element whose normalized text is being gathered.
struct collector {
    std::size_t field;
    std::size_t slot;   // index in the field's values
    std::size_t depth;  // stack index of the element
    std::size_t hidden_level;
    std::string text;
};

class tokenizer {
  public:
    tokenizer(const program& program, bool first_only)
        : program_(program),
          table_(tag_table::get()),
          first_only_(first_only),
          values_(program.selectors.size()),
          done_(program.selectors.size(), false),
          steps_(program.selectors.size(), 0.0) {}

    // False: declined.
    bool run(std::string_view text);

    std::vector<std::vector<std::string>> take_values() { return std::move(values_); }

  private:
    bool all_done() const {
        return first_only_ && collectors_.empty() &&
               std::all_of(done_.begin(), done_.end(), [](bool d) { return d; });
    }
    bool collecting() const { return !collectors_.empty(); }

    bool parse_doctype();
    bool parse_comment();
    bool parse_start_tag();
    bool parse_end_tag();
    bool parse_raw_text(const std::string& name);
    bool parse_text();
    // A character reference at pos_ ('&'), decoded into `out` as libxml2 does; false: declined.
    bool parse_reference(std::string& out);
    bool parse_attributes();

    // Pushes an element; `implied`: one libxml2 inserts, without the current tag's attributes.
    bool open(std::string_view name, const tag_info* info, bool implied = false);
    bool push(std::string_view name, const tag_info* info);
    void pop();
    bool check_implied(std::string_view name);
    void add_text(std::string_view text);
    void add_block_space();
    bool matches(const simple_selector::compound& test, std::string_view name) const;
    const attribute* find_attribute(std::string_view name) const;

    const program& program_;
    const tag_table& table_;
    bool first_only_;
    std::string_view in_;
    std::size_t pos_ = 0;
    std::vector<open_element> stack_;
    std::vector<attribute> attributes_;  // the current start tag's, reused
    std::size_t attribute_count_ = 0;
    std::vector<collector> collectors_;
    std::size_t hidden_ = 0;  // open hidden elements
    bool seen_head_ = false;  // libxml2's ctxt->html >= 3
    bool seen_body_ = false;  // libxml2's ctxt->html >= 10
    bool seen_element_ = false;
    bool seen_doctype_ = false;
    std::vector<std::vector<std::string>> values_;
    std::vector<bool> done_;  // first_only: the field's value is final
    std::vector<double> steps_;
    std::string scratch_;
};

bool tokenizer::run(std::string_view text) {
    in_ = text;
    // Form feed is the one control character decoding keeps that libxml2 does not take as a
    // character (it drops it from text with an error): not modelled.
    if (std::memchr(text.data(), '\f', text.size()) != nullptr) {
        return false;
    }
    // htmlParseDocument: blanks, comments and a doctype before the content.
    while (pos_ < in_.size()) {
        if (all_done()) {
            return true;
        }
        const char c = in_[pos_];
        if (c != '<') {
            if (!parse_text()) {
                return false;
            }
            continue;
        }
        if (pos_ + 1 >= in_.size()) {
            return false;  // a lone '<' at the end: text for libxml2
        }
        const char next = in_[pos_ + 1];
        bool ok = false;
        if (next == '/') {
            ok = parse_end_tag();
        } else if (is_letter(next)) {
            ok = parse_start_tag();
        } else if (next == '!') {
            if (in_.compare(pos_ + 2, 2, "--") == 0) {
                ok = parse_comment();
            } else if (!seen_element_ && !seen_doctype_ && in_.size() - pos_ >= 9) {
                // Only the first doctype before any element is read as one.
                seen_doctype_ = true;
                std::string word(in_.substr(pos_ + 2, 7));
                core::ascii_lower_in_place(word);
                ok = word == "doctype" && parse_doctype();
            }
        }
        if (!ok) {
            return false;
        }
    }
    while (!stack_.empty()) {
        pop();
    }
    return true;
}

bool tokenizer::parse_doctype() {
    const std::size_t end = in_.find('>', pos_);
    if (end == std::string_view::npos) {
        return false;
    }
    const std::string_view body = in_.substr(pos_, end - pos_);
    // libxml2 reads quoted identifiers; a '>' inside quotes would end it elsewhere.
    if (std::count(body.begin(), body.end(), '"') % 2 != 0 ||
        std::count(body.begin(), body.end(), '\'') % 2 != 0) {
        return false;
    }
    pos_ = end + 1;
    return true;
}

bool tokenizer::parse_comment() {
    const std::size_t start = pos_ + 4;
    if (start < in_.size() && (in_[start] == '>' || in_.compare(start, 2, "->") == 0)) {
        return false;  // abruptly ended comments: recovery differs between versions
    }
    const std::size_t end = in_.find("-->", start);
    if (end == std::string_view::npos) {
        return false;
    }
    if (in_.substr(start, end - start).find("--!>") != std::string_view::npos) {
        return false;
    }
    pos_ = end + 3;
    return true;
}

bool tokenizer::parse_text() {
    // Text up to the next tag. Outside any element, or directly in html / head, libxml2 wraps
    // non-blank text in an implied <p>: declined; blanks there change nothing selected.
    const std::string_view top = stack_.empty() ? std::string_view{} : stack_.back().name;
    const bool outside = stack_.empty() || top == "html" || top == "head";
    const void* found = std::memchr(in_.data() + pos_, '<', in_.size() - pos_);
    const std::size_t end =
        found == nullptr ? in_.size() : static_cast<const char*>(found) - in_.data();
    const std::string_view text = in_.substr(pos_, end - pos_);
    if (outside) {
        for (const char c : text) {
            if (!is_blank(c)) {
                return false;
            }
        }
        pos_ = end;
        return true;
    }
    if (!collecting()) {
        pos_ = end;
        return true;
    }
    if (text.find('&') == std::string_view::npos) {
        add_text(text);
        pos_ = end;
        return true;
    }
    scratch_.clear();
    while (pos_ < end) {
        if (in_[pos_] == '&') {
            if (!parse_reference(scratch_)) {
                return false;
            }
            continue;
        }
        scratch_.push_back(in_[pos_++]);
    }
    add_text(scratch_);
    return true;
}

bool tokenizer::parse_reference(std::string& out) {
    std::size_t pos = pos_ + 1;
    if (pos < in_.size() && in_[pos] == '#') {
        ++pos;
        const bool hex = pos < in_.size() && (in_[pos] == 'x' || in_[pos] == 'X');
        pos += hex ? 1 : 0;
        unsigned value = 0;
        std::size_t digits = 0;
        while (pos < in_.size()) {
            const char c = in_[pos];
            unsigned digit = 0;
            if (core::is_ascii_digit(c)) {
                digit = static_cast<unsigned>(c - '0');
            } else if (hex && ascii_lower(c) >= 'a' && ascii_lower(c) <= 'f') {
                digit = static_cast<unsigned>(ascii_lower(c) - 'a' + 10);
            } else {
                break;
            }
            if (++digits > 8) {
                return false;
            }
            value = value * (hex ? 16 : 10) + digit;
            ++pos;
        }
        if (digits == 0 || !is_xml_char(value)) {
            return false;
        }
        if (pos < in_.size() && in_[pos] == ';') {
            ++pos;
        }
        core::append_utf8(out, value);
        pos_ = pos;
        return true;
    }
    // htmlParseEntityRef: a name; decoded only when it is known and followed by ';'.
    if (pos >= in_.size() || static_cast<unsigned char>(in_[pos]) >= 0x80) {
        return false;
    }
    if (!is_letter(in_[pos]) && in_[pos] != '_' && in_[pos] != ':') {
        out.push_back('&');
        pos_ = pos;
        return true;
    }
    const std::size_t name_start = pos;
    while (pos < in_.size() && is_entity_name_char(in_[pos])) {
        ++pos;
    }
    if (pos < in_.size() && static_cast<unsigned char>(in_[pos]) >= 0x80) {
        return false;
    }
    const std::string_view name = in_.substr(name_start, pos - name_start);
    if (name.size() >= max_name_length) {
        return false;
    }
    if (pos < in_.size() && in_[pos] == ';') {
        char buffer[max_name_length + 1];
        std::memcpy(buffer, name.data(), name.size());
        buffer[name.size()] = '\0';
        const htmlEntityDesc* entity = htmlEntityLookup(reinterpret_cast<const xmlChar*>(buffer));
        if (entity != nullptr && entity->value > 0) {
            core::append_utf8(out, static_cast<char32_t>(entity->value));
            pos_ = pos + 1;
            return true;
        }
    }
    out.push_back('&');
    out.append(name);
    pos_ = pos;
    return true;
}

bool tokenizer::parse_attributes() {
    attribute_count_ = 0;
    while (true) {
        while (pos_ < in_.size() && is_blank(in_[pos_])) {
            ++pos_;
        }
        if (pos_ >= in_.size()) {
            return false;
        }
        const char c = in_[pos_];
        if (c == '>' || (c == '/' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '>')) {
            return true;
        }
        if (!is_html_name_start(c)) {
            return false;  // bogus attribute text: libxml2 skips it its own way
        }
        const std::size_t start = pos_;
        while (pos_ < in_.size() && is_html_name_char(in_[pos_])) {
            ++pos_;
        }
        if (pos_ - start >= max_name_length || (pos_ < in_.size() && in_[pos_] == '.')) {
            return false;
        }
        if (attributes_.size() <= attribute_count_) {
            attributes_.emplace_back();
        }
        attribute& current = attributes_[attribute_count_];
        current.name.assign(in_.substr(start, pos_ - start));
        core::ascii_lower_in_place(current.name);
        current.value.clear();
        while (pos_ < in_.size() && is_blank(in_[pos_])) {
            ++pos_;
        }
        if (pos_ < in_.size() && in_[pos_] == '=') {
            ++pos_;
            while (pos_ < in_.size() && is_blank(in_[pos_])) {
                ++pos_;
            }
            if (pos_ >= in_.size()) {
                return false;
            }
            const char quote = in_[pos_] == '"' || in_[pos_] == '\'' ? in_[pos_] : '\0';
            std::size_t end = 0;
            if (quote != '\0') {
                ++pos_;
                end = in_.find(quote, pos_);
                if (end == std::string_view::npos) {
                    return false;
                }
            } else {
                end = pos_;
                while (end < in_.size() && !is_blank(in_[end]) && in_[end] != '>') {
                    ++end;
                }
            }
            while (pos_ < end) {
                const void* amp = std::memchr(in_.data() + pos_, '&', end - pos_);
                const std::size_t stop =
                    amp == nullptr ? end : static_cast<const char*>(amp) - in_.data();
                current.value.append(in_.substr(pos_, stop - pos_));
                pos_ = stop;
                if (pos_ < end) {
                    const std::string_view saved = in_;
                    in_ = in_.substr(0, end);  // a reference does not run past the value
                    const bool ok = parse_reference(current.value);
                    in_ = saved;
                    if (!ok) {
                        return false;
                    }
                }
            }
            if (quote != '\0') {
                ++pos_;
            }
        }
        // libxml2 keeps the first of repeated attributes.
        bool repeated = false;
        for (std::size_t i = 0; i < attribute_count_; ++i) {
            repeated = repeated || attributes_[i].name == current.name;
        }
        if (!repeated) {
            ++attribute_count_;
        }
    }
}

const attribute* tokenizer::find_attribute(std::string_view name) const {
    for (std::size_t i = 0; i < attribute_count_; ++i) {
        if (attributes_[i].name == name) {
            return &attributes_[i];
        }
    }
    return nullptr;
}

bool tokenizer::matches(const simple_selector::compound& test, std::string_view name) const {
    if (!test.type.empty() && test.type != name) {
        return false;
    }
    if (!test.ids.empty()) {
        const attribute* id = find_attribute("id");
        if (id == nullptr) {
            return false;
        }
        for (const auto& wanted : test.ids) {
            if (id->value != wanted) {
                return false;
            }
        }
    }
    if (!test.classes.empty()) {
        const attribute* classes = find_attribute("class");
        if (classes == nullptr) {
            return false;
        }
        for (const auto& wanted : test.classes) {
            if (!html_detail::has_class_token(classes->value, wanted)) {
                return false;
            }
        }
    }
    for (const auto& wanted : test.attributes) {
        const attribute* found = find_attribute(wanted.name);
        if (found == nullptr || (wanted.value && found->value != *wanted.value)) {
            return false;
        }
    }
    return true;
}

void tokenizer::add_text(std::string_view text) {
    for (auto& c : collectors_) {
        if (c.hidden_level == hidden_) {
            c.text.append(text);
        }
    }
}

void tokenizer::add_block_space() {
    for (auto& c : collectors_) {
        if (c.hidden_level == hidden_) {
            c.text.push_back(' ');
        }
    }
}

bool tokenizer::check_implied(std::string_view name) {
    // libxml2's htmlCheckImplied.
    if (name == "html") {
        return true;
    }
    if (stack_.empty()) {
        if (!open("html", table_.find("html"), true)) {
            return false;
        }
    }
    if (name == "body" || name == "head") {
        return true;
    }
    const bool head_content = name == "script" || name == "style" || name == "meta" ||
                              name == "link" || name == "title" || name == "base";
    if (stack_.size() <= 1 && head_content) {
        if (seen_head_) {
            return true;
        }
        return open("head", table_.find("head"), true);
    }
    if (name == "noframes" || name == "frame" || name == "frameset") {
        return true;
    }
    if (seen_body_) {
        return true;
    }
    for (const auto& element : stack_) {
        if (element.name == "body" || element.name == "head") {
            return true;
        }
    }
    return open("body", table_.find("body"), true);
}

bool tokenizer::open(std::string_view name, const tag_info* info, bool implied) {
    seen_element_ = true;
    const std::size_t tag_attributes = attribute_count_;
    if (implied) {
        attribute_count_ = 0;
    }
    const bool result = push(name, info);
    attribute_count_ = tag_attributes;
    return result;
}

bool tokenizer::push(std::string_view name, const tag_info* info) {
    if (name == "head") {
        seen_head_ = true;
    } else if (name == "body") {
        seen_body_ = true;
    }
    const std::size_t depth = stack_.size();
    std::uint64_t prefix = 0;
    std::uint64_t inherited = 0;
    std::uint64_t parent_prefix = 0;
    if (!stack_.empty()) {
        parent_prefix = stack_.back().prefix;
        inherited = stack_.back().inherited | parent_prefix;
    }
    // The work html_field's matcher could need for this element, per field still wanted.
    for (std::size_t f = 0; f < steps_.size(); ++f) {
        if (done_[f]) {
            continue;
        }
        double term = 1;
        double sum = 1;
        for (unsigned j = 0; j < program_.descendant_combinators[f]; ++j) {
            term *= static_cast<double>(depth);
            sum += term;
        }
        steps_[f] += sum;
        if (steps_[f] > max_steps) {
            return false;
        }
    }
    const auto& compounds = program_.compounds;
    for (std::size_t k = 0; k < compounds.size(); ++k) {
        const auto& ref = compounds[k];
        if (done_[ref.field]) {
            continue;
        }
        if (!ref.first) {
            const std::uint64_t before = std::uint64_t{1} << (k - 1);
            const bool chained = ref.test->child_of_previous ? (parent_prefix & before) != 0
                                                             : (inherited & before) != 0;
            if (!chained) {
                continue;
            }
        }
        if (matches(*ref.test, name)) {
            prefix |= std::uint64_t{1} << k;
        }
    }
    // Text of collectors gets a space at a visible block element's start.
    if (info->block && collecting()) {
        add_block_space();
    }
    if (info->hidden) {
        ++hidden_;
    }
    stack_.push_back(open_element{std::string(name), info, prefix, inherited});
    for (std::size_t k = 0; k < compounds.size(); ++k) {
        const auto& ref = compounds[k];
        if (!ref.last || (prefix & (std::uint64_t{1} << k)) == 0 || done_[ref.field]) {
            continue;
        }
        const std::string& wanted = program_.attributes[ref.field];
        auto& values = values_[ref.field];
        if (!wanted.empty()) {
            if (const attribute* found = find_attribute(wanted)) {
                values.push_back(program_.text[ref.field] ? normalize_space(found->value)
                                                          : found->value);
                done_[ref.field] = first_only_;
            }
            continue;
        }
        const std::string_view element = stack_.back().name;
        if (element == "html" || element == "head") {
            return false;  // their blank text nodes are not modelled
        }
        values.emplace_back();
        collectors_.push_back(collector{ref.field, values.size() - 1, depth, hidden_, {}});
        done_[ref.field] = first_only_;  // the first match's text is the value, whatever it is
    }
    return true;
}

void tokenizer::pop() {
    const std::size_t depth = stack_.size() - 1;
    const tag_info* info = stack_.back().info;
    if (info->hidden) {
        --hidden_;
    }
    stack_.pop_back();
    for (std::size_t i = collectors_.size(); i-- > 0;) {
        collector& c = collectors_[i];
        if (c.depth == depth) {
            values_[c.field][c.slot] = normalize_space(c.text);
            collectors_.erase(collectors_.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    if (info->block && collecting()) {
        add_block_space();
    }
}

bool tokenizer::parse_start_tag() {
    const std::size_t start = pos_ + 1;
    pos_ = start;
    while (pos_ < in_.size() && is_html_name_char(in_[pos_])) {
        ++pos_;
    }
    if (pos_ - start >= max_name_length || (pos_ < in_.size() && in_[pos_] == '.')) {
        return false;
    }
    std::string name(in_.substr(start, pos_ - start));
    if (name.find(':') != std::string::npos) {
        return false;  // libxml2 splits prefixed names ("svg:rect" is "rect"): not modelled
    }
    core::ascii_lower_in_place(name);
    const tag_info* info = table_.find(name);
    if (info == nullptr) {
        return false;
    }
    if (!parse_attributes()) {
        return false;
    }
    const bool self_closing = in_[pos_] == '/';
    pos_ += self_closing ? 2 : 1;
    // A second html, head or body tag: libxml2 drops it (and may move its attributes).
    if ((name == "html" && !stack_.empty()) || (name == "head" && seen_head_) ||
        (name == "body" && seen_body_)) {
        return false;
    }
    while (!stack_.empty() && tag_table::closes(name, stack_.back().name, *stack_.back().info)) {
        pop();
    }
    if (!check_implied(name)) {
        return false;
    }
    if (name == "head" && stack_.size() != 1) {
        return false;
    }
    const bool raw = info->raw;
    const bool empty = info->empty;
    if (!open(name, info)) {
        return false;
    }
    if (self_closing || empty) {
        pop();
        return true;
    }
    if (raw) {
        return parse_raw_text(name);
    }
    return true;
}

bool tokenizer::parse_raw_text(const std::string& name) {
    // htmlParseScript: raw text up to "</" + the element's name in any case. Content that
    // starts with another end tag would be read as one first: declined.
    std::size_t pos = pos_;
    while (true) {
        const std::size_t lt = in_.find("</", pos);
        if (lt == std::string_view::npos) {
            return false;  // unclosed script: libxml2 stops at the end, keep it simple
        }
        const std::string_view candidate = in_.substr(lt + 2, name.size());
        bool same = candidate.size() == name.size();
        for (std::size_t i = 0; same && i < name.size(); ++i) {
            same = ascii_lower(candidate[i]) == name[i];
        }
        if (same) {
            const std::size_t after = lt + 2 + name.size();
            if (after >= in_.size() || (in_[after] != '>' && !is_blank(in_[after]))) {
                return false;
            }
            if (collecting()) {
                add_text(in_.substr(pos_, lt - pos_));
            }
            pos_ = lt;
            return true;
        }
        if (lt == pos_) {
            return false;
        }
        pos = lt + 2;
    }
}

bool tokenizer::parse_end_tag() {
    std::size_t pos = pos_ + 2;
    const std::size_t start = pos;
    if (pos >= in_.size() || !is_html_name_start(in_[pos])) {
        return false;
    }
    while (pos < in_.size() && is_html_name_char(in_[pos])) {
        ++pos;
    }
    if (pos - start >= max_name_length || (pos < in_.size() && in_[pos] == '.')) {
        return false;
    }
    std::string name(in_.substr(start, pos - start));
    core::ascii_lower_in_place(name);
    while (pos < in_.size() && is_blank(in_[pos])) {
        ++pos;
    }
    if (pos >= in_.size() || in_[pos] != '>') {
        return false;
    }
    pos_ = pos + 1;
    // htmlParseEndTag + htmlAutoCloseOnClose: close up to the nearest open element of that
    // name unless an element of higher end priority is open above it; else ignore the tag.
    const tag_info* info = table_.find(name);
    if (info == nullptr) {
        return false;
    }
    const int priority = info->end_priority;
    std::size_t i = stack_.size();
    while (i-- > 0) {
        if (stack_[i].name == name) {
            break;
        }
        if (stack_[i].info->end_priority > priority) {
            return true;
        }
    }
    if (i == static_cast<std::size_t>(-1)) {
        return true;
    }
    while (stack_.size() > i) {
        pop();
    }
    return true;
}

}  // namespace

std::optional<fast_html_selection> fast_html_selection::compile(
    const std::vector<field_rule>& rules) {
    auto compiled = std::make_shared<program>();
    for (const auto& rule : rules) {
        if (rule.css.empty()) {
            return std::nullopt;
        }
        try {
            css_to_xpath(rule.css);  // the selectors simple_selector may see
        } catch (const css_syntax_error&) {
            return std::nullopt;
        }
        auto selector = simple_selector::compile(rule.css);
        if (!selector) {
            return std::nullopt;
        }
        compiled->selectors.push_back(std::move(*selector));
        std::string attribute;
        for (const char c : rule.attribute) {
            attribute.push_back(ascii_lower(c));
        }
        compiled->attributes.push_back(std::move(attribute));
        compiled->text.push_back(rule.text);
    }
    for (std::size_t f = 0; f < compiled->selectors.size(); ++f) {
        const auto& compounds = compiled->selectors[f].compounds();
        unsigned descendants = 0;
        for (std::size_t i = 0; i < compounds.size(); ++i) {
            compiled->compounds.push_back(
                program::compound_ref{&compounds[i], f, i == 0, i + 1 == compounds.size()});
            descendants += i > 0 && !compounds[i].child_of_previous ? 1 : 0;
        }
        compiled->descendant_combinators.push_back(descendants);
    }
    if (compiled->compounds.size() > 64) {
        return std::nullopt;
    }
    tag_table::get();  // built once, before any page
    fast_html_selection selection;
    selection.program_ = std::move(compiled);
    return selection;
}

std::optional<std::vector<std::vector<std::string>>> fast_html_selection::select(
    std::string_view bytes, bool first_only) const {
    std::string storage;
    const std::string_view text = html_detail::clean_html_text(bytes, storage);
    tokenizer run(*program_, first_only);
    if (!run.run(text)) {
        return std::nullopt;
    }
    return run.take_values();
}

std::vector<field_rule> fast_selection_rules(const std::vector<field_rule>& rules) {
    std::vector<field_rule> selected = rules;
    if (needs_reference_base(rules)) {
        field_rule base;
        base.name = "base";
        base.css = "base[href]";
        base.attribute = "href";
        selected.push_back(std::move(base));
    }
    return selected;
}

std::optional<boost::json::object> extract_html_fields_fast(const fast_html_selection& selection,
                                                            std::string_view bytes,
                                                            const std::vector<field_rule>& rules,
                                                            std::uint64_t* values_invalid,
                                                            std::string_view page_url) {
    const bool every_value =
        std::any_of(rules.begin(), rules.end(), [](const field_rule& rule) { return rule.all; });
    auto values = selection.select(bytes, /*first_only=*/!every_value);
    const bool with_base = needs_reference_base(rules);
    if (!values || values->size() != rules.size() + (with_base ? 1 : 0)) {
        return std::nullopt;
    }
    std::optional<std::string> base_href;
    if (with_base) {
        if (!values->back().empty()) {
            base_href = std::move(values->back().front());
        }
        values->pop_back();
    }
    if (!with_base) {
        return convert_html_fields(std::move(*values), rules, values_invalid);
    }
    const reference_base base(page_url, base_href);
    return convert_html_fields(std::move(*values), rules, values_invalid, &base);
}

}  // namespace harvest::pipelines
