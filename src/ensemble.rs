//! The ensemble a handle talks to, as its connect string names it: the servers and the chroot.
//! The chroot matters to every rule about paths (a write under `/zookeeper` is refused whatever
//! chroot leads there; sizes count the path the server sees), and the two together identify the
//! data a handle sees (cache file entries are keyed by them).

use crate::status::{Error, Result};

/// A parsed connect string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ensemble {
    /// The connect string as given (trimmed).
    pub connect: String,
    /// The servers, `host:port` as written, without a scheme.
    pub servers: Vec<String>,
    /// The chroot (`/a/b`), or "" for none.
    pub chroot: String,
}

impl Ensemble {
    /// Parses `host:port[,host:port…][/chroot]` (each server may carry `tcp://` or
    /// `tcp+tls://`). The client library checks the rest when it connects.
    pub fn parse(connect: &str) -> Result<Ensemble> {
        let connect = connect.trim();
        if connect.is_empty() {
            return Err(Error::invalid("empty connect string"));
        }
        let mut chroot = String::new();
        let mut servers = Vec::new();
        for entry in connect.split(',') {
            let entry = entry.trim();
            let entry = entry
                .strip_prefix("tcp+tls://")
                .or_else(|| entry.strip_prefix("tcp://"))
                .unwrap_or(entry);
            let server = match entry.find('/') {
                Some(i) => {
                    if chroot.is_empty() {
                        chroot = entry[i..].to_string();
                    }
                    &entry[..i]
                }
                None => entry,
            };
            check_server(server).map_err(|why| {
                Error::invalid(format!("invalid connect string {connect:?}: {why}"))
            })?;
            servers.push(server.to_string());
        }
        if chroot == "/" {
            chroot.clear();
        }
        if !chroot.is_empty() {
            crate::path::validate(&chroot).map_err(|e| {
                Error::invalid(format!("invalid chroot in the connect string: {e}"))
            })?;
        }
        Ok(Ensemble {
            connect: connect.to_string(),
            servers,
            chroot,
        })
    }

    /// `p` as the server sees it: under the chroot.
    pub fn server_path<'a>(&self, p: &'a str) -> std::borrow::Cow<'a, str> {
        match (self.chroot.as_str(), p) {
            ("", _) => p.into(),
            (root, "/") => root.to_string().into(),
            (root, _) => format!("{root}{p}").into(),
        }
    }

    /// What identifies the data this handle sees: its servers (in any order) and its chroot.
    pub fn key(&self) -> String {
        let mut servers = self.servers.clone();
        servers.sort();
        servers.dedup();
        format!("{}{}", servers.join(","), self.chroot)
    }
}

/// Checks `host`, `host:port`, `[v6 address]` or `[v6 address]:port` (the port 1..65535).
fn check_server(server: &str) -> std::result::Result<(), String> {
    let (host, port) = match server.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{server:?}: no ']'"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| format!("{server:?}: ':' expected after ']'"))?,
                    ),
                ),
            }
        }
        None => match server.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (server, None),
        },
    };
    if host.is_empty() {
        return Err(format!("{server:?}: empty host"));
    }
    match port.map(str::parse::<u16>) {
        None | Some(Ok(1..)) => Ok(()),
        Some(_) => Err(format!("{server:?}: the port must be 1..65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_chroot() {
        let e = Ensemble::parse(" zk2:2181,tcp://zk1:2181/a/b ").unwrap();
        assert_eq!(e.servers, ["zk2:2181", "zk1:2181"]);
        assert_eq!(e.chroot, "/a/b");
        assert_eq!(e.server_path("/x"), "/a/b/x");
        assert_eq!(e.server_path("/"), "/a/b");
        assert_eq!(e.key(), "zk1:2181,zk2:2181/a/b");
        let plain = Ensemble::parse("zk1:2181,zk2:2181").unwrap();
        assert_eq!(plain.chroot, "");
        assert_eq!(plain.server_path("/x"), "/x");
        assert_eq!(
            plain.key(),
            Ensemble::parse("zk2:2181,zk1:2181").unwrap().key()
        );
        assert_eq!(Ensemble::parse("h:1/").unwrap().chroot, "");
        assert!(Ensemble::parse("").is_err());
        assert!(Ensemble::parse("h:1,,h:2").is_err());
        assert!(Ensemble::parse("h:1/a//b").is_err());
        for bad in ["h:abc", "h:0", "h:70000", ":1", "[::1", "[::1]x", "[]:1"] {
            assert!(Ensemble::parse(bad).is_err(), "{bad}");
        }
        for good in ["h", "[::1]", "[::1]:2181", "10.0.0.1:2181"] {
            assert!(Ensemble::parse(good).is_ok(), "{good}");
        }
    }
}
