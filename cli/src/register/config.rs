//! What `ndsr register` keeps registered: services read from an INI file (one section each,
//! zk_watcher's keys accepted) or given on the command line, with `{hostname}`, `{fqdn}`, `{ip}`
//! and `{port}` expanded. Every error names the section and the key, and is found before
//! anything is registered.

use std::collections::BTreeMap;
use std::time::Duration;

use once_cell::sync::Lazy;
use regex::Regex;
use serde_json::{Map, Value};

use super::check::Check;
use crate::host;

/// One service: where it is registered, with what, and the check that decides.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// The section's name (or "service" for the command-line form).
    pub name: String,
    /// The registration path, expanded.
    pub path: String,
    /// The registered data: a JSON object, expanded.
    pub data: String,
    pub check: Check,
    pub interval: Duration,
    pub timeout: Duration,
    /// Passes in a row before it is registered, failures in a row before it is removed.
    pub rise: u32,
    pub fall: u32,
    /// How long it shows `state: draining` before it is removed on stop or reload.
    pub grace: Duration,
}

/// A whole configuration: the services by name, and digest credentials if any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub services: BTreeMap<String, Service>,
    pub credentials: Option<(String, String)>,
}

/// The keys of a service section, as given: ours and zk_watcher's.
pub type Keys = BTreeMap<String, String>;

const OUR_KEYS: [&str; 11] = [
    "path",
    "data",
    "port",
    "check",
    "check_cmd",
    "expect",
    "interval",
    "timeout",
    "rise",
    "fall",
    "grace",
];
const ZK_WATCHER_KEYS: [&str; 6] = [
    "cmd",
    "refresh",
    "service_port",
    "service_hostname",
    "zookeeper_path",
    "zookeeper_data",
];

/// Reads the INI text of a configuration file.
pub fn parse_file(text: &str) -> Result<Config, String> {
    let literal = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..Default::default()
    };
    let ini = ini::Ini::load_from_str_opt(text, literal).map_err(|e| e.to_string())?;
    let mut config = Config::default();
    for (section, props) in ini.iter() {
        let keys: Keys = props
            .iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        match section {
            None if keys.is_empty() => {}
            None => return Err("a key outside any [section]".into()),
            Some("auth") => config.credentials = Some(credentials(&keys)?),
            Some(name) => {
                let service = service(name, &keys).map_err(|e| format!("[{name}] {e}"))?;
                if let Some(other) = config.services.values().find(|s| s.path == service.path) {
                    let path = &service.path;
                    return Err(format!("[{name}] path {path} is [{}]'s too", other.name));
                }
                config.services.insert(name.to_string(), service);
            }
        }
    }
    if config.services.is_empty() {
        return Err("no service: add a [section] per service".into());
    }
    Ok(config)
}

/// zk_watcher's `[auth]` section: `user` and `password`.
fn credentials(keys: &Keys) -> Result<(String, String), String> {
    match (keys.get("user"), keys.get("password")) {
        (Some(u), Some(p)) if keys.len() == 2 => Ok((u.clone(), p.clone())),
        _ => Err("[auth] takes exactly `user` and `password`".into()),
    }
}

/// One service from its keys.
pub fn service(name: &str, keys: &Keys) -> Result<Service, String> {
    if let Some(k) = keys
        .keys()
        .find(|k| !OUR_KEYS.contains(&k.as_str()) && !ZK_WATCHER_KEYS.contains(&k.as_str()))
    {
        return Err(format!("unknown key `{k}`"));
    }
    let port = one_of(keys, "port", "service_port")?;
    if let Some(p) = &port {
        p.parse::<u16>()
            .map_err(|_| format!("port: not a port number: {p:?}"))?;
    }
    let expand =
        |key: &str, text: &str| expand(text, port.as_deref()).map_err(|e| format!("{key}: {e}"));
    let path = expand("path", &path(keys)?)?;
    ndsr::validate_path(&path).map_err(|e| format!("path: {}", e.message))?;
    let data = expand("data", &data(keys)?)?;
    let check_text = expand("check", &check_text(keys)?)?;
    let check = match keys.contains_key("check") {
        true => Check::parse_url(&check_text, keys.get("expect").map(String::as_str))?,
        false => Check::Command(check_text),
    };
    let seconds = |key: &str, value: Option<String>, default: f64| -> Result<Duration, String> {
        match value {
            None => Ok(Duration::from_secs_f64(default)),
            Some(v) => parse_seconds(&v).map_err(|e| format!("{key}: {e}")),
        }
    };
    let count = |key: &str, default: u32| -> Result<u32, String> {
        match keys.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!("{key}: a whole number of 1 or more, not {v:?}")),
            },
        }
    };
    Ok(Service {
        name: name.to_string(),
        path,
        data,
        check,
        interval: seconds("interval", one_of(keys, "interval", "refresh")?, 5.0)?,
        timeout: seconds("timeout", keys.get("timeout").cloned(), 2.0)?,
        rise: count("rise", 2)?,
        fall: count("fall", 3)?,
        grace: seconds("grace", keys.get("grace").cloned(), 5.0)?,
    })
}

