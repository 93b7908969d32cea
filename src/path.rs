//! ZooKeeper path rules, checked before anything is sent: the server accepts some bad paths
//! (`/a//b` fails late as NoNode, `/zookeeper/x` can be created on 3.8.0), so the client decides.

use crate::status::{Error, Result};

/// Checks a path that will be read or watched.
pub fn validate(path: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("invalid path {path:?}: {why}")));
    if !path.starts_with('/') {
        return bad("it must start with '/'");
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return bad("it must not end with '/'");
    }
    for segment in path[1..].split('/') {
        match segment {
            "" => return bad("empty segment"),
            "." | ".." => return bad("'.' and '..' segments are not allowed"),
            _ => {}
        }
    }
    if let Some(c) = path.chars().find(|&c| forbidden_char(c)) {
        return bad(&format!("character U+{:04X} is not allowed", c as u32));
    }
    Ok(())
}

/// Checks a path that will be written: as [`validate`], plus not the root and not under the
/// reserved `/zookeeper` subtree.
pub fn validate_for_write(path: &str) -> Result<()> {
    validate(path)?;
    if path == "/" {
        return Err(Error::invalid(
            "invalid path \"/\": the root cannot be written",
        ));
    }
    if path == "/zookeeper" || path.starts_with("/zookeeper/") {
        return Err(Error::invalid(format!(
            "invalid path {path:?}: /zookeeper is reserved"
        )));
    }
    Ok(())
}

// ZooKeeper's PathUtils rejects these UTF-16 code units; a character beyond the BMP is a
// surrogate pair there, so it is rejected too.
fn forbidden_char(c: char) -> bool {
    let u = c as u32;
    u <= 0x1f
        || (0x7f..=0x9f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || (0xfff0..).contains(&u)
}

/// The parent of a valid path that is not the root (`/a/b` -> `/a`, `/a` -> `/`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last segment of a valid path that is not the root (`/a/b` -> `b`).
pub fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// `parent/child`, without doubling the slash at the root.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_paths() {
        for p in ["/", "/a", "/services/ssh/server1:22", "/café", "/a.b/..c"] {
            assert!(validate(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn rejects_bad_paths() {
        for p in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/a/./b",
            "/a/..",
            "/a\0b",
            "/a\u{1}b",
            "/a\u{7f}",
            "/a\u{fff5}",
            "/smile\u{1F600}",
        ] {
            assert!(validate(p).is_err(), "{p:?}");
        }
        assert!(validate_for_write("/zookeeper/x").is_err());
        assert!(validate_for_write("/zookeeper").is_err());
        assert!(validate_for_write("/").is_err());
        assert!(validate_for_write("/zookeeperish").is_ok());
    }

    #[test]
    fn parent_and_join() {
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(parent("/a"), "/");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/a", "x"), "/a/x");
    }
}
