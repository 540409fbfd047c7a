#pragma once
// The dedup set: exact 64-bit request fingerprints in one flat, open-addressed table.
//
// A million-URL frontier keeps one fingerprint per URL ever admitted, so bytes per entry are
// what counts. std::unordered_set<uint64_t> costs a heap node plus a bucket pointer per entry
// (about 42 bytes each as measured); this table stores the 8-byte keys themselves in a
// power-of-two array kept at most 3/4 full: 10.7 to 21.3 bytes per fingerprint, 16 on average
// over a growing crawl. Exact, never probabilistic: a Bloom filter's false positive would
// silently drop a URL.
//
// Linear probing over a mixed hash (fingerprints are already hashes, but the mix makes the
// table indifferent to how they were made). 0 marks an empty slot; the fingerprint 0 itself is
// kept in a flag beside the table. Entries are never erased: a crawl's dedup set only grows.
// Not synchronized: the frontier's strand, or one thread replaying a journal, owns it.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

namespace harvest::crawl {

class fingerprint_set {
  public:
    fingerprint_set() = default;

    // True when `fp` was not there before.
    bool insert(std::uint64_t fp) {
        if (fp == 0) {
            const bool added = !has_zero_;
            has_zero_ = true;
            return added;
        }
        if ((stored_ + 1) * 4 > slots_.size() * 3) {
            grow(slots_.empty() ? min_slots : slots_.size() * 2);
        }
        return place(fp);
    }

    bool contains(std::uint64_t fp) const noexcept {
        if (fp == 0) {
            return has_zero_;
        }
        if (slots_.empty()) {
            return false;
        }
        for (std::size_t i = home(fp);; i = (i + 1) & mask()) {
            if (slots_[i] == fp) {
                return true;
            }
            if (slots_[i] == 0) {
                return false;
            }
        }
    }

    // Room for `n` fingerprints without growing.
    void reserve(std::size_t n) {
        std::size_t want = min_slots;
        while (want * 3 < n * 4) {
            want *= 2;
        }
        if (want > slots_.size()) {
            grow(want);
        }
    }

    void merge(const fingerprint_set& other) {
        reserve(size() + other.size());
        for (const std::uint64_t fp : other) {
            insert(fp);
        }
    }

    std::size_t size() const noexcept { return stored_ + (has_zero_ ? 1 : 0); }
    bool empty() const noexcept { return size() == 0; }
    // Bytes the table holds (for bytes-per-URL reports).
    std::size_t memory_bytes() const noexcept { return slots_.capacity() * sizeof(std::uint64_t); }

    void clear() noexcept {
        slots_.clear();
        slots_.shrink_to_fit();
        stored_ = 0;
        has_zero_ = false;
    }

    // Iteration in table order (not insertion order).
    class const_iterator {
      public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::uint64_t;
        using difference_type = std::ptrdiff_t;
        using pointer = const std::uint64_t*;
        using reference = std::uint64_t;

        const_iterator() = default;
        std::uint64_t operator*() const noexcept {
            return at_ == set_->slots_.size() ? 0 : set_->slots_[at_];
        }
        const_iterator& operator++() noexcept {
            if (at_ == set_->slots_.size()) {
                zero_done_ = true;  // the zero flag is visited last
            } else {
                ++at_;
                skip_empty();
            }
            return *this;
        }
        const_iterator operator++(int) noexcept {
            auto before = *this;
            ++*this;
            return before;
        }
        bool operator==(const const_iterator& o) const noexcept {
            return at_ == o.at_ && zero_done_ == o.zero_done_;
        }

      private:
        friend class fingerprint_set;
        const_iterator(const fingerprint_set* set, std::size_t at, bool zero_done)
            : set_(set), at_(at), zero_done_(zero_done) {
            skip_empty();
        }
        void skip_empty() noexcept {
            while (at_ < set_->slots_.size() && set_->slots_[at_] == 0) {
                ++at_;
            }
            if (at_ == set_->slots_.size() && !set_->has_zero_) {
                zero_done_ = true;
            }
        }
        const fingerprint_set* set_ = nullptr;
        std::size_t at_ = 0;
        bool zero_done_ = false;
    };

    const_iterator begin() const noexcept { return const_iterator(this, 0, false); }
    const_iterator end() const noexcept { return const_iterator(this, slots_.size(), true); }

    friend bool operator==(const fingerprint_set& a, const fingerprint_set& b) noexcept {
        if (a.size() != b.size()) {
            return false;
        }
        for (const std::uint64_t fp : a) {
            if (!b.contains(fp)) {
                return false;
            }
        }
        return true;
    }

  private:
    static constexpr std::size_t min_slots = 16;

    std::size_t mask() const noexcept { return slots_.size() - 1; }
    std::size_t home(std::uint64_t fp) const noexcept {
        // The finalizer of MurmurHash3: every input bit moves every output bit.
        fp ^= fp >> 33;
        fp *= 0xff51afd7ed558ccdULL;
        fp ^= fp >> 33;
        fp *= 0xc4ceb9fe1a85ec53ULL;
        fp ^= fp >> 33;
        return static_cast<std::size_t>(fp) & mask();
    }

    bool place(std::uint64_t fp) noexcept {
        for (std::size_t i = home(fp);; i = (i + 1) & mask()) {
            if (slots_[i] == fp) {
                return false;
            }
            if (slots_[i] == 0) {
                slots_[i] = fp;
                ++stored_;
                return true;
            }
        }
    }

    void grow(std::size_t new_slots) {
        std::vector<std::uint64_t> old;
        old.swap(slots_);
        slots_.assign(new_slots, 0);
        stored_ = 0;
        for (const std::uint64_t fp : old) {
            if (fp != 0) {
                place(fp);
            }
        }
    }

    std::vector<std::uint64_t> slots_;  // power-of-two size, 0 = empty
    std::size_t stored_ = 0;            // non-zero fingerprints in slots_
    bool has_zero_ = false;
};

}  // namespace harvest::crawl
