//! `ndsr`: look at and change the registry by hand and in scripts.
//!
//! Exit codes: 0 success; 1 other error; 2 usage error; 3 no connection to ZooKeeper; 4 path
//! not found; 5 lock not acquired within the wait; 6 authentication failed or not authorised.
//! `ndsr lock … -- COMMAND` otherwise exits with COMMAND's status (128+N if killed by signal N).
//! Errors go to stderr in one line; data goes to stdout only.

mod host;
mod json;
mod register;
mod yaml;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ndsr::status::{
    Error, NDSR_E_AUTH_FAILED, NDSR_E_INVALID_ARGUMENT, NDSR_E_NO_AUTH, NDSR_E_NO_CONNECTION,
    NDSR_E_TIMEOUT,
};
use ndsr::Event;
use ndsr::Options;
use ndsr::Registry;
use serde_json::{Map, Value};

const EXIT_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NO_CONNECTION: u8 = 3;
const EXIT_NOT_FOUND: u8 = 4;
const EXIT_LOCK_NOT_ACQUIRED: u8 = 5;
const EXIT_AUTH: u8 = 6;

#[derive(Parser)]
#[command(
    name = "ndsr",
    version,
    about = "Look at and change an nd_service_registry / libndsr registry in ZooKeeper.",
    after_help = "Exit codes: 0 success, 1 other error, 2 usage error, 3 no connection, 4 not found,\n\
                  5 lock not acquired, 6 authentication failed or not authorised."
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
pub(crate) struct Common {
    /// ZooKeeper connect string, host:port[,host:port...][/chroot].
    #[arg(
        long,
        short = 's',
        global = true,
        env = "NDSR_SERVER",
        default_value = "localhost:2181"
    )]
    pub(crate) server: String,
    /// Digest authentication user.
    #[arg(long, short = 'u', global = true, env = "NDSR_USERNAME")]
    username: Option<String>,
    /// Digest authentication password (better: set NDSR_PASSWORD, which `ps` does not show).
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "NDSR_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// Session timeout and the longest wait for ZooKeeper, in seconds.
    #[arg(long, global = true, default_value_t = 5.0)]
    timeout: f64,
    /// Print no log lines, only data and errors.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// Log level on stderr: error, warn, info, debug or trace [default: error; info for
    /// register].
    #[arg(long, global = true)]
    loglevel: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
    Dir,
}

