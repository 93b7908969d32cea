//! Credentials and ACLs, as the Python original sets them up: with a username and password and
//! no explicit ACL, nodes get `digest:<user>:<base64(sha1(user:password))>` with all permissions
//! and `world:anyone` with read; parents above a registration's own directory stay open.

use std::fmt;

use base64::Engine;
use sha1::{Digest, Sha1};
use zookeeper_client::{Acl, AuthId, Permission};

use crate::status::{Error, Result};

/// A digest username and password. The password never appears in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub username: String,
    /// The password (secret).
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: <redacted> }}",
            self.username
        )
    }
}

impl Credentials {
    /// The `user:password` bytes sent with the digest scheme.
    pub fn auth_bytes(&self) -> Vec<u8> {
        format!("{}:{}", self.username, self.password).into_bytes()
    }

    /// The digest ACL id, `user:base64(sha1(user:password))`.
    pub fn digest_id(&self) -> String {
        let hash = Sha1::digest(format!("{}:{}", self.username, self.password).as_bytes());
        format!(
            "{}:{}",
            self.username,
            base64::engine::general_purpose::STANDARD.encode(hash)
        )
    }

    /// The original's default ACL pair: the owner may do everything, the world may read.
    pub fn default_acl(&self) -> Vec<Acl> {
        vec![
            Acl::new(Permission::ALL, AuthId::new("digest", &self.digest_id())),
            Acl::new(Permission::READ, AuthId::new("world", "anyone")),
        ]
    }
}

/// The ACL for the nodes a handle creates: the `acl` option if set, else the original's
/// default pair for the current credentials (which `ndsr_set_credentials` changes), else open.
/// Computed when the credentials change, not at each create.
pub struct AclSource {
    explicit: Option<Vec<Acl>>,
    credentials: parking_lot::Mutex<Option<Credentials>>,
    current: parking_lot::RwLock<std::sync::Arc<Vec<Acl>>>,
}

impl AclSource {
    /// The source for an explicit ACL (if any) and the credentials the handle starts with.
    pub fn new(explicit: Option<Vec<Acl>>, credentials: Option<Credentials>) -> AclSource {
        let current = Self::compute(&explicit, &credentials);
        AclSource {
            explicit,
            credentials: parking_lot::Mutex::new(credentials),
            current: parking_lot::RwLock::new(std::sync::Arc::new(current)),
        }
    }

    fn compute(explicit: &Option<Vec<Acl>>, credentials: &Option<Credentials>) -> Vec<Acl> {
        match (explicit, credentials) {
            (Some(acl), _) => acl.clone(),
            (None, Some(c)) => c.default_acl(),
            (None, None) => open_acl(),
        }
    }

    /// The ACL for a node created now.
    pub fn current(&self) -> std::sync::Arc<Vec<Acl>> {
        self.current.read().clone()
    }

    /// Runs `f` with the ACL for a node created now.
    pub fn with_current<T>(&self, f: impl FnOnce(&[Acl]) -> T) -> T {
        f(&self.current.read())
    }

    /// The credentials in use.
    pub fn credentials(&self) -> Option<Credentials> {
        self.credentials.lock().clone()
    }

    /// New credentials: nodes created from now on get their ACL.
    pub fn set_credentials(&self, credentials: Credentials) {
        let mut held = self.credentials.lock();
        *held = Some(credentials);
        *self.current.write() = std::sync::Arc::new(Self::compute(&self.explicit, &held));
    }
}

/// `world:anyone` with all permissions: ZooKeeper's open ACL.
pub fn open_acl() -> Vec<Acl> {
    vec![Acl::new(Permission::ALL, AuthId::new("world", "anyone"))]
}

/// Parses the text form `scheme:id:perms[,scheme:id:perms…]`, perms being letters of `cdrwa`
/// (create, delete, read, write, admin); the id may itself contain ':' (`digest:user:hash:cdrwa`).
pub fn parse(text: &str) -> Result<Vec<Acl>> {
    let bad = |why: String| Error::invalid(format!("option acl: {why}"));
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim) {
        let (scheme, rest) = entry
            .split_once(':')
            .ok_or_else(|| bad(format!("{entry:?} is not scheme:id:perms")))?;
        let (id, perms) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("{entry:?} is not scheme:id:perms")))?;
        if scheme.is_empty() || id.is_empty() {
            return Err(bad(format!("{entry:?} has an empty scheme or id")));
        }
        let mut p = Permission::NONE;
        for c in perms.chars() {
            p = p | match c {
                'c' => Permission::CREATE,
                'd' => Permission::DELETE,
                'r' => Permission::READ,
                'w' => Permission::WRITE,
                'a' => Permission::ADMIN,
                _ => {
                    return Err(bad(format!(
                        "permission {c:?} in {entry:?} is not one of cdrwa"
                    )))
                }
            };
        }
        if p == Permission::NONE {
            return Err(bad(format!("{entry:?} grants no permission")));
        }
        out.push(Acl::new(p, AuthId::new(scheme, id)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_id_is_zookeepers() {
        // The value ZooKeeper's DigestAuthenticationProvider.generateDigest("super:test") gives.
        let c = Credentials {
            username: "super".into(),
            password: "test".into(),
        };
        assert_eq!(c.digest_id(), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert!(!format!("{c:?}").contains("test\""));
    }

    #[test]
    fn text_form() {
        let acl = parse("world:anyone:r, digest:bob:abc=:cdrwa").unwrap();
        assert_eq!(acl.len(), 2);
        assert_eq!(acl[0].permission(), Permission::READ);
        assert_eq!((acl[1].scheme(), acl[1].id()), ("digest", "bob:abc="));
        assert_eq!(acl[1].permission(), Permission::ALL);
        for bad in [
            "",
            "world",
            "world:anyone",
            "world:anyone:x",
            "world:anyone:",
            ":x:r",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
