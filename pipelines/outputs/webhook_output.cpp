#include "pipelines/outputs/webhook_output.hpp"

#include "engine/net/resilient_sender.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <exception>
#include <random>
#include <stdexcept>
#include <utility>

namespace harvest::pipelines {

namespace asio = boost::asio;

// ---------------------------------------------------------------------------------------------
// webhook_batcher, settled_prefix: the pure parts.

namespace {
constexpr std::string_view body_head = "{\"items\":[";
constexpr std::string_view body_tail = "]}";
}  // namespace

webhook_batcher::webhook_batcher(std::size_t batch_size, std::string key_prefix)
    : batch_size_(batch_size == 0 ? 1 : batch_size), key_prefix_(std::move(key_prefix)) {}

std::optional<webhook_batch> webhook_batcher::add(const item& value) {
    // Serialized apart first: a throw (allocation) leaves the batch's JSON whole.
    scratch_.clear();
    append_json(scratch_, value);
    if (current_items_ == 0) {
        body_.assign(body_head);
    } else {
        body_ += ',';
    }
    body_ += scratch_;
    ++current_items_;
    ++next_item_;
    if (current_items_ >= batch_size_) {
        return seal();
    }
    return std::nullopt;
}

std::optional<webhook_batch> webhook_batcher::take() {
    if (current_items_ == 0) {
        return std::nullopt;
    }
    return seal();
}

webhook_batch webhook_batcher::seal() {
    webhook_batch batch;
    batch.idempotency_key = key_prefix_ + "-" + std::to_string(next_batch_++);
    batch.items = current_items_;
    batch.first_item = next_item_ - current_items_;
    body_ += body_tail;
    batch.body = std::move(body_);
    body_.clear();
    current_items_ = 0;
    return batch;
}

void settled_prefix::settle(std::uint64_t first_item, std::uint64_t count) {
    if (count == 0) {
        return;
    }
    ahead_.emplace(first_item, first_item + count);
    for (auto it = ahead_.begin(); it != ahead_.end() && it->first <= prefix_;
         it = ahead_.erase(it)) {
        prefix_ = std::max(prefix_, it->second);
    }
}

// ---------------------------------------------------------------------------------------------
// The delivery machinery. Everything in webhook_state is touched on the writer's strand only
// (the delivery and ticker coroutines are spawned on it), apart from the atomic counters.

namespace detail {

struct webhook_state {
    webhook_state(output_spec from, std::string output_name)
        : spec(std::move(from)),
          name(std::move(output_name)),
          batcher(spec.batch, run_id()),
          key_header(spec.delivery.retry.idempotency_header) {}

    static std::string run_id() {
        // Random per run: a resumed or repeated run never reuses a key the receiver has seen.
        std::random_device device;
        const std::uint64_t value = (std::uint64_t{device()} << 32) ^ device();
        static constexpr char digits[] = "0123456789abcdef";
        std::string text(16, '0');
        for (std::size_t i = 0; i < 16; ++i) {
            text[i] = digits[(value >> (60 - 4 * i)) & 0xF];
        }
        return text;
    }

    // Wakes every coroutine waiting for a change (a batch settled, the ticker ended). The timer
    // never expires: cancel() is the signal. Its expiry is set once, at creation, because
    // re-arming it would cancel the other waiters.
    void signal() {
        if (changed) {
            changed->cancel();
        }
    }