#[derive(Subcommand)]
enum Command {
    /// Print a path (and with --recursive its subtree) as the Python original's `ndsr get` does.
    #[command(
        after_help = "Examples:\n  ndsr get /services --recursive --format dir\n  ndsr get /services/web --data --format json"
    )]
    Get {
        /// The path to read.
        #[arg(default_value = "/")]
        path: String,
        /// Include each node's data.
        #[arg(long, short = 'd')]
        data: bool,
        /// Include the children, recursively.
        #[arg(long, short = 'r')]
        recursive: bool,
        /// Output format.
        #[arg(long, alias = "outputformat", value_enum, default_value = "yaml")]
        format: Format,
        /// Print the path's usable instances instead, one `host:port` per line (children read
        /// as instances: see the README's "Discovery").
        #[arg(long, conflicts_with_all = ["data", "recursive"])]
        instances: bool,
        /// Print libndsr's document of the path instead (one JSON line, the shape `watch`
        /// prints: children with their data).
        #[arg(long, conflicts_with_all = ["data", "recursive", "instances"])]
        doc: bool,
    },
    /// Pick one instance of a service and print its `host:port` (exit 1 when none is usable).
    #[command(after_help = "Examples:
  curl http://$(ndsr pick /services/web)/health
  ndsr pick /services/cache --strategy consistent --key user-42")]
    Pick {
        /// The service's path.
        path: String,
        /// random, round_robin, weighted or consistent (which needs --key).
        #[arg(long, default_value = "random")]
        strategy: String,
        /// The key of the consistent strategy.
        #[arg(long)]
        key: Option<String>,
        /// key=value matches on instance data, comma-separated (e.g. zone=eu-1).
        #[arg(long)]
        filter: Option<String>,
    },
    /// Write JSON data to a path: a persistent node, or with --ephemeral a registration that
    /// lasts until this command is interrupted (SIGINT/SIGTERM).
    #[command(
        after_help = "Examples:\n  ndsr set /config/web '{\"threads\":8}'\n  ndsr set /services/web/$(hostname):80 '{\"weight\":10}' --ephemeral"
    )]
    Set {
        /// The path to write.
        path: String,
        /// A JSON object, a JSON string, or null (the default).
        #[arg(default_value = "null")]
        json: String,
        /// Register an ephemeral node and keep it until interrupted.
        #[arg(long, short = 'e')]
        ephemeral: bool,
        /// Store the JSON as given, without the `pid` and `created` keys the original (and
        /// libndsr) add to what they write: for a configuration node other programs read.
        #[arg(long, conflicts_with = "ephemeral")]
        raw: bool,
    },
    /// Delete a path. A path that does not exist is not an error.
    #[command(
        after_help = "Example:\n  ndsr unset /config/old\n  ndsr unset /services/old --recursive"
    )]
    Unset {
        /// The path to delete.
        path: String,
        /// Delete its children first, all the way down.
        #[arg(long, short = 'r')]
        recursive: bool,
    },
    /// Print the path's document as one JSON line now and after every change, until interrupted;
    /// connection changes go to stderr (a silent stdout may mean "no change" or "no
    /// connection": the stderr line tells which).
    #[command(
        after_help = "Example:\n  ndsr watch /services/web | while read -r doc; do echo \"$doc\" | jq '.children|keys'; done"
    )]
    Watch {
        /// The path to watch.
        path: String,
    },
    /// Print this command's own handle's stats (see ndsr_stats_json), after reading PATHs (to
    /// see what watching them cost): a connection check with numbers.
    #[command(after_help = "Examples:\n  ndsr stats /services/web\n  ndsr stats --prometheus")]
    Stats {
        /// Paths to read (and watch) first.
        paths: Vec<String>,
        /// Prometheus' text format instead of JSON.
        #[arg(long)]
        prometheus: bool,
    },
    /// Keep services registered while their health checks pass (the successor of
    /// zk_watcher): a configuration file of services, or one service on the command line.
    /// SIGTERM/SIGINT drain every registration and exit 0; SIGHUP reloads the file.
    #[command(after_help = "Examples:
  ndsr register /services/web/{hostname}:80 --check http://127.0.0.1:80/health --data '{\"weight\":10}'
  ndsr register --config /etc/ndsr/register.ini
  ndsr register --config /etc/ndsr/register.ini --once
  ndsr register --status")]
    Register(Box<register::RegisterArgs>),
    /// Run COMMAND while holding the lock PATH (like flock); exit with COMMAND's status, or 5 if
    /// the lock was not acquired within --wait.
    #[command(after_help = "Example:\n  ndsr lock /locks/nightly --wait 60 -- ./nightly-job.sh")]
    Lock {
        /// The lock path (kazoo Semaphore layout, shared with the Python original).
        path: String,
        /// How many holders at once.
        #[arg(long, default_value_t = 1)]
        simultaneous: u32,
        /// Seconds to wait for the lock (0 = one attempt).
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
        /// Holder name stored in the lock node (default: host:pid).
        #[arg(long)]
        name: Option<String>,
        /// The command to run, after `--`.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
}

/// A failure with its exit code and one-line message.
pub(crate) struct Fail(u8, String);

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let code = match e.code {
            NDSR_E_NO_CONNECTION | NDSR_E_TIMEOUT => EXIT_NO_CONNECTION,
            NDSR_E_AUTH_FAILED | NDSR_E_NO_AUTH => EXIT_AUTH,
            NDSR_E_INVALID_ARGUMENT => EXIT_USAGE,
            _ => EXIT_ERROR,
        };
        Fail(code, e.message)
    }
}

fn open(c: &Common) -> Result<Arc<Registry>, Fail> {
    Ok(Registry::open(Some(&c.server), options(c)?)?)
}

