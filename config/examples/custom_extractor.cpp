// A crawl with an extractor of your own, using Harvest as a library (no fork, no engine
// change): the config's rules and outputs, plus `word_count` items for every JSON product.
//
//   custom_extractor_example crawl.yaml
//
// Build: the `custom_extractor_example` target (config/CMakeLists.txt).

#include "config/crawl_config.hpp"
#include "config/loader.hpp"
#include "config/seed_specs.hpp"
#include "engine/crawl/crawler.hpp"
#include "pipelines/extract/extractor.hpp"
#include "pipelines/pipeline_sink.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <exception>

namespace {

using namespace harvest;

// Counts the words of a product's title. Runs on the fetching threads: no shared state.
class title_words final : public pipelines::extractor {
  public:
    result extract(const crawl::fetched_page& page,
                   std::vector<pipelines::item>& out) const override {
        boost::system::error_code ec;
        const auto doc = boost::json::parse(page.response.body, ec);
        if (ec || !doc.is_object() || !doc.as_object().contains("title") ||
            !doc.as_object().at("title").is_string()) {
            return {0, 1};
        }
        const auto& title = doc.as_object().at("title").as_string();
        std::int64_t words = 0;
        bool in_word = false;
        for (const char c : title) {
            const bool space = c == ' ' || c == '\t' || c == '\n';
            words += (!space && !in_word) ? 1 : 0;
            in_word = !space;
        }
        pipelines::item item = pipelines::make_item_header(page);
        item["kind"] = "title_words";
        item["words"] = words;
        out.push_back(std::move(item));
        return {1, 0};
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
        return 2;
    }
    try {
        const config::crawl_config config = config::load_config(argv[1]);
        boost::asio::io_context io;
        auto sink = std::make_shared<pipelines::pipeline_sink>(io.get_executor(), config.extract,
                                                               config.follow, config.outputs);
        sink->add_extractor(std::make_shared<title_words>());
        sink->open();
        crawl::crawler crawler(io, config.crawl, sink,
                               crawl::seed_stream(config::to_seed_specs(config.seeds)));
        std::exception_ptr failure;
        boost::asio::co_spawn(io, crawler.run(), [&](std::exception_ptr e) { failure = e; });
        io.run();
        if (failure) {
            std::rethrow_exception(failure);
        }
        std::printf("%llu items\n",
                    static_cast<unsigned long long>(sink->stats().items_emitted.load()));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
