// CSS selectors to XPath 1.0 (see html.hpp for the supported subset).
//
// A complex selector is matched right to left: the last compound becomes the step that
// selects (`//li[...]`), the compounds before it become predicates over the ancestor, parent
// and preceding-sibling axes (see render_complex for why).
//
// On the selecting step positional pseudo-classes go into the FIRST predicate, written with
// position() and last(): XPath positions count the nodes left by the earlier predicates, so
// `*[position() = 1][self::li]` is "first child, and it is an li" (CSS) while
// `li[position() = 1]` would be "first li child" (:first-of-type). In the predicates over other
// axes position() means something else, so positions are counted there
// (count(preceding-sibling::*) + 1).

#include "pipelines/html/html.hpp"

#include "engine/core/text.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace harvest::pipelines {
namespace {

constexpr std::size_t max_nesting = 16;          // :not(:not(...)) depth: bounds recursion
constexpr std::int64_t max_nth = 1'000'000'000;  // bounds an+b arithmetic

struct nth_spec {
    std::int64_t a = 0;
    std::int64_t b = 0;
    bool from_end = false;
};

struct compound {
    std::string tag;                 // a simple XPath name, empty = any element
    std::vector<std::string> plain;  // conditions that do not depend on the position
    std::vector<nth_spec> positional;
    std::vector<compound> negations;  // :not(...)
};

enum class combinator { descendant, child, adjacent, sibling };

enum class axis_mode { child, sibling };

using core::is_ascii_hex;
using core::is_html_space;

bool is_name_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || u >= 0x80;
}

bool is_name_start(char c) {
    return is_name_char(c) && !(c >= '0' && c <= '9') && c != '-';
}

using core::ascii_lower;

// A CSS escape's code point as UTF-8; NUL, surrogates and what is past U+10FFFF read as U+FFFD
// (as CSS Syntax reads an escaped code point).
void append_escaped(std::string& out, std::uint32_t code) {
    if (code == 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
        code = 0xFFFD;
    }
    core::append_utf8(out, code);
}

// libxml2's XPath parser rejects characters XML does not allow (NUL, C0 controls but tab, LF
// and CR, U+FFFE, U+FFFF). The parsed document holds none of them (html_document maps them to
// U+FFFD), so they become U+FFFD here too. `value` is valid UTF-8.
std::string xml_characters(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t pos = 0; pos < value.size(); ++pos) {
        const auto b = static_cast<unsigned char>(value[pos]);
        const bool control = b < 0x20 && b != '\t' && b != '\n' && b != '\r';
        const bool nonchar = b == 0xEF && pos + 2 < value.size() &&
                             static_cast<unsigned char>(value[pos + 1]) == 0xBF &&
                             static_cast<unsigned char>(value[pos + 2]) >= 0xBE;
        if (control || nonchar) {
            out += "\xEF\xBF\xBD";
            pos += nonchar ? 2 : 0;
        } else {
            out.push_back(value[pos]);
        }
    }
    return out;
}

// An XPath 1.0 string literal: no escapes exist, so a value holding both quote kinds is
// assembled with concat().
std::string xpath_literal(std::string_view raw) {
    const std::string safe = xml_characters(raw);
    const std::string_view value = safe;
    if (value.find('\'') == std::string_view::npos) {
        return "'" + std::string(value) + "'";
    }
    if (value.find('"') == std::string_view::npos) {
        return "\"" + std::string(value) + "\"";
    }
    std::string out = "concat(";
    std::size_t start = 0;
    bool first = true;
    while (start < value.size()) {
        const std::size_t quote = value.find('\'', start);
        const std::size_t end = quote == std::string_view::npos ? value.size() : quote;
        if (end > start) {
            out += (first ? "'" : ", '") + std::string(value.substr(start, end - start)) + "'";
            first = false;
        }
        if (quote != std::string_view::npos) {
            out += first ? "\"'\"" : ", \"'\"";
            first = false;
        }
        start = end == value.size() ? end : end + 1;
    }
    // concat() needs two arguments at least.
    return out + ", '')";
}