/// The handle's options from the common arguments: the timeout and the credentials.
fn options(c: &Common) -> Result<Options, Fail> {
    let mut o = Options::default();
    if !(c.timeout.is_finite() && c.timeout > 0.0) {
        return Err(Fail(
            EXIT_USAGE,
            "--timeout must be a positive number of seconds".into(),
        ));
    }
    o.set(
        "timeout_ms",
        &((c.timeout * 1000.0) as u64).max(100).to_string(),
    )?;
    match (&c.username, &c.password) {
        (Some(u), Some(p)) => {
            o.set("username", u)?;
            o.set("password", p)?;
        }
        (None, None) => {}
        _ => {
            return Err(Fail(
                EXIT_USAGE,
                "--username and --password go together".into(),
            ))
        }
    }
    Ok(o)
}

/// The original's `get` structure: `{path: {"data": …, "children": [ … ]}}`.
fn node_tree(r: &Registry, path: &str, data: bool, recursive: bool) -> Result<Value, Fail> {
    let doc: Value =
        serde_json::from_str(&r.get_json(path)?).map_err(|e| Fail(EXIT_ERROR, e.to_string()))?;
    if doc["stat"].is_null() {
        return Err(Fail(EXIT_NOT_FOUND, format!("{path}: no such node")));
    }
    let mut body = Map::new();
    if data {
        body.insert("data".into(), doc["data"].clone());
    }
    if recursive {
        let mut names: Vec<&String> = doc["children"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        names.sort();
        let mut children = Vec::new();
        for name in names {
            let child = match path {
                "/" => format!("/{name}"),
                _ => format!("{path}/{name}"),
            };
            match node_tree(r, &child, data, recursive) {
                Ok(v) => children.push(v),
                // Deleted while we walked: skip it.
                Err(Fail(EXIT_NOT_FOUND, _)) => {}
                Err(e) => return Err(e),
            }
        }
        body.insert("children".into(), Value::Array(children));
    }
    let mut top = Map::new();
    top.insert(path.to_string(), Value::Object(body));
    Ok(Value::Object(top))
}

/// `dir`: every path, depth first, one per line.
fn paths(v: &Value, out: &mut Vec<String>) {
    if let Value::Object(m) = v {
        for (k, body) in m {
            if k.starts_with('/') && body.is_object() {
                out.push(k.clone());
                if let Some(Value::Array(children)) = body.get("children") {
                    for c in children {
                        paths(c, out);
                    }
                }
            }
        }
    }
}

/// `host:port` of an instance (IPv6 in brackets).
fn address(i: &ndsr::discovery::Instance) -> String {
    match i.host.contains(':') {
        true => format!("[{}]:{}", i.host, i.port),
        false => format!("{}:{}", i.host, i.port),
    }
}

/// `ndsr get --instances`: the usable instances of `path`, one per line.
fn print_instances(r: &Registry, path: &str) -> Result<u8, Fail> {
    let doc = r.snapshot(path)?;
    let mut out = std::io::stdout().lock();
    for i in ndsr::discovery::instances(&doc)
        .0
        .iter()
        .filter(|i| i.usable())
    {
        writeln!(out, "{}", address(i)).map_err(|e| Fail(EXIT_ERROR, e.to_string()))?;
    }
    Ok(0)
}

/// `ndsr pick`: one instance of `path`, by a picker with these options.
fn pick(
    r: &Arc<Registry>,
    path: &str,
    strategy: &str,
    key: Option<&str>,
    filter: Option<&str>,
) -> Result<u8, Fail> {
    let mut o = ndsr::discovery::PickerOptions::default();
    o.set("strategy", strategy)?;
    if let Some(f) = filter {
        o.set("filter", f)?;
    }
    let p = r.picker(path, o)?;
    let name = p.pick(key.map(str::as_bytes), |n| n.to_string_lossy().into_owned())?;
    let doc = r.snapshot(path)?;
    let (found, _) = ndsr::discovery::instances(&doc);
    let chosen = found
        .iter()
        .find(|i| doc.name_str(i.index) == Some(name.as_str()))
        .map_or(name.clone(), address);
    println!("{chosen}");
    Ok(0)
}

pub(crate) type Signals = signal_hook::iterator::Signals;

/// The signals that end a command that waits (a registration, a watch, a locked command).
const ENDING_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

fn wait_for_signal(mut signals: Signals) -> i32 {
    signals.forever().next().unwrap_or(libc::SIGTERM)
}

/// `unset --recursive`: deletes the children of `path`, deepest first (the tree `get
/// --recursive` walks; a path already gone has none).
fn unset_children(r: &Registry, path: &str) -> Result<(), Fail> {
    let tree = match node_tree(r, path, false, true) {
        Err(Fail(EXIT_NOT_FOUND, _)) => return Ok(()),
        other => other?,
    };
    let mut all = Vec::new();
    paths(&tree, &mut all);
    // Depth first, parents before children: reversed, children first; `path` itself is left.
    for child in all.iter().rev().filter(|p| *p != path) {
        if r.unset(child)? == ndsr::Applied::Queued {
            return Err(Fail(
                EXIT_NO_CONNECTION,
                format!("{child}: not deleted: no connection to ZooKeeper"),
            ));
        }
    }
    Ok(())
}

/// `watch`: one stderr line per connection change after the first state, saying whether the
/// document is live or last-known.
fn report_connection_changes(r: &Registry, path: &str, quiet: bool) -> Result<(), Fail> {
    if quiet {
        return Ok(());
    }
    let path = path.to_string();
    let first = std::sync::atomic::AtomicBool::new(true);
    let first = Arc::new(first);
    r.on_state(ndsr::callback(move |e| {
        let Event::State(s) = e else { return };
        let was_first = first.swap(false, std::sync::atomic::Ordering::SeqCst);
        let line = match s {
            ndsr::State::Connected if was_first => return,
            ndsr::State::Connected => "connected: the document is live again",
            ndsr::State::ConnectedReadOnly => "connected read-only: the document is live",
            ndsr::State::Disconnected => {
                "disconnected: the document is last-known until the connection is back"
            }
            ndsr::State::Expired => "session expired: reading again on a new session",
            ndsr::State::AuthFailed => "authentication failed: the document is last-known",
            ndsr::State::Closed => return,
        };
        eprintln!("ndsr: {path}: {line}");
    }))?;
    Ok(())
}

/// `ndsr stats`: reads `paths`, then prints the handle's stats.
fn print_stats(r: &Registry, paths: &[String], prometheus: bool) -> Result<u8, Fail> {
    for p in paths {
        r.get_json(p)?;
    }
    let text = if prometheus {
        r.stats_prometheus()?
    } else {
        r.stats_json()?
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end()).map_err(|e| Fail(EXIT_ERROR, e.to_string()))?;
    Ok(0)
}

/// A clap error on one line: its message and what it lists (the missing arguments, say),
/// without the usage paragraph and the hints.
fn one_line(error: &str) -> String {
    let message = error.split("\nUsage:").next().unwrap_or(error);
    let words: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:") && !l.starts_with("For more"))
        .collect();
    words.join(" ").trim_start_matches("error: ").to_string()
}

/// Prints `text` and a newline on stdout.
fn print_line(text: &str) -> Result<(), Fail> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Fail(EXIT_ERROR, e.to_string()))
}

