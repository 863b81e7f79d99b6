import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.NodeApiVersions;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.common.errors.NoReassignmentInProgressException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.ApiVersionsRequest;
import org.apache.kafka.common.requests.ApiVersionsResponse;
import org.apache.kafka.common.requests.RequestHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Drives a Kafka-compatible broker with the Apache Kafka Java client and checks
 * every answer. Used by tests/e2e/test_java_client.py.
 *
 * <pre>
 * java SpoolClientCheck BOOTSTRAP admin TOPIC
 * java SpoolClientCheck BOOTSTRAP produce-consume TOPIC CODEC   (none|gzip|snappy|lz4|zstd)
 * java SpoolClientCheck BOOTSTRAP max-timestamp TOPIC
 * java SpoolClientCheck BOOTSTRAP consumer-group TOPIC         (group.protocol=consumer, KIP-848)
 * java SpoolClientCheck BOOTSTRAP secure TOPIC CLIENT_PROPERTIES  (SSL, SASL: the file's security settings)
 * java SpoolClientCheck BOOTSTRAP rack-read TOPIC RACK COUNT   (KIP-392: prints "PAUSE LEADER" midway, waits for a line on stdin)
 * java SpoolClientCheck HOST:PORT api-versions -                (prints the broker's versions as kafka-broker-api-versions does)
 * </pre>
 *
 * Prints "OK ..." for each check that passed and "PASS ..." at the end; on the
 * first mismatch prints "FAIL: ..." and exits 1. Any exception exits 2.
 */
public final class SpoolClientCheck {
    private static final long TIMEOUT_S = 60;

    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: SpoolClientCheck BOOTSTRAP admin|produce-consume|max-timestamp|consumer-group|quotas|secure|rack-read|api-versions TOPIC [CODEC|CLIENT_PROPERTIES|RACK COUNT]");
            System.exit(64);
        }
        String bootstrap = args[0];
        String scenario = args[1];
        String topic = args[2];
        try {
            switch (scenario) {
                case "admin":
                    admin(bootstrap, topic);
                    break;
                case "produce-consume":
                    produceConsume(bootstrap, topic, args.length > 3 ? args[3] : "none");
                    break;
                case "max-timestamp":
                    maxTimestamp(bootstrap, topic);
                    break;
                case "consumer-group":
                    consumerGroup(bootstrap, topic);
                    break;
                case "quotas":
                    quotas(bootstrap, topic);
                    break;
                case "secure":
                    secure(bootstrap, topic, args[3]);
                    break;
                case "rack-read":
                    rackRead(bootstrap, topic, args[3], Integer.parseInt(args[4]));
                    break;
                case "api-versions":
                    apiVersions(bootstrap);
                    break;
                default:
                    throw new Check("unknown scenario " + scenario);
            }
        } catch (Check c) {
            System.out.println("FAIL: " + c.getMessage());
            System.exit(1);
        } catch (Throwable t) {
            System.out.println("FAIL: " + t);
            t.printStackTrace(System.out);
            System.exit(2);
        }
        System.exit(0);
    }

    /** A failed check: the broker answered, but not as Kafka would. */
    private static final class Check extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Check(String message) {
            super(message);
        }
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new Check(what);
        }
    }

    private static void checkEq(Object want, Object got, String what) {
        if (!java.util.Objects.equals(want, got)) {
            throw new Check(what + ": want " + want + ", got " + got);
        }
    }

    private static void ok(String what) {
        System.out.println("OK " + what);
    }

    private static Admin newAdmin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        return Admin.create(p);
    }

    private static void admin(String bootstrap, String topic) throws Exception {
        try (Admin admin = newAdmin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            ok("createTopics " + topic);

            Set<String> names = admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS);
            check(names.contains(topic), "listTopics lacks " + topic + ": " + names);
            ok("listTopics");

            int nodes = admin.describeCluster().nodes().get(TIMEOUT_S, TimeUnit.SECONDS).size();
            checkEq(1, nodes, "describeCluster node count");
            ok("describeCluster nodes=1");

            TopicDescription d = describe(admin, topic);
            checkEq(3, d.partitions().size(), "partition count");
            for (TopicPartitionInfo p : d.partitions()) {
                check(p.leader() != null, "partition " + p.partition() + " has no leader");
                checkEq(1, p.replicas().size(), "replicas of partition " + p.partition());
                checkEq(1, p.isr().size(), "isr of partition " + p.partition());
            }
            check(d.topicId() != null && !d.topicId().toString().equals("AAAAAAAAAAAAAAAAAAAAAA"),
                "topic id is unset: " + d.topicId());
            ok("describeTopics partitions=3 topicId=" + d.topicId());

            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = admin.describeConfigs(List.of(res)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(res);
            Map<String, String> want = new HashMap<>();
            want.put("retention.ms", "604800000");
            want.put("max.message.bytes", "1048588");
            want.put("cleanup.policy", "delete");
            want.put("segment.bytes", "1073741824");
            want.put("min.insync.replicas", "1");
            for (Map.Entry<String, String> w : want.entrySet()) {
                ConfigEntry e = config.get(w.getKey());
                check(e != null, "describeConfigs lacks " + w.getKey());
                checkEq(w.getValue(), e.value(), "config " + w.getKey());
                checkEq(ConfigEntry.ConfigSource.DEFAULT_CONFIG, e.source(), "source of " + w.getKey());
                check(e.isDefault(), w.getKey() + " is not marked default");
            }
            check(config.entries().size() >= 20, "only " + config.entries().size() + " topic configs");
            ok("describeConfigs entries=" + config.entries().size());

            Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
            for (int p = 0; p < 3; p++) {
                specs.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> latest =
                admin.listOffsets(specs).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            for (ListOffsetsResult.ListOffsetsResultInfo info : latest.values()) {
                checkEq(0L, info.offset(), "latest offset of an empty partition");
            }
            ok("listOffsets latest=0 on empty partitions");

            admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (describe(admin, topic).partitions().size() != 4) {
                check(System.nanoTime() < deadline, "createPartitions: partition count never reached 4");
                Thread.sleep(200);
            }
            ok("createPartitions 4");

            int node = admin.describeCluster().nodes().get(TIMEOUT_S, TimeUnit.SECONDS).iterator().next().id();
            Map<String, LogDirDescription> dirs =
                admin.describeLogDirs(List.of(node)).allDescriptions().get(TIMEOUT_S, TimeUnit.SECONDS).get(node);
            checkEq(1, dirs.size(), "log dirs of broker " + node);
            LogDirDescription dir = dirs.values().iterator().next();
            check(dir.error() == null, "log dir error: " + dir.error());
            check(dir.usableBytes().isPresent() && dir.usableBytes().getAsLong() > 0, "usable bytes: " + dir.usableBytes());
            check(dir.totalBytes().getAsLong() >= dir.usableBytes().getAsLong(), "total bytes: " + dir.totalBytes());
            for (int p = 0; p < 4; p++) {
                ReplicaInfo replica = dir.replicaInfos().get(new TopicPartition(topic, p));
                check(replica != null, "describeLogDirs lacks partition " + p + ": " + dir.replicaInfos().keySet());
                checkEq(0L, replica.size(), "size of empty partition " + p);
                checkEq(0L, replica.offsetLag(), "offset lag of partition " + p);
                check(!replica.isFuture(), "partition " + p + " is a future replica");
            }
            ok("describeLogDirs partitions=4");

            // One broker: every partition is led by its preferred (only) replica already.
            TopicPartition first = new TopicPartition(topic, 0);
            Map<TopicPartition, Optional<Throwable>> elections =
                admin.electLeaders(ElectionType.PREFERRED, Set.of(first)).partitions().get(TIMEOUT_S, TimeUnit.SECONDS);
            check(elections.get(first).filter(e -> e instanceof ElectionNotNeededException).isPresent(),
                "electLeaders " + first + ": " + elections);
            Map<TopicPartition, Optional<Throwable>> all =
                admin.electLeaders(ElectionType.PREFERRED, null).partitions().get(TIMEOUT_S, TimeUnit.SECONDS);
            check(all.isEmpty(), "electLeaders of all partitions lists the ones not needing it: " + all);
            ok("electLeaders not needed");

            // Reassignments on one broker: to the replica the partition has already is a
            // no-op; to a broker that does not exist is refused; cancelling when nothing is
            // in progress is refused. Each partition is answered on its own.
            checkEq(0, admin.listPartitionReassignments().reassignments().get(TIMEOUT_S, TimeUnit.SECONDS).size(),
                "reassignments in progress");
            TopicPartition second = new TopicPartition(topic, 1);
            TopicPartition third = new TopicPartition(topic, 2);
            Map<TopicPartition, Optional<NewPartitionReassignment>> moves = new HashMap<>();
            moves.put(first, Optional.of(new NewPartitionReassignment(List.of(node))));
            moves.put(second, Optional.of(new NewPartitionReassignment(List.of(node, 99))));
            moves.put(third, Optional.empty());
            Map<TopicPartition, KafkaFuture<Void>> moved = admin.alterPartitionReassignments(moves).values();
            moved.get(first).get(TIMEOUT_S, TimeUnit.SECONDS);
            checkFailsWith(moved.get(second), InvalidReplicaAssignmentException.class, "reassignment to broker 99");
            checkFailsWith(moved.get(third), NoReassignmentInProgressException.class, "cancel of no reassignment");
            checkEq(0, admin.listPartitionReassignments(Set.of(first, second)).reassignments().get(TIMEOUT_S, TimeUnit.SECONDS).size(),
                "reassignments in progress after the no-op");
            ok("alterPartitionReassignments/listPartitionReassignments");

            // Dynamic broker configs: a cluster-wide default of a topic config reaches the
            // broker's and the topic's configs, and goes again; a config Spool reads only
            // at start-up is refused.
            String key = "log.cleaner.delete.retention.ms";
            ConfigResource clusterDefault = new ConfigResource(ConfigResource.Type.BROKER, "");
            ConfigResource self = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(node));
            AlterConfigOp setDefault = new AlterConfigOp(new ConfigEntry(key, "86400001"), AlterConfigOp.OpType.SET);
            admin.incrementalAlterConfigs(Map.of(clusterDefault, List.of(setDefault))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            ConfigEntry brokerEntry = awaitConfig(admin, self, key, "86400001");
            checkEq(ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, brokerEntry.source(), "source of " + key);
            ConfigEntry topicEntry = awaitConfig(admin, res, "delete.retention.ms", "86400001");
            checkEq(ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, topicEntry.source(), "source of delete.retention.ms");
            AlterConfigOp ioThreads = new AlterConfigOp(new ConfigEntry("num.io.threads", "4"), AlterConfigOp.OpType.SET);
            checkFailsWith(admin.incrementalAlterConfigs(Map.of(self, List.of(ioThreads))).values().get(self),
                InvalidConfigurationException.class, "num.io.threads changed at runtime");
            AlterConfigOp deleteDefault = new AlterConfigOp(new ConfigEntry(key, ""), AlterConfigOp.OpType.DELETE);
            admin.incrementalAlterConfigs(Map.of(clusterDefault, List.of(deleteDefault))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            checkEq(ConfigEntry.ConfigSource.DEFAULT_CONFIG, awaitConfig(admin, res, "delete.retention.ms", "86400000").source(),
                "source of delete.retention.ms once the default is gone");
            ok("incrementalAlterConfigs of the broker defaults");

            // Broker loggers (KIP-412): a tracing target's level is set, described and
            // deleted; a level log4j does not know is refused.
            ConfigResource loggers = new ConfigResource(ConfigResource.Type.BROKER_LOGGER, Integer.toString(node));
            String logger = "spool_broker::replica_fetcher";
            admin.incrementalAlterConfigs(Map.of(loggers, List.of(
                new AlterConfigOp(new ConfigEntry(logger, "DEBUG"), AlterConfigOp.OpType.SET)))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            Config levels = admin.describeConfigs(List.of(loggers)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(loggers);
            checkEq("DEBUG", levels.get(logger) == null ? null : levels.get(logger).value(), "level of " + logger);
            checkEq(ConfigEntry.ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG, levels.get(logger).source(), "source of " + logger);
            check(levels.get("root") != null, "describeConfigs of broker loggers lists root: " + levels);
            checkFailsWith(admin.incrementalAlterConfigs(Map.of(loggers, List.of(
                new AlterConfigOp(new ConfigEntry(logger, "LOUD"), AlterConfigOp.OpType.SET)))).all(),
                InvalidConfigurationException.class, "an unknown log level");
            admin.incrementalAlterConfigs(Map.of(loggers, List.of(
                new AlterConfigOp(new ConfigEntry(logger, ""), AlterConfigOp.OpType.DELETE)))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            levels = admin.describeConfigs(List.of(loggers)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(loggers);
            check(levels.get(logger) == null, "the deleted level is still described: " + levels);
            ok("incrementalAlterConfigs of broker loggers");

            admin.deleteTopics(List.of(topic)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).contains(topic)) {
                check(System.nanoTime() < deadline, "deleteTopics: topic still listed");
                Thread.sleep(200);
            }
            ok("deleteTopics");
        }
        System.out.println("PASS admin");
    }

    /** Waits until `key` of `resource` has `value` (the broker applies committed changes a moment later). */
    private static ConfigEntry awaitConfig(Admin admin, ConfigResource resource, String key, String value) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (true) {
            ConfigEntry entry = admin.describeConfigs(List.of(resource)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(resource).get(key);
            check(entry != null, "describeConfigs of " + resource + " lacks " + key);
            if (value.equals(entry.value())) {
                return entry;
            }
            check(System.nanoTime() < deadline, key + " of " + resource + " is " + entry.value() + ", not " + value);
            Thread.sleep(100);
        }
    }

    /** Checks that `future` fails with an exception of type `expected`. */
    private static void checkFailsWith(KafkaFuture<?> future, Class<? extends Throwable> expected, String what) throws Exception {
        try {
            future.get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            check(expected.isInstance(e.getCause()), what + ": expected " + expected.getSimpleName() + ", got " + e.getCause());
            return;
        }
        check(false, what + ": expected " + expected.getSimpleName() + ", but it succeeded");
    }

    /**
     * Client quotas: alterClientQuotas (validateOnly, set, remove, refusals) and
     * describeClientQuotas, and a KafkaProducer over its producer_byte_rate told it is
     * throttled (its produce-throttle-time-max metric).
     */
    private static void quotas(String bootstrap, String topic) throws Exception {
        String clientId = "quota-" + topic;
        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, clientId));
        ClientQuotaFilter filter = ClientQuotaFilter.containsOnly(List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, clientId)));
        try (Admin admin = newAdmin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            List<ClientQuotaAlteration.Op> ops = List.of(
                    new ClientQuotaAlteration.Op("producer_byte_rate", 50000.0),
                    new ClientQuotaAlteration.Op("consumer_byte_rate", 70000.0));
            admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, ops)), new AlterClientQuotasOptions().validateOnly(true))
                    .all().get(TIMEOUT_S, TimeUnit.SECONDS);
            checkEq(Map.of(), admin.describeClientQuotas(filter).entities().get(TIMEOUT_S, TimeUnit.SECONDS), "quotas after validateOnly");
            admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, ops))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            checkEq(Map.of(entity, Map.of("producer_byte_rate", 50000.0, "consumer_byte_rate", 70000.0)),
                    admin.describeClientQuotas(filter).entities().get(TIMEOUT_S, TimeUnit.SECONDS), "describeClientQuotas");
            ok("alterClientQuotas and describeClientQuotas");
            checkFailsWith(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                    List.of(new ClientQuotaAlteration.Op("request_percentage", 50.0))))).all(),
                    InvalidRequestException.class, "an unenforced quota key");
            checkFailsWith(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                    List.of(new ClientQuotaAlteration.Op("producer_byte_rate", 0.5))))).all(),
                    InvalidRequestException.class, "a fractional byte rate");
            checkFailsWith(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                    List.of(new ClientQuotaAlteration.Op("consumer_byte_rate", Double.NaN))))).all(),
                    InvalidRequestException.class, "a byte rate that is not a number");
            ok("alterClientQuotas refusals");

            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
            pp.put(ProducerConfig.ACKS_CONFIG, "1");
            pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
            double throttleMax;
            try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
                // 600 kB: over the 500 kB the quota lets through in its 10 s span.
                byte[] value = new byte[1000];
                for (int i = 0; i < 600; i++) {
                    producer.send(new ProducerRecord<>(topic, value));
                }
                producer.flush();
                throttleMax = producer.metrics().entrySet().stream()
                        .filter(e -> e.getKey().name().equals("produce-throttle-time-max") && e.getKey().group().equals("producer-metrics"))
                        .mapToDouble(e -> ((Number) e.getValue().metricValue()).doubleValue())
                        .findFirst().orElse(Double.NaN);
            }
            check(throttleMax > 0, "produce-throttle-time-max is " + throttleMax + " after going over the quota");
            ok("producer throttled throttleMs>0");

            List<ClientQuotaAlteration.Op> removals = List.of(
                    new ClientQuotaAlteration.Op("producer_byte_rate", null),
                    new ClientQuotaAlteration.Op("consumer_byte_rate", null));
            admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, removals))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            checkEq(Map.of(), admin.describeClientQuotas(filter).entities().get(TIMEOUT_S, TimeUnit.SECONDS), "quotas after removal");
            ok("quotas removed");
        }
        System.out.println("PASS quotas");
    }

    private static TopicDescription describe(Admin admin, String topic) throws Exception {
        return admin.describeTopics(List.of(topic)).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS).get(topic);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void produceConsume(String bootstrap, String topic, String codec) throws Exception {
        final int n = 2000;
        final long base = System.currentTimeMillis() - 60_000;
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = newAdmin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            ok("createTopics " + topic);

            List<ProducerRecord<byte[], byte[]>> sent = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                byte[] key = i % 9 == 4 ? null : bytes("key-" + i);
                byte[] value = bytes("java-" + codec + "-" + i + "-" + "q".repeat(i % 100));
                List<Header> headers = i % 2 == 0
                    ? List.of(new RecordHeader("i", bytes(Integer.toString(i))), new RecordHeader("nil", null))
                    : List.of();
                sent.add(new ProducerRecord<>(topic, 0, base + i, key, value, headers));
            }

            // DEFAULT producer settings (idempotence on, acks=all) except the codec.
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
            try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
                List<Future<RecordMetadata>> futures = new ArrayList<>();
                // The first send alone, so the rest go in batches behind an established producer id.
                futures.add(producer.send(sent.get(0)));
                futures.get(0).get(TIMEOUT_S, TimeUnit.SECONDS);
                for (int i = 1; i < n; i++) {
                    futures.add(producer.send(sent.get(i)));
                }
                producer.flush();
                for (int i = 0; i < n; i++) {
                    RecordMetadata m = futures.get(i).get(TIMEOUT_S, TimeUnit.SECONDS);
                    checkEq((long) i, m.offset(), "offset of record " + i);
                    checkEq(base + i, m.timestamp(), "timestamp of record " + i);
                }
            }
            ok("produced records=" + n + " codec=" + codec);

            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> latest =
                admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            checkEq((long) n, latest.get(tp).offset(), "listOffsets latest (next offset)");
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> earliest =
                admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            checkEq(0L, earliest.get(tp).offset(), "listOffsets earliest");
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> byTime = admin
                .listOffsets(Map.of(tp, OffsetSpec.forTimestamp(base + 1234))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            checkEq(1234L, byTime.get(tp).offset(), "listOffsets forTimestamp(base+1234)");
            ok("listOffsets latest=" + n + " earliest=0 forTimestamp=1234");

            Properties cp = new Properties();
            cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
            try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                consumer.assign(List.of(tp));
                checkEq((long) n, consumer.endOffsets(List.of(tp)).get(tp), "endOffsets");
                checkEq(0L, consumer.beginningOffsets(List.of(tp)).get(tp), "beginningOffsets");
                consumer.seekToBeginning(List.of(tp));
                List<ConsumerRecord<byte[], byte[]>> got = readToEnd(consumer, tp, n);
                checkEq(n, got.size(), "records read from the beginning");
                for (int i = 0; i < n; i++) {
                    compare(sent.get(i), got.get(i), i);
                }
                ok("consumed records=" + n + " from beginning, all equal");

                int mid = n / 2 + 7;
                consumer.seek(tp, mid);
                got = readToEnd(consumer, tp, n);
                checkEq(n - mid, got.size(), "records read from offset " + mid);
                for (int i = mid; i < n; i++) {
                    compare(sent.get(i), got.get(i - mid), i);
                }
                ok("consumed from mid-batch offset " + mid);

                OffsetAndTimestamp ot = consumer.offsetsForTimes(Map.of(tp, base + 777)).get(tp);
                check(ot != null, "offsetsForTimes(base+777) returned null");
                checkEq(777L, ot.offset(), "offsetsForTimes offset");
                checkEq(base + 777, ot.timestamp(), "offsetsForTimes timestamp");
                check(consumer.offsetsForTimes(Map.of(tp, base + n + 1000)).get(tp) == null,
                    "offsetsForTimes past the last record must be null");
                ok("offsetsForTimes");
            }
        }
        System.out.println("PASS produce-consume codec=" + codec + " records=" + n);
    }

    /**
     * KIP-392 (fetch from the closest replica): a consumer naming its rack reads partition 0
     * of TOPIC, whose records are "value-0" .. "value-(COUNT-1)", a few hundred bytes per
     * fetch. After the first hundred it prints "PAUSE LEADER" and waits for a line on stdin
     * (the test stops the leader meanwhile), then reads the rest, which only the replica on
     * its rack can serve now.
     */
    /**
     * Asks one broker for its API versions (ApiVersions v3 over a plain socket) and
     * prints them as Kafka's kafka-broker-api-versions does after "HOST:PORT (id: ...) -> ":
     * NodeApiVersions.toString(true), one line per API, with the Kafka 3.9 client's
     * APIs the broker lacks as UNSUPPORTED.
     */
    private static void apiVersions(String hostPort) throws Exception {
        int colon = hostPort.lastIndexOf(':');
        short version = 3;
        RequestHeader header = new RequestHeader(ApiKeys.API_VERSIONS, version, "spool-client-check", 1);
        ByteBuffer request = new ApiVersionsRequest.Builder().build(version).serializeWithHeader(header);
        try (Socket socket = new Socket(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)))) {
            socket.setSoTimeout((int) TimeUnit.SECONDS.toMillis(TIMEOUT_S));
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            out.writeInt(request.remaining());
            out.write(request.array(), request.arrayOffset() + request.position(), request.remaining());
            out.flush();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            byte[] body = new byte[in.readInt()];
            in.readFully(body);
            ApiVersionsResponse response = (ApiVersionsResponse) AbstractResponse.parseResponse(ByteBuffer.wrap(body), header);
            if (response.data().errorCode() != 0) {
                throw new Check("ApiVersions answered error " + response.data().errorCode());
            }
            NodeApiVersions versions = new NodeApiVersions(response.data().apiKeys(), response.data().supportedFeatures(), false);
            System.out.println(versions.toString(true));
        }
        System.out.println("PASS api-versions");
    }

    private static void rackRead(String bootstrap, String topic, String rack, int count) throws Exception {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-rack-reader");
        cp.put(ConsumerConfig.CLIENT_RACK_CONFIG, rack);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        cp.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, "512");
        cp.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, "1024");
        cp.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        TopicPartition tp = new TopicPartition(topic, 0);
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer =
                 new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            readValues(consumer, values, 100, 60);
            ok("read " + values.size() + " records with client.rack=" + rack);
            System.out.println("PAUSE LEADER");
            System.out.flush();
            new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            readValues(consumer, values, count, 30);
            ok("read the rest with the leader paused");
        }
        checkEq(count, values.size(), "records read");
        for (int i = 0; i < count; i++) {
            checkEq("value-" + i, values.get(i), "record " + i);
        }
        System.out.println("PASS rack-read records=" + count);
    }

    /** Polls until `values` holds `want` values or `seconds` pass. */
    private static void readValues(KafkaConsumer<byte[], byte[]> consumer, List<String> values, int want, long seconds) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (values.size() < want && System.nanoTime() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                values.add(new String(r.value(), StandardCharsets.UTF_8));
            }
        }
        check(values.size() >= want, "read " + values.size() + " of " + want + " records within " + seconds + " s");
    }

    /** KIP-734 (Kafka 3.0): ListOffsets MAX_TIMESTAMP finds the record with the largest timestamp. */
    private static void maxTimestamp(String bootstrap, String topic) throws Exception {
        final long base = System.currentTimeMillis() - 60_000;
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = newAdmin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.LINGER_MS_CONFIG, "200");
            try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
                for (int i = 0; i < 10; i++) {
                    // Record 4 carries the largest timestamp; the last record does not.
                    long ts = i == 4 ? base + 100_000 : base + i;
                    producer.send(new ProducerRecord<>(topic, 0, ts, null, bytes("ts-" + i)));
                }
                producer.flush();
            }
            ok("produced 10 records, the largest timestamp at offset 4");
            ListOffsetsResult.ListOffsetsResultInfo maxTs = admin
                .listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(tp);
            checkEq(4L, maxTs.offset(), "listOffsets maxTimestamp offset");
            checkEq(base + 100_000, maxTs.timestamp(), "listOffsets maxTimestamp timestamp");
            ok("listOffsets maxTimestamp offset=4");
        }
        System.out.println("PASS max-timestamp");
    }

    /**
     * An SSL or SASL listener: Admin, a KafkaProducer and a KafkaConsumer with the
     * security settings of a client properties file (security.protocol, PEM stores,
     * sasl.jaas.config). The records are large enough that the broker's fetch responses
     * carry record sets it would otherwise send from the file by sendfile.
     */
    private static void secure(String bootstrap, String topic, String propertiesFile) throws Exception {
        Properties security = new Properties();
        try (java.io.FileReader reader = new java.io.FileReader(propertiesFile, StandardCharsets.UTF_8)) {
            security.load(reader);
        }
        final String protocol = security.getProperty("security.protocol");
        final int records = 300;
        Properties ap = new Properties();
        ap.putAll(security);
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            ok("createTopics over " + protocol);
        }
        Properties pp = new Properties();
        pp.putAll(security);
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "20");
        try (KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < records; i++) {
                producer.send(new ProducerRecord<>(topic, 0, bytes("k" + i), tlsValue(i)));
            }
            producer.flush();
        }
        ok("produced records=" + records + " over " + protocol);
        Properties cp = new Properties();
        cp.putAll(security);
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        TopicPartition tp = new TopicPartition(topic, 0);
        int read = 0;
        try (KafkaConsumer<byte[], byte[]> consumer =
                 new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + TIMEOUT_S * 1000;
            while (read < records && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    checkEq((long) read, r.offset(), "offset");
                    check(Arrays.equals(tlsValue(read), r.value()), "value of record " + read);
                    read++;
                }
            }
        }
        checkEq(records, read, "records read back over " + protocol);
        ok("consumed records=" + records + " over " + protocol + ", all equal");
        System.out.println("PASS secure");
    }

    /** Record i's 4 KiB value, different for every record. */
    private static byte[] tlsValue(int i) {
        byte[] value = new byte[4096];
        for (int j = 0; j < value.length; j++) {
            value[j] = (byte) (i * 31 + j);
        }
        return value;
    }

    /**
     * KIP-848: two consumers with group.protocol=consumer (the broker assigns the
     * partitions through ConsumerGroupHeartbeat) split a multi-partition topic,
     * read every record exactly once between them and commit; a consumer started
     * later in the same group resumes from the committed offsets.
     */
    private static void consumerGroup(String bootstrap, String topic) throws Exception {
        final int partitions = 4;
        final int perPartition = 50;
        final String group = topic + "-group";
        Set<TopicPartition> all = new HashSet<>();
        for (int p = 0; p < partitions; p++) {
            all.add(new TopicPartition(topic, p));
        }
        try (Admin admin = newAdmin(bootstrap);
             KafkaProducer<byte[], byte[]> producer = newProducer(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all()
                .get(TIMEOUT_S, TimeUnit.SECONDS);
            ok("createTopics " + topic + " partitions=" + partitions);

            Map<TopicPartition, Long> committed = new HashMap<>();
            try (KafkaConsumer<byte[], byte[]> a = newGroupConsumer(bootstrap, group, "a");
                 KafkaConsumer<byte[], byte[]> b = newGroupConsumer(bootstrap, group, "b")) {
                a.subscribe(List.of(topic));
                b.subscribe(List.of(topic));
                // Nothing is produced until the group is stable, so no record can be
                // read by a member that later loses its partition.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
                while (!splitsAll(a.assignment(), b.assignment(), all)) {
                    check(System.nanoTime() < deadline, "assignments never split the topic: a="
                        + a.assignment() + " b=" + b.assignment());
                    check(a.poll(Duration.ofMillis(100)).isEmpty() && b.poll(Duration.ofMillis(100)).isEmpty(),
                        "records from an empty topic");
                }
                check(a.groupMetadata().generationId() > 0 && b.groupMetadata().generationId() > 0,
                    "member epochs: a=" + a.groupMetadata().generationId() + " b=" + b.groupMetadata().generationId());
                check(!a.groupMetadata().memberId().equals(b.groupMetadata().memberId()), "members share an id");
                ok("assignments disjoint and cover all partitions: a=" + a.assignment().size()
                    + " b=" + b.assignment().size());

                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups()
                    .get(group).get(TIMEOUT_S, TimeUnit.SECONDS);
                checkEq(GroupType.CONSUMER, d.type(), "describeConsumerGroups type");
                checkEq(2, d.members().size(), "describeConsumerGroups members");
                Set<TopicPartition> described = new HashSet<>();
                for (MemberDescription m : d.members()) {
                    described.addAll(m.assignment().topicPartitions());
                }
                checkEq(all, described, "describeConsumerGroups assignments");
                ok("describeConsumerGroups type=consumer members=2");

                produceSpread(producer, topic, partitions, perPartition, "first");
                int n = partitions * perPartition;
                Map<String, TopicPartition> seen = new HashMap<>();
                int fromA = consumeInto(a, b, seen, n);
                checkEq(n, seen.size(), "distinct records read by the group");
                check(fromA > 0 && fromA < n, "one member read everything: a read " + fromA + " of " + n);
                ok("group consumed records=" + n + " exactly once (a=" + fromA + " b=" + (n - fromA) + ")");

                a.commitSync(Duration.ofSeconds(TIMEOUT_S));
                b.commitSync(Duration.ofSeconds(TIMEOUT_S));
                for (KafkaConsumer<byte[], byte[]> c : List.of(a, b)) {
                    for (Map.Entry<TopicPartition, OffsetAndMetadata> e
                             : c.committed(c.assignment(), Duration.ofSeconds(TIMEOUT_S)).entrySet()) {
                        check(e.getValue() != null, "no committed offset for " + e.getKey());
                        committed.put(e.getKey(), e.getValue().offset());
                    }
                }
                Map<TopicPartition, Long> want = new HashMap<>();
                for (TopicPartition tp : all) {
                    want.put(tp, (long) perPartition);
                }
                checkEq(want, committed, "committed offsets");
                ok("commitSync committed=" + perPartition + " on every partition");

                // a leaves: b takes over its partitions at the offsets a committed, so
                // there is nothing left to read.
                Set<TopicPartition> fromLeaver = new HashSet<>(a.assignment());
                a.close(Duration.ofSeconds(TIMEOUT_S));
                deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
                while (!b.assignment().equals(all)) {
                    check(System.nanoTime() < deadline, "b never took over a's partitions: b=" + b.assignment());
                    for (ConsumerRecord<byte[], byte[]> r : b.poll(Duration.ofMillis(100))) {
                        throw new Check("b re-read " + r.topic() + "-" + r.partition() + "@" + r.offset()
                            + " after taking over");
                    }
                }
                for (TopicPartition tp : fromLeaver) {
                    checkEq((long) perPartition, b.position(tp, Duration.ofSeconds(TIMEOUT_S)),
                        "b's position on " + tp + " taken over from a");
                }
                ok("after a left, b owns all partitions from a's committed offsets");
            }

            produceSpread(producer, topic, partitions, perPartition, "second");
            try (KafkaConsumer<byte[], byte[]> c = newGroupConsumer(bootstrap, group, "c")) {
                c.subscribe(List.of(topic));
                Map<String, TopicPartition> seen = new HashMap<>();
                int n = partitions * perPartition;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
                while (seen.size() < n) {
                    check(System.nanoTime() < deadline, "restarted consumer read " + seen.size() + " of " + n);
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                        String v = new String(r.value(), StandardCharsets.UTF_8);
                        check(v.startsWith("second-"), "restarted consumer re-read a committed record " + v
                            + " at " + r.topic() + "-" + r.partition() + "@" + r.offset());
                        check(r.offset() >= perPartition, "record " + v + " below the committed offset");
                        check(seen.put(v, new TopicPartition(r.topic(), r.partition())) == null, "read twice: " + v);
                    }
                }
                checkEq(all, c.assignment(), "the only member's assignment");
                ok("restarted consumer resumed from committed offsets, records=" + n);
            }
        }
        System.out.println("PASS consumer-group");
    }

    private static KafkaProducer<byte[], byte[]> newProducer(String bootstrap) {
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer());
    }

    private static KafkaConsumer<byte[], byte[]> newGroupConsumer(String bootstrap, String group, String name) {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, group + "-" + name);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    private static boolean splitsAll(Set<TopicPartition> a, Set<TopicPartition> b, Set<TopicPartition> all) {
        Set<TopicPartition> union = new HashSet<>(a);
        union.addAll(b);
        return !a.isEmpty() && !b.isEmpty() && a.size() + b.size() == all.size() && union.equals(all);
    }

    /** Sends perPartition records "TAG-P-I" to each partition P and waits for every acknowledgement. */
    private static void produceSpread(KafkaProducer<byte[], byte[]> producer, String topic, int partitions,
                                      int perPartition, String tag) throws Exception {
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            for (int i = 0; i < perPartition; i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, p, null, bytes(tag + "-" + p + "-" + i))));
            }
        }
        producer.flush();
        for (Future<RecordMetadata> f : futures) {
            f.get(TIMEOUT_S, TimeUnit.SECONDS);
        }
        ok("produced " + tag + " records=" + partitions * perPartition);
    }

    /**
     * Polls both members until the group has read n records; each record must come
     * from a partition its reader is assigned and be read only once. Returns how
     * many a read.
     */
    private static int consumeInto(KafkaConsumer<byte[], byte[]> a, KafkaConsumer<byte[], byte[]> b,
                                   Map<String, TopicPartition> seen, int n) {
        int fromA = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (seen.size() < n) {
            check(System.nanoTime() < deadline, "the group read " + seen.size() + " of " + n);
            for (KafkaConsumer<byte[], byte[]> c : List.of(a, b)) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    String v = new String(r.value(), StandardCharsets.UTF_8);
                    check(v.startsWith("first-" + r.partition() + "-"), "record " + v + " in partition " + tp);
                    check(c.assignment().contains(tp), "read " + v + " from unassigned " + tp);
                    check(seen.put(v, tp) == null, "read twice: " + v);
                    if (c == a) {
                        fromA++;
                    }
                }
            }
        }
        return fromA;
    }

    private static List<ConsumerRecord<byte[], byte[]>> readToEnd(
            KafkaConsumer<byte[], byte[]> consumer, TopicPartition tp, long end) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (consumer.position(tp) < end) {
            check(System.nanoTime() < deadline,
                "read " + out.size() + " records; position " + consumer.position(tp) + " < " + end);
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                out.add(r);
            }
        }
        return out;
    }

    private static void compare(ProducerRecord<byte[], byte[]> s, ConsumerRecord<byte[], byte[]> r, int i) {
        String at = "record " + i;
        checkEq((long) i, r.offset(), at + " offset");
        check(Arrays.equals(s.key(), r.key()), at + " key differs");
        check(Arrays.equals(s.value(), r.value()), at + " value differs");
        checkEq(s.timestamp(), r.timestamp(), at + " timestamp");
        checkEq(TimestampType.CREATE_TIME, r.timestampType(), at + " timestamp type");
        Header[] want = s.headers().toArray();
        Header[] got = r.headers().toArray();
        checkEq(want.length, got.length, at + " header count");
        for (int h = 0; h < want.length; h++) {
            checkEq(want[h].key(), got[h].key(), at + " header " + h + " key");
            check(Arrays.equals(want[h].value(), got[h].value()), at + " header " + h + " value differs");
        }
    }
}
