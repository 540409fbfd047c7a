// The docs are executable: every ```yaml block of README.md and docs/*.md is checked as
// `harvest check` checks a file (a service config as `harvest check --serve` does), so an
// example a user copies is one harvest accepts, without errors or warnings.
//
// Placeholders, so that a block is judged on its text alone:
// - a block without a top-level `name:` is a fragment of a crawl config (an `extract:` section,
//   say): a name and one seed are put before it;
// - files it names (urls_file, values_file, api_keys_file, secret_file) are made, with one line,
//   in the folder it is checked in, and ${NAME}s the environment lacks are set to 8080 (the docs
//   use them for ports);
// - `<!-- not a config -->` on the line before the fence opts a block out: only for YAML that
//   is no crawl or service config.

#include "config/loader.hpp"
#include "config/service_config.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct yaml_block {
    fs::path file;
    int line = 0;  // of the opening fence, 1-based
    std::string text;
};

std::vector<yaml_block> yaml_blocks(const fs::path& markdown) {
    std::ifstream in(markdown);
    std::vector<yaml_block> blocks;
    std::string line;
    std::string previous;
    int number = 0;
    yaml_block* open = nullptr;
    while (std::getline(in, line)) {
        ++number;
        const auto start = line.find_first_not_of(' ');
        const std::string trimmed = start == std::string::npos ? "" : line.substr(start);
        if (open != nullptr) {
            if (trimmed == "```") {
                open = nullptr;
            } else {
                open->text += line + "\n";
            }
        } else if (trimmed == "```yaml" || trimmed == "```yml") {
            blocks.push_back({markdown, number, ""});
            open = &blocks.back();
            if (previous.find("<!-- not a config -->") != std::string::npos) {
                blocks.pop_back();
                open = nullptr;
                // Still skip its lines: read on to the closing fence.
                while (std::getline(in, line)) {
                    ++number;
                    if (line.find("```") != std::string::npos) {
                        break;
                    }
                }
            }
        }
        if (!trimmed.empty()) {
            previous = trimmed;
        }
    }
    return blocks;
}

std::vector<fs::path> documents() {
    const fs::path root = HARVEST_SOURCE_DIR;
    std::vector<fs::path> files = {root / "README.md"};
    for (const auto& entry : fs::directory_iterator(root / "docs")) {
        if (entry.path().extension() == ".md") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin() + 1, files.end());
    return files;
}

bool has_top_level_key(const std::string& text, const std::string& key) {
    return std::regex_search(text, std::regex("(^|\n)" + key + ":"));
}

struct docs_scratch {
    docs_scratch() {
        std::string pattern = (fs::temp_directory_path() / "harvest-docs-XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~docs_scratch() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    docs_scratch(const docs_scratch&) = delete;
    docs_scratch& operator=(const docs_scratch&) = delete;
    fs::path path;
};

// The placeholders of the header comment. Returns the text to check.
std::string with_placeholders(const yaml_block& block, const fs::path& dir, bool crawl) {
    static const std::regex file_key(
        R"((urls_file|values_file|api_keys_file|secret_file):\s*["']?([^"'\s,}#]+))");
    for (std::sregex_iterator it(block.text.begin(), block.text.end(), file_key), end; it != end;
         ++it) {
        const fs::path file = dir / (*it)[2].str();
        fs::create_directories(file.parent_path());
        std::ofstream(file) << "placeholder-0001\n";
    }
    static const std::regex variable(R"(\$\{([A-Za-z_][A-Za-z0-9_]*)\})");
    for (std::sregex_iterator it(block.text.begin(), block.text.end(), variable), end; it != end;
         ++it) {
        ::setenv((*it)[1].str().c_str(), "8080", 0);  // 0: what the environment has stays
    }
    if (crawl && !has_top_level_key(block.text, "name")) {
        return "name: docs\nseeds:\n  - url: http://127.0.0.1:8080/\n" + block.text;
    }
    return block.text;
}

}  // namespace

TEST_CASE("every yaml block of the docs passes harvest check", "[unit]") {
    std::size_t checked = 0;
    std::vector<std::string> problems;
    for (const auto& document : documents()) {
        for (const auto& block : yaml_blocks(document)) {
            docs_scratch dir;
            const std::string where = fs::relative(block.file, HARVEST_SOURCE_DIR).string() + ":" +
                                      std::to_string(block.line);
            const bool service = has_top_level_key(block.text, "profiles") ||
                                 has_top_level_key(block.text, "api_keys_file");
            const bool fragment = !service && !has_top_level_key(block.text, "name");
            const std::string text = with_placeholders(block, dir.path, !service);
            // Problems name the block's fence and its line in the block (+3 for a fragment,
            // after the name and seed put before it).
            const std::string source =
                where + " (```yaml block" + (fragment ? ", 3 lines put before it" : "") + ")";
            ++checked;
            if (service) {
                const auto file = dir.path / "service.yaml";
                std::ofstream(file) << text;
                try {
                    (void)harvest::config::load_service_config(file.string());
                } catch (const harvest::config::config_error& e) {
                    problems.push_back(source + ": " + e.what());
                }
                continue;
            }
            const auto report = harvest::config::check_config_text(text, source, dir.path);
            for (const auto& problem : report.problems) {
                problems.push_back(
                    std::string(problem.level == harvest::config::config_problem::severity::error
                                    ? ""
                                    : "warning: ") +
                    problem.where.what());
            }
        }
    }
    std::string all;
    for (const auto& problem : problems) {
        all += problem + "\n";
    }
    INFO(all);
    CHECK(problems.empty());
    CHECK(checked >= 4);  // README, config.md (2), bulk-api.md: the test must see them
}

TEST_CASE("the docs' yaml blocks are found, and the opt-out marker skips one", "[unit]") {
    docs_scratch dir;
    const auto file = dir.path / "doc.md";
    std::ofstream(file) << "# t\n\n```yaml\nname: a\n```\n\n<!-- not a config -->\n```yaml\n"
                           "just: yaml\n```\n\n  ```yaml\n  extract: []\n  ```\n";
    const auto blocks = yaml_blocks(file);
    REQUIRE(blocks.size() == 2);
    CHECK(blocks[0].line == 3);
    CHECK(blocks[0].text == "name: a\n");
    CHECK(blocks[1].line == 12);
    CHECK(blocks[1].text == "  extract: []\n");
}
