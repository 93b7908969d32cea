//! The instance convention: a child of a service's path is one instance. Its name is
//! `host:port` (IPv6 as `[addr]:port`); its data may carry `host` and `port` (which win over the
//! name), `weight` (default 1; 0 takes it out of rotation), `state` (`up` by default; `down`
//! and `draining` are never picked), `zone` and anything else (for filters). Nodes written by
//! the Python original (only `pid` and `created`) are instances taken from their name.

use crate::document::Document;

/// Whether an instance may be picked, by its own `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// Picked (the default, and any state other than the two below).
    Up,
    /// Never picked.
    Down,
    /// Never picked: on its way out (see `ndsr_drain`).
    Draining,
}

/// One child of a document read as an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// The child's index in its document (children in name order).
    pub index: usize,
    /// The host: the data's `host`, else the name's.
    pub host: String,
    /// The port: the data's `port`, else the name's.
    pub port: u16,
    /// The data's `weight`, else 1.
    pub weight: u32,
    /// The data's `state`.
    pub state: InstanceState,
}

impl Instance {
    /// Whether its own data lets it be picked (`state` up, weight above 0).
    pub fn usable(&self) -> bool {
        self.state == InstanceState::Up && self.weight > 0
    }
}

/// The instances of `doc`, in name order, and the names of the children that are not
/// instances (no host and port in either the name or the data).
pub fn instances(doc: &Document) -> (Vec<Instance>, Vec<String>) {
    let mut found = Vec::with_capacity(doc.count());
    let mut skipped = Vec::new();
    for i in 0..doc.count() {
        match instance(doc, i) {
            Some(instance) => found.push(instance),
            None => skipped.push(doc.name_str(i).unwrap_or_default().to_string()),
        }
    }
    (found, skipped)
}

/// Child `i` of `doc` as an instance, if it is one.
pub fn instance(doc: &Document, i: usize) -> Option<Instance> {
    let (name_host, name_port) = doc.name_str(i).and_then(host_port).unzip();
    let host = match doc.child_str(i, "host").and_then(|h| h.to_str().ok()) {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => name_host?.to_string(),
    };
    let port = match doc.child_int(i, "port") {
        Ok(p) => u16::try_from(p).ok().filter(|p| *p > 0)?,
        Err(_) => doc
            .child_str(i, "port")
            .and_then(|p| p.to_str().ok()?.parse().ok())
            .filter(|p| *p > 0)
            .or(name_port)?,
    };
    let weight = match doc.child_int(i, "weight") {
        Ok(w) => u32::try_from(w.clamp(0, i64::from(u32::MAX))).unwrap_or(1),
        Err(_) => 1,
    };
    let state = match doc.child_str(i, "state").map(|s| s.to_bytes()) {
        Some(b"down") => InstanceState::Down,
        Some(b"draining") => InstanceState::Draining,
        _ => InstanceState::Up,
    };
    Some(Instance {
        index: i,
        host,
        port,
        weight,
        state,
    })
}

/// `host:port` or `[v6]:port`, with a port above 0.
pub fn host_port(name: &str) -> Option<(&str, u16)> {
    let (host, port) = match name.strip_prefix('[') {
        Some(rest) => {
            let (host, port) = rest.split_once("]:")?;
            (host, port)
        }
        None => {
            let (host, port) = name.rsplit_once(':')?;
            // An IPv6 address without brackets is ambiguous.
            (!host.contains(':')).then_some((host, port))?
        }
    };
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Builder;

    fn doc(children: &[(&str, &str)]) -> Document {
        let mut b = Builder::new("/s", None, "null", 0, 0);
        for (name, data) in children {
            b.child(name, data);
        }
        b.finish()
    }

    #[test]
    fn names_and_data_make_instances() {
        let d = doc(&[
            ("[::1]:8080", r#"{"pid":1,"created":"x"}"#),
            (
                "a:1",
                r#"{"host":"10.0.0.1","port":2,"weight":5,"state":"draining"}"#,
            ),
            ("b:80", r#"{"state":"down","weight":0}"#),
            ("bad", r#"{"pid":1}"#),
            ("c:0", "null"),
            ("named", r#"{"host":"h","port":"81"}"#),
            ("x:y:1", "null"),
        ]);
        let (found, skipped) = instances(&d);
        let brief: Vec<(&str, u16, u32, InstanceState)> = found
            .iter()
            .map(|i| (i.host.as_str(), i.port, i.weight, i.state))
            .collect();
        assert_eq!(
            brief,
            [
                ("::1", 8080, 1, InstanceState::Up),
                ("10.0.0.1", 2, 5, InstanceState::Draining),
                ("b", 80, 0, InstanceState::Down),
                ("h", 81, 1, InstanceState::Up),
            ]
        );
        assert_eq!(skipped, ["bad", "c:0", "x:y:1"]);
        assert!(found[0].usable() && !found[1].usable() && !found[2].usable());
    }
}
