//! `blueprint-worker` entry point: parse config, install telemetry, run jobs until a signal.

use std::process::ExitCode;

use blueprint_worker::app::{Application, VERSION};
use blueprint_worker::config::{Cli, Command, Config, EXIT_CONFIG};
use clap::Parser as _;

/// mimalloc instead of glibc malloc, as in blueprint-api (one allocator for both service images).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() => {
            // One line naming the setting and the problem; `--help` has the rest.
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("blueprint-worker: {}", first.trim_start_matches("error: "));
            return exit(EXIT_CONFIG);
        }
        Err(err) => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
    };
    if let Some(Command::Healthcheck { url, timeout }) = cli.command {
        let url = match url {
            Some(url) => url,
            None => match Config::layered(&cli.settings) {
                // Port 0 means "any free port": only the caller knows which one the worker got.
                Ok(config) if config.port == 0 => {
                    eprintln!(
                        "blueprint-worker healthcheck: --port is 0, so give the URL to probe"
                    );
                    return exit(EXIT_CONFIG);
                }
                Ok(config) => service::healthcheck::default_url(config.port),
                Err(err) => {
                    eprintln!("blueprint-worker: {err}");
                    return exit(EXIT_CONFIG);
                }
            },
        };
        return service::healthcheck::run("blueprint-worker", &url, timeout);
    }
    let config = match Config::load(&cli.settings) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("blueprint-worker: {err}");
            return exit(EXIT_CONFIG);
        }
    };
    let telemetry = match telemetry::init(&telemetry::TelemetryConfig {
        service_name: "blueprint-worker",
        service_version: VERSION,
        log_level: config.level.clone(),
    }) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("blueprint-worker: invalid configuration: {err}");
            return exit(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("blueprint-worker: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let app = Application::build(config).await?;
        app.run_until_stopped(service::signals::shutdown_signal("blueprint-worker"))
            .await
    });
    // Flush spans after the jobs have drained, so the last jobs' spans are exported too.
    telemetry.shutdown();
    match result {
        Ok(_report) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "blueprint-worker failed");
            eprintln!("blueprint-worker: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