/// The value of `key` or of its zk_watcher alias (not both).
fn one_of(keys: &Keys, key: &str, alias: &str) -> Result<Option<String>, String> {
    match (keys.get(key), keys.get(alias)) {
        (Some(_), Some(_)) => Err(format!("give `{key}` or `{alias}`, not both")),
        (Some(v), _) | (None, Some(v)) => Ok(Some(v.clone())),
        (None, None) => Ok(None),
    }
}

/// `path`, or zk_watcher's `zookeeper_path` + `/service_hostname:service_port` (the host
/// defaulting to the fully qualified name, as zk_watcher's does).
fn path(keys: &Keys) -> Result<String, String> {
    match (keys.get("path"), keys.get("zookeeper_path")) {
        (Some(p), None) => Ok(p.clone()),
        (None, Some(base)) => {
            let host = keys
                .get("service_hostname")
                .map_or("{fqdn}", String::as_str);
            let port = keys
                .get("service_port")
                .ok_or("zookeeper_path needs service_port")?;
            Ok(format!("{}/{host}:{port}", base.trim_end_matches('/')))
        }
        (Some(_), Some(_)) => Err("give `path` or `zookeeper_path`, not both".into()),
        (None, None) => Err("no `path`".into()),
    }
}

/// `data` (a JSON object), or zk_watcher's `zookeeper_data` (a JSON object or `k=v, k=v`).
fn data(keys: &Keys) -> Result<String, String> {
    let (text, pairs_allowed) = match (keys.get("data"), keys.get("zookeeper_data")) {
        (Some(_), Some(_)) => return Err("give `data` or `zookeeper_data`, not both".into()),
        (Some(d), None) => (d.as_str(), false),
        (None, Some(d)) => (d.as_str(), true),
        (None, None) => return Ok("{}".into()),
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => Ok(text.to_string()),
        _ if pairs_allowed => Ok(Value::Object(pairs(text)).to_string()),
        Ok(_) => Err("data: a JSON object, like {\"weight\": 10}".into()),
        Err(e) => Err(format!("data: not JSON: {e}")),
    }
}

/// zk_watcher's `foo=bar, bah=humbug` (pairs that are not `k=v` are left out, as it does).
fn pairs(text: &str) -> Map<String, Value> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (!v.contains('=')).then(|| (k.trim().to_string(), Value::String(v.trim().into())))
        })
        .collect()
}

/// The check: `check` (a URL), `check_cmd` or zk_watcher's `cmd` (a command); exactly one.
fn check_text(keys: &Keys) -> Result<String, String> {
    let given: Vec<&String> = ["check", "check_cmd", "cmd"]
        .iter()
        .filter_map(|k| keys.get(*k))
        .collect();
    match given[..] {
        [one] => Ok(one.clone()),
        [] => Err("no check: give `check` (http://… or tcp://…) or `check_cmd`".into()),
        _ => Err("one check only: `check`, `check_cmd` or `cmd`".into()),
    }
}

/// Seconds, fractions allowed.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("a number of seconds (0 to 86400), not {text:?}")),
    }
}

