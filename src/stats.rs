//! A handle's stats for operators (`ndsr_stats_json`, `ndsr_stats_prometheus`): counters since
//! the handle was opened and gauges as they are now, gathered from the parts that own them (the
//! session's tally, the request counters, the cache, the registrations, the callback thread)
//! and rendered as JSON or as Prometheus' text format.

use serde_json::{json, Value};

use crate::dispatcher::DispatchNow;
use crate::session::{State, TallyNow};
use crate::zk::{Activity, RequestCounts};

/// What the parts report, as the coordinator gathers it.
pub(crate) struct Parts {
    pub state: State,
    pub session_id: i64,
    pub server: String,
    pub requests: RequestCounts,
    pub activity: Activity,
    pub tally: TallyNow,
    pub registrations: usize,
    /// Watched paths, the children in their documents, and the age of the oldest last-known
    /// document (0 when every one is live).
    pub paths: usize,
    pub nodes: usize,
    pub oldest_last_known_ms: i64,
    pub held_updates: u64,
    pub callbacks: DispatchNow,
}

/// The stats as a JSON object (the layout `ndsr_stats_json` documents).
pub(crate) fn to_json(p: &Parts) -> Value {
    let r = &p.requests;
    json!({
        "state": state_name(p.state),
        "session_id": format!("0x{:x}", p.session_id),
        "server": p.server,
        "requests": {
            "total": r.reads() + r.writes(),
            "get_data": r.get_data, "get_children": r.get_children, "exists": r.exists,
            "multi_read": r.multi_read, "add_watch": r.add_watch, "set_watches": r.set_watches,
            "create": r.create, "set_data": r.set_data, "delete": r.delete,
        },
        "bytes": { "sent": p.tally.bytes_sent, "received": p.tally.bytes_received },
        "session": {
            "reconnects": p.tally.reconnects,
            "expiries": p.tally.expiries,
            "disconnected_ms": p.tally.disconnected_ms,
        },
        "watch": { "events": p.activity.events, "resync_probes": r.set_watches },
        "registrations": {
            "count": p.registrations,
            "reregistrations": p.activity.reregistrations,
            "conflicts": p.activity.conflicts,
        },
        "cache": {
            "paths": p.paths,
            "nodes": p.nodes,
            "oldest_last_known_ms": p.oldest_last_known_ms,
            "held_updates": p.held_updates,
        },
        "rate_limit": {
            "waits": p.activity.limited,
            "wait_ms": p.activity.limited_us / 1000,
        },
        "callbacks": {
            "delivered": p.callbacks.delivered,
            "queued": p.callbacks.queued,
            "wait_us_mean": p.callbacks.wait_us_mean,
            "wait_us_max": p.callbacks.wait_us_max,
            "run_us_max": p.callbacks.run_us_max,
        },
    })
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Disconnected => "disconnected",
        State::Connected => "connected",
        State::ConnectedReadOnly => "connected_read_only",
        State::Expired => "expired",
        State::AuthFailed => "auth_failed",
        State::Closed => "closed",
    }
}

/// The same numbers in Prometheus' text format: `ndsr_requests_total` by `kind`, then one
/// `ndsr_<group>_<name>` metric per other field (counters end in `_total`), each labelled with
/// `handle` (so that several handles of a process can share one `/metrics`), and
/// `ndsr_connected` (1 or 0) with the session and server as labels.
pub(crate) fn to_prometheus(p: &Parts, handle: &str) -> String {
    let doc = to_json(p);
    let label = format!("handle=\"{}\"", escape(handle));
    let mut out = format!(
        "# TYPE ndsr_connected gauge\nndsr_connected{{{label},session=\"{}\",server=\"{}\"}} {}\n",
        escape(doc["session_id"].as_str().unwrap_or("")),
        escape(&p.server),
        u8::from(p.state.is_connected())
    );
    // Requests: one counter, by kind (the total is their sum).
    out.push_str("# TYPE ndsr_requests_total counter\n");
    if let Some(kinds) = doc["requests"].as_object() {
        for (kind, value) in kinds.iter().filter(|(k, _)| *k != "total") {
            out.push_str(&format!(
                "ndsr_requests_total{{{label},kind=\"{kind}\"}} {value}\n"
            ));
        }
    }
    for group in [
        "bytes",
        "session",
        "watch",
        "registrations",
        "cache",
        "rate_limit",
        "callbacks",
    ] {
        let Some(fields) = doc[group].as_object() else {
            continue;
        };
        for (name, value) in fields {
            let kind = if is_gauge(group, name) {
                "gauge"
            } else {
                "counter"
            };
            let metric = match kind {
                "counter" => format!("ndsr_{group}_{name}_total"),
                _ => format!("ndsr_{group}_{name}"),
            };
            out.push_str(&format!(
                "# TYPE {metric} {kind}\n{metric}{{{label}}} {value}\n"
            ));
        }
    }
    out
}

/// Gauges (a value now) among the fields; the rest count up from the handle's open.
fn is_gauge(group: &str, name: &str) -> bool {
    matches!(
        (group, name),
        ("registrations", "count")
            | ("cache", "paths" | "nodes" | "oldest_last_known_ms")
            | (
                "callbacks",
                "queued" | "wait_us_mean" | "wait_us_max" | "run_us_max"
            )
    )
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Parts {
        Parts {
            state: State::Connected,
            session_id: 0x1234,
            server: "127.0.0.1:2181".into(),
            requests: RequestCounts {
                get_data: 3,
                create: 1,
                ..Default::default()
            },
            activity: Activity::default(),
            tally: TallyNow::default(),
            registrations: 1,
            paths: 2,
            nodes: 5,
            oldest_last_known_ms: 0,
            held_updates: 0,
            callbacks: DispatchNow::default(),
        }
    }

    #[test]
    fn json_and_prometheus_carry_the_same_numbers() {
        let p = parts();
        let doc = to_json(&p);
        assert_eq!(doc["requests"]["total"], 4);
        assert_eq!(doc["session_id"], "0x1234");
        let text = to_prometheus(&p, "[zk:2181 0x1234]");
        assert!(
            text.contains("ndsr_requests_total{handle=\"[zk:2181 0x1234]\",kind=\"get_data\"} 3\n")
        );
        assert!(!text.contains("kind=\"total\""));
        assert!(text.contains("# TYPE ndsr_cache_nodes gauge\nndsr_cache_nodes{"));
        assert!(text.contains("ndsr_connected{handle=\"[zk:2181 0x1234]\",session=\"0x1234\",server=\"127.0.0.1:2181\"} 1\n"));
    }
}
