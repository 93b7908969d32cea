/*
 * ndsr.hpp: a small header-only C++17 wrapper over the libndsr C API (ndsr.h).
 *
 *   ndsr::Registry reg("zk1:2181,zk2:2181", {{"timeout_ms", "5000"}});   // throws ndsr::Error
 *   reg.set_node("/services/web/host1:80", R"({"weight":10})");
 *   std::string doc = reg.get_json("/services/web");
 *   auto sub = reg.on_change("/services/web", [](const std::string& path, const std::string& json) {
 *       std::cout << json << "\n";                    // runs on the handle's callback thread
 *   });                                               // ends when `sub` is destroyed
 *   auto diffs = reg.on_diff("/services/web", [](const std::string& path, const std::string& diff) {
 *       std::cout << diff << "\n";                    // {"added":{…},"removed":{…},"changed":{…},…}
 *   });
 *
 *   ndsr::Snapshot snap = reg.snapshot("/services/web");   // no copy; released at scope end
 *   for (size_t i = 0; i < snap.count(); i++)
 *       std::cout << snap.name(i) << " port " << snap.child_int(i, "port").value_or(0) << "\n";
 *
 *   {
 *       ndsr::Lock lock = reg.lock("/locks/nightly-job", "host1", 1, 10000);   // waits up to 10 s
 *       ...                                                                  // released at scope end
 *   }
 *
 * Errors are ndsr::Error exceptions carrying the status code; every operation also has a
 * non-throwing try_ form returning ndsr::Status. Registry, Subscription and Lock are move-only
 * RAII types (Snapshot too): destroying a Registry closes it (its ephemeral nodes disappear at once), and closing
 * twice is harmless. Exceptions thrown by a callback are caught at the library boundary (they
 * must never unwind into the library) and reported: one line on stderr, or to the handler given
 * to ndsr::set_callback_error_handler.
 */
#ifndef NDSR_HPP
#define NDSR_HPP

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "ndsr.h"

