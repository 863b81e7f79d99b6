//! `spool perf`: Kafka's performance tools, driving load through librdkafka.
//!
//! ```text
//! spool perf produce   = kafka-producer-perf-test(.sh)   (Kafka's ProducerPerformance)
//! spool perf consume   = kafka-consumer-perf-test(.sh)   (Kafka's ConsumerPerformance)
//! spool perf e2e       end-to-end latency                (Kafka's EndToEndLatency)
//! ```
//!
//! Flags and output lines are Kafka's, so scripts written for Kafka's tools parse ours.
//! The load goes through librdkafka (the `rdkafka` crate), the client most users run,
//! so the numbers are comparable with what they will see. Latencies are kept in an HDR
//! histogram with microsecond resolution; the lines that Kafka prints in whole
//! milliseconds stay in whole milliseconds, and `e2e` adds one line in microseconds.
//!
//! The tools measure; they assert nothing about speed. The benchmark that runs them
//! and keeps the numbers is `bench/run` at the top of the repository.

mod consumer_performance;
mod date_format;
mod delivery_queue;
mod end_to_end_latency;
mod fetch_queue;
mod latency_stats;
mod payload;
mod perf_context;
mod producer_performance;
mod throughput_throttler;
mod topic_sender;

use clap::{Args, Subcommand};

pub(crate) use consumer_performance::ConsumerPerfArgs;
pub(crate) use end_to_end_latency::EndToEndArgs;
pub(crate) use producer_performance::ProducerPerfArgs;

/// Flags of `spool perf`.
#[derive(Args, Debug)]
pub(crate) struct PerfArgs {
    #[command(subcommand)]
    command: PerfCommand,
}

#[derive(Subcommand, Debug)]
enum PerfCommand {
    /// Producer throughput and latency (as kafka-producer-perf-test)
    Produce(ProducerPerfArgs),
    /// Consumer throughput (as kafka-consumer-perf-test)
    Consume(ConsumerPerfArgs),
    /// End-to-end latency, produce to consume (as Kafka's EndToEndLatency)
    E2e(EndToEndArgs),
}

/// Runs one perf tool; returns the process exit code.
pub(crate) fn run(args: PerfArgs) -> i32 {
    match args.command {
        PerfCommand::Produce(args) => producer_performance::run(args),
        PerfCommand::Consume(args) => consumer_performance::run(args),
        PerfCommand::E2e(args) => end_to_end_latency::run(args),
    }
}

/// Runs `kafka-producer-perf-test`.
pub(crate) fn run_producer(args: ProducerPerfArgs) -> i32 {
    producer_performance::run(args)
}

/// Runs `kafka-consumer-perf-test`.
pub(crate) fn run_consumer(args: ConsumerPerfArgs) -> i32 {
    consumer_performance::run(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(clap::Parser, Debug)]
    struct Wrapper {
        #[command(flatten)]
        perf: PerfArgs,
    }

    #[test]
    fn the_command_lines_are_consistent() {
        Wrapper::command().debug_assert();
        ProducerPerfArgs::command().debug_assert();
        ConsumerPerfArgs::command().debug_assert();
        EndToEndArgs::command().debug_assert();
    }
}