/// `ndsr get` (without --instances or --doc): the original's output, byte for byte.
fn print_tree(
    r: &Registry,
    path: &str,
    data: bool,
    recursive: bool,
    format: Format,
) -> Result<u8, Fail> {
    ndsr::validate_path(path)?;
    let tree = node_tree(r, path, data, recursive)?;
    // The original prints the formatted text with print(), which adds a newline.
    let text = match format {
        Format::Yaml => yaml::dump(&tree),
        Format::Json => json::dump(&tree),
        Format::Dir => {
            let mut p = Vec::new();
            paths(&tree, &mut p);
            p.join("\n")
        }
    };
    print_line(&text)?;
    Ok(0)
}

/// `ndsr set`: persistent data (as given with `raw`), or an ephemeral registration held until
/// one of `signals`.
fn set(
    r: &Registry,
    path: &str,
    json: &str,
    ephemeral: bool,
    raw: bool,
    quiet: bool,
    signals: Option<Signals>,
) -> Result<u8, Fail> {
    let applied = match (ephemeral, raw) {
        (true, _) => r.set_node(path, json)?,
        (false, true) => r.set_data_raw(path, json)?,
        (false, false) => r.set_data(path, json)?,
    };
    if applied == ndsr::Applied::Queued {
        return Err(Fail(
            EXIT_NO_CONNECTION,
            format!("{path}: not written: no connection to ZooKeeper"),
        ));
    }
    if ephemeral {
        if !quiet {
            eprintln!("ndsr: {path} registered; held until interrupted (SIGINT, SIGTERM)");
        }
        if let Some(signals) = signals {
            wait_for_signal(signals);
        }
    }
    Ok(0)
}

