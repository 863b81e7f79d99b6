//! Network partitions between the nodes of a [`super::Cluster`]: per-node cgroups and an
//! iptables chain per cluster (the mechanism and its limits are in the parent's doc).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The cgroup v2 groups of one cluster: `<mount>/spool-test-<name>/node-<id>`.
pub(super) struct Cgroups {
    mount: PathBuf,
    dir_name: String,
}

const CGROUP_PREFIX: &str = "spool-test-";

impl Cgroups {
    /// Finds the cgroup2 mount and makes a group per node.
    ///
    /// # Errors
    /// Why not (no cgroup2 mount, not allowed to create groups).
    pub(super) fn create(name: &str, nodes: usize) -> Result<Cgroups, String> {
        let mounts = std::fs::read_to_string("/proc/self/mounts")
            .map_err(|e| format!("/proc/self/mounts: {e}"))?;
        let mount = mounts
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == "cgroup2")
            .map(|f| PathBuf::from(f[1]))
            .ok_or("no cgroup2 file system is mounted")?;
        remove_stale_cgroups(&mount);
        let groups = Cgroups {
            mount,
            dir_name: format!("{CGROUP_PREFIX}{name}"),
        };
        for id in 1..=nodes as i32 {
            let dir = groups.node_dir(id);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create cgroup {} (needs root): {e}", dir.display()))?;
        }
        Ok(groups)
    }

    pub(super) fn node_dir(&self, id: i32) -> PathBuf {
        self.mount.join(&self.dir_name).join(format!("node-{id}"))
    }

    /// The group's path relative to the cgroup2 root, as `-m cgroup --path` wants it.
    pub(super) fn rel_path(&self, id: i32) -> String {
        format!("/{}/node-{id}", self.dir_name)
    }

    /// Removes the groups (the nodes must have exited; retried briefly while the kernel
    /// finishes reaping).
    pub(super) fn destroy(self) {
        let top = self.mount.join(&self.dir_name);
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let mut left = false;
            if let Ok(entries) = std::fs::read_dir(&top) {
                for entry in entries.filter_map(Result::ok) {
                    if entry.file_type().is_ok_and(|t| t.is_dir())
                        && std::fs::remove_dir(entry.path()).is_err()
                    {
                        left = true;
                    }
                }
            }
            if (!left && std::fs::remove_dir(&top).is_ok()) || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether the process with `pid` exists.
fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The owning test pid in a name made by this harness (`<prefix><pid>-<n>`).
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

fn remove_stale_cgroups(mount: &Path) {
    let Ok(entries) = std::fs::read_dir(mount) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if owner_pid(&name, CGROUP_PREFIX).is_some_and(|pid| !pid_alive(pid)) {
            if let Ok(children) = std::fs::read_dir(entry.path()) {
                for child in children.filter_map(Result::ok) {
                    let _ = std::fs::remove_dir(child.path());
                }
            }
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

const CHAIN_PREFIX: &str = "SPOOL-";

/// This cluster's iptables chain and the rules each isolation added to it.
pub(super) struct NetCut {
    chain: String,
    rules: Vec<(i32, Vec<String>)>,
}

pub(super) fn drop_rule(cgroup: &str, kafka_port: u16, controller_port: u16) -> Vec<String> {
    [
        "-p",
        "tcp",
        "-m",
        "cgroup",
        "--path",
        cgroup,
        "-m",
        "multiport",
        "--dports",
        &format!("{kafka_port},{controller_port}"),
        "-j",
        "DROP",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn iptables(args: &[&str]) -> Result<String, String> {
    // /usr/sbin is not on every PATH a test runs with.
    let program = if Path::new("/usr/sbin/iptables").exists() {
        "/usr/sbin/iptables"
    } else {
        "iptables"
    };
    let output = Command::new(program)
        .arg("-w")
        .arg("10")
        .args(args)
        .output()
        .map_err(|e| {
            format!("cannot run iptables (install it with scripts/install-test-deps): {e}")
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

pub(super) fn iptables_cgroup_match_available() -> Result<(), String> {
    let help = iptables(&["-m", "cgroup", "-h"])?;
    if help.contains("--path") {
        Ok(())
    } else {
        Err("this iptables has no cgroup --path match".into())
    }
}

impl NetCut {
    pub(super) fn create(name: &str) -> Result<NetCut, String> {
        remove_stale_chains();
        let chain = format!("{CHAIN_PREFIX}{name}");
        iptables(&["-N", &chain])?;
        if let Err(e) = iptables(&["-I", "OUTPUT", "-j", &chain]) {
            let _ = iptables(&["-X", &chain]);
            return Err(e);
        }
        Ok(NetCut {
            chain,
            rules: Vec::new(),
        })
    }

    pub(super) fn add(&mut self, owner: i32, rule: Vec<String>) -> Result<(), String> {
        let mut args = vec!["-A", self.chain.as_str()];
        args.extend(rule.iter().map(String::as_str));
        iptables(&args)?;
        self.rules.push((owner, rule));
        Ok(())
    }

    pub(super) fn remove_all(&mut self, owner: i32) -> Result<(), String> {
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rules)
            .into_iter()
            .partition(|(o, _)| *o == owner);
        self.rules = others;
        for (_, rule) in mine {
            let mut args = vec!["-D", self.chain.as_str()];
            args.extend(rule.iter().map(String::as_str));
            iptables(&args)?;
        }
        Ok(())
    }

    pub(super) fn destroy(self) {
        remove_chain(&self.chain);
    }
}

fn remove_chain(chain: &str) {
    while iptables(&["-D", "OUTPUT", "-j", chain]).is_ok() {}
    let _ = iptables(&["-F", chain]);
    let _ = iptables(&["-X", chain]);
}

/// Removes chains left by harness processes that no longer exist.
fn remove_stale_chains() {
    let Ok(listing) = iptables(&["-S"]) else {
        return;
    };
    for line in listing.lines() {
        if let Some(chain) = line.strip_prefix("-N ") {
            if owner_pid(chain, CHAIN_PREFIX).is_some_and(|pid| !pid_alive(pid)) {
                remove_chain(chain);
            }
        }
    }
}
