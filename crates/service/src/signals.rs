//! Shutdown signals.

/// Resolves on the first SIGTERM or SIGINT; a second one exits the process at once with code 1
/// (an operator who presses Ctrl-C twice means it). `binary` names the process in that message.
pub async fn shutdown_signal(binary: &'static str) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; shutdown only by kill -9");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutdown signal received"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "shutdown signal received"),
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("{binary}: second signal received; exiting now");
        std::process::exit(1);
    });
}
