// Extraction speed of the pure pipelines, one thread, pages already in memory (bench/
// extract_bench.sh runs it beside bench/extract_parsel.py, which does the same on the same pages).
//
//   extract_bench PAGES_DIR [--pages N] [--repeat R] [--mode jsonld|html|both|parse|select] [--dump
//   FILE]
//
// Loads the first N *.html files of PAGES_DIR (sorted by name), then times R passes over all of
// them per mode (process CPU time) and prints the best pass:
//
//   jsonld  jsonld_products: what the `jsonld` extractor with schema Product does per page (the
//           byte scan, simdjson, the schema.org normalization read from its document)
//   html    the product rule set below as extractor_set runs it: the tree-less path
//           (fast_html_selection, compiled before timing), html_document::parse +
//           extract_html_fields for the pages it declines
//   parse   html_document::parse alone (not in `both`): the share of `html` that is the tree
//   select  extract_html_fields alone, on documents parsed before timing (not in `both`)
//
// Output, one line per mode (MB = 10^6 bytes of page bodies):
//   harvest jsonld pages=N bytes=B best_s=S mb_per_s=M items=K
// --dump writes the items of the last pass as JSON Lines ({"mode":..., "page":..., fields}),
// so the two implementations' results can be compared.

#include "pipelines/html/fast_html.hpp"
#include "pipelines/html/html.hpp"
#include "pipelines/structured/jsonld.hpp"
#include "pipelines/structured/product.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace pl = harvest::pipelines;

struct page {
    std::string name;
    std::string bytes;
};

std::vector<page> load_pages(const std::filesystem::path& dir, std::size_t limit) {
    std::vector<std::filesystem::path> paths;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.is_regular_file() && entry.path().extension() == ".html") {
            paths.push_back(entry.path());
        }
    }
    std::sort(paths.begin(), paths.end());
    if (paths.size() > limit) {
        paths.resize(limit);
    }
    std::vector<page> pages;
    pages.reserve(paths.size());
    for (const auto& path : paths) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream content;
        content << in.rdbuf();
        pages.push_back({path.filename().string(), std::move(content).str()});
    }
    return pages;
}

// The product fields of docs/items.md as CSS rules over the catalog's product pages
// (selectors documented in shared/workload/README.md); bench/extract_parsel.py uses the same.
std::vector<pl::field_rule> product_rules() {
    auto rule = [](std::string name, std::string css, std::string attribute, pl::value_kind as) {
        pl::field_rule r;
        r.name = std::move(name);
        r.css = std::move(css);
        r.attribute = std::move(attribute);
        r.text = r.attribute.empty();
        r.as = as;
        return r;
    };
    using vk = pl::value_kind;
    return {rule("id", "main#dp-container", "data-asin", vk::string),
            rule("name", "h1#title", "", vk::string),
            rule("brand", "span.brand", "", vk::string),
            rule("price", "span.price", "", vk::price),
            rule("availability", "#availability", "data-availability", vk::availability),
            rule("rating", "#rating", "data-rating", vk::number),
            rule("review_count", "#review-count", "", vk::string),
            rule("image", "img#landingImage", "src", vk::string)};
}

// CPU time of this process (one thread): on a busy shared machine it varies far less than wall
// time. extract_parsel.py uses time.process_time() likewise.
double cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

struct pass_result {
    double seconds = 0;
    std::size_t items = 0;
};

template <typename Extract>
pass_result best_of(int repeat, const std::vector<page>& pages, Extract&& extract,
                    std::vector<boost::json::object>* dump) {
    pass_result best{1e300, 0};
    for (int r = 0; r < repeat; ++r) {
        std::vector<boost::json::object>* keep = r + 1 == repeat ? dump : nullptr;
        std::size_t items = 0;
        const double start = cpu_seconds();
        for (const auto& p : pages) {
            items += extract(p, keep);
        }
        best.seconds = std::min(best.seconds, cpu_seconds() - start);
        best.items = items;
    }
    return best;
}

void report(const char* mode, const std::vector<page>& pages, std::size_t bytes,
            const pass_result& result) {
    std::printf("harvest %s pages=%zu bytes=%zu best_s=%.4f mb_per_s=%.1f items=%zu\n", mode,
                pages.size(), bytes, result.seconds,
                static_cast<double>(bytes) / 1e6 / result.seconds, result.items);
}

