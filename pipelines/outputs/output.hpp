#pragma once
// Where items go. Every item goes to every output (shared/spec/config.md `outputs`).
//
// Thread-safety: none needed. The pipeline sink calls an output from its one writer coroutine
// only, so an implementation may keep plain buffers. Outputs may block (file I/O); that is the
// writer's thread, and the bounded queue in front of it turns slowness into backpressure.

#include "pipelines/item.hpp"
#include "pipelines/rules.hpp"

#include <memory>
#include <cstdint>
#include <optional>
#include <string_view>

namespace harvest::pipelines {

class output {
public:
    virtual ~output();
    // For logs and metrics, e.g. "jsonl:out/items.jsonl".
    virtual std::string_view name() const = 0;
    // Throws std::system_error on an I/O failure; the item may then be partly written.
    virtual void write(const item& value) = 0;
    // Makes everything written so far durable enough for a reader to see. Throws like write().
    virtual void flush() = 0;
    // Flushes and releases the resource. Idempotent; write() after close() is a bug.
    virtual void close() = 0;
    // For append-only files: their length after the last flush(), which the state journal
    // records so a resumed run can cut the file back to what was committed. nullopt for
    // outputs that deduplicate themselves (SQLite upserts).
    virtual std::optional<std::uint64_t> flushed_size() const { return std::nullopt; }
};

std::string_view to_string(output_type type) noexcept;
// The name an output of this spec reports (output::name()), e.g. "jsonl:out/items.jsonl": the
// key of its committed length in the state journal.
std::string output_id(const output_spec& spec);
// Whether make_output can build this type (webhook is not built yet).
bool output_supported(output_type type) noexcept;

// Opens the output `spec` describes (webhook throws std::invalid_argument "not supported yet").
// Throws std::runtime_error naming the path and the OS reason when it cannot be opened.
std::unique_ptr<output> make_output(const output_spec& spec);

}  // namespace harvest::pipelines