namespace ndsr {

/** An error from libndsr: the status code (NDSR_E_*) and the library's message. */
class Error : public std::runtime_error {
public:
    Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    /** The NDSR_E_* status code. */
    int code() const noexcept { return code_; }

private:
    int code_;
};

/** The outcome of a non-throwing call: code >= 0 is success (NDSR_OK or NDSR_QUEUED). */
struct [[nodiscard]] Status {
    int code = NDSR_OK;
    std::string message;
    bool ok() const noexcept { return code >= 0; }
    explicit operator bool() const noexcept { return ok(); }
};

/** Option key/values for ndsr_options_set ("timeout_ms", "readonly", "lazy"). */
using Settings = std::map<std::string, std::string>;
/** A change callback: the watched path and its JSON document. */
using ChangeFn = std::function<void(const std::string &path, const std::string &json)>;
/** A diff callback: the watched path and what changed, as JSON (see ndsr_on_diff). */
using DiffFn = std::function<void(const std::string &path, const std::string &diff)>;
/** A connection state (the NDSR_STATE_* values). */
enum class State : int {
    Disconnected = NDSR_STATE_DISCONNECTED,
    Connected = NDSR_STATE_CONNECTED,
    ConnectedReadOnly = NDSR_STATE_CONNECTED_READ_ONLY,
    Expired = NDSR_STATE_EXPIRED,
    AuthFailed = NDSR_STATE_AUTH_FAILED,
    Closed = NDSR_STATE_CLOSED,
};

/** "disconnected", "connected", "connected_read_only", "expired", "auth_failed", "closed". */
inline const char *to_string(State s) noexcept {
    switch (s) {
    case State::Disconnected: return "disconnected";
    case State::Connected: return "connected";
    case State::ConnectedReadOnly: return "connected_read_only";
    case State::Expired: return "expired";
    case State::AuthFailed: return "auth_failed";
    case State::Closed: return "closed";
    }
    return "unknown";
}

/** What a state callback is given: a State, and for code written before State, an int (an
 *  NDSR_STATE_* value): a callback may take either. */
struct StateArg {
    int value;
    operator State() const noexcept { return static_cast<State>(value); }
    operator int() const noexcept { return value; }
};
/** A stats callback: the stats as JSON (what stats_json gives). */
using StatsFn = std::function<void(const std::string &json)>;
/** A state callback. */
using StateFn = std::function<void(StateArg state)>;
/** Called with what a callback threw (it never reaches the library, which calls on). */
using CallbackErrorFn = std::function<void(const std::string &what)>;

namespace detail {
inline CallbackErrorFn &callback_error_fn() {
    static CallbackErrorFn fn; /* empty: stderr */
    return fn;
}

/** Reports an exception a callback threw: to the handler set, else one line on stderr. */
inline void report_callback_error() noexcept {
    std::string what = "an exception that is not a std::exception";
    try {
        throw;
    } catch (const std::exception &e) {
        what = e.what();
    } catch (...) {
    }
    try {
        if (callback_error_fn()) {
            callback_error_fn()(what);
            return;
        }
    } catch (...) {
    }
    std::fprintf(stderr, "ndsr: a callback threw: %s (the library carries on)\n", what.c_str());
}

inline Status status(int rc) {
    Status s;
    s.code = rc;
    if (rc < 0) s.message = std::string(ndsr_status_str(rc)) + ": " + ndsr_last_error();
    return s;
}

inline int check(int rc) {
    if (rc < 0) throw Error(rc, std::string(ndsr_status_str(rc)) + ": " + ndsr_last_error());
    return rc;
}

template <typename F> void free_fn(void *userdata) { delete static_cast<F *>(userdata); }

template <typename F = ChangeFn>
void change_trampoline(void *userdata, const char *path, const char *json, size_t len) {
    try {
        (*static_cast<F *>(userdata))(std::string(path), std::string(json, len));
    } catch (...) {
        report_callback_error(); /* never unwind into the library */
    }
}

inline void stats_trampoline(void *userdata, const char *json, size_t len) {
    try {
        (*static_cast<StatsFn *>(userdata))(std::string(json, len));
    } catch (...) {
        report_callback_error();
    }
}

inline void state_trampoline(void *userdata, int state) {
    try {
        (*static_cast<StateFn *>(userdata))(StateArg{state});
    } catch (...) {
        report_callback_error();
    }
}
} // namespace detail

/** Where exceptions thrown by callbacks go (an empty function: one line on stderr, the default).
 *  Set it before the callbacks start; it is called on the callback thread. */
inline void set_callback_error_handler(CallbackErrorFn fn) { detail::callback_error_fn() = std::move(fn); }

/** A callback registration; the callback is not called again once this is destroyed or reset. */
class Subscription {
public:
    Subscription() = default;
    Subscription(ndsr_t *h, uint64_t id) : h_(h), id_(id) {}
    Subscription(const Subscription &) = delete;
    Subscription &operator=(const Subscription &) = delete;
    Subscription(Subscription &&o) noexcept : h_(std::exchange(o.h_, nullptr)), id_(o.id_) {}
    Subscription &operator=(Subscription &&o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, nullptr);
            id_ = o.id_;
        }
        return *this;
    }
    ~Subscription() { reset(); }

    /** Ends the subscription (harmless if the registry is closed already). */
    void reset() noexcept {
        if (h_) ndsr_off(std::exchange(h_, nullptr), id_);
    }
    /** The subscription id (for ndsr_off). */
    uint64_t id() const noexcept { return id_; }
    /** At most one call per `interval_ms`, always the latest state (ndsr_set_debounce). */
    Status debounce(int interval_ms) noexcept {
        return detail::status(ndsr_set_debounce(h_, id_, interval_ms));
    }
    /** Gives up ownership: the subscription lasts until the registry is closed. */
    uint64_t release() noexcept {
        h_ = nullptr;
        return id_;
    }

private:
    ndsr_t *h_ = nullptr;
    uint64_t id_ = 0;
};

