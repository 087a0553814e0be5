//! `blueprint-api` entry point: parse config, install telemetry, serve until a signal.

use std::process::ExitCode;

use blueprint_api::config::{Cli, Command, Config, EXIT_CONFIG};
use blueprint_api::server::Application;
use clap::Parser as _;

/// mimalloc instead of glibc malloc: per-request allocations were about a fifth of CPU time under
/// load with glibc (measured with `perf` during `make bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() => {
            // One line naming the setting and the problem; `--help` has the rest.
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("blueprint-api: {}", first.trim_start_matches("error: "));
            return exit(EXIT_CONFIG);
        }
        Err(err) => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
    };
    let config = match Config::load(&cli.settings) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("blueprint-api: {err}");
            return exit(EXIT_CONFIG);
        }
    };
    if let Some(Command::Healthcheck { url, timeout }) = cli.command {
        let url = url.unwrap_or_else(|| service::healthcheck::default_url(config.port));
        return service::healthcheck::run("blueprint-api", &url, timeout);
    }
    let telemetry = match telemetry::init(&telemetry::TelemetryConfig {
        service_name: "blueprint-api",
        service_version: blueprint_api::state::VERSION,
        log_level: config.level.clone(),
    }) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("blueprint-api: invalid configuration: {err}");
            return exit(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("blueprint-api: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let app = Application::build(config).await?;
        app.run_until_stopped(service::signals::shutdown_signal("blueprint-api"))
            .await
    });
    // Flush spans after the server has stopped, so the last requests' spans are exported too.
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "blueprint-api failed");
            eprintln!("blueprint-api: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