/// `ndsr watch`: one JSON line per document until one of `signals` or a closed stdout;
/// connection changes on stderr.
fn watch(r: &Registry, path: &str, quiet: bool, signals: Option<Signals>) -> Result<u8, Fail> {
    report_connection_changes(r, path, quiet)?;
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let broken = tx.clone();
    r.on_change(
        path,
        ndsr::callback(move |e| {
            if let Event::Document { json, .. } = e {
                let mut out = std::io::stdout().lock();
                if let Err(err) = writeln!(out, "{json}").and_then(|_| out.flush()) {
                    let _ = broken.send(Err(err.to_string()));
                }
            }
        }),
    )?;
    std::thread::spawn(move || {
        if let Some(signals) = signals {
            wait_for_signal(signals);
        }
        let _ = tx.send(Ok(()));
    });
    // Either way: a signal, or the reader went away (a closed pipe: stop quietly, as
    // `yes | head` does).
    let _ = rx.recv();
    Ok(0)
}

fn run(cli: Cli, level: u8) -> Result<u8, Fail> {
    // Taken before anything happens, so that an early SIGINT/SIGTERM/SIGHUP still ends a waiting
    // command cleanly (an ephemeral node is removed at once, a lock released, not left for the
    // session timeout). Other commands keep the default: a signal ends them.
    let signals = match cli.command {
        Command::Set {
            ephemeral: true, ..
        }
        | Command::Watch { .. }
        | Command::Lock { .. } => Some(
            Signals::new(ENDING_SIGNALS)
                .map_err(|e| Fail(EXIT_ERROR, format!("cannot handle signals: {e}")))?,
        ),
        _ => None,
    };
    let quiet = cli.common.quiet;
    if let Command::Register(args) = cli.command {
        return register::run(&cli.common, *args, level);
    }
    let r = open(&cli.common)?;
    let code = match cli.command {
        Command::Get {
            path, instances, ..
        } if instances => print_instances(&r, &path)?,
        Command::Get { path, doc, .. } if doc => {
            print_line(&r.get_json(&path)?)?;
            0
        }
        Command::Pick {
            path,
            strategy,
            key,
            filter,
        } => pick(&r, &path, &strategy, key.as_deref(), filter.as_deref())?,
        Command::Stats { paths, prometheus } => print_stats(&r, &paths, prometheus)?,
        Command::Get {
            path,
            data,
            recursive,
            format,
            ..
        } => print_tree(&r, &path, data, recursive, format)?,
        Command::Set {
            path,
            json,
            ephemeral,
            raw,
        } => set(&r, &path, &json, ephemeral, raw, quiet, signals)?,
        Command::Unset { path, recursive } => {
            if recursive {
                unset_children(&r, &path)?;
            }
            if r.unset(&path)? == ndsr::Applied::Queued {
                return Err(Fail(
                    EXIT_NO_CONNECTION,
                    format!("{path}: not deleted: no connection to ZooKeeper"),
                ));
            }
            0
        }
        Command::Watch { path } => watch(&r, &path, quiet, signals)?,
        Command::Register(_) => unreachable!("handled above"),
        Command::Lock {
            path,
            simultaneous,
            wait,
            name,
            command,
        } => {
            if !(wait.is_finite() && wait >= 0.0) {
                return Err(Fail(
                    EXIT_USAGE,
                    "--wait must be a number of seconds >= 0".into(),
                ));
            }
            let name =
                name.unwrap_or_else(|| format!("{}:{}", host::hostname(), std::process::id()));
            let wait = Duration::from_secs_f64(wait);
            let signals = signals.expect("taken for lock");
            return run_locked(r, &path, &name, simultaneous, wait, &command, signals);
        }
    };
    r.close();
    Ok(code)
}

