//! Settings of a registry handle, given as string key/values so that new settings never change
//! the ABI. Unknown keys and bad values are refused with a message.

use std::time::Duration;

use zookeeper_client::Acl;

use crate::acl::{self, Credentials};
use crate::status::{Error, Result};

/// The settings of one handle. Its Debug output never shows the password.
#[derive(Clone)]
pub struct Options {
    /// Session timeout; also the longest any call waits (first connection included).
    pub timeout: Duration,
    /// Refuse every write with `NDSR_E_READ_ONLY`; allow connecting to read-only servers.
    pub readonly: bool,
    /// Open succeeds even when ZooKeeper cannot be reached; the connection is made later.
    pub lazy: bool,
    /// Digest user (used once the password is set too).
    pub username: Option<String>,
    /// Digest password.
    pub password: Option<String>,
    /// The ACL for nodes this handle creates (else derived from the credentials, else open).
    pub acl: Option<Vec<Acl>>,
    /// TLS: the CA certificates (PEM text) that server certificates must chain to. Set, every
    /// server of the connect string is spoken to over TLS.
    pub tls_ca: Option<String>,
    /// TLS client certificate and key (PEM text), for servers that require one.
    pub tls_identity: (Option<String>, Option<String>),
    /// The cache file of last known documents.
    pub cachefile: Option<std::path::PathBuf>,
    /// Client-side rate limit on the requests this handle issues: burst size (0 = off).
    pub rate_limit_burst: u32,
    /// Sustained requests per second once the burst is spent (0 = off).
    pub rate_limit_per_sec: f64,
    /// Follow watched paths with persistent recursive watches (ZooKeeper 3.6+; one-shot
    /// watches where the server has none).
    pub persistent_watches: bool,
    /// Keep last good: hold a shrink of a watched list this long (zero: off).
    pub keep_last_good: Duration,
    /// Keep last good: removals above this share (percent) are held; an emptied list always is.
    pub keep_last_good_percent: u32,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("timeout", &self.timeout)
            .field("readonly", &self.readonly)
            .field("lazy", &self.lazy)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("acl", &self.acl)
            .field("tls", &self.tls_ca.is_some())
            .field("cachefile", &self.cachefile)
            .field(
                "rate_limit",
                &(self.rate_limit_burst, self.rate_limit_per_sec),
            )
            .field("persistent_watches", &self.persistent_watches)
            .field(
                "keep_last_good",
                &(self.keep_last_good, self.keep_last_good_percent),
            )
            .finish()
    }
}

impl Options {
    /// The keep-last-good policy, if on.
    pub(crate) fn hold_policy(&self) -> Option<crate::cache::hold::HoldPolicy> {
        (!self.keep_last_good.is_zero()).then_some(crate::cache::hold::HoldPolicy {
            lasting: self.keep_last_good,
            percent: self.keep_last_good_percent,
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(5),
            readonly: false,
            lazy: false,
            username: None,
            password: None,
            acl: None,
            tls_ca: None,
            tls_identity: (None, None),
            rate_limit_burst: 0,
            rate_limit_per_sec: 0.0,
            cachefile: None,
            persistent_watches: true,
            keep_last_good: Duration::ZERO,
            keep_last_good_percent: 50,
        }
    }
}

/// The largest PEM file read for a TLS option (a bundle of many CA certificates fits).
const MAX_PEM: u64 = 1 << 20;

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::invalid(format!(
            "option {key}: expected true or false, got {value:?}"
        ))),
    }
}

impl Options {
    /// The rate limiter, when both `rate_limit_burst` and `rate_limit_per_sec` are set (> 0).
    pub fn rate_limiter(&self) -> Result<Option<crate::zk::RateLimiter>> {
        match (self.rate_limit_burst, self.rate_limit_per_sec) {
            (0, 0.0) => Ok(None),
            (b, r) if b > 0 && r > 0.0 => Ok(Some(crate::zk::RateLimiter::new(b, r))),
            _ => Err(Error::invalid(
                "options rate_limit_burst and rate_limit_per_sec go together (both > 0)",
            )),
        }
    }

    /// TLS settings for the client, when `tls_ca` is set.
    pub fn tls(&self) -> Result<Option<zookeeper_client::TlsOptions>> {
        let Some(ca) = &self.tls_ca else {
            if self.tls_identity.0.is_some() || self.tls_identity.1.is_some() {
                return Err(Error::invalid("options tls_cert and tls_key need tls_ca"));
            }
            return Ok(None);
        };
        let bad =
            |what: &str, e: zookeeper_client::Error| Error::invalid(format!("option {what}: {e}"));
        let mut tls = zookeeper_client::TlsOptions::new()
            .with_pem_ca(ca)
            .map_err(|e| bad("tls_ca", e))?;
        match &self.tls_identity {
            (Some(cert), Some(key)) => {
                tls = tls
                    .with_pem_identity(cert, key)
                    .map_err(|e| bad("tls_cert/tls_key", e))?
            }
            (None, None) => {}
            _ => return Err(Error::invalid("options tls_cert and tls_key go together")),
        }
        Ok(Some(tls))
    }

