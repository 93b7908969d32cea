//! TLS to ZooKeeper's secure client port (server certificate checked against our CA, client
//! certificate required by the server), against a real server.
mod common;

use common::*;
use ndsr::status::*;
use ndsr::Options;
use ndsr::Registry;

fn tls_options(dir: &std::path::Path, ca: &str, client: Option<&str>) -> Options {
    let mut o = Options::default();
    o.set("timeout_ms", "3000").unwrap();
    o.set("tls_ca", dir.join(format!("{ca}.pem")).to_str().unwrap())
        .unwrap();
    if let Some(c) = client {
        o.set("tls_cert", dir.join(format!("{c}.pem")).to_str().unwrap())
            .unwrap();
        o.set("tls_key", dir.join(format!("{c}.key")).to_str().unwrap())
            .unwrap();
    }
    o
}

#[test]
fn registration_over_tls_with_a_client_certificate() {
    let zk = Zk::start_with("standalone", &[("ZK_TLS", "1")]);
    let (secure, dir) = zk.secure.clone().expect("TLS port");
    let r =
        Registry::open(Some(&secure), tls_options(&dir, "ca", Some("client"))).expect("TLS open");
    r.set_node("/tls/svc/a:1", r#"{"x":1}"#).unwrap();
    let doc = json(&r.get_json("/tls/svc").unwrap());
    assert_eq!(doc["children"]["a:1"]["x"], 1);
    // The same data is there for a plain-port client: it is one server.
    let raw = Raw::connect(&zk.connect);
    assert!(raw.exists("/tls/svc/a:1"));

    // Without the client certificate the server refuses us; with a server certificate from a CA
    // we do not trust, we refuse it; a plain client on the TLS port gets nowhere either.
    for (what, opts) in [
        ("no client certificate", tls_options(&dir, "ca", None)),
        (
            "untrusted server",
            tls_options(&dir, "other-ca", Some("client")),
        ),
        (
            "client certificate from another CA",
            tls_options(&dir, "ca", Some("other-client")),
        ),
    ] {
        let e = Registry::open(Some(&secure), opts)
            .err()
            .unwrap_or_else(|| panic!("{what}: connected"));
        assert_eq!(e.code, NDSR_E_NO_CONNECTION, "{what}: {}", e.message);
        // The cause is in the message, not only in a debug log.
        assert!(
            e.message.contains("last attempt") && e.message.contains("TLS handshake failed"),
            "{what}: {}",
            e.message
        );
    }
    let mut plain = Options::default();
    plain.set("timeout_ms", "2000").unwrap();
    assert_eq!(
        Registry::open(Some(&secure), plain).err().unwrap().code,
        NDSR_E_NO_CONNECTION
    );
}

#[test]
fn tls_options_are_checked() {
    let mut o = Options::default();
    assert_eq!(
        o.set("tls_ca", "/nonexistent/ca.pem").unwrap_err().code,
        NDSR_E_INVALID_ARGUMENT
    );
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("x.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    assert_eq!(
        o.set("tls_ca", not_pem.to_str().unwrap()).unwrap_err().code,
        NDSR_E_INVALID_ARGUMENT
    );
    // Only small regular files are read: a FIFO would block for ever, a device be read until
    // memory runs out.
    let fifo = dir.path().join("fifo.pem");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for path in [fifo.to_str().unwrap(), "/dev/zero"] {
        let t = std::time::Instant::now();
        let e = o.set("tls_ca", path).unwrap_err();
        assert_eq!(e.code, NDSR_E_INVALID_ARGUMENT, "{path}");
        assert!(e.message.contains("not a regular file"), "{}", e.message);
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }
    let huge = dir.path().join("huge.pem");
    std::fs::write(&huge, "-----BEGIN ".repeat(200_000)).unwrap();
    assert_eq!(
        o.set("tls_ca", huge.to_str().unwrap()).unwrap_err().code,
        NDSR_E_INVALID_ARGUMENT
    );
    let fake = dir.path().join("c.pem");
    std::fs::write(
        &fake,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    o.set("tls_cert", fake.to_str().unwrap()).unwrap();
    let e = Registry::open(Some("127.0.0.1:1"), o).err().unwrap();
    assert_eq!(e.code, NDSR_E_INVALID_ARGUMENT, "{}", e.message);
}