    output_spec spec;
    std::string name;
    webhook_batcher batcher;
    std::string key_header;
    settled_prefix settled;
    std::function<void(undelivered_batch)> on_undelivered;
    std::function<void(std::uint64_t)> on_delivered;
    std::optional<net::http_client> client;
    std::optional<net::resilient_sender> sender;
    std::optional<asio::steady_timer> changed;
    std::optional<asio::steady_timer> ticker;
    std::chrono::steady_clock::time_point batch_started{};
    std::size_t in_flight = 0;
    bool ticker_running = false;
    bool closing = false;
    webhook_counters counters;
};

}  // namespace detail

namespace {

using detail::webhook_state;

asio::awaitable<void> wait_for_change(webhook_state& self) {
    (void)co_await self.changed->async_wait(asio::as_tuple(asio::use_awaitable));
}

undelivered_batch make_undelivered(const webhook_state& self, const webhook_batch& batch,
                                   const net::send_result& result) {
    undelivered_batch lost;
    lost.output = self.name;
    lost.url = self.spec.url;
    lost.error = result.failure;
    lost.attempts = result.attempts;
    lost.status = result.status;
    if (result.error) {
        lost.last_error = net::failure_kind_of(*result.error);
    }
    lost.idempotency_key = batch.idempotency_key;
    // The body is ours and valid JSON; parsing it back costs only on this rare path.
    boost::system::error_code ec;
    auto parsed = boost::json::parse(batch.body, ec);
    if (!ec && parsed.is_object()) {
        if (auto* items = parsed.as_object().if_contains("items"); items && items->is_array()) {
            lost.items = std::move(items->as_array());
        }
    }
    return lost;
}

// One batch, from its first attempt to delivered or given up. Never throws: whatever happens,
// the batch is settled and its slot freed, or close_async would wait forever.
asio::awaitable<void> deliver(std::shared_ptr<webhook_state> self, webhook_batch batch) {
    net::send_result result;
    try {
        net::http_request request;
        request.method = "POST";
        request.url = self->spec.url;
        request.headers = {{"Content-Type", "application/json"},
                           {self->key_header, batch.idempotency_key}};
        request.body = batch.body;  // kept: a given-up batch's items go to the error stream
        result = co_await self->sender->send(std::move(request));
    } catch (const std::exception&) {
        result.failure = core::failure_kind::internal;
    }
    self->counters.attempts.fetch_add(result.attempts, std::memory_order_relaxed);
    if (result.delivered()) {
        self->counters.batches_delivered.fetch_add(1, std::memory_order_relaxed);
        self->counters.items_delivered.fetch_add(batch.items, std::memory_order_relaxed);
        if (self->on_delivered) {
            self->on_delivered(batch.items);
        }
    } else {
        self->counters.batches_given_up.fetch_add(1, std::memory_order_relaxed);
        self->counters.items_given_up.fetch_add(batch.items, std::memory_order_relaxed);
        if (self->on_undelivered) {
            try {
                self->on_undelivered(make_undelivered(*self, batch, result));
            } catch (const std::exception&) {
                // The handler counts its own failures; the batch is settled either way.
            }
        }
    }
    self->settled.settle(batch.first_item, batch.items);
    --self->in_flight;
    self->signal();
}

// Waits for a delivery slot, then starts delivering `batch` (without waiting for it).
asio::awaitable<void> submit(std::shared_ptr<webhook_state> self, webhook_batch batch) {
    while (self->in_flight >= std::max<std::size_t>(1, self->spec.in_flight)) {
        co_await wait_for_change(*self);
    }
    ++self->in_flight;
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, deliver(self, std::move(batch)), [](std::exception_ptr) {
        // deliver() catches everything; nothing to report here.
    });
}

// Sends a partial batch once it is batch_wait old, so a slow crawl's items do not wait for a
// full batch. Ends when the output closes.
asio::awaitable<void> tick(std::shared_ptr<webhook_state> self) {
    // Looks twice per batch_wait, but never more often than every min_tick.
    constexpr auto min_tick = std::chrono::milliseconds(10);
    const auto period = std::max<std::chrono::milliseconds>(min_tick, self->spec.batch_wait / 2);
    while (!self->closing) {
        self->ticker->expires_after(period);
        (void)co_await self->ticker->async_wait(asio::as_tuple(asio::use_awaitable));
        if (self->closing) {
            break;
        }
        if (!self->batcher.empty() &&
            std::chrono::steady_clock::now() - self->batch_started >= self->spec.batch_wait) {
            if (auto partial = self->batcher.take()) {
                co_await submit(self, std::move(*partial));
            }
        }
    }
}

}  // namespace

webhook_output::webhook_output(output_spec spec)
    : name_(output_id(spec)), state_(std::make_shared<webhook_state>(std::move(spec), name_)) {
    if (state_->spec.url.empty()) {
        throw std::invalid_argument("webhook output without a url");
    }
}

webhook_output::~webhook_output() {
    // Normally close_async ended the ticker already. If not (a sink destroyed without close),
    // wake it so it ends; deliveries still running keep the state alive themselves.
    state_->closing = true;
    if (state_->ticker) {
        state_->ticker->cancel();
    }
}

asio::awaitable<void> webhook_output::write_async(const item& value) {
    webhook_state& self = *state_;
    if (self.closing) {
        throw std::logic_error("webhook_output::write_async after close_async");
    }
    if (!self.sender) {
        // Started on the first item, on the writer's strand: every coroutine of this output
        // then runs there.
        auto executor = co_await asio::this_coro::executor;
        self.on_undelivered = on_undelivered_;
        self.on_delivered = on_delivered_;
        net::client_options client;
        client.user_agent = "harvest/" HARVEST_VERSION;
        self.client.emplace(executor, client);
        self.sender.emplace(*self.client, self.spec.delivery);
        self.changed.emplace(executor, asio::steady_timer::time_point::max());
        self.ticker.emplace(executor);
        self.ticker_running = true;
        // The completion runs on the strand too; however tick() ended, close_async stops
        // waiting for it.
        asio::co_spawn(executor, tick(state_), [keep = state_](std::exception_ptr) {
            keep->ticker_running = false;
            keep->signal();
        });
    }
    if (self.batcher.empty()) {
        self.batch_started = std::chrono::steady_clock::now();
    }
    auto full = self.batcher.add(value);  // reads `value`; nothing after this does
    if (full) {
        co_await submit(state_, std::move(*full));
    }
}

asio::awaitable<void> webhook_output::close_async() {
    webhook_state& self = *state_;
    if (self.closing) {
        co_return;
    }
    self.closing = true;
    if (!self.sender) {
        co_return;  // nothing was ever written
    }
    self.ticker->cancel();
    if (auto partial = self.batcher.take()) {
        co_await submit(state_, std::move(*partial));
    }
    while (self.in_flight > 0 || self.ticker_running) {
        co_await wait_for_change(self);
    }
    self.client->close_idle();
}

std::uint64_t webhook_output::settled_items() const noexcept {
    return state_->settled.value();
}

const webhook_counters& webhook_output::counters() const noexcept {
    return state_->counters;
}

}  // namespace harvest::pipelines
