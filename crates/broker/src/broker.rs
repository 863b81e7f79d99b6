//! The broker's shared state and its start-up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use parking_lot::Mutex;
use spool_metadata::config::{BrokerConfig, Listener};
use spool_metadata::controller::{self, ControllerReply, ControllerRequest, TopicDefaults};
use spool_metadata::records::BrokerRecord;
use spool_metadata::MetadataImage;

use crate::error::KafkaError;
use crate::meta_properties;
use crate::metadata_store::{CommitError, MetadataStore};
use crate::replica_manager::ReplicaManager;

/// Milliseconds since the Unix epoch: the only clock the broker reads.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Everything a request handler needs, shared by all connections.
pub struct Broker {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub cluster_id: String,
    pub data_dir: PathBuf,
    pub advertised: Listener,
    pub metadata: MetadataStore,
    pub replicas: ReplicaManager,
    /// The current block of producer ids: next to hand out, end (exclusive).
    producer_ids: Mutex<(i64, i64)>,
}

impl Broker {
    /// Opens the data directory, replays metadata, registers this node and opens its partitions.
    ///
    /// # Errors
    /// When the data directory is unusable or belongs to another node.
    pub async fn open(config: BrokerConfig) -> anyhow::Result<Arc<Broker>> {
        let data_dir = config.log_dirs().into_iter().next().unwrap_or_else(|| PathBuf::from("./spool-data"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        let node_id = config.node_id();
        let meta = meta_properties::load_or_create(&data_dir, node_id)?;
        let advertised = config
            .advertised_listeners()
            .into_iter()
            .next()
            .context("no listener configured: set listeners=PLAINTEXT://HOST:PORT")?;
        let now = now_ms();
        let metadata = MetadataStore::open(&data_dir, now)?;
        let replicas = ReplicaManager::new(node_id, data_dir.clone(), config.clone());
        let broker = Arc::new(Broker {
            config,
            node_id,
            cluster_id: meta.cluster_id,
            data_dir,
            advertised,
            metadata,
            replicas,
            producer_ids: Mutex::new((0, 0)),
        });
        let registration = BrokerRecord {
            broker_id: node_id,
            host: broker.advertised.host.clone(),
            port: broker.advertised.port as i32,
            rack: None,
        };
        broker.replicas.apply_image(&broker.metadata.image(), now)?;
        broker
            .submit(ControllerRequest::RegisterBroker(registration))
            .await
            .map_err(|e| anyhow::anyhow!("registering broker {node_id}: {e:?}"))?;
        Ok(broker)
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// Defaults for topics created without explicit partitions or replication factor.
    pub fn topic_defaults(&self) -> TopicDefaults {
        TopicDefaults {
            num_partitions: self.config.num_partitions(),
            replication_factor: self.config.default_replication_factor(),
        }
    }

    /// Has the controller carry out a request, then brings local partitions in line with
    /// the new metadata.
    ///
    /// # Errors
    /// The controller's refusal, or `KAFKA_STORAGE_ERROR` when the metadata log failed.
    pub async fn submit(&self, request: ControllerRequest) -> Result<ControllerReply, KafkaError> {
        let now = now_ms();
        match self.metadata.submit(now, &request).await {
            Ok((result, image)) => {
                if let Err(e) = self.replicas.apply_image(&image, now) {
                    tracing::error!("applying metadata to local partitions failed: {e:#}");
                }
                Ok(result)
            }
            Err(CommitError::Rejected(e)) => Err(e.into()),
            Err(CommitError::Storage(message)) => {
                tracing::error!("{message}");
                Err(KafkaError::with_message(kafka_protocol::error::ResponseError::KafkaStorageError, message))
            }
        }
    }

    /// Hands out the next producer id, reserving a new block through the controller when
    /// the current one is used up.
    ///
    /// # Errors
    /// When the reservation could not be made durable.
    pub async fn next_producer_id(&self) -> Result<i64, KafkaError> {
        {
            let mut ids = self.producer_ids.lock();
            if ids.0 < ids.1 {
                ids.0 += 1;
                return Ok(ids.0 - 1);
            }
        }
        let ControllerReply::ProducerIdBlock { first } = self.submit(ControllerRequest::AllocateProducerIds).await? else {
            return Err(KafkaError::with_message(
                kafka_protocol::error::ResponseError::UnknownServerError,
                "the controller answered a producer-id request without a block",
            ));
        };
        let mut ids = self.producer_ids.lock();
        *ids = (first + 1, first + controller::PRODUCER_ID_BLOCK_SIZE);
        Ok(first)
    }

    /// Flushes and closes every log.
    pub fn shutdown(&self) {
        self.replicas.shutdown();
    }
}