    /// The credentials, when both username and password are set.
    pub fn credentials(&self) -> Option<Credentials> {
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => None,
        }
    }

    /// Sets one option. Keys: `timeout_ms` (100..=600000), `readonly`, `lazy`,
    /// `persistent_watches` (`true`/`false`), `keep_last_good_ms` (0..=86400000),
    /// `keep_last_good_percent` (1..=100),
    /// `username`, `password`, `acl` (`scheme:id:perms[,…]`, perms from `cdrwa`), `tls_ca`,
    /// `tls_cert`, `tls_key` (paths of PEM files, read at once), `rate_limit_burst`,
    /// `rate_limit_per_sec`, `cachefile` (a path). A refused value changes nothing.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "timeout_ms" => {
                let ms = parse_number(key, value, 100..=600_000u64)?;
                self.timeout = Duration::from_millis(ms);
            }
            "readonly" => self.readonly = parse_bool(key, value)?,
            "lazy" => self.lazy = parse_bool(key, value)?,
            "persistent_watches" => self.persistent_watches = parse_bool(key, value)?,
            "keep_last_good_ms" => {
                let ms = parse_number(key, value, 0..=86_400_000u64)?;
                self.keep_last_good = Duration::from_millis(ms);
            }
            "keep_last_good_percent" => {
                self.keep_last_good_percent = parse_number(key, value, 1..=100u32)?
            }
            "username" => self.username = Some(parse_credential(key, value)?),
            "password" => self.password = Some(parse_credential(key, value)?),
            "acl" => self.acl = Some(acl::parse(value)?),
            "rate_limit_burst" => {
                self.rate_limit_burst = parse_number(key, value, 0..=1_000_000u32)?
            }
            "rate_limit_per_sec" => {
                self.rate_limit_per_sec = parse_number(key, value, 0.0..=1e6f64)?
            }
            "tls_ca" => self.tls_ca = Some(read_pem(key, value)?),
            "tls_cert" => self.tls_identity.0 = Some(read_pem(key, value)?),
            "tls_key" => self.tls_identity.1 = Some(read_pem(key, value)?),
            "cachefile" => self.cachefile = Some(parse_cachefile(value)?),
            _ => return Err(Error::invalid(format!("unknown option {key:?}"))),
        }
        Ok(())
    }
}

/// A number within `range`.
fn parse_number<T>(key: &str, value: &str, range: std::ops::RangeInclusive<T>) -> Result<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    value
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            Error::invalid(format!(
                "option {key}: expected {}..{}, got {value:?}",
                range.start(),
                range.end()
            ))
        })
}

/// A username or password: not empty, no NUL, a username without ':', and small enough to be
/// sent on every connection (one that can never fit must not be kept).
fn parse_credential(key: &str, value: &str) -> Result<String> {
    if value.is_empty() || value.contains('\0') {
        return Err(Error::invalid(format!("option {key}: must not be empty")));
    }
    if key == "username" && value.contains(':') {
        return Err(Error::invalid("option username: must not contain ':'"));
    }
    crate::limits::check_auth(value.len() + 1)
        .map_err(|e| Error::new(e.code, format!("option {key}: {}", e.message)))?;
    Ok(value.to_string())
}

/// A PEM file's text, read at once (a small regular file only).
fn read_pem(key: &str, value: &str) -> Result<String> {
    let pem = crate::files::read_regular(std::path::Path::new(value), MAX_PEM, true)
        .and_then(|b| String::from_utf8(b).map_err(std::io::Error::other))
        .map_err(|e| Error::invalid(format!("option {key}: cannot read {value:?}: {e}")))?;
    if !pem.contains("-----BEGIN ") {
        return Err(Error::invalid(format!(
            "option {key}: {value:?} is not a PEM file"
        )));
    }
    Ok(pem)
}

/// A cache file's path: a file name in an existing directory.
fn parse_cachefile(value: &str) -> Result<std::path::PathBuf> {
    let path = std::path::PathBuf::from(value);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if value.is_empty() || path.file_name().is_none() || !dir.is_dir() {
        return Err(Error::invalid(format!(
            "option cachefile: {value:?} is not a file in an existing directory"
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_reject() {
        let mut o = Options::default();
        assert_eq!(o.timeout, Duration::from_secs(5));
        o.set("timeout_ms", "2500").unwrap();
        assert_eq!(o.timeout, Duration::from_millis(2500));
        o.set("lazy", "true").unwrap();
        assert!(o.lazy);
        assert!(o.set("timeout_ms", "abc").is_err());
        assert!(o.set("timeout_ms", "0").is_err());
        assert!(o.set("lazy", "maybe").is_err());
        assert!(o.set("nope", "1").is_err());
        assert!(o.lazy, "a refused value changes nothing");
        o.set("username", "bob").unwrap();
        assert!(o.credentials().is_none());
        o.set("password", "hunter2").unwrap();
        assert_eq!(o.credentials().unwrap().username, "bob");
        assert!(!format!("{o:?}").contains("hunter2"));
        assert!(o.set("username", "a:b").is_err());
        assert!(o.set("acl", "world:anyone:q").is_err());
    }
}