int usage() {
    std::cerr << "usage: extract_bench PAGES_DIR [--pages N] [--repeat R] "
                 "[--mode jsonld|html|both|parse|select] [--dump FILE]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        return usage();
    }
    std::filesystem::path dir = argv[1];
    std::size_t limit = 500;
    int repeat = 3;
    std::string mode = "both";
    std::string dump_path;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) {
            return usage();
        }
        const std::string value = argv[++i];
        if (arg == "--pages") {
            limit = std::stoul(value);
        } else if (arg == "--repeat") {
            repeat = std::max(1, std::stoi(value));
        } else if (arg == "--mode") {
            mode = value;
        } else if (arg == "--dump") {
            dump_path = value;
        } else {
            return usage();
        }
    }
    if (mode != "jsonld" && mode != "html" && mode != "both" && mode != "parse" &&
        mode != "select") {
        return usage();
    }
    const auto pages = load_pages(dir, limit);
    if (pages.empty()) {
        std::cerr << "extract_bench: no *.html in " << dir << "\n";
        return 1;
    }
    std::size_t bytes = 0;
    for (const auto& p : pages) {
        bytes += p.bytes.size();
    }

    std::vector<boost::json::object> jsonld_items;
    std::vector<boost::json::object> html_items;
    std::vector<boost::json::object>* jsonld_dump = dump_path.empty() ? nullptr : &jsonld_items;
    std::vector<boost::json::object>* html_dump = dump_path.empty() ? nullptr : &html_items;

    if (mode == "jsonld" || mode == "both") {
        const auto result = best_of(
            repeat, pages,
            [](const page& p, std::vector<boost::json::object>* keep) {
                auto products = pl::jsonld_products(p.bytes);
                const std::size_t found = products.size();
                if (keep != nullptr) {
                    for (auto& product : products) {
                        product.emplace("page", p.name);
                        keep->push_back(std::move(product));
                    }
                }
                return found;
            },
            jsonld_dump);
        report("jsonld", pages, bytes, result);
    }
    if (mode == "html" || mode == "both") {
        const auto rules = product_rules();
        std::vector<pl::html_field> fields;
        for (const auto& rule : rules) {
            fields.emplace_back(rule);
        }
        // As extractor_set does: the tree-less path, libxml2 when it declines a page.
        const auto fast = pl::fast_html_selection::compile(rules);
        const auto result = best_of(
            repeat, pages,
            [&](const page& p, std::vector<boost::json::object>* keep) -> std::size_t {
                std::optional<boost::json::object> found;
                if (fast) {
                    found = pl::extract_html_fields_fast(*fast, p.bytes, rules);
                }
                if (!found) {
                    const auto document = pl::html_document::parse(p.bytes, "http://127.0.0.1/");
                    found = pl::extract_html_fields(document, fields, rules);
                }
                auto& item = *found;
                if (keep != nullptr) {
                    item.emplace("page", p.name);
                    keep->push_back(std::move(item));
                }
                return 1;
            },
            html_dump);
        report("html", pages, bytes, result);
    }
    if (mode == "parse") {
        // The libxml2 parse alone: how much of `html` is the tree, how much the selection.
        const auto result = best_of(
            repeat, pages,
            [](const page& p, std::vector<boost::json::object>*) -> std::size_t {
                const auto document = pl::html_document::parse(p.bytes, "http://127.0.0.1/");
                return document.get() != nullptr ? 1 : 0;
            },
            nullptr);
        report("parse", pages, bytes, result);
    }
    if (mode == "select") {
        // The html rule set on documents parsed before timing: the selection alone.
        const auto rules = product_rules();
        std::vector<pl::html_field> fields;
        for (const auto& rule : rules) {
            fields.emplace_back(rule);
        }
        std::vector<pl::html_document> documents;
        for (const auto& p : pages) {
            documents.push_back(pl::html_document::parse(p.bytes, "http://127.0.0.1/"));
        }
        std::size_t next = 0;
        const auto result = best_of(
            repeat, pages,
            [&](const page&, std::vector<boost::json::object>*) -> std::size_t {
                const auto item =
                    pl::extract_html_fields(documents[next++ % documents.size()], fields, rules);
                return item.empty() ? 0 : 1;
            },
            nullptr);
        report("select", pages, bytes, result);
    }
    if (!dump_path.empty()) {
        std::ofstream out(dump_path, std::ios::binary);
        for (auto& item : jsonld_items) {
            item.emplace("mode", "jsonld");
            out << boost::json::serialize(item) << '\n';
        }
        for (auto& item : html_items) {
            item.emplace("mode", "html");
            out << boost::json::serialize(item) << '\n';
        }
    }
    return 0;
}
