//! Settings of a registry handle, given as string key/values so that new settings never change
//! the ABI. Unknown keys and bad values are refused with a message.

use std::time::Duration;

use crate::status::{Error, Result};

/// The settings of one handle.
#[derive(Clone, Debug)]
pub struct Options {
    /// Session timeout; also the longest any call waits (first connection included).
    pub timeout: Duration,
    /// Refuse every write with `NDSR_E_READ_ONLY`; allow connecting to read-only servers.
    pub readonly: bool,
    /// Open succeeds even when ZooKeeper cannot be reached; the connection is made later.
    pub lazy: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(5),
            readonly: false,
            lazy: false,
        }
    }
}

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
    /// Sets one option. Keys: `timeout_ms` (100..=600000), `readonly`, `lazy` (`true`/`false`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "timeout_ms" => {
                let ms: u64 = value
                    .parse()
                    .ok()
                    .filter(|ms| (100..=600_000).contains(ms))
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "option timeout_ms: expected 100..600000, got {value:?}"
                        ))
                    })?;
                self.timeout = Duration::from_millis(ms);
            }
            "readonly" => self.readonly = parse_bool(key, value)?,
            "lazy" => self.lazy = parse_bool(key, value)?,
            "cachefile" | "username" | "password" | "acl" => {
                return Err(Error::invalid(format!(
                    "option {key} is not supported by this version of libndsr yet"
                )))
            }
            _ => return Err(Error::invalid(format!("unknown option {key:?}"))),
        }
        Ok(())
    }
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
    }
}
