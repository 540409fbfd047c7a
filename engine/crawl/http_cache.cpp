#include "engine/crawl/http_cache.hpp"

#include "engine/core/text.hpp"
#include "engine/crawl/journal_format.hpp"
#include "engine/crawl/posix_file.hpp"
#include "engine/net/decode.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace harvest::crawl {
namespace fs = std::filesystem;
using journal_format::crc_of;
using journal_format::get_u32;
using journal_format::put_u32;
using journal_format::put_u64;

namespace {

// "HVCACHE1", then u32 crc of the payload, u64 payload length, the payload.
constexpr std::string_view entry_magic = "HVCACHE1";
constexpr std::size_t header_bytes = 8 + 4 + 8;
constexpr std::string_view entry_suffix = ".entry";
constexpr std::string_view temp_marker = ".tmp";

std::uint64_t get_u64(const unsigned char* p) noexcept {
    return static_cast<std::uint64_t>(get_u32(p)) |
           (static_cast<std::uint64_t>(get_u32(p + 4)) << 32);
}

void put_text(std::string& out, std::string_view text) {
    put_u64(out, text.size());
    out.append(text);
}

void put_headers(std::string& out, const net::header_list& headers) {
    put_u32(out, static_cast<std::uint32_t>(headers.size()));
    for (const auto& [name, value] : headers) {
        put_text(out, name);
        put_text(out, value);
    }
}

// Reads the payload front to back; every read checks the bytes are there.
struct payload_reader {
    const unsigned char* at;
    const unsigned char* end;

    bool u32(std::uint32_t& v) {
        if (end - at < 4) {
            return false;
        }
        v = get_u32(at);
        at += 4;
        return true;
    }
    bool u64(std::uint64_t& v) {
        if (end - at < 8) {
            return false;
        }
        v = get_u64(at);
        at += 8;
        return true;
    }
    bool text(std::string& out) {
        std::uint64_t size = 0;
        if (!u64(size) || static_cast<std::uint64_t>(end - at) < size) {
            return false;
        }
        out.assign(reinterpret_cast<const char*>(at), static_cast<std::size_t>(size));
        at += size;
        return true;
    }
    bool headers(net::header_list& out) {
        std::uint32_t count = 0;
        if (!u32(count)) {
            return false;
        }
        for (std::uint32_t i = 0; i < count; ++i) {
            std::string name;
            std::string value;
            if (!text(name) || !text(value)) {
                return false;
            }
            out.emplace_back(std::move(name), std::move(value));
        }
        return true;
    }
};

std::string hex_key(std::uint64_t key) {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(key));
    return text;
}

std::optional<std::uint64_t> key_of_name(std::string_view name) {
    if (name.size() != 16 + entry_suffix.size() || !name.ends_with(entry_suffix)) {
        return std::nullopt;
    }
    std::uint64_t key = 0;
    for (char c : name.substr(0, 16)) {
        unsigned digit = 0;
        if (c >= '0' && c <= '9') {
            digit = static_cast<unsigned>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            digit = static_cast<unsigned>(c - 'a' + 10);
        } else {
            return std::nullopt;
        }
        key = (key << 4) | digit;
    }
    return key;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        return std::nullopt;
    }
    return data;
}

}  // namespace

namespace detail {

bool keep_header(std::string_view name) noexcept {
    // What described the bytes on the wire (the body is kept decoded), hop-by-hop headers and
    // what belongs to one client.
    static constexpr std::string_view dropped[] = {
        "content-encoding", "content-length", "transfer-encoding", "connection",
        "keep-alive",       "set-cookie",     "trailer",           "upgrade"};
    return std::none_of(std::begin(dropped), std::end(dropped),
                        [name](std::string_view d) { return core::iequals(name, d); });
}

std::vector<std::string> vary_names(std::string_view vary) {
    std::vector<std::string> names;
    while (!vary.empty()) {
        const auto comma = vary.find(',');
        const auto part = core::trim(vary.substr(0, comma), core::http_ows);
        if (!part.empty()) {
            // The body is stored decoded: which coding the server chose does not matter.
            auto name = core::ascii_lowered(part);
            if (name != "accept-encoding") {
                names.push_back(std::move(name));
            }
        }
        if (comma == std::string_view::npos) {
            break;
        }
        vary.remove_prefix(comma + 1);
    }
    return names;
}

}  // namespace detail

std::string encode_entry(const cache_entry& entry) {
    std::string payload;
    payload.reserve(entry.body.size() + 512);
    put_u32(payload, entry.status);
    put_u32(payload, entry.redirects);
    put_u64(payload, static_cast<std::uint64_t>(entry.stored_at_ms));
    put_text(payload, entry.final_url);
    put_headers(payload, entry.headers);
    put_headers(payload, entry.vary);
    put_text(payload, entry.body);

    std::string file;
    file.reserve(header_bytes + payload.size());
    file.append(entry_magic);
    put_u32(file, crc_of(payload.data(), payload.size()));
    put_u64(file, payload.size());
    file.append(payload);
    return file;
}

