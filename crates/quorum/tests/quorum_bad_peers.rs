//! What a node does with peers that send garbage or belong to another cluster.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::Duration;

use harness::*;
use serde_json::json;
use spool_metadata::controller::ControllerRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    answer
}

fn frame(value: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(value).expect("json");
    let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&body);
    bytes
}

fn answer_json(answer: &[u8]) -> serde_json::Value {
    assert!(answer.len() >= 4, "an answer frame: {answer:?}");
    serde_json::from_slice(&answer[4..]).expect("an answer in JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_oversized_and_foreign_frames_are_refused_and_the_node_keeps_working() {
    init_tracing();
    let spec = ClusterSpec::new(&[1], &[]);
    let node = spec.start(1).await;
    let port = spec.ports[&1];
    bounded("leader", node.wait_for_leader(WAIT)).await.expect("leader");

    // A length far beyond the frame limit: refused before any allocation, connection closed.
    let answer = exchange(port, &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]).await;
    assert!(answer_json(&answer)["Refused"].as_str().is_some_and(|r| r.contains("exceeds the limit")), "{answer:?}");
    // Not JSON, and JSON of the wrong shape.
    let answer = exchange(port, &frame(&json!("hello"))).await;
    assert!(answer_json(&answer)["Refused"].as_str().is_some_and(|r| r.contains("bad frame")));
    let answer = exchange(port, &[0, 0, 0, 3, b'{', b'{', b'{']).await;
    assert!(answer_json(&answer)["Refused"].is_string());
    // A torn frame and an immediate close.
    for bytes in [&[0u8, 0, 1, 0, b'{'][..], &[][..]] {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        stream.write_all(bytes).await.expect("write");
    }

    // Another cluster asking to join is refused, naming both clusters.
    let foreign = json!({
        "sender": { "cluster_id": "another-cluster", "node_id": 9, "voters": [1] },
        "body": { "AddLearner": { "node_id": 9, "address": "127.0.0.1:1" } }
    });
    let answer = answer_json(&exchange(port, &frame(&foreign)).await);
    let reason = answer["Refused"].as_str().expect("refused").to_string();
    assert!(reason.contains("another-cluster") && reason.contains(&spec.cluster_id), "{reason}");
    // Same cluster id but other voters: refused too.
    let other_voters = json!({
        "sender": { "cluster_id": spec.cluster_id, "node_id": 9, "voters": [1, 2, 3] },
        "body": { "AddLearner": { "node_id": 9, "address": "127.0.0.1:1" } }
    });
    let answer = answer_json(&exchange(port, &frame(&other_voters)).await);
    assert!(answer["Refused"].as_str().is_some_and(|r| r.contains("voters")), "{answer}");
    // A learner may not take a voter's id.
    let voter_id = json!({
        "sender": { "cluster_id": spec.cluster_id, "node_id": 1, "voters": [1] },
        "body": { "AddLearner": { "node_id": 1, "address": "127.0.0.1:1" } }
    });
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream.write_all(&frame(&voter_id)).await.expect("write");
    let mut length = [0u8; 4];
    bounded("answer", stream.read_exact(&mut length)).await.expect("length");
    let mut body = vec![0u8; u32::from_be_bytes(length) as usize];
    bounded("answer", stream.read_exact(&mut body)).await.expect("body");
    let answer: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert!(answer["AddLearner"]["Err"]["Refused"].as_str().is_some_and(|r| r.contains("voter")), "{answer}");

    // None of it disturbed the node.
    let first = block_start(bounded("pids", node.submit(ControllerRequest::AllocateProducerIds)).await.expect("pids"));
    assert_eq!(first, 0);
    assert_eq!(node.status().learners, Vec::<i32>::new(), "no foreign learner was added");
    node.shutdown().await;
}
