//! SIGINT/SIGTERM for the console tools.
//!
//! The tools are synchronous; a small thread with a single-threaded Tokio runtime
//! waits for the signal and runs the tool's shutdown action (flush the producer, stop
//! the consumer loop), as Kafka's tools do in their JVM shutdown hooks.

use std::sync::mpsc;

/// The exit code of a process ended by `signal`: 128 + its number, as a shell reports it.
pub(crate) const fn exit_code_for(signal: Signal) -> i32 {
    match signal {
        Signal::Interrupt => 130,
        Signal::Terminate => 143,
    }
}

/// A termination signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Interrupt,
    Terminate,
}

/// Runs `action` on a helper thread when the process receives SIGINT or SIGTERM.
///
/// Returns once the handlers are installed, so no signal in between takes the
/// default action. If they cannot be installed, the default action stays.
pub(crate) fn on_termination(action: impl FnOnce(Signal) + Send + 'static) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::debug!("no signal handling: {e}");
                let _ = ready_tx.send(());
                return;
            }
        };
        runtime.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut interrupt), Ok(mut terminate)) =
                (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
            else {
                let _ = ready_tx.send(());
                return;
            };
            let _ = ready_tx.send(());
            let received = tokio::select! {
                _ = interrupt.recv() => Signal::Interrupt,
                _ = terminate.recv() => Signal::Terminate,
            };
            action(received);
        });
    });
    if spawned.is_ok() {
        let _ = ready_rx.recv();
    }
}