/** A held lock (ndsr_lock_t); released and freed by its destructor. Move-only. */
class Lock {
public:
    Lock() = default;
    explicit Lock(ndsr_lock_t *l) : l_(l) {}
    Lock(const Lock &) = delete;
    Lock &operator=(const Lock &) = delete;
    Lock(Lock &&o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    Lock &operator=(Lock &&o) noexcept {
        if (this != &o) {
            reset();
            l_ = std::exchange(o.l_, nullptr);
        }
        return *this;
    }
    ~Lock() { reset(); }

    /** Releases the lock (others may take it at once). Throws Error (NDSR_E_NOT_FOUND if released already). */
    void release() { detail::check(ndsr_lock_release(l_)); }
    /** NDSR_OK while held; NDSR_E_LOCK_LOST once its session ended; NDSR_E_NO_CONNECTION while disconnected. */
    int check() const noexcept { return ndsr_lock_check(l_); }
    /** True only while the lock is known to be held. */
    bool held() const noexcept { return l_ != nullptr && check() == NDSR_OK; }
    /** Releases (if held) and frees the lock now. */
    void reset() noexcept {
        if (l_) ndsr_lock_free(std::exchange(l_, nullptr));
    }

private:
    ndsr_lock_t *l_ = nullptr;
};

/** An immutable view of a watched path's document (ndsr_snapshot_t), without a copy: every
 *  string_view it gives is valid until the Snapshot is destroyed or reset, from any thread.
 *  Children are in name order. Move-only. */
class Snapshot {
public:
    Snapshot() = default;
    explicit Snapshot(ndsr_snapshot_t *s) : s_(s) {}
    Snapshot(const Snapshot &) = delete;
    Snapshot &operator=(const Snapshot &) = delete;
    Snapshot(Snapshot &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Snapshot &operator=(Snapshot &&o) noexcept {
        if (this != &o) {
            reset();
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    ~Snapshot() { reset(); }

    /** Releases the snapshot now (ndsr_snapshot_release); the views it gave become invalid. */
    void reset() noexcept {
        if (s_) ndsr_snapshot_release(std::exchange(s_, nullptr));
    }
    /** Whether it holds a snapshot. */
    explicit operator bool() const noexcept { return s_ != nullptr; }
    /** The whole document as JSON (as get_json gives it). Empty for an empty Snapshot. */
    std::string_view json() const noexcept {
        size_t len = 0;
        const char *p = ndsr_snapshot_json(s_, &len);
        return p ? std::string_view(p, len) : std::string_view();
    }
    /** How many children. */
    size_t count() const noexcept { return ndsr_snapshot_count(s_); }
    /** The name of child `i` (empty when out of range). */
    std::string_view name(size_t i) const noexcept {
        const char *p = ndsr_snapshot_name(s_, i);
        return p ? std::string_view(p) : std::string_view();
    }
    /** The data of child `i` as JSON (empty when out of range). */
    std::string_view child_json(size_t i) const noexcept {
        size_t len = 0;
        const char *p = ndsr_snapshot_child_json(s_, i, &len);
        return p ? std::string_view(p, len) : std::string_view();
    }
    /** The string value of the top-level key `key` of child `i`'s data, if it is a string. */
    std::optional<std::string_view> child_str(size_t i, const char *key) const noexcept {
        const char *p = ndsr_snapshot_child_str(s_, i, key);
        if (!p) return std::nullopt;
        return std::string_view(p);
    }
    /** The integer value of the top-level key `key` of child `i`'s data, if it is an integer. */
    std::optional<int64_t> child_int(size_t i, const char *key) const noexcept {
        int64_t v = 0;
        if (ndsr_snapshot_child_int(s_, i, key, &v) != NDSR_OK) return std::nullopt;
        return v;
    }
    /** The C snapshot, for calls the wrapper does not cover. */
    ndsr_snapshot_t *get() const noexcept { return s_; }

private:
    ndsr_snapshot_t *s_ = nullptr;
};

/** A registry handle (ndsr_t). Thread-safe; move-only; closed by its destructor. */
/** A picker of one service's instances (ndsr_picker_new); freed when destroyed. Thread-safe. */
class Picker {
public:
    Picker() = default;
    explicit Picker(ndsr_picker_t *p) noexcept : p_(p) {}
    Picker(const Picker &) = delete;
    Picker &operator=(const Picker &) = delete;
    Picker(Picker &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Picker &operator=(Picker &&o) noexcept {
        if (this != &o) {
            reset();
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    ~Picker() { reset(); }
    void reset() noexcept {
        if (p_) ndsr_picker_free(std::exchange(p_, nullptr));
    }
    explicit operator bool() const noexcept { return p_ != nullptr; }

    /** Picks an instance: its name (`host:port`). `key` is for the consistent strategy.
     *  Throws Error (NDSR_E_NOT_FOUND when none is usable). */
    std::string pick(const char *key = nullptr) const {
        char buf[256];
        size_t len = 0;
        int rc = ndsr_pick(p_, key, buf, sizeof buf, &len);
        if (rc == NDSR_E_TOO_LARGE) {
            std::string big(len + 1, '\0');
            rc = ndsr_pick(p_, key, big.data(), big.size(), &len);
            detail::check(rc);
            big.resize(len);
            return big;
        }
        detail::check(rc);
        return std::string(buf, len);
    }
    /** Without an allocation: the name into `buf` (NUL-terminated), its length in `len`. */
    Status try_pick(char *buf, size_t cap, size_t &len, const char *key = nullptr) const noexcept {
        return detail::status(ndsr_pick(p_, key, buf, cap, &len));
    }
    /** Reports the outcome of a request to `name` (ndsr_pick_report). */
    Status report(const std::string &name, bool ok) const noexcept {
        return detail::status(ndsr_pick_report(p_, name.c_str(), ok ? 1 : 0));
    }

private:
    ndsr_picker_t *p_ = nullptr;
};

class Registry {
public:
    /** An empty registry: every call fails with NDSR_E_INVALID_ARGUMENT until one is opened. */
    Registry() = default;

    /** Opens a handle; `server` "" means localhost:2181. Throws Error. */
    explicit Registry(const std::string &server, const Settings &settings = {}) {
        detail::check(open(server, settings, &h_));
    }

    /** Opens a handle without throwing; `out` receives it on success. */
    static Status try_open(const std::string &server, const Settings &settings, Registry &out) {
        ndsr_t *h = nullptr;
        Status s = detail::status(open(server, settings, &h));
        if (s) out = Registry(h);
        return s;
    }

    Registry(const Registry &) = delete;
    Registry &operator=(const Registry &) = delete;
    Registry(Registry &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Registry &operator=(Registry &&o) noexcept {
        if (this != &o) {
            close();
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    ~Registry() { close(); }

    /** Closes the handle; its ephemeral nodes disappear at once. Calling it again does nothing. */
    void close() noexcept {
        if (h_) ndsr_close(std::exchange(h_, nullptr));
    }

    /** Ephemeral registration (ndsr_set_node); returns NDSR_OK or NDSR_QUEUED. */
    int set_node(const std::string &path, const std::string &json = "null") {
        return detail::check(ndsr_set_node(h_, path.c_str(), json.c_str()));
    }
    Status try_set_node(const std::string &path, const std::string &json = "null") noexcept {
        return detail::status(ndsr_set_node(h_, path.c_str(), json.c_str()));
    }

    /** Persistent data node (ndsr_set_data); returns NDSR_OK or NDSR_QUEUED. */
    int set_data(const std::string &path, const std::string &json) {
        return detail::check(ndsr_set_data(h_, path.c_str(), json.c_str()));
    }
    Status try_set_data(const std::string &path, const std::string &json) noexcept {
        return detail::status(ndsr_set_data(h_, path.c_str(), json.c_str()));
    }

    /** Deletes the node and forgets its registration (ndsr_unset). */
    int unset(const std::string &path) { return detail::check(ndsr_unset(h_, path.c_str())); }
    Status try_unset(const std::string &path) noexcept {
        return detail::status(ndsr_unset(h_, path.c_str()));
    }

    /** The JSON document of `path` (ndsr_get_json). */
    std::string get_json(const std::string &path) {
        std::string out;
        detail::check(get(path, out));
        return out;
    }
    Status try_get_json(const std::string &path, std::string &out) {
        return detail::status(get(path, out));
    }

    /** The handle's stats as JSON (ndsr_stats_json). */
    std::string stats_json() { return checked_text(ndsr_stats_json); }
    Status try_stats_json(std::string &out) noexcept {
        return detail::status(text(ndsr_stats_json, out));
    }

    /** The handle's stats in Prometheus' text format (ndsr_stats_prometheus). */
    std::string stats_prometheus() { return checked_text(ndsr_stats_prometheus); }
    Status try_stats_prometheus(std::string &out) noexcept {
        return detail::status(text(ndsr_stats_prometheus, out));
    }

    /** Calls `fn` with the handle's stats every `interval_ms` ms on the callback thread
     *  (ndsr_on_stats). */
    [[nodiscard]] Subscription on_stats(int interval_ms, StatsFn fn) {
        Subscription sub;
        detail::check(stats_sub(interval_ms, std::move(fn), sub));
        return sub;
    }
    /** on_stats without exceptions: the subscription in `out` on success. */
    Status try_on_stats(int interval_ms, StatsFn fn, Subscription &out) noexcept {
        return detail::status(stats_sub(interval_ms, std::move(fn), out));
    }

    /** Calls `fn` with the document of `path` now and after every change (ndsr_on_change). */
    [[nodiscard]] Subscription on_change(const std::string &path, ChangeFn fn) {
        Subscription sub;
        detail::check(change_sub(path, std::move(fn), sub));
        return sub;
    }
    /** on_change without exceptions: the subscription in `out` on success. */
    Status try_on_change(const std::string &path, ChangeFn fn, Subscription &out) noexcept {
        return detail::status(change_sub(path, std::move(fn), out));
    }

    /** Calls `fn` with what changed in `path`: first every child as added, then each change
     *  (ndsr_on_diff). */
    [[nodiscard]] Subscription on_diff(const std::string &path, DiffFn fn) {
        Subscription sub;
        detail::check(subscribe(std::move(fn), sub, [&](DiffFn *heap, uint64_t *id) {
            return ndsr_on_diff(h_, path.c_str(), detail::change_trampoline<DiffFn>, heap,
                                detail::free_fn<DiffFn>, id);
        }));
        return sub;
    }

    /** A snapshot of the document of `path` (ndsr_snapshot_get): no copy. Throws Error. */
    [[nodiscard]] Snapshot snapshot(const std::string &path) {
        ndsr_snapshot_t *s = nullptr;
        detail::check(ndsr_snapshot_get(h_, path.c_str(), &s));
        return Snapshot(s);
    }
    Status try_snapshot(const std::string &path, Snapshot &out) noexcept {
        ndsr_snapshot_t *s = nullptr;
        Status st = detail::status(ndsr_snapshot_get(h_, path.c_str(), &s));
        if (st) out = Snapshot(s);
        return st;
    }

    /** Calls `fn` with the connection state now and after every change (ndsr_on_state). */
    [[nodiscard]] Subscription on_state(StateFn fn) {
        Subscription sub;
        detail::check(state_sub(std::move(fn), sub));
        return sub;
    }
    /** on_state without exceptions: the subscription in `out` on success. */
    Status try_on_state(StateFn fn, Subscription &out) noexcept {
        return detail::status(state_sub(std::move(fn), out));
    }

    /** Acquires the lock `path` (kazoo Semaphore layout), waiting up to `wait_ms` ms for a holder
     *  to let go; throws Error (NDSR_E_TIMEOUT when not acquired in time). */
    [[nodiscard]] Lock lock(const std::string &path, const std::string &name = "", int simultaneous = 1,
                            int64_t wait_ms = 0) {
        ndsr_lock_t *l = nullptr;
        detail::check(ndsr_lock_acquire(h_, path.c_str(), name.c_str(), simultaneous, wait_ms, &l));
        return Lock(l);
    }
    Status try_lock(const std::string &path, Lock &out, const std::string &name = "", int simultaneous = 1,
                    int64_t wait_ms = 0) noexcept {
        ndsr_lock_t *l = nullptr;
        Status s = detail::status(ndsr_lock_acquire(h_, path.c_str(), name.c_str(), simultaneous, wait_ms, &l));
        if (s) out = Lock(l);
        return s;
    }

    /** A picker of the instances of `path` (ndsr_picker_new) with picker settings
     *  (`strategy`, `filter`, `down_errors`, …). Throws Error. */
    [[nodiscard]] Picker picker(const std::string &path, const Settings &settings = {}) {
        ndsr_options_t *opts = nullptr;
        int rc = ndsr_options_new(&opts);
        for (auto it = settings.begin(); rc >= 0 && it != settings.end(); ++it)
            rc = ndsr_options_set(opts, it->first.c_str(), it->second.c_str());
        ndsr_picker_t *p = nullptr;
        if (rc >= 0) rc = ndsr_picker_new(h_, path.c_str(), opts, &p);
        ndsr_options_free(opts);
        detail::check(rc);
        return Picker(p);
    }

    /** Drains this handle's registration of `path` (ndsr_drain): `state: draining` at once,
     *  removed after `grace_ms`. Returns at once. */
    Status drain(const std::string &path, int grace_ms) noexcept {
        return detail::status(ndsr_drain(h_, path.c_str(), grace_ms));
    }

    /** Waits up to `timeout_ms` until `path` has at least `min` usable instances
     *  (ndsr_wait_for): OK or NDSR_E_TIMEOUT. */
    Status wait_for(const std::string &path, size_t min, int timeout_ms) noexcept {
        return detail::status(ndsr_wait_for(h_, path.c_str(), min, timeout_ms));
    }

    /** The path-keyed lock (ndsr_acquire_lock): the handle keeps it until release_lock or
     *  close. Throws Error (NDSR_E_TIMEOUT when not acquired within `wait_ms`). */
    void acquire_lock(const std::string &path, const std::string &name = "", int simultaneous = 1,
                      int64_t wait_ms = 0) {
        detail::check(ndsr_acquire_lock(h_, path.c_str(), name.c_str(), simultaneous, wait_ms));
    }
    Status try_acquire_lock(const std::string &path, const std::string &name = "", int simultaneous = 1,
                            int64_t wait_ms = 0) noexcept {
        return detail::status(ndsr_acquire_lock(h_, path.c_str(), name.c_str(), simultaneous, wait_ms));
    }
    /** Releases a lock taken with acquire_lock (ndsr_release_lock). */
    Status release_lock(const std::string &path) noexcept {
        return detail::status(ndsr_release_lock(h_, path.c_str()));
    }

    /** Where this handle's registration of `path` stands (ndsr_registration_status): OK,
     *  NDSR_QUEUED, NDSR_E_CONFLICT, NDSR_E_NOT_FOUND, …. Never blocks on the network. */
    Status registration_status(const std::string &path) noexcept {
        return detail::status(ndsr_registration_status(h_, path.c_str()));
    }

    /** Whether the document of `path` is live or last-known, and since when (Unix ms). */
    struct Freshness {
        bool live = false;
        int64_t since_ms = 0;
    };
    /** ndsr_get_freshness; throws Error (NDSR_E_NOT_FOUND when the path was never read). */
    Freshness freshness(const std::string &path) {
        int live = 0;
        Freshness f;
        detail::check(ndsr_get_freshness(h_, path.c_str(), &live, &f.since_ms));
        f.live = live != 0;
        return f;
    }

    /** (Re)authenticates with digest credentials (ndsr_set_credentials). Throws Error. */
    void set_credentials(const std::string &username, const std::string &password) {
        detail::check(ndsr_set_credentials(h_, username.c_str(), password.c_str()));
    }
    Status try_set_credentials(const std::string &username, const std::string &password) noexcept {
        return detail::status(ndsr_set_credentials(h_, username.c_str(), password.c_str()));
    }

    /** The current ZooKeeper session id (ndsr_session_id); std::nullopt without a session. */
    std::optional<int64_t> session_id() const noexcept {
        int64_t id = 0;
        if (ndsr_session_id(h_, &id) != NDSR_OK) return std::nullopt;
        return id;
    }

    /** In a forked child, gives the child its own session now (ndsr_rebuild): OK or
     *  NDSR_QUEUED (still connecting). */
    Status rebuild() noexcept { return detail::status(ndsr_rebuild(h_)); }

    /** The connection state (NDSR_STATE_*). */
    int state() const noexcept { return ndsr_state(h_); }
    /** The connection state now, as a State. */
    State connection_state() const noexcept { return static_cast<State>(ndsr_state(h_)); }
    /** The C handle, for calls the wrapper does not cover. */
    ndsr_t *handle() const noexcept { return h_; }

private:
    explicit Registry(ndsr_t *h) : h_(h) {}

    static int open(const std::string &server, const Settings &settings, ndsr_t **out) {
        ndsr_options_t *opts = nullptr;
        int rc = ndsr_options_new(&opts);
        for (auto it = settings.begin(); rc >= 0 && it != settings.end(); ++it)
            rc = ndsr_options_set(opts, it->first.c_str(), it->second.c_str());
        if (rc >= 0) rc = ndsr_open(server.empty() ? nullptr : server.c_str(), opts, out);
        ndsr_options_free(opts);
        return rc;
    }

    /** Moves `fn` to the heap and subscribes it with `call(heap, &id)`, a C call that owns the
     *  heap copy from then on, whatever it returns; the subscription in `out` on success. */
    template <typename Fn, typename Call> int subscribe(Fn fn, Subscription &out, Call call) noexcept {
        Fn *heap = nullptr;
        try {
            heap = new Fn(std::move(fn));
        } catch (...) {
            return NDSR_E_INTERNAL;
        }
        uint64_t id = 0;
        int rc = call(heap, &id);
        if (rc >= 0) out = Subscription(h_, id);
        return rc;
    }
    int change_sub(const std::string &path, ChangeFn fn, Subscription &out) noexcept {
        return subscribe(std::move(fn), out, [&](ChangeFn *heap, uint64_t *id) {
            return ndsr_on_change(h_, path.c_str(), detail::change_trampoline<ChangeFn>, heap,
                                  detail::free_fn<ChangeFn>, id);
        });
    }
    int state_sub(StateFn fn, Subscription &out) noexcept {
        return subscribe(std::move(fn), out, [&](StateFn *heap, uint64_t *id) {
            return ndsr_on_state(h_, detail::state_trampoline, heap, detail::free_fn<StateFn>, id);
        });
    }

    int stats_sub(int interval_ms, StatsFn fn, Subscription &out) noexcept {
        return subscribe(std::move(fn), out, [&](StatsFn *heap, uint64_t *id) {
            return ndsr_on_stats(h_, interval_ms, detail::stats_trampoline, heap,
                                 detail::free_fn<StatsFn>, id);
        });
    }

    std::string checked_text(int (*fn)(ndsr_t *, char **, size_t *)) {
        std::string out;
        detail::check(text(fn, out));
        return out;
    }

    int text(int (*fn)(ndsr_t *, char **, size_t *), std::string &out) noexcept {
        char *text = nullptr;
        size_t len = 0;
        int rc = fn(h_, &text, &len);
        if (rc == NDSR_OK) {
            try {
                out.assign(text, len);
            } catch (...) {
                rc = NDSR_E_INTERNAL;
            }
            ndsr_string_free(text);
        }
        return rc;
    }

    int get(const std::string &path, std::string &out) {
        char *doc = nullptr;
        size_t len = 0;
        int rc = ndsr_get_json(h_, path.c_str(), &doc, &len);
        if (rc == NDSR_OK) {
            out.assign(doc, len);
            ndsr_string_free(doc);
        }
        return rc;
    }

    ndsr_t *h_ = nullptr;
};

/** The library version, "MAJOR.MINOR.PATCH". */
inline std::string version() { return ndsr_version(); }

/** A log handler: level (1 = error … 5 = trace), component (`session`, `cache`, …), message.
 *  Called from any library thread, concurrently; it must return and must not call the library. */
using LogFn = std::function<void(int level, std::string_view component, std::string_view message)>;

namespace detail {
inline void log_trampoline(void *userdata, int level, const char *component, const char *message) {
    try {
        (*static_cast<LogFn *>(userdata))(level, component, message);
    } catch (...) {
    }
}
inline void log_line_trampoline(void *userdata, int level, const char *line) {
    auto *fn = static_cast<std::function<void(int, std::string_view)> *>(userdata);
    try {
        (*fn)(level, line);
    } catch (...) {
    }
}
} // namespace detail

/** Sends the library's log lines up to `max_level` (0 = none … 5 = trace) to `fn`
 *  (ndsr_set_log_handler); an empty `fn` restores stderr. Process-wide. A handler replaced
 *  later is kept alive (a line may still be in flight on another thread). */
inline void set_log_handler(LogFn fn, int max_level) {
    if (!fn) {
        ndsr_set_log_handler(nullptr, nullptr, max_level);
        return;
    }
    auto *heap = new LogFn(std::move(fn));
    ndsr_set_log_handler(detail::log_trampoline, heap, max_level);
}

/** As set_log_handler, with each line as "component: text" (ndsr_set_logger). */
inline void set_logger(std::function<void(int level, std::string_view line)> fn, int max_level) {
    if (!fn) {
        ndsr_set_logger(nullptr, nullptr, max_level);
        return;
    }
    auto *heap = new std::function<void(int, std::string_view)>(std::move(fn));
    ndsr_set_logger(detail::log_line_trampoline, heap, max_level);
}

} // namespace ndsr

#endif /* NDSR_HPP */