std::optional<cache_entry> decode_entry(std::string_view file) {
    if (file.size() < header_bytes || !file.starts_with(entry_magic)) {
        return std::nullopt;
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(file.data());
    const std::uint32_t crc = get_u32(bytes + entry_magic.size());
    const std::uint64_t length = get_u64(bytes + entry_magic.size() + 4);
    if (length != file.size() - header_bytes) {
        return std::nullopt;  // cut short, or something appended
    }
    const char* payload = file.data() + header_bytes;
    if (crc_of(payload, static_cast<std::size_t>(length)) != crc) {
        return std::nullopt;
    }
    payload_reader in{bytes + header_bytes, bytes + file.size()};
    cache_entry entry;
    std::uint32_t status = 0;
    std::uint32_t redirects = 0;
    std::uint64_t stored_at = 0;
    if (!in.u32(status) || !in.u32(redirects) || !in.u64(stored_at) || !in.text(entry.final_url) ||
        !in.headers(entry.headers) || !in.headers(entry.vary) || !in.text(entry.body) ||
        in.at != in.end) {
        return std::nullopt;
    }
    entry.status = status;
    entry.redirects = redirects;
    entry.stored_at_ms = static_cast<std::int64_t>(stored_at);
    return entry;
}

net::http_response response_of(const cache_entry& entry) {
    net::http_response response;
    response.status = entry.status;
    response.headers = entry.headers;
    response.body.reserve(entry.body.size() + net::body_padding);  // simdjson parses in place
    response.body = entry.body;
    response.final_url = entry.final_url;
    response.redirects = entry.redirects;
    return response;
}

http_cache::http_cache(std::string dir, std::uint64_t max_size)
    : dir_(std::move(dir)), max_size_(max_size) {
    fs::create_directories(dir_);
    struct found {
        fs::file_time_type time;
        std::uint64_t key;
        std::uint64_t bytes;
    };
    std::vector<found> entries;
    for (const auto& item : fs::recursive_directory_iterator(dir_)) {
        if (!item.is_regular_file()) {
            continue;
        }
        const std::string name = item.path().filename().string();
        if (name.find(temp_marker) != std::string::npos) {
            std::error_code ignored;
            fs::remove(item.path(), ignored);  // a write a killed run did not finish
            continue;
        }
        if (const auto key = key_of_name(name)) {
            entries.push_back(found{item.last_write_time(), *key, item.file_size()});
        }
    }
    std::sort(entries.begin(), entries.end(),
              [](const found& a, const found& b) { return a.time < b.time; });
    for (const auto& e : entries) {
        const std::uint64_t order = next_order_++;
        index_[e.key] = indexed{e.bytes, order};
        by_age_[order] = e.key;
        total_bytes_ += e.bytes;
    }
}

std::string http_cache::path_of(std::uint64_t key) const {
    const std::string hex = hex_key(key);
    // 256 subfolders: a crawl of millions of pages keeps each folder listable.
    return dir_ + "/" + hex.substr(0, 2) + "/" + hex + std::string(entry_suffix);
}

std::optional<cache_entry> http_cache::load(std::uint64_t key) {
    {
        std::lock_guard lock(mutex_);
        if (!index_.contains(key)) {
            return std::nullopt;
        }
    }
    const std::string path = path_of(key);
    const auto data = read_file(path);
    auto entry = data ? decode_entry(*data) : std::nullopt;
    if (!entry) {
        remove(key);  // damaged: a miss now, stored again after the next fetch
    }
    return entry;
}

bool http_cache::store(std::uint64_t key, const cache_entry& entry) {
    const std::string file = encode_entry(entry);
    if (file.size() > max_size_) {
        return false;
    }
    std::uint64_t temp_number = 0;
    {
        std::lock_guard lock(mutex_);
        temp_number = next_temp_++;
    }
    const std::string path = path_of(key);
    const std::string temp = path + std::string(temp_marker) + "." + std::to_string(::getpid()) +
                             "." + std::to_string(temp_number);
    try {
        fs::create_directories(fs::path(path).parent_path());
        posix::fd_guard fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (fd.get() < 0) {
            return false;
        }
        posix::write_all(fd.get(), file.data(), file.size(), temp);
    } catch (const std::exception&) {
        std::error_code ignored;
        fs::remove(temp, ignored);
        return false;
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        std::error_code ignored;
        fs::remove(temp, ignored);
        return false;
    }
    std::vector<std::uint64_t> victims;
    {
        std::lock_guard lock(mutex_);
        forget_locked(key);
        const std::uint64_t order = next_order_++;
        index_[key] = indexed{file.size(), order};
        by_age_[order] = key;
        total_bytes_ += file.size();
        while (total_bytes_ > max_size_ && !by_age_.empty()) {
            const std::uint64_t oldest = by_age_.begin()->second;
            if (oldest == key) {
                break;  // cannot happen (the entry alone fits), but never evict what was stored
            }
            forget_locked(oldest);
            victims.push_back(oldest);
        }
    }
    for (const std::uint64_t victim : victims) {
        std::error_code ignored;
        fs::remove(path_of(victim), ignored);
    }
    return true;
}

void http_cache::remove(std::uint64_t key) {
    {
        std::lock_guard lock(mutex_);
        if (!index_.contains(key)) {
            return;  // nothing stored: no system call (most pages of a crawl without validators)
        }
        forget_locked(key);
    }
    std::error_code ignored;
    fs::remove(path_of(key), ignored);
}

void http_cache::forget_locked(std::uint64_t key) {
    const auto it = index_.find(key);
    if (it == index_.end()) {
        return;
    }
    total_bytes_ -= it->second.bytes;
    by_age_.erase(it->second.order);
    index_.erase(it);
}

std::uint64_t http_cache::size_bytes() const {
    std::lock_guard lock(mutex_);
    return total_bytes_;
}

std::size_t http_cache::entries() const {
    std::lock_guard lock(mutex_);
    return index_.size();
}

}  // namespace harvest::crawl