// Names libxml2 can take as an XPath name test as is. Others are compared with name().
bool is_simple_xpath_name(std::string_view name) {
    if (name.empty() || !((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) {
        return false;
    }
    for (const char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.')) {
            return false;
        }
    }
    return true;
}

std::string attribute_ref(std::string_view name) {
    if (is_simple_xpath_name(name)) {
        return "@" + std::string(name);
    }
    return "@*[name() = " + xpath_literal(name) + "]";
}

class parser {
  public:
    explicit parser(std::string_view css) : css_(css) {}

    std::string run() {
        std::string xpath;
        skip_space();
        while (true) {
            const std::string selector = parse_complex();
            xpath += xpath.empty() ? selector : " | " + selector;
            skip_space();
            if (at_end()) {
                break;
            }
            if (peek() != ',') {
                fail("',' or a combinator");
            }
            ++pos_;
            skip_space();
        }
        return xpath;
    }

  private:
    [[noreturn]] void fail(std::string_view expected) const { fail_at(pos_, expected); }

    [[noreturn]] void fail_at(std::size_t pos, std::string_view expected) const {
        std::string found;
        if (pos >= css_.size()) {
            found = "end of selector";
        } else {
            const auto c = static_cast<unsigned char>(css_[pos]);
            if (c >= 0x20 && c < 0x7F) {
                found = std::string("'") + css_[pos] + "'";
            } else {
                static constexpr char digits[] = "0123456789abcdef";
                found = std::string("byte 0x") + digits[c >> 4] + digits[c & 15];
            }
        }
        throw css_syntax_error("CSS selector \"" + std::string(css_) + "\": expected " +
                                   std::string(expected) + " at offset " + std::to_string(pos) +
                                   ", found " + found,
                               pos);
    }

    bool at_end() const { return pos_ >= css_.size(); }
    char peek(std::size_t ahead = 0) const {
        return pos_ + ahead < css_.size() ? css_[pos_ + ahead] : '\0';
    }

    bool skip_space() {
        const std::size_t start = pos_;
        while (!at_end() && is_html_space(peek())) {
            ++pos_;
        }
        return pos_ > start;
    }

    bool starts_escape() const { return peek() == '\\'; }

    // A CSS escape at pos_ ('\' already seen there).
    void parse_escape(std::string& out) {
        const std::size_t start = pos_;
        ++pos_;  // '\'
        if (at_end() || peek() == '\n' || peek() == '\r' || peek() == '\f') {
            fail_at(start, "an escaped character after '\\'");
        }
        if (is_ascii_hex(peek())) {
            std::uint32_t code = 0;
            for (int i = 0; i < 6 && is_ascii_hex(peek()); ++i, ++pos_) {
                const char c = ascii_lower(peek());
                code = code * 16 + static_cast<std::uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
            }
            if (is_html_space(peek())) {
                ++pos_;  // one whitespace ends a hex escape
            }
            append_escaped(out, code);
            return;
        }
        out.push_back(peek());
        ++pos_;
    }

    // The name characters and escapes from here on, decoded: CSS's ident and name productions
    // once their first character is checked.
    std::string take_name_chars() {
        std::string out;
        while (!at_end()) {
            if (starts_escape()) {
                parse_escape(out);
            } else if (is_name_char(peek())) {
                out.push_back(peek());
                ++pos_;
            } else {
                break;
            }
        }
        return out;
    }

    std::string parse_ident(std::string_view what) {
        const bool leading_dash =
            peek() == '-' && (is_name_start(peek(1)) || peek(1) == '\\' || peek(1) == '-');
        if (!leading_dash && !is_name_start(peek()) && !starts_escape()) {
            fail(what);
        }
        return take_name_chars();
    }

    // An #id may start with a digit in practice (HTML allows any id); take name characters.
    std::string parse_name(std::string_view what) {
        if (!is_name_char(peek()) && !starts_escape()) {
            fail(what);
        }
        return take_name_chars();
    }

    std::string parse_string() {
        const std::size_t start = pos_;
        const char quote = peek();
        ++pos_;
        std::string out;
        while (true) {
            if (at_end()) {
                fail_at(start, std::string("a closing ") + quote + " for the string starting here");
            }
            const char c = peek();
            if (c == quote) {
                ++pos_;
                return out;
            }
            if (c == '\n' || c == '\r' || c == '\f') {
                fail(std::string("a closing ") + quote + " before the line break");
            }
            if (c == '\\') {
                if (peek(1) == '\n') {
                    pos_ += 2;  // an escaped newline continues the string
                    continue;
                }
                parse_escape(out);
                continue;
            }
            out.push_back(c);
            ++pos_;
        }
    }

    std::string parse_complex() {
        if (!at_end() && (peek() == '>' || peek() == '+' || peek() == '~')) {
            fail("a selector (relative selectors are not supported)");
        }
        std::vector<compound> parts;
        std::vector<combinator> links;  // links[i] joins parts[i] and parts[i + 1]
        while (true) {
            parts.push_back(parse_compound(0));
            const bool spaced = skip_space();
            if (at_end() || peek() == ',') {
                return render_complex(parts, links);
            }
            const char c = peek();
            if (c == '>' || c == '+' || c == '~') {
                links.push_back(c == '>'   ? combinator::child
                                : c == '+' ? combinator::adjacent
                                           : combinator::sibling);
                ++pos_;
                skip_space();
                if (at_end() || peek() == ',' || peek() == '>' || peek() == '+' || peek() == '~') {
                    fail("a selector after the combinator");
                }
            } else if (spaced) {
                links.push_back(combinator::descendant);
            } else {
                fail("a combinator, ',' or the end of the selector");
            }
        }
    }

    // Starts a compound: returns false when nothing there can start one.
    static bool starts_compound(char c) {
        return c == '*' || c == '#' || c == '.' || c == '[' || c == ':' || c == '\\' ||
               is_name_start(c) || c == '-';
    }

    compound parse_compound(std::size_t depth) {
        compound part;
        if (at_end() || !starts_compound(peek())) {
            fail("a type selector, '*', '#', '.', '[' or ':'");
        }
        if (peek() == '*') {
            ++pos_;
        } else if (peek() != '#' && peek() != '.' && peek() != '[' && peek() != ':') {
            std::string tag = core::ascii_lowered(parse_ident("an element name"));
            if (is_simple_xpath_name(tag)) {
                part.tag = std::move(tag);
            } else {
                part.plain.push_back("name() = " + xpath_literal(tag));
            }
        }
        if (peek() == '|') {
            fail("no namespace ('|' namespaces are not supported)");
        }
        bool any = true;
        while (any && !at_end()) {
            switch (peek()) {
                case '#': {
                    ++pos_;
                    const std::string id = parse_name("an id after '#'");
                    part.plain.push_back("@id = " + xpath_literal(id));
                    break;
                }
                case '.': {
                    ++pos_;
                    const std::string name = parse_ident("a class name after '.'");
                    part.plain.push_back("contains(concat(' ', normalize-space(@class), ' '), " +
                                         xpath_literal(" " + name + " ") + ")");
                    break;
                }
                case '[':
                    part.plain.push_back(parse_attribute());
                    break;
                case ':':
                    parse_pseudo(part, depth);
                    break;
                default:
                    any = false;
                    break;
            }
        }
        return part;
    }

    std::string parse_attribute() {
        ++pos_;  // '['
        skip_space();
        if (peek() == '|' || peek() == '*') {
            fail("an attribute name (namespaces are not supported)");
        }
        const std::string name = core::ascii_lowered(parse_ident("an attribute name"));
        const std::string attr = attribute_ref(name);
        skip_space();
        if (peek() == ']') {
            ++pos_;
            return attr;
        }
        std::string op;
        if (peek() == '=') {
            op = "=";
            ++pos_;
        } else if ((peek() == '~' || peek() == '^' || peek() == '$' || peek() == '*' ||
                    peek() == '|') &&
                   peek(1) == '=') {
            op = std::string(1, peek()) + "=";
            pos_ += 2;
        } else {
            fail("']' or an operator (=, ~=, ^=, $=, *=, |=)");
        }
        skip_space();
        std::string value;
        if (peek() == '"' || peek() == '\'') {
            value = parse_string();
        } else {
            // Unquoted: CSS wants an identifier, but paths like [href^=/p/] are common in
            // configs, so any run of characters up to whitespace or ']' is taken.
            const std::size_t start = pos_;
            while (!at_end() && !is_html_space(peek()) && peek() != ']' && peek() != '"' &&
                   peek() != '\'') {
                if (starts_escape()) {
                    parse_escape(value);
                } else {
                    value.push_back(peek());
                    ++pos_;
                }
            }
            if (pos_ == start) {
                fail("an attribute value");
            }
        }
        skip_space();
        bool ignore_case = false;
        if (peek() == 'i' || peek() == 'I' || peek() == 's' || peek() == 'S') {
            ignore_case = peek() == 'i' || peek() == 'I';
            ++pos_;
            skip_space();
        }
        if (peek() != ']') {
            fail("']' or a case flag (i, s)");
        }
        ++pos_;
        return attribute_condition(attr, op, value, ignore_case);
    }

    static std::string attribute_condition(const std::string& attr, const std::string& op,
                                           std::string value, bool ignore_case) {
        std::string subject = attr;
        if (ignore_case) {
            // ASCII case folding only, like HTML's case-insensitive attribute matching.
            subject = "translate(" + attr +
                      ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')";
            core::ascii_lower_in_place(value);
        }
        const std::string literal = xpath_literal(value);
        if (op == "=") {
            return attr + " and " + subject + " = " + literal;
        }
        if (op == "|=") {
            return attr + " and (" + subject + " = " + literal + " or starts-with(" + subject +
                   ", " + xpath_literal(value + "-") + "))";
        }
        // Selectors 3: ~=, ^=, $= and *= with an empty value (or ~= with whitespace) match
        // nothing.
        if (value.empty()) {
            return "false()";
        }
        if (op == "~=") {
            for (const char c : value) {
                if (is_html_space(c)) {
                    return "false()";
                }
            }
            return attr + " and contains(concat(' ', normalize-space(" + subject + "), ' '), " +
                   xpath_literal(" " + value + " ") + ")";
        }
        if (op == "^=") {
            return attr + " and starts-with(" + subject + ", " + literal + ")";
        }
        if (op == "$=") {
            return attr + " and substring(" + subject + ", string-length(" + subject +
                   ") - string-length(" + literal + ") + 1) = " + literal;
        }
        return attr + " and contains(" + subject + ", " + literal + ")";  // *=
    }

    void parse_pseudo(compound& part, std::size_t depth) {
        const std::size_t start = pos_;
        ++pos_;  // ':'
        if (peek() == ':') {
            fail_at(start, "a pseudo-class (pseudo-elements like '::before' select no nodes)");
        }
        const std::size_t name_start = pos_;
        const std::string name = core::ascii_lowered(parse_ident("a pseudo-class name after ':'"));
        if (name == "first-child") {
            part.positional.push_back({0, 1, false});
        } else if (name == "last-child") {
            part.positional.push_back({0, 1, true});
        } else if (name == "only-child") {
            part.positional.push_back({0, 1, false});
            part.positional.push_back({0, 1, true});
        } else if (name == "nth-child" || name == "nth-last-child") {
            if (peek() != '(') {
                fail("'(' after :" + name);
            }
            ++pos_;
            nth_spec spec = parse_nth();
            spec.from_end = name == "nth-last-child";
            part.positional.push_back(spec);
        } else if (name == "not") {
            if (peek() != '(') {
                fail("'(' after :not");
            }
            if (depth + 1 > max_nesting) {
                fail("at most 16 nested :not()");
            }
            ++pos_;
            skip_space();
            compound inner = parse_compound(depth + 1);
            skip_space();
            if (peek() != ')') {
                fail("')' closing :not( (it takes one compound selector)");
            }
            ++pos_;
            part.negations.push_back(std::move(inner));
        } else {
            fail_at(name_start,
                    "a supported pseudo-class (first-child, last-child, only-child, "
                    "nth-child(), nth-last-child(), not())");
        }
    }

    std::int64_t parse_integer() {
        const std::size_t start = pos_;
        std::int64_t value = 0;
        while (peek() >= '0' && peek() <= '9') {
            value = value * 10 + (peek() - '0');
            if (value > max_nth) {
                fail_at(start, "a number below 1000000000");
            }
            ++pos_;
        }
        if (pos_ == start) {
            fail("a digit");
        }
        return value;
    }

    // an+b | odd | even, after '(' up to and including ')'.
    nth_spec parse_nth() {
        nth_spec spec;
        skip_space();
        const auto word_is = [&](std::string_view word) {
            if (css_.size() - pos_ < word.size()) {
                return false;
            }
            for (std::size_t i = 0; i < word.size(); ++i) {
                if (ascii_lower(css_[pos_ + i]) != word[i]) {
                    return false;
                }
            }
            return !is_name_char(peek(word.size()));
        };
        if (word_is("odd")) {
            pos_ += 3;
            spec = {2, 1, false};
        } else if (word_is("even")) {
            pos_ += 4;
            spec = {2, 0, false};
        } else {
            std::int64_t sign = 1;
            if (peek() == '+' || peek() == '-') {
                sign = peek() == '-' ? -1 : 1;
                ++pos_;
            }
            std::optional<std::int64_t> number;
            if (peek() >= '0' && peek() <= '9') {
                number = parse_integer();
            }
            if (peek() == 'n' || peek() == 'N') {
                ++pos_;
                spec.a = sign * number.value_or(1);
                skip_space();
                if (peek() == '+' || peek() == '-') {
                    const std::int64_t b_sign = peek() == '-' ? -1 : 1;
                    ++pos_;
                    skip_space();
                    spec.b = b_sign * parse_integer();
                }
            } else if (number) {
                spec.b = sign * *number;
            } else {
                fail("an+b, odd or even");
            }
        }
        skip_space();
        if (peek() != ')') {
            fail("')' closing an+b");
        }
        ++pos_;
        return spec;
    }

    // --- rendering ---------------------------------------------------------------------------

    static std::string nth_condition(const nth_spec& spec, axis_mode mode) {
        // p: the 1-based index among the parent's element children, from the start or the end.
        std::string p;
        if (mode == axis_mode::child) {
            p = spec.from_end ? "(last() - position() + 1)" : "position()";
        } else {
            p = spec.from_end ? "(count(following-sibling::*) + 1)"
                              : "(count(preceding-sibling::*) + 1)";
        }
        const std::int64_t a = spec.a;
        const std::int64_t b = spec.b;
        const std::string bs = std::to_string(b);
        // `[1]` makes libxml2 stop at the first sibling; `not(preceding-sibling::*)` would
        // collect them all (quadratic over long sibling lists).
        if (a == 0 && b == 1 && spec.from_end) {
            return mode == axis_mode::child ? "position() = last()"
                                            : "not(following-sibling::*[1])";
        }
        if (a == 0 && b == 1 && mode == axis_mode::sibling) {
            return "not(preceding-sibling::*[1])";
        }
        if (a == 0) {
            return b >= 1 ? p + " = " + bs : "false()";
        }
        // Some n >= 0 with a*n + b = p.
        const auto difference = [&](bool p_minus_b) {
            if (p_minus_b) {
                return b >= 0 ? "(" + p + " - " + bs + ")"
                              : "(" + p + " + " + std::to_string(-b) + ")";
            }
            return "(" + bs + " - " + p + ")";
        };
        if (a > 0) {
            std::string out;
            if (b > 1) {
                out = p + " >= " + bs + " and ";
            }
            if (a == 1) {
                return b > 1 ? p + " >= " + bs : "true()";
            }
            return out + difference(true) + " mod " + std::to_string(a) + " = 0";
        }
        if (b < 1) {
            return "false()";
        }
        if (a == -1) {
            return p + " <= " + bs;
        }
        return p + " <= " + bs + " and " + difference(false) + " mod " + std::to_string(-a) +
               " = 0";
    }

    static bool has_positional(const compound& part) {
        if (!part.positional.empty()) {
            return true;
        }
        for (const auto& inner : part.negations) {
            if (has_positional(inner)) {
                return true;
            }
        }
        return false;
    }

    static std::string join(const std::vector<std::string>& parts) {
        std::string out;
        for (const auto& part : parts) {
            if (!out.empty()) {
                out += " and ";
            }
            // Parenthesized: `or` inside a part must not bind across the `and`s.
            out += parts.size() == 1 ? part : "(" + part + ")";
        }
        return out;
    }

    // The compound's conditions split into position-dependent ones (must come first on child
    // steps) and the rest. In sibling mode everything is position-independent.
    static void conditions(const compound& part, axis_mode mode, bool include_tag,
                           std::vector<std::string>& positional, std::vector<std::string>& plain) {
        if (include_tag && !part.tag.empty()) {
            plain.push_back("self::" + part.tag);
        }
        for (const auto& condition : part.plain) {
            plain.push_back(condition);
        }
        for (const auto& spec : part.positional) {
            (mode == axis_mode::child ? positional : plain).push_back(nth_condition(spec, mode));
        }
        for (const auto& inner : part.negations) {
            std::vector<std::string> all;
            conditions(inner, mode, true, all, all);
            const std::string negated =
                "not(" + (all.empty() ? std::string("true()") : join(all)) + ")";
            const bool positional_inside = mode == axis_mode::child && has_positional(inner);
            (positional_inside ? positional : plain).push_back(negated);
        }
    }

    // Selectors are matched right to left, as browsers do: the last compound is the step
    // (`//li`) and the compounds before it are predicates over its ancestors and preceding
    // siblings (`//li[ancestor::ul[...]]`). Left to right (`//ul//li`) libxml2 merges the
    // descendants of every `ul` into one set with a duplicate check per node: quadratic, minutes
    // on a 10 MB page.
    static std::string render_complex(const std::vector<compound>& parts,
                                      const std::vector<combinator>& links) {
        std::string chain;  // parts[0..i] as a condition on the node matching parts[i + 1]
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            const compound& part = parts[i];
            std::vector<std::string> plain;
            // On these axes position() is not the index among siblings: positions are counted.
            conditions(part, axis_mode::sibling, false, plain, plain);
            if (!chain.empty()) {
                plain.push_back(chain);
            }
            const std::string test = part.tag.empty() ? "*" : part.tag;
            switch (links[i]) {
                case combinator::descendant:
                    chain = "ancestor::" + test;
                    break;
                case combinator::child:
                    chain = "parent::" + test;
                    break;
                // Not `preceding-sibling::*[1][self::p]`: libxml2 only stops at the first
                // sibling when `[1]` ends its step, so that form is quadratic in the siblings.
                case combinator::adjacent:
                    chain = "preceding-sibling::*[1]/self::" + test;
                    break;
                default:
                    chain = "preceding-sibling::" + test;
                    break;
            }
            if (!plain.empty()) {
                chain += "[" + join(plain) + "]";
                if (links[i] == combinator::descendant || links[i] == combinator::sibling) {
                    // Same meaning in a predicate, but libxml2 stops at the first match
                    // instead of filtering every ancestor / sibling: 15x faster on deep pages.
                    chain += "[1]";
                }
            }
        }
        return render_last(parts.back(), chain);
    }

    // The selected compound: a child step, so position() is the index among the siblings.
    static std::string render_last(const compound& part, const std::string& chain) {
        std::vector<std::string> positional;
        std::vector<std::string> plain;
        conditions(part, axis_mode::child, false, positional, plain);
        std::string step = "//";
        if (positional.empty()) {
            step += part.tag.empty() ? "*" : part.tag;
        } else {
            step += "*[" + join(positional) + "]";
            if (!part.tag.empty()) {
                plain.insert(plain.begin(), "self::" + part.tag);
            }
        }
        if (!chain.empty()) {
            plain.push_back(chain);
        }
        if (!plain.empty()) {
            step += "[" + join(plain) + "]";
        }
        return step;
    }

    std::string_view css_;
    std::size_t pos_ = 0;
};

}  // namespace

std::string css_to_xpath(std::string_view css) {
    for (std::size_t pos = 0; pos < css.size();) {
        const std::size_t length = core::utf8_sequence_length(css, pos);
        if (length == 0) {
            throw css_syntax_error(
                "CSS selector: expected valid UTF-8 at offset " + std::to_string(pos), pos);
        }
        pos += length;
    }
    if (css.find_first_not_of(" \t\n\r\f") == std::string_view::npos) {
        throw css_syntax_error("CSS selector \"" + std::string(css) +
                                   "\": expected a selector at offset " +
                                   std::to_string(css.size()) + ", found end of selector",
                               css.size());
    }
    return parser(css).run();
}

}  // namespace harvest::pipelines
