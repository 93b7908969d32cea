// Tests of include/ndsr.hpp against a real ZooKeeper (NDSR_TEST_SERVER).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "ndsr.hpp"

static int passed, failed;
#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) passed++;                                                            \
        else {                                                                         \
            failed++;                                                                  \
            std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                              \
    } while (0)

struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> docs;
    void push(const std::string &d) {
        std::lock_guard<std::mutex> g(mu);
        docs.push_back(d);
        cv.notify_all();
    }
    // Waits for a document containing `needle` (10 s at most).
    bool wait_for(const std::string &needle) {
        std::unique_lock<std::mutex> g(mu);
        return cv.wait_for(g, std::chrono::seconds(10), [&] {
            for (auto &d : docs)
                if (d.find(needle) != std::string::npos) return true;
            return false;
        });
    }
    size_t size() {
        std::lock_guard<std::mutex> g(mu);
        return docs.size();
    }
};

int main() {
    const char *server = std::getenv("NDSR_TEST_SERVER");
    if (!server) return 2;

    CHECK(ndsr::version() == ndsr_version());

    // Exceptions carry the status code.
    try {
        ndsr::Registry bad("127.0.0.1:1", {{"timeout_ms", "500"}});
        CHECK(false);
    } catch (const ndsr::Error &e) {
        CHECK(e.code() == NDSR_E_NO_CONNECTION);
    }
    try {
        ndsr::Registry bad(server, {{"no_such_option", "1"}});
        CHECK(false);
    } catch (const ndsr::Error &e) {
        CHECK(e.code() == NDSR_E_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("no_such_option") != std::string::npos);
    }
    ndsr::Registry none;
    ndsr::Status st = ndsr::Registry::try_open("127.0.0.1:1", {{"timeout_ms", "300"}}, none);
    CHECK(!st && st.code == NDSR_E_NO_CONNECTION && !st.message.empty());
    CHECK(none.try_set_node("/x").code == NDSR_E_INVALID_ARGUMENT); // empty registry

    ndsr::Registry reg(server, {{"timeout_ms", "5000"}});
    CHECK(reg.state() == NDSR_STATE_CONNECTED);
    CHECK(reg.set_node("/cpp/svc/a:1", R"({"w":1})") == NDSR_OK);
    try {
        reg.set_node("bad path");
        CHECK(false);
    } catch (const ndsr::Error &e) {
        CHECK(e.code() == NDSR_E_INVALID_ARGUMENT);
    }
    CHECK(reg.try_set_data("/cpp/conf", "[1]").code == NDSR_E_INVALID_ARGUMENT);
    CHECK(reg.try_set_data("/cpp/conf", R"({"k":"v"})").ok());
    std::string doc = reg.get_json("/cpp/svc");
    CHECK(doc.find("\"a:1\":{") != std::string::npos);
    std::string out;
    CHECK(reg.try_get_json("relative", out).code == NDSR_E_INVALID_ARGUMENT);

    // Callbacks with std::function; a throwing callback does not hurt the library, and what it
    // threw reaches the error handler.
    Inbox inbox, thrown;
    ndsr::set_callback_error_handler([&](const std::string &what) { thrown.push(what); });
    {
        ndsr::Subscription sub = reg.on_change("/cpp/svc", [&](const std::string &, const std::string &json) {
            inbox.push(json);
            throw std::runtime_error("ignored");
        });
        CHECK(inbox.wait_for("\"a:1\""));
        CHECK(thrown.wait_for("ignored"));
        reg.set_node("/cpp/svc/b:2");
        CHECK(inbox.wait_for("\"b:2\""));
    } // unsubscribed here
    ndsr::set_callback_error_handler(nullptr);
    size_t seen = inbox.size();
    reg.unset("/cpp/svc/b:2");
    Inbox other;
    auto sub2 = reg.on_change("/cpp/svc", [&](const std::string &, const std::string &json) { other.push(json); });
    CHECK(other.wait_for("\"a:1\""));
    CHECK(inbox.size() == seen);

    // Diffs and snapshots.
    Inbox diffs;
    auto dsub = reg.on_diff("/cpp/svc", [&](const std::string &, const std::string &d) { diffs.push(d); });
    CHECK(dsub.debounce(0).code == NDSR_OK);
    CHECK(diffs.wait_for("\"added\":{\"a:1\":{"));
    reg.set_node("/cpp/svc/c:3", R"({"port":3,"host":"h3"})");
    CHECK(diffs.wait_for("\"added\":{\"c:3\":{"));
    CHECK(other.wait_for("\"c:3\""));
    {
        ndsr::Snapshot snap = reg.snapshot("/cpp/svc");
        CHECK(snap && snap.count() == 2);
        CHECK(snap.name(0) == "a:1" && snap.name(1) == "c:3" && snap.name(2).empty());
        CHECK(snap.child_int(1, "port") == std::optional<int64_t>(3));
        CHECK(!snap.child_int(0, "port").has_value());
        CHECK(snap.child_str(1, "host").value_or("") == "h3");
        CHECK(snap.child_json(1).front() == '{' && snap.child_json(1).back() == '}');
        CHECK(snap.json() == reg.get_json("/cpp/svc"));
        ndsr::Snapshot moved_snap = std::move(snap);
        CHECK(!snap && snap.count() == 0 && snap.json().empty());
        CHECK(moved_snap.count() == 2);
        ndsr::Snapshot none_snap;
        CHECK(reg.try_snapshot("bad", none_snap).code == NDSR_E_INVALID_ARGUMENT && !none_snap);
    } // released here
    dsub.reset();

    int last_state = -1;
    ndsr::State last_enum = ndsr::State::Closed;
    std::mutex smu;
    auto ssub = reg.on_state([&](int s) {
        std::lock_guard<std::mutex> g(smu);
        last_state = s;
    });
    ndsr::Subscription esub;
    CHECK(reg.try_on_state(
                 [&](ndsr::State s) {
                     std::lock_guard<std::mutex> g(smu);
                     last_enum = s;
                 },
                 esub)
              .ok());
    CHECK(std::string(ndsr::to_string(ndsr::State::ConnectedReadOnly)) == "connected_read_only");
    CHECK(reg.connection_state() == ndsr::State::Connected);
    {
        ndsr::Subscription bad;
        CHECK(reg.try_on_change("bad", [](const std::string &, const std::string &) {}, bad).code ==
              NDSR_E_INVALID_ARGUMENT);
    }

    // RAII locks.
    {
        ndsr::Registry other(server);
        {
            ndsr::Lock l = reg.lock("/cpp/lock", "a", 1, 0);
            CHECK(l.held());
            ndsr::Lock none2;
            ndsr::Status ls = other.try_lock("/cpp/lock", none2, "b", 1, 100);
            CHECK(ls.code == NDSR_E_TIMEOUT && !none2.held());
            try {
                (void)other.lock("/cpp/lock", "b", 1, 0);
                CHECK(false);
            } catch (const ndsr::Error &e) {
                CHECK(e.code() == NDSR_E_TIMEOUT);
            }
        } // released here
        ndsr::Lock l2 = other.lock("/cpp/lock", "b", 1, 2000);
        CHECK(l2.held());
        l2.release();
        CHECK(!l2.held() && l2.check() == NDSR_E_NOT_FOUND);
    }

    // The rest of the C API: registration status, freshness, session id, path-keyed locks,
    // credentials, rebuild, log handlers.
    {
        std::mutex lmu;
        std::vector<std::string> lines, components;
        ndsr::set_log_handler([&](int, std::string_view component, std::string_view message) {
            std::lock_guard<std::mutex> g(lmu);
            components.emplace_back(component);
            lines.emplace_back(message);
        }, 5);
        ndsr::Registry r2(server);
        CHECK(r2.set_node("/cpp/extra/n1", "{}") == NDSR_OK);
        CHECK(r2.registration_status("/cpp/extra/n1").code == NDSR_OK);
        CHECK(r2.registration_status("/cpp/extra/none").code == NDSR_E_NOT_FOUND);
        (void)r2.get_json("/cpp/extra");
        ndsr::Registry::Freshness f = r2.freshness("/cpp/extra");
        CHECK(f.live && f.since_ms > 0);
        try {
            (void)r2.freshness("/cpp/never-read");
            CHECK(false);
        } catch (const ndsr::Error &e) {
            CHECK(e.code() == NDSR_E_NOT_FOUND);
        }
        CHECK(r2.session_id().value_or(0) != 0);
        CHECK(r2.rebuild().code == NDSR_OK);
        r2.acquire_lock("/cpp/plock", "a", 1, 0);
        CHECK(r2.try_acquire_lock("/cpp/plock", "a", 1, 0).code == NDSR_OK);  // held already
        ndsr::Registry r3(server);
        CHECK(r3.try_acquire_lock("/cpp/plock", "b", 1, 100).code == NDSR_E_TIMEOUT);
        CHECK(r2.release_lock("/cpp/plock").code == NDSR_OK);
        r3.acquire_lock("/cpp/plock", "b", 1, 2000);
        CHECK(r3.release_lock("/cpp/plock").code == NDSR_OK);
        r2.set_credentials("cppuser", "secret");
        CHECK(r2.try_set_credentials("bad:user", "x").code == NDSR_E_INVALID_ARGUMENT);
        r2.close();
        ndsr::set_logger([&](int, std::string_view line) {
            std::lock_guard<std::mutex> g(lmu);
            lines.emplace_back(line);
        }, 5);
        ndsr::set_log_handler(nullptr, 2);  // back to stderr
        std::lock_guard<std::mutex> g(lmu);
        bool session_line = false;
        for (auto &c : components) session_line = session_line || c == "session";
        CHECK(session_line);
        bool secret = false;
        for (auto &l : lines) secret = secret || l.find("secret") != std::string::npos;
        CHECK(!secret);
    }
    CHECK(reg.session_id().has_value());

    // Stats, both renderings.
    {
        std::string json = reg.stats_json();
        CHECK(json.find("\"state\":\"connected\"") != std::string::npos);
        CHECK(json.find("\"requests\":{") != std::string::npos);
        std::string prom;
        CHECK(reg.try_stats_prometheus(prom).ok());
        CHECK(prom.find("ndsr_connected{") != std::string::npos);
        Inbox ticks;
        auto tsub = reg.on_stats(20, [&](const std::string &j) { ticks.push(j); });
        CHECK(ticks.wait_for("\"requests\":{"));
        ndsr::Subscription bad;
        CHECK(reg.try_on_stats(0, [](const std::string &) {}, bad).code == NDSR_E_INVALID_ARGUMENT);
    }

    // Pickers and wait_for.
    {
        CHECK(reg.wait_for("/cpp/pick", 2, 100).code == NDSR_E_TIMEOUT);
        reg.set_node("/cpp/pick/a:1", R"({"weight":1})");
        reg.set_node("/cpp/pick/b:1", R"({"weight":3})");
        CHECK(reg.wait_for("/cpp/pick", 2, 10000).code == NDSR_OK);
        ndsr::Picker rr = reg.picker("/cpp/pick");
        std::map<std::string, int> seen;
        for (int i = 0; i < 40; i++) seen[rr.pick()]++;
        CHECK(seen.size() == 2 && seen["a:1"] == 20 && seen["b:1"] == 20);
        ndsr::Picker w = reg.picker("/cpp/pick", {{"strategy", "weighted"}});
        seen.clear();
        for (int i = 0; i < 40; i++) seen[w.pick()]++;
        CHECK(seen["a:1"] == 10 && seen["b:1"] == 30);
        char small[2];
        size_t len = 0;
        CHECK(rr.try_pick(small, sizeof small, len).code == NDSR_E_TOO_LARGE && len == 3);
        ndsr::Picker c = reg.picker("/cpp/pick", {{"strategy", "consistent"}});
        CHECK(c.pick("k1") == c.pick("k1"));
        CHECK(rr.report("a:1", false).code == NDSR_OK);
        CHECK(reg.drain("/cpp/pick/none:1", 0).code == NDSR_E_NOT_FOUND);
        Inbox drained;
        auto dsub2 = reg.on_change("/cpp/pick", [&](const std::string &, const std::string &d) { drained.push(d); });
        CHECK(reg.drain("/cpp/pick/b:1", 2000).code == NDSR_OK);
        CHECK(drained.wait_for("\"draining\""));
        try {
            (void)reg.picker("/cpp/pick", {{"timeout_ms", "100"}});
            CHECK(false);
        } catch (const ndsr::Error &e) {
            CHECK(e.code() == NDSR_E_INVALID_ARGUMENT);
        }
    }

    // Move semantics and idempotent close.
    ndsr::Registry moved = std::move(reg);
    CHECK(reg.state() == NDSR_STATE_CLOSED);
    CHECK(moved.state() == NDSR_STATE_CONNECTED);
    moved.close();
    moved.close();
    CHECK(moved.try_set_node("/cpp/late").code == NDSR_E_INVALID_ARGUMENT);
    {
        std::lock_guard<std::mutex> g(smu);
        CHECK(last_state == NDSR_STATE_CONNECTED);
        CHECK(last_enum == ndsr::State::Connected);
    }

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
