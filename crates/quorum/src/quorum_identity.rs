//! `quorum.properties`: which cluster, node and voter set a quorum directory belongs to.
//!
//! ```text
//! #Written by Spool: identity of this metadata quorum directory
//! cluster.id=<id>
//! node.id=<N>
//! voters=<sorted voter ids, comma separated>
//! ```
//! Written atomically before anything else the first time a directory is used; checked on
//! every later start. A directory holding Raft state but no identity file is refused too:
//! its origin is unknown. The voter set of a static quorum (`controller.quorum.voters`)
//! cannot change by configuration: a node restarted with other voter ids would initialise
//! or count a different majority, so that is refused as well.

use std::collections::BTreeSet;
use std::path::Path;

use crate::config::QuorumConfig;
use crate::durable_file::{read_if_exists, write_atomically};
use crate::error::{IoContext, QuorumError};

pub(crate) const FILE_NAME: &str = "quorum.properties";

/// Checks (or, in a fresh directory, writes) the identity of `dir` against `config`.
///
/// # Errors
/// [`QuorumError::ForeignState`] on any mismatch; [`QuorumError::Corrupt`] for an
/// unreadable file; [`QuorumError::Io`].
pub(crate) fn check_or_create(dir: &Path, config: &QuorumConfig) -> Result<(), QuorumError> {
    let path = dir.join(FILE_NAME);
    let voters = config.voter_ids();
    let Some(bytes) = read_if_exists(&path).io_context("reading the quorum identity", &path)? else {
        let leftovers: Vec<String> = std::fs::read_dir(dir)
            .io_context("listing the quorum directory", dir)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".tmp"))
            .collect();
        if !leftovers.is_empty() {
            return Err(QuorumError::ForeignState(format!(
                "{} holds metadata quorum files ({}) but no {FILE_NAME}; it was not written by this node",
                dir.display(),
                leftovers.join(", ")
            )));
        }
        let text = format!(
            "#Written by Spool: identity of this metadata quorum directory\ncluster.id={}\nnode.id={}\nvoters={}\n",
            config.cluster_id,
            config.node_id,
            join(&voters)
        );
        return write_atomically(&path, text.as_bytes()).io_context("writing the quorum identity", &path);
    };
    let text = String::from_utf8_lossy(&bytes);
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let corrupt = |detail: &str| QuorumError::Corrupt { path: path.clone(), detail: detail.to_string() };
    let cluster_id = value("cluster.id").ok_or_else(|| corrupt("no cluster.id"))?;
    let node_id: i32 = value("node.id").and_then(|v| v.parse().ok()).ok_or_else(|| corrupt("no valid node.id"))?;
    let stored_voters: BTreeSet<i32> = value("voters")
        .ok_or_else(|| corrupt("no voters"))?
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<i32>())
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt("voters is not a list of ids"))?;
    if cluster_id != config.cluster_id {
        return Err(QuorumError::ForeignState(format!(
            "{} belongs to cluster '{cluster_id}', but this node is configured for cluster '{}'",
            dir.display(),
            config.cluster_id
        )));
    }
    if node_id != config.node_id {
        return Err(QuorumError::ForeignState(format!(
            "{} belongs to node.id={node_id}, but this node is node.id={}; point it at its own data directory",
            dir.display(),
            config.node_id
        )));
    }
    if stored_voters != voters {
        return Err(QuorumError::ForeignState(format!(
            "{} belongs to a quorum of voters {{{}}}, but controller.quorum.voters names {{{}}}",
            dir.display(),
            join(&stored_voters),
            join(&voters)
        )));
    }
    Ok(())
}

fn join(ids: &BTreeSet<i32>) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(node_id: i32, cluster: &str, voters: &[i32]) -> QuorumConfig {
        let voters = voters.iter().map(|id| (*id, format!("h:{id}"))).collect();
        QuorumConfig::new(node_id, cluster, "/unused", "127.0.0.1:0".parse().unwrap(), voters, true)
    }

    #[test]
    fn identity_is_written_once_and_then_enforced() {
        let dir = tempfile::tempdir().unwrap();
        check_or_create(dir.path(), &config(1, "a", &[1, 2, 3])).unwrap();
        check_or_create(dir.path(), &config(1, "a", &[3, 2, 1])).unwrap();
        let err = |c| check_or_create(dir.path(), &c).unwrap_err().to_string();
        assert!(err(config(1, "b", &[1, 2, 3])).contains("cluster 'a'"));
        assert!(err(config(2, "a", &[1, 2, 3])).contains("node.id=1"));
        assert!(err(config(1, "a", &[1, 2])).contains("voters {1,2,3}"));
    }

    #[test]
    fn state_without_identity_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("00000000000000000000.raftlog"), b"").unwrap();
        let err = check_or_create(dir.path(), &config(1, "a", &[1])).unwrap_err();
        assert!(matches!(err, QuorumError::ForeignState(_)), "{err}");
    }
}
