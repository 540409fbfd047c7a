// Reading YAML into the owned config tree, `--set` overrides and ${ENV} substitution.

#include "config/config_tree.hpp"

#include "config/crawl_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace harvest::config::detail {

namespace {

// Deeper than any sensible config; stops alias bombs and runaway nesting.
constexpr int max_depth = 64;

origin origin_of(const YAML::Mark& mark) {
    origin where;
    if (!mark.is_null()) {
        where.line = mark.line + 1;
        where.column = mark.column + 1;
    }
    return where;
}

node convert(const YAML::Node& yaml, const std::string& source_name, int depth,
             const std::shared_ptr<const std::string>& set_override) {
    node result;
    result.where = origin_of(yaml.Mark());
    result.where.set_override = set_override;
    if (depth > max_depth) {
        fail(source_name, result.where,
             "nesting deeper than " + std::to_string(max_depth) + " levels; flatten the config");
    }
    switch (yaml.Type()) {
        case YAML::NodeType::Undefined:
        case YAML::NodeType::Null:
            result.type = node::kind::null;
            break;
        case YAML::NodeType::Scalar:
            result.type = node::kind::scalar;
            result.scalar = yaml.Scalar();
            break;
        case YAML::NodeType::Sequence:
            result.type = node::kind::sequence;
            for (const auto& item : yaml) {
                result.items.push_back(convert(item, source_name, depth + 1, set_override));
            }
            break;
        case YAML::NodeType::Map:
            result.type = node::kind::map;
            for (const auto& pair : yaml) {
                map_entry entry;
                entry.key_where = origin_of(pair.first.Mark());
                entry.key_where.set_override = set_override;
                if (!pair.first.IsScalar()) {
                    fail(source_name, entry.key_where,
                         "a key must be a plain name, not a list or a map");
                }
                entry.key = pair.first.Scalar();
                entry.value = convert(pair.second, source_name, depth + 1, set_override);
                result.entries.push_back(std::move(entry));
            }
            break;
    }
    return result;
}

// Joins message parts in one allocation (messages are built inside loops, right before a throw).
std::string cat(std::initializer_list<std::string_view> parts) {
    std::string result;
    for (const auto part : parts) {
        result += part;
    }
    return result;
}

bool is_index(std::string_view segment) {
    return !segment.empty() && segment.size() <= 6 &&
           std::all_of(segment.begin(), segment.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> segments;
    std::size_t start = 0;
    while (true) {
        const auto dot = path.find('.', start);
        segments.emplace_back(
            path.substr(start, dot == std::string_view::npos ? dot : dot - start));
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    return segments;
}

std::string join(const std::vector<std::string>& segments, std::size_t from, std::size_t to) {
    std::string result;
    for (std::size_t i = from; i < to; ++i) {
        if (i > from) {
            result += '.';
        }
        result += segments[i];
    }
    return result;
}

// The keys a `hosts:` entry may hold; a host name in an override path runs up to one of them.
bool is_host_section_key(std::string_view key) {
    return key == "per_host_concurrency" || key == "http" || key == "rate_limit" ||
           key == "retry" || key == "circuit_breaker";
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string expand(const std::string& text, const std::string& source_name, const origin& where) {
    std::string result;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text.compare(i, 3, "$${") == 0) {
            result += "${";
            i += 3;
            continue;
        }
        if (text.compare(i, 2, "${") != 0) {
            result += text[i];
            ++i;
            continue;
        }
        const auto close = text.find('}', i + 2);
        if (close == std::string::npos) {
            fail(source_name, where,
                 "unterminated '${' in \"" + text + "\"; write ${NAME} or ${NAME:-default}");
        }
        const std::string inner = text.substr(i + 2, close - i - 2);
        const auto default_at = inner.find(":-");
        const std::string name = inner.substr(0, default_at);
        const bool valid_name = !name.empty() && !(name[0] >= '0' && name[0] <= '9') &&
                                std::all_of(name.begin(), name.end(), is_name_char);
        if (!valid_name) {
            fail(source_name, where,
                 "'${" + inner + "}' is not a valid variable reference; write ${NAME} or " +
                     "${NAME:-default} with NAME made of letters, digits and '_'");
        }
        // Config loading runs once, before any thread starts: getenv's races cannot happen.
        const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
        if (default_at != std::string::npos) {
            // Like the shell: the default applies when the variable is unset or empty.
            result += (value != nullptr && *value != '\0') ? std::string(value)
                                                           : inner.substr(default_at + 2);
        } else if (value != nullptr) {
            result += value;
        } else {
            fail(source_name, where,
                 cat({"environment variable '", name, "' is not set; set it or write ${", name,
                      ":-default}"}));
        }
        i = close + 1;
    }
    return result;
}

void substitute(node& n, const std::string& source_name) {
    switch (n.type) {
        case node::kind::null:
            break;
        case node::kind::scalar:
            if (n.scalar.find("${") != std::string::npos) {
                n.scalar = expand(n.scalar, source_name, n.where);
            }
            break;
        case node::kind::sequence:
            for (auto& item : n.items) {
                substitute(item, source_name);
            }
            break;
        case node::kind::map:
            for (auto& entry : n.entries) {
                substitute(entry.value, source_name);
            }
            break;
    }
}

}  // namespace

void fail(const std::string& source_name, const origin& where, const std::string& message) {
    if (where.set_override) {
        throw config_error("--set " + *where.set_override, message);
    }
    throw config_error(source_name, where.line, where.column, message);
}

node parse_yaml(std::string_view text, const std::string& source_name) {
    YAML::Node document;
    try {
        document = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        origin where = origin_of(e.mark);
        fail(source_name, where, "invalid YAML: " + e.msg);
    }
    return convert(document, source_name, 0, nullptr);
}

void apply_override(node& root, const std::string& override_text, const std::string& source_name) {
    auto text = std::make_shared<const std::string>(override_text);
    origin here;
    here.set_override = text;
    const auto equals = override_text.find('=');
    if (equals == std::string::npos || equals == 0) {
        fail(source_name, here, "expected dotted.path=value, like engine.concurrency=64");
    }
    const std::string path = override_text.substr(0, equals);
    const std::string value_text = override_text.substr(equals + 1);
    const auto segments = split_path(path);
    for (const auto& segment : segments) {
        if (segment.empty()) {
            fail(source_name, here,
                 "the path '" + path +
                     "' has an empty part; write names and list indices "
                     "separated by single dots, like outputs.0.path");
        }
    }

    node value;
    value.where = here;
    if (value_text.empty() || value_text == "~" || value_text == "null") {
        value.type = node::kind::null;
    } else if (value_text.front() == '[' || value_text.front() == '{') {
        YAML::Node yaml;
        try {
            yaml = YAML::Load(value_text);
        } catch (const YAML::Exception& e) {
            fail(source_name, here, "invalid YAML in the value: " + e.msg);
        }
        value = convert(yaml, source_name, 1, text);
    } else {
        value.type = node::kind::scalar;
        value.scalar = value_text;
    }

    node* current = &root;
    std::string walked;  // the path so far, for messages and the `hosts` rule
    std::size_t i = 0;
    while (i < segments.size()) {
        const std::string& segment = segments[i];
        if (current->type == node::kind::null) {
            // A missing section springs into being, shaped by what the path asks of it.
            current->type = is_index(segment) ? node::kind::sequence : node::kind::map;
            current->where = here;
        }
        if (current->type == node::kind::scalar) {
            fail(source_name, here,
                 cat({"'", walked, "' is a single value, not a section; it has no '", segment,
                      "' to set"}));
        }
        std::size_t consumed = 1;
        if (current->type == node::kind::sequence) {
            if (!is_index(segment)) {
                fail(source_name, here,
                     cat({"'", walked, "' is a list; expected an index (0, 1, ...) after it, got '",
                          segment, "'"}));
            }
            const auto index = static_cast<std::size_t>(std::stoul(segment));
            if (index > current->items.size()) {
                fail(source_name, here,
                     cat({"'", walked, "' has ", std::to_string(current->items.size()),
                          " entries; index ", segment, " is out of range (use 0..",
                          std::to_string(current->items.size()), ", the last to append)"}));
            }
            if (index == current->items.size()) {
                node appended;
                appended.where = here;
                current->items.push_back(std::move(appended));
            }
            current = &current->items[index];
        } else {
            // Longest match first: existing keys may contain dots (host names under `hosts`).
            map_entry* found = nullptr;
            for (std::size_t end = segments.size(); end > i && found == nullptr; --end) {
                const std::string candidate = join(segments, i, end);
                for (auto& entry : current->entries) {
                    if (entry.key == candidate) {
                        found = &entry;
                        consumed = end - i;
                    }
                }
            }
            if (found == nullptr) {
                std::string key = segment;
                if (walked == "hosts") {
                    // A new host name runs up to the first host section key (or to the end).
                    std::size_t end = i + 1;
                    while (end < segments.size() && !is_host_section_key(segments[end])) {
                        ++end;
                    }
                    key = join(segments, i, end);
                    consumed = end - i;
                }
                map_entry entry;
                entry.key = key;
                entry.key_where = here;
                entry.value.where = here;
                current->entries.push_back(std::move(entry));
                found = &current->entries.back();
            }
            current = &found->value;
        }
        walked = join(segments, 0, i + consumed);
        i += consumed;
    }
    *current = std::move(value);
}

void substitute_environment(node& root, const std::string& source_name) {
    substitute(root, source_name);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    const std::size_t rows = a.size() + 1;
    const std::size_t cols = b.size() + 1;
    std::vector<std::size_t> d(rows * cols);
    for (std::size_t i = 0; i < rows; ++i) {
        d[i * cols] = i;
    }
    for (std::size_t j = 0; j < cols; ++j) {
        d[j] = j;
    }
    for (std::size_t i = 1; i < rows; ++i) {
        for (std::size_t j = 1; j < cols; ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            std::size_t best = std::min({d[(i - 1) * cols + j] + 1, d[i * cols + j - 1] + 1,
                                         d[(i - 1) * cols + j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                best = std::min(best, d[(i - 2) * cols + j - 2] + 1);
            }
            d[i * cols + j] = best;
        }
    }
    return d[rows * cols - 1];
}

}  // namespace harvest::config::detail
