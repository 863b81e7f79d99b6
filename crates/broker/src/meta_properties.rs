//! `meta.properties`: the identity of a data directory.
//!
//! Written once when a data directory is first used, as Kafka does:
//! ```text
//! version=1
//! cluster.id=<22-character base64 of a random UUID>
//! node.id=<N>
//! ```
//! A directory that belongs to another node id refuses to start, so two brokers can
//! never share (or swap) their logs by mistake.

use std::path::Path;

use anyhow::{bail, Context};

const FILE_NAME: &str = "meta.properties";

/// The identity stored in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
}

/// Reads `meta.properties` from `dir`, or writes a new one with `cluster_id` (a fresh
/// random one when `None`).
///
/// # Errors
/// When the file cannot be read or written, is malformed, or names another node id or
/// (when `cluster_id` is given) another cluster.
pub(crate) fn load_or_create(dir: &Path, node_id: i32, cluster_id: Option<&str>) -> anyhow::Result<MetaProperties> {
    let path = dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut stored_cluster = None;
            let mut stored_node = None;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                if let Some((key, value)) = line.split_once('=') {
                    match key.trim() {
                        "cluster.id" => stored_cluster = Some(value.trim().to_string()),
                        "node.id" | "broker.id" => stored_node = value.trim().parse::<i32>().ok(),
                        _ => {}
                    }
                }
            }
            let stored = stored_cluster.with_context(|| format!("{} has no cluster.id", path.display()))?;
            if let Some(expected) = cluster_id {
                if stored != expected {
                    bail!(
                        "{} belongs to cluster {stored}, but controller.quorum.voters describes cluster {expected}; \
                         point --data-dir at this cluster's directory (or an empty one)",
                        path.display()
                    );
                }
            }
            let cluster_id = stored;
            if let Some(stored) = stored_node {
                if stored != node_id {
                    bail!(
                        "{} belongs to node.id={stored}, but this broker is node.id={node_id}; \
                         point --data-dir at this node's own directory",
                        path.display()
                    );
                }
            }
            Ok(MetaProperties { cluster_id, node_id })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cluster_id = cluster_id.map(str::to_string).unwrap_or_else(new_cluster_id);
            let text = format!("#Written by Spool\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\n");
            // Durably, as Kafka does: after a crash right after the first start, the
            // file must not be there empty (with the data still in the page cache),
            // which would keep the broker from starting again.
            spool_storage::replace_file(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            spool_storage::sync_dir(dir).with_context(|| format!("writing {}", path.display()))?;
            Ok(MetaProperties { cluster_id, node_id })
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A random cluster id in Kafka's form: URL-safe base64 of 16 random bytes, unpadded.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut bits: u128 = u128::from_be_bytes(bytes);
    let mut out = Vec::with_capacity(22);
    for _ in 0..22 {
        out.push(ALPHABET[(bits & 63) as usize]);
        bits >>= 6;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back_and_node_checked() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), 1, None).unwrap();
        assert_eq!(first.cluster_id.len(), 22);
        assert_eq!(load_or_create(dir.path(), 1, None).unwrap(), first);
        assert_eq!(load_or_create(dir.path(), 1, Some(&first.cluster_id)).unwrap(), first);
        let err = load_or_create(dir.path(), 2, None).unwrap_err().to_string();
        assert!(err.contains("node.id=1"), "{err}");
        let err = load_or_create(dir.path(), 1, Some("another-cluster")).unwrap_err().to_string();
        assert!(err.contains("belongs to cluster"), "{err}");
    }
}