/// `ndsr lock`: takes the lock, runs `command` while holding it, releases it. A signal that
/// ends the tool (SIGINT, SIGTERM, SIGHUP) is passed on to the command, which is waited for
/// before the lock is released: the lock is never free while the command runs. A signal that
/// comes before the command starts ends the wait for the lock.
fn run_locked(
    r: std::sync::Arc<Registry>,
    path: &str,
    name: &str,
    simultaneous: u32,
    wait: Duration,
    command: &[String],
    mut signals: Signals,
) -> Result<u8, Fail> {
    use std::sync::atomic::{AtomicI32, Ordering};
    let child_pid = std::sync::Arc::new(AtomicI32::new(0));
    let received = std::sync::Arc::new(AtomicI32::new(0));
    let handle = signals.handle();
    let forwarder = {
        let (child_pid, received, r) = (child_pid.clone(), received.clone(), r.clone());
        std::thread::spawn(move || {
            for sig in signals.forever() {
                received.store(sig, Ordering::SeqCst);
                match child_pid.load(Ordering::SeqCst) {
                    // SAFETY: signalling the command we started (waited for, so its pid is ours).
                    pid if pid > 0 => unsafe {
                        libc::kill(pid, sig);
                    },
                    // Waiting for the lock: stop waiting.
                    0 => r.close(),
                    // The lock is held and the command about to start: it is not started.
                    _ => {}
                }
            }
        })
    };
    let interrupted = |received: &AtomicI32| match received.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(128u8.wrapping_add(sig as u8)),
    };
    let lease = match r.lock(path, name, simultaneous, wait) {
        Ok(l) => l,
        Err(_) if interrupted(&received).is_some() => {
            handle.close();
            return Ok(interrupted(&received).unwrap_or(1));
        }
        Err(e) if e.code == NDSR_E_TIMEOUT => {
            return Err(Fail(
                EXIT_LOCK_NOT_ACQUIRED,
                format!("{path}: lock not acquired within {} s", wait.as_secs_f64()),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    child_pid.store(-1, Ordering::SeqCst);
    if let Some(code) = interrupted(&received) {
        let _ = r.unlock(&lease);
        handle.close();
        return Ok(code);
    }
    let status = match std::process::Command::new(&command[0])
        .args(&command[1..])
        .spawn()
    {
        Ok(mut child) => {
            child_pid.store(child.id() as i32, Ordering::SeqCst);
            // A signal taken just before the pid was published is passed on now.
            if let Some(sig) = interrupted(&received).map(|c| c.wrapping_sub(128) as i32) {
                // SAFETY: as above.
                unsafe { libc::kill(child.id() as i32, sig) };
            }
            child.wait()
        }
        Err(e) => Err(e),
    };
    let _ = r.unlock(&lease);
    handle.close();
    let _ = forwarder.join();
    r.close();
    match status {
        Ok(s) => Ok(match s.code() {
            Some(c) => c as u8,
            None => {
                use std::os::unix::process::ExitStatusExt;
                128u8.wrapping_add(s.signal().unwrap_or(0) as u8)
            }
        }),
        Err(e) => Err(Fail(127, format!("{}: {e}", command[0]))),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // A usage error: one line, as every other error (clap's own is a paragraph).
        Err(e) if e.use_stderr() => {
            eprintln!("ndsr: {} (ndsr --help)", one_line(&e.to_string()));
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(0);
        }
    };
    let default_level = match cli.command {
        Command::Register(_) => "info",
        _ => "error",
    };
    let level = if cli.common.quiet {
        1
    } else {
        match cli.common.loglevel.as_deref().unwrap_or(default_level) {
            "error" => 1,
            "warn" | "warning" => 2,
            "info" => 3,
            "debug" => 4,
            "trace" => 5,
            other => {
                eprintln!(
                    "ndsr: --loglevel must be error, warn, info, debug or trace, not {other:?}"
                );
                return ExitCode::from(EXIT_USAGE);
            }
        }
    };
    ndsr::set_log_sink(ndsr::SinkFn::Stderr, std::ptr::null_mut(), level);
    match run(cli, level as u8) {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, message)) => {
            eprintln!("ndsr: {message}");
            ExitCode::from(code)
        }
    }
}
