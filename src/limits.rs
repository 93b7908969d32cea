//! What fits in one ZooKeeper request. A server closes the connection on a request longer than
//! its `jute.maxbuffer` (1 MiB - 1 by default), which disconnects every user of the session, and
//! the same request sent again after the reconnection would do it again. So every size that a
//! caller chooses (a path, a path with its data and ACL, a lock's name, credentials) is checked
//! here before anything is sent, and refused with `NDSR_E_TOO_LARGE`. (The vendored client
//! refuses any request over the limit too, as a last fence.)

use zookeeper_client::Acl;

use crate::status::{Error, Result, NDSR_E_TOO_LARGE};

/// The longest request a server accepts with its default `jute.maxbuffer`, in bytes.
pub const MAX_REQUEST_LEN: usize = zookeeper_client::MAX_FRAME_LEN;

/// The request header: xid and operation code.
const HEADER: usize = 8;

/// A jute string or buffer: its length, then its bytes.
fn jute(len: usize) -> usize {
    4 + len
}

/// The serialised size of an ACL list.
fn acl_len(acls: &[Acl]) -> usize {
    4 + acls
        .iter()
        .map(|a| 4 + jute(a.scheme().len()) + jute(a.id().len()))
        .sum::<usize>()
}

fn check(len: usize, what: impl FnOnce() -> String) -> Result<()> {
    if len <= MAX_REQUEST_LEN {
        return Ok(());
    }
    Err(Error::new(
        NDSR_E_TOO_LARGE,
        format!(
            "{} makes a ZooKeeper request of {len} bytes; the server's limit (jute.maxbuffer) is {MAX_REQUEST_LEN}: not sent",
            what()
        ),
    ))
}

/// A read or watch of `server_path` (the path as the server sees it, chroot included); the
/// largest such request is a getChildren2 with its watch flag.
pub fn check_read(server_path: &str) -> Result<()> {
    check(HEADER + jute(server_path.len()) + 1, || {
        format!("a path of {} bytes", server_path.len())
    })
}

/// A create of `server_path` with `data_len` bytes of data and `acls` (a setData of the same
/// is smaller).
pub fn check_create(server_path: &str, data_len: usize, acls: &[Acl]) -> Result<()> {
    let len = HEADER + jute(server_path.len()) + jute(data_len) + acl_len(acls) + 4;
    check(len, || {
        format!(
            "a path of {} bytes with {data_len} bytes of data and its ACL",
            server_path.len()
        )
    })
}

/// The digest authentication packet for `auth` (`user:password`).
pub fn check_auth(auth_len: usize) -> Result<()> {
    check(HEADER + 4 + jute("digest".len()) + jute(auth_len), || {
        "the credentials".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_at_the_limit() {
        let open = crate::acl::open_acl();
        // A create request: header, path, data, one ACL entry (perms, "world", "anyone"), flags.
        let fixed = HEADER + 4 + 4 + (4 + 4 + 4 + 5 + 4 + 6) + 4;
        let path = "/p";
        let room = MAX_REQUEST_LEN - fixed - path.len();
        assert!(check_create(path, room, &open).is_ok());
        let e = check_create(path, room + 1, &open).unwrap_err();
        assert_eq!(e.code, NDSR_E_TOO_LARGE);
        assert!(e.message.contains("jute.maxbuffer"), "{}", e.message);
        assert!(check_read(&"x".repeat(MAX_REQUEST_LEN - HEADER - 5)).is_ok());
        assert!(check_read(&"x".repeat(MAX_REQUEST_LEN - HEADER - 4)).is_err());
        assert!(check_auth(1_000).is_ok());
        assert!(check_auth(2 << 20).is_err());
    }
}
