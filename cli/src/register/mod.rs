//! `ndsr register`: keeps services that cannot link libndsr (nginx, HAProxy, Redis, a JVM)
//! registered while their health checks pass — the successor of zk_watcher and nerve. One
//! session for every service; a worker thread per service (`service`); SIGTERM/SIGINT drain
//! every registration and exit 0, SIGHUP reloads the configuration file, changing only the
//! services that changed.

mod check;
mod config;
mod service;
mod status;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use ndsr::Registry;

use self::config::{Config, Keys};
use self::service::{Health, Shared, Worker};
use self::status::{notify, Board, Log};
use crate::{Fail, EXIT_ERROR, EXIT_USAGE};

/// The arguments of `ndsr register`.
#[derive(Args)]
pub struct RegisterArgs {
    /// The configuration file: an INI section per service (see the README, "ndsr register").
    #[arg(long, short = 'c', conflicts_with = "path")]
    config: Option<PathBuf>,
    /// One service's registration path instead of a file ({hostname}, {fqdn}, {ip}, {port}
    /// are expanded).
    path: Option<String>,
    /// The registered data, a JSON object.
    #[arg(long, requires = "path")]
    data: Option<String>,
    /// http://… (a GET expecting --expect) or tcp://host:port (a connect).
    #[arg(long, requires = "path", conflicts_with = "check_cmd")]
    check: Option<String>,
    /// A shell command that passes with exit code 0 (killed at the timeout).
    #[arg(long, requires = "path")]
    check_cmd: Option<String>,
    /// HTTP statuses that pass, comma-separated (default 2xx).
    #[arg(long, requires = "check")]
    expect: Option<String>,
    /// The port, for {port}.
    #[arg(long, requires = "path")]
    port: Option<String>,
    /// Seconds between checks (default 5).
    #[arg(long, requires = "path")]
    interval: Option<String>,
    /// Seconds a check may take (default 2). (`--timeout` is the session's, as for every
    /// command.)
    #[arg(long, requires = "path")]
    check_timeout: Option<String>,
    /// Passes in a row before registering (default 2).
    #[arg(long, requires = "path")]
    rise: Option<String>,
    /// Failures in a row before removing (default 3).
    #[arg(long, requires = "path")]
    fall: Option<String>,
    /// Seconds shown as draining before removal on stop (default 5; fractions allowed).
    #[arg(long, requires = "path")]
    grace: Option<String>,
    /// Run every check once, print what would be registered, and exit (0: every check
    /// passes, 1: some fail).
    #[arg(long)]
    once: bool,
    /// Print the running daemon's status file and exit (1 if the daemon is not running).
    #[arg(long, conflicts_with_all = ["config", "path", "once"])]
    status: bool,
    /// The status file kept up to date [default: $RUNTIME_DIRECTORY, /run or
    /// $XDG_RUNTIME_DIR/ndsr-register.json].
    #[arg(long)]
    status_file: Option<PathBuf>,
}

impl RegisterArgs {
    /// The configuration: the file's, or the one service of the command line.
    fn load(&self) -> Result<Config, Fail> {
        let config = match (&self.config, &self.path) {
            (Some(file), _) => read_config(file),
            (None, Some(path)) => self.command_line_service(path),
            (None, None) => Err("give --config FILE, or a PATH and --check or --check-cmd".into()),
        };
        config.map_err(|e| Fail(EXIT_USAGE, e))
    }

    fn command_line_service(&self, path: &str) -> Result<Config, String> {
        let given = [
            ("path", Some(path)),
            ("data", self.data.as_deref()),
            ("check", self.check.as_deref()),
            ("check_cmd", self.check_cmd.as_deref()),
            ("expect", self.expect.as_deref()),
            ("port", self.port.as_deref()),
            ("interval", self.interval.as_deref()),
            ("timeout", self.check_timeout.as_deref()),
            ("rise", self.rise.as_deref()),
            ("fall", self.fall.as_deref()),
            ("grace", self.grace.as_deref()),
        ];
        let keys: Keys = given
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), (*v)?.to_string())))
            .collect();
        // An error names its key: as a flag here.
        let flag = |e: String| match e.strip_prefix("timeout:") {
            Some(rest) => format!("--check-timeout:{rest}"),
            None => format!("--{}", e.replacen("check_cmd", "check-cmd", 1)),
        };
        let service = config::service("service", &keys).map_err(flag)?;
        Ok(Config {
            services: BTreeMap::from([(service.name.clone(), service)]),
            credentials: None,
        })
    }
}

fn read_config(file: &PathBuf) -> Result<Config, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    config::parse_file(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Runs `ndsr register`; its exit code.
pub fn run(common: &crate::Common, args: RegisterArgs, level: u8) -> Result<u8, Fail> {
    let status_file = args
        .status_file
        .clone()
        .unwrap_or_else(status::default_file);
    if args.status {
        return match status::show(&status_file) {
            Ok(running) => Ok(u8::from(!running)),
            Err(e) => Err(Fail(EXIT_ERROR, e)),
        };
    }
    let config = args.load()?;
    if args.once {
        return Ok(once(&config));
    }
    let signals = crate::Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGHUP])
        .map_err(|e| Fail(EXIT_ERROR, format!("cannot handle signals: {e}")))?;
    let log = Log(level);
    let registry = open(common, &config, log)?;
    let shared = Shared {
        board: Arc::new(Board::new(Some(status_file), registry.clone(), log)),
        registry,
        log,
    };
    let mut daemon = Daemon {
        file: args.config.clone(),
        config: Config::default(),
        workers: BTreeMap::new(),
        leaving: Vec::new(),
        shared,
    };
    daemon.apply(config);
    notify(&format!(
        "READY=1\nSTATUS={}",
        daemon.shared.board.summary()
    ));
    daemon.serve(signals);
    Ok(0)
}

