/*
 * A stand-alone librdkafka mock broker: the in-memory broker that
 * `rdkafka_performance -X test.mock.num.brokers=1` starts inside the client, in a
 * process of its own, with one topic of as many partitions as asked. bench/run
 * drives it with the same client as Spool, for a baseline of loads that the
 * in-process mock cannot take (its auto-created topics have 4 partitions).
 *
 * The mock writes nothing to disk and keeps only the newest 5 MB (at most 100,000
 * batches) of each partition in memory (rdkafka_mock.c: max_size, max_cnt), so each
 * batch is copied into memory just freed by an older one.
 *
 * Usage: mock_broker TOPIC PARTITIONS
 * Prints the bootstrap address on the first line of stdout, then serves until
 * killed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rdkafka.h"
#include "rdkafka_mock.h"

int main(int argc, char **argv) {
        if (argc != 3 || atoi(argv[2]) < 1) {
                fprintf(stderr, "usage: %s TOPIC PARTITIONS\n", argv[0]);
                return 2;
        }
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "mock_broker: %s\n", errstr);
                return 1;
        }
        rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, 1);
        if (!mcluster) {
                fprintf(stderr, "mock_broker: could not start the mock cluster\n");
                return 1;
        }
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, argv[1], atoi(argv[2]), 1);
        if (err) {
                fprintf(stderr, "mock_broker: creating %s: %s\n", argv[1], rd_kafka_err2str(err));
                return 1;
        }
        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);
        int sig;
        sigwait(&set, &sig);
        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
