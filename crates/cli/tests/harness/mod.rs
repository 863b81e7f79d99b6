//! Starts the real `spool` binary for end-to-end tests.
//!
//! Each [`Broker`] gets its own temporary data directory and a free loopback port, so
//! tests run in parallel. The process is killed when the handle drops.
#![allow(dead_code, unreachable_pub)]

pub mod cluster;
pub mod failing_disk;
pub mod rdkafka_client;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Path of the `spool` binary built for this test run.
pub fn spool_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_spool"))
}

/// `spool TOOL --bootstrap-server ADDR ARGS…`, which must succeed; its stdout.
pub fn tool_output(tool: &str, addr: &str, args: &[&str]) -> String {
    let output = Command::new(spool_bin())
        .args([tool, "--bootstrap-server", addr])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run spool {tool}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "spool {tool} {args:?} failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// `n` distinct loopback ports that were free a moment ago (held together while they
/// are picked, so no two are the same).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port")).collect();
    held.iter().map(|l| l.local_addr().expect("local addr").port()).collect()
}

/// Waits up to `within` for the process in `child` to exit by itself: its status, and
/// `child` is emptied; `None` while it still runs (it is left running).
pub fn wait_child_exit(child: &mut Option<Child>, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.as_mut()?.try_wait() {
            *child = None;
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `spool server ARGS --data-dir TEMP`, which must refuse to start, and waits
/// (at most 10 s) for it to exit; its exit code and stderr. A server that keeps
/// running fails the test.
pub fn server_refusal(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    server_refusal_in(&dir.path().join("data"), args)
}

/// [`server_refusal`] with the data directory `data_dir`.
pub fn server_refusal_in(data_dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(spool_bin())
        .arg("server")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spool server");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("spool server {args:?} was still running after 10 s; it must refuse to start");
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let mut stderr = String::new();
    use std::io::Read as _;
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    (status.code(), stderr)
}

/// A topic name no other test in this run uses.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running `spool server` process.
pub struct Broker {
    child: Option<Child>,
    /// `127.0.0.1:PORT` of the Kafka listener.
    pub addr: String,
    /// Extra arguments the broker was started with (kept for restarts).
    args: Vec<String>,
    data_dir: PathBuf,
    /// Where the broker's stderr goes.
    log_path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Broker {
    /// Starts a broker on embedded defaults, a fresh data directory and a free port.
    pub fn start() -> Broker {
        Self::start_with(&[])
    }

    /// Starts a broker with extra `spool server` arguments (e.g. `--set`, `KEY=VALUE`).
    pub fn start_with(args: &[&str]) -> Broker {
        Self::start_in_temp(format!("127.0.0.1:{}", free_port()), args)
    }

    /// Starts a broker whose listeners are its PLAINTEXT one (at `addr`, as always) and
    /// `extra` (`NAME://HOST:PORT,...`), with extra `spool server` arguments.
    pub fn start_with_extra_listeners(extra: &str, args: &[&str]) -> Broker {
        let addr = format!("127.0.0.1:{}", free_port());
        let listeners = format!("listeners=PLAINTEXT://{addr},{extra}");
        Self::start_in_temp(addr, &[&["--set", listeners.as_str()][..], args].concat())
    }

    /// Starts a broker listening at `addr` on a fresh temporary data directory.
    fn start_in_temp(addr: String, args: &[&str]) -> Broker {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        let mut broker = Broker {
            child: None,
            addr,
            args: args.iter().map(|a| a.to_string()).collect(),
            log_path: data_dir.with_extension("log"),
            data_dir,
            _temp: Some(temp),
        };
        broker.spawn();
        broker
    }

    /// Starts a broker on the data directory `data_dir`, which the caller made (on a
    /// mount point, say) and keeps; the broker's stderr goes to `log_path`.
    pub fn start_in(data_dir: PathBuf, log_path: PathBuf, args: &[&str]) -> Broker {
        let mut broker = Broker {
            child: None,
            addr: format!("127.0.0.1:{}", free_port()),
            args: args.iter().map(|a| a.to_string()).collect(),
            data_dir,
            log_path,
            _temp: None,
        };
        broker.spawn();
        broker
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("broker log file");
        // `--listen` would override a `listeners` set among the arguments, which name
        // `addr` themselves.
        let listen: &[&str] =
            if self.args.iter().any(|a| a.starts_with("listeners=")) { &[] } else { &["--listen", &self.addr] };
        let child = Command::new(spool_bin())
            .arg("server")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(listen)
            .args(&self.args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn spool server");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "spool server exited early with {status}; log:\n{}",
                        self.log()
                    );
                }
            }
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "spool server did not listen on {} within 30 s; log:\n{}",
            self.addr,
            self.log()
        );
    }

    /// What the broker wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends SIGKILL and waits for the process to end: nothing is flushed or closed.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the process again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Waits up to `within` for the process to exit by itself; its status, or None if it
    /// is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        wait_child_exit(&mut self.child, within)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
        // A failing test shows what the broker said (its log goes with the temp dir).
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(400).collect();
            eprintln!("--- last {} lines of the log of broker {} ---", tail.len(), self.addr);
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}
