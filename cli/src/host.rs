//! This machine's names and address, for `{hostname}`, `{fqdn}` and `{ip}` and lock holder
//! names.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, ToSocketAddrs, UdpSocket};

/// The host name (`gethostname`).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".into()
    }
}

/// The fully qualified name: the canonical name the resolver gives the host name (as Python's
/// `socket.getfqdn`, which zk_watcher uses), else the host name.
pub fn fqdn() -> String {
    let name = hostname();
    canonical_name(&name).unwrap_or(name)
}

fn canonical_name(name: &str) -> Option<String> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: zeroed addrinfo is a valid "no hints" value; only flags are set.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    let mut found: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C strings and out-pointer; the list is freed below.
    if unsafe { libc::getaddrinfo(c_name.as_ptr(), std::ptr::null(), &hints, &mut found) } != 0 {
        return None;
    }
    // SAFETY: getaddrinfo succeeded: `found` is a list whose first entry carries the name.
    let canonical = unsafe {
        let c = (*found).ai_canonname;
        let s = (!c.is_null()).then(|| CStr::from_ptr(c).to_string_lossy().into_owned());
        libc::freeaddrinfo(found);
        s
    };
    canonical.filter(|s| !s.is_empty())
}

/// The address other hosts reach this one by: the source address of the default route (a
/// UDP socket's connect sends nothing), else the host name's first non-loopback address, else
/// 127.0.0.1.
pub fn ip() -> String {
    let routed = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified());
    let resolved = || {
        (hostname(), 0)
            .to_socket_addrs()
            .ok()?
            .map(|a| a.ip())
            .find(|ip: &IpAddr| !ip.is_loopback())
    };
    routed
        .or_else(resolved)
        .map_or("127.0.0.1".into(), |ip| ip.to_string())
}