/// The session. When ZooKeeper cannot be reached within the timeout, the daemon starts anyway
/// (its checks run, registrations are made once the session is).
fn open(common: &crate::Common, config: &Config, log: Log) -> Result<Arc<Registry>, Fail> {
    let mut o = crate::options(common)?;
    if let Some((u, p)) = &config.credentials {
        o.set("username", u)?;
        o.set("password", p)?;
    }
    match Registry::open(Some(&common.server), o.clone()) {
        Err(e) if e.code == ndsr::status::NDSR_E_NO_CONNECTION => {
            log.warn("session", &format!("{}; starting anyway", e.message));
            o.set("lazy", "true")?;
            Ok(Registry::open(Some(&common.server), o)?)
        }
        opened => Ok(opened?),
    }
}

/// `--once`: every check run once, side by side; what would be registered.
fn once(config: &Config) -> u8 {
    let results: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = config
            .services
            .values()
            .map(|s| scope.spawn(move || (s, s.check.run(s.timeout))))
            .collect();
        runs.into_iter().filter_map(|r| r.join().ok()).collect()
    });
    let mut all_pass = true;
    for (s, outcome) in results {
        all_pass &= outcome.ok;
        let verdict = match outcome.ok {
            true => "would register",
            false => "would not register",
        };
        println!(
            "{}: {} {}: check {}: {}: {verdict}",
            s.name,
            s.path,
            s.data,
            s.check.describe(),
            outcome.detail
        );
    }
    u8::from(!all_pass)
}

/// The running services and what to do on a signal.
struct Daemon {
    file: Option<PathBuf>,
    config: Config,
    workers: BTreeMap<String, Worker>,
    /// Removed by a reload, still draining.
    leaving: Vec<Worker>,
    shared: Shared,
}

impl Daemon {
    /// Waits for signals: SIGHUP reloads, SIGTERM or SIGINT drains and returns.
    fn serve(&mut self, mut signals: crate::Signals) {
        for sig in signals.forever() {
            match sig {
                libc::SIGHUP => self.reload(),
                _ => break,
            }
        }
        self.stop(signals);
    }

    fn reload(&mut self) {
        let log = self.shared.log;
        let Some(file) = self.file.clone() else {
            log.warn(
                "reload",
                "SIGHUP: no configuration file to reload (a command-line service)",
            );
            return;
        };
        notify("RELOADING=1");
        match read_config(&file) {
            Ok(config) => {
                log.info("reload", &format!("{}: reloaded", file.display()));
                self.apply(config);
            }
            Err(e) => log.error(
                "reload",
                &format!("refused, the running configuration stays: {e}"),
            ),
        }
        notify(&format!("READY=1\nSTATUS={}", self.shared.board.summary()));
    }

    /// Makes `config` the running one: services added, removed, changed; the others untouched.
    fn apply(&mut self, config: Config) {
        if config.credentials != self.config.credentials {
            if let Some((u, p)) = &config.credentials {
                if let Err(e) = self.shared.registry.set_credentials(u, p) {
                    self.shared.log.error("auth", &e.message);
                }
            }
        }
        let mut old = std::mem::take(&mut self.workers);
        for (name, service) in &config.services {
            let health = match old.remove(name) {
                Some(w) if w.service == *service => {
                    self.workers.insert(name.clone(), w);
                    continue;
                }
                // The same registration with another check or data: it carries on.
                Some(w) if w.service.path == service.path => w.handover(),
                Some(w) => {
                    w.drain();
                    self.leaving.push(w);
                    Health::down()
                }
                None => Health::down(),
            };
            self.start(service.clone(), health);
        }
        for (_, w) in old {
            w.drain();
            self.leaving.push(w);
        }
        self.config = config;
    }

    fn start(&mut self, service: config::Service, health: Health) {
        let name = service.name.clone();
        match Worker::start(service, health, self.shared.clone()) {
            Ok(w) => {
                self.workers.insert(name, w);
            }
            Err(e) => self
                .shared
                .log
                .error(&name, &format!("no thread for its checks: {e}")),
        }
    }

    /// Drains every registration (a second signal cuts the grace periods short) and closes.
    fn stop(&mut self, signals: crate::Signals) {
        notify("STOPPING=1");
        let log = self.shared.log;
        let n = self.workers.len();
        let plural = if n == 1 { "" } else { "s" };
        log.info("stop", &format!("stopping: draining {n} service{plural}"));
        let all: Vec<Worker> = std::mem::take(&mut self.workers)
            .into_values()
            .chain(self.leaving.drain(..))
            .collect();
        let hurry: Vec<_> = all.iter().map(Worker::hurry_handle).collect();
        let handle = signals.handle();
        let hurrier = std::thread::spawn(move || {
            let mut signals = signals;
            if signals.forever().next().is_some() {
                hurry.iter().for_each(|h| h());
            }
        });
        for w in &all {
            w.drain();
        }
        for w in all {
            w.join();
        }
        handle.close();
        let _ = hurrier.join();
        self.shared.registry.close();
        self.shared.board.close();
        log.info("stop", "every registration removed");
    }
}