/// Expands `{hostname}`, `{fqdn}`, `{ip}` and `{port}` in `text`; any other `{name}` is an
/// error (JSON's braces never look like one: `{"` or `{ `).
pub fn expand(text: &str, port: Option<&str>) -> Result<String, String> {
    static PLACEHOLDER: Lazy<Regex> = Lazy::new(|| Regex::new(r"\{([a-z_]+)\}").unwrap());
    let mut error = None;
    let out = PLACEHOLDER.replace_all(text, |c: &regex::Captures<'_>| {
        let value = match &c[1] {
            "hostname" => Some(host::hostname()),
            "fqdn" => Some(host::fqdn()),
            "ip" => Some(host::ip()),
            "port" => port.map(str::to_string),
            _ => None,
        };
        value.unwrap_or_else(|| {
            error.get_or_insert_with(|| match &c[1] {
                "port" => "{port} but no `port`".to_string(),
                other => format!("unknown placeholder {{{other}}} (hostname, fqdn, ip, port)"),
            });
            String::new()
        })
    });
    match error {
        Some(e) => Err(e),
        None => Ok(out.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_keys_and_zk_watchers() {
        let c = parse_file(
            "# a comment\n[web]\npath = /services/web/{hostname}:{port}\nport = 80\n\
             data = {\"weight\": 10}\ncheck = http://127.0.0.1:{port}/health\nrise = 1\n\
             grace = 0.5\n\n[ssh]\ncmd: /etc/init.d/ssh status\nrefresh: 60\n\
             service_port: 22\nservice_hostname: 10.0.0.1\nzookeeper_path: /services/ssh\n\
             zookeeper_data: foo=bar, bah=humbug\n\n[auth]\nuser = u\npassword = p\n",
        )
        .unwrap();
        let web = &c.services["web"];
        assert_eq!(web.path, format!("/services/web/{}:80", host::hostname()));
        assert_eq!(web.data, "{\"weight\": 10}");
        assert_eq!((web.rise, web.fall), (1, 3));
        assert_eq!(web.grace, Duration::from_millis(500));
        let ssh = &c.services["ssh"];
        assert_eq!(ssh.path, "/services/ssh/10.0.0.1:22");
        assert_eq!(ssh.interval, Duration::from_secs(60));
        assert_eq!(ssh.data, r#"{"foo":"bar","bah":"humbug"}"#);
        assert_eq!(ssh.check, Check::Command("/etc/init.d/ssh status".into()));
        assert_eq!(c.credentials, Some(("u".into(), "p".into())));
    }

    #[test]
    fn the_example_file_is_valid() {
        let c = parse_file(include_str!("../../../examples/register/register.ini")).unwrap();
        let names: Vec<&String> = c.services.keys().collect();
        assert_eq!(names, ["batch", "redis", "ssh", "web"]);
        assert_eq!(c.services["web"].grace, Duration::from_secs(10));
    }

    #[test]
    fn errors_name_the_section_and_the_key() {
        let err = |text: &str| parse_file(text).unwrap_err();
        assert_eq!(
            err("[a]\npath=/s/x:1\ncheck=tcp://h:1\nfoo=1\n"),
            "[a] unknown key `foo`"
        );
        assert!(err("[a]\npath=/s/x:1\n").contains("no check"));
        assert!(err("[a]\npath=/s/{nope}\ncheck=tcp://h:1\n").contains("{nope}"));
        assert!(err("[a]\npath=/s/x:{port}\ncheck=tcp://h:1\n").contains("no `port`"));
        assert!(err("[a]\npath=s\ncheck=tcp://h:1\n").starts_with("[a] path:"));
        assert!(err("[a]\npath=/s/x\ncheck=tcp://h:1\nrise=0\n").contains("rise"));
        assert!(err("[a]\npath=/s/x\ncheck=tcp://h:1\ndata=[1]\n").contains("JSON object"));
        assert!(err("[a]\npath=/s/x\ncheck=ftp://h\n").contains("ftp"));
        assert!(err("").contains("no service"));
        let twice = "[a]\npath=/s/x\ncheck=tcp://h:1\n[b]\npath=/s/x\ncheck=tcp://h:2\n";
        assert_eq!(err(twice), "[b] path /s/x is [a]'s too");
    }
}
