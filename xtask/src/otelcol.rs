//! The OpenTelemetry Collector distribution `otelcol-blueprint`, its config, and Jaeger's config.
//!
//! - [`ensure`] builds the distribution from `config/otel-collector/builder.yaml` (an ocb
//!   manifest) into the tool cache, with the OpenTelemetry Collector Builder of [`OCB_VERSION`]:
//!
//!   ```text
//!   <cache>/ocb-0.165.0/bin/builder                                  go install (GOBIN)
//!   <cache>/otelcol-blueprint-0.165.0-<sha256(builder.yaml)[..12]>/  builder --config <copy>
//!       builder.yaml          the manifest, dist.output_path rewritten to this directory
//!       otelcol-blueprint     the binary (written last, by `go build`)
//!   ```
//!
//!   The builder has no flag for the output directory, so it runs on a copy of the manifest whose
//!   `dist.output_path` points into the cache; nothing is written into the work tree. The
//!   directory is named after the manifest's hash, so a changed manifest builds beside the old
//!   one and a cached run never uses a binary built from another manifest. The first build takes
//!   about 3 minutes and grows Go's module cache by about 2 GiB; later ones are seconds.
//! - [`validate`] runs `otelcol-blueprint validate` on `config/otel-collector/config.yaml`, after
//!   the same structural check as Jaeger's config gets.
//! - [`check_jaeger_config`] checks `config/jaeger/config.yaml` structurally: Jaeger v2 cannot be
//!   installed here (`go install` refuses its module, whose go.mod has a `replace` directive), so
//!   every component named in `service` must be defined, and the storage names must resolve.
//! - [`log_pipeline_check`] runs the collector's log pipeline for real on the api's own output
//!   (what `validate` cannot prove: unknown keys inside a `file_log` operator are ignored).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};
use serde_yaml::Value;
use sha2::{Digest as _, Sha256};

use crate::http;
use crate::proc::{self, Server};

/// The OpenTelemetry Collector Builder (ocb) version; it must equal the version of every core
/// module (`go.opentelemetry.io/collector/…`) in the manifest, which [`ensure`] checks.
pub const OCB_VERSION: &str = "0.165.0";

/// The Go package of the builder.
const OCB_PACKAGE: &str = "go.opentelemetry.io/collector/cmd/builder";

/// The prefix of the collector's core modules, which share the builder's version.
const CORE_MODULE_PREFIX: &str = "go.opentelemetry.io/collector/";

/// The ocb manifest, relative to the workspace root.
pub const BUILDER_MANIFEST: &str = "config/otel-collector/builder.yaml";

/// The collector's configuration, relative to the workspace root.
pub const COLLECTOR_CONFIG: &str = "config/otel-collector/config.yaml";

/// Jaeger v2's configuration, relative to the workspace root.
pub const JAEGER_CONFIG: &str = "config/jaeger/config.yaml";

/// How many hex digits of the manifest's SHA-256 name its build directory (48 bits: a collision
/// between two manifests of this repository is not a concern).
const MANIFEST_HASH_HEX: usize = 12;

/// Upper bound on `go install` of the builder (a cold module cache downloads it first).
const OCB_INSTALL_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Upper bound on one collector build: about 3 min from cold caches on 2 cores; 30 min means a
/// hang (or a very slow module proxy).
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Where Go's official tarball installs it, for when `go` is not on PATH.
const GO_FALLBACK: &str = "/usr/local/go/bin/go";

/// The pipeline kinds a collector accepts (`traces`, `traces/jaeger`, …).
const SIGNALS: [&str; 4] = ["traces", "metrics", "logs", "profiles"];

/// The exporters the log check keeps: they only listen on a port of its choosing or print.
const LOCAL_EXPORTER_TYPES: [&str; 2] = ["prometheus", "debug"];

/// The exporter the log check adds in place of the network ones.
const DEBUG_EXPORTER: &str = "debug";

/// How long the api may take to answer 200 on /readyz; it needs milliseconds.
const API_READY_LIMIT: Duration = Duration::from_secs(10);

/// Interval between the api's readiness probes.
const API_READY_POLL: Duration = Duration::from_millis(20);

/// How long the collector may take to answer 200 on its health endpoint; about 0.1 s here.
const COLLECTOR_READY_LIMIT: Duration = Duration::from_secs(20);

/// Interval between the collector's readiness probes.
const COLLECTOR_READY_POLL: Duration = Duration::from_millis(100);

/// How long to wait for the records in the debug output after the collector is ready: the batch
/// processor sends after 5 s (`timeout: 5s`), `file_log` polls every 200 ms.
const RECORD_WAIT: Duration = Duration::from_secs(20);

/// Interval between reads of the collector's output while waiting for the records.
const OUTPUT_POLL: Duration = Duration::from_millis(250);

/// How long the api and the collector may take to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The parent span id of the `traceparent` the log check sends.
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// The api pod's directory under `var/log/pods` (`<namespace>_<pod>_<pod uid>`), container and file.
const API_POD_LOG: &str = "blueprint_blueprint-api-5d8f7c9b4-x2x9q_3f6d1c2e-8a4b-4c1d-9e2f-0a1b2c3d4e5f/blueprint-api/0.log";

/// A worker pod's log file (docker json-file format).
const WORKER_POD_LOG: &str = "blueprint_blueprint-worker-6b7c8d9f5-k4m2p_7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d/blueprint-worker/0.log";

/// Another workload's log file, which the `file_log` include patterns must not match.
const COREDNS_POD_LOG: &str =
    "kube-system_coredns-668d6bf9bc-abcde_11111111-2222-4333-8444-555555555555/coredns/0.log";

/// The worker-like line's `ts`.
const WORKER_TS: &str = "2026-01-02T03:04:05.12345678Z";

/// The worker-like line's message.
const WORKER_MSG: &str = "cannot reach the queue backend; not ready, retrying";

/// A line that is not JSON (a runtime message on stderr), which passes through unparsed.
const PLAIN_LINE: &str = "xtask plain-text line: thread 'main' panicked at src/main.rs:1:1";

/// Builds `otelcol-blueprint` into the tool cache unless that manifest's build is there; returns
/// the binary's path. Prints `ok`/`new` lines like [`crate::tools`].
pub fn ensure(cache_root: &Path) -> Result<PathBuf> {
    let manifest_path = crate::root().join(BUILDER_MANIFEST);
    let bytes = std::fs::read(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{BUILDER_MANIFEST} is not UTF-8"))?;
    let manifest: Value =
        serde_yaml::from_str(text).with_context(|| format!("parsing {BUILDER_MANIFEST}"))?;
    let problems = manifest_version_problems(&manifest);
    if !problems.is_empty() {
        bail!("{BUILDER_MANIFEST}:\n  {}", problems.join("\n  "));
    }
    let name = manifest
        .get("dist")
        .and_then(|d| d.get("name"))
        .and_then(Value::as_str)
        .with_context(|| format!("{BUILDER_MANIFEST}: no dist.name"))?
        .to_owned();
    let dir = cache_root.join(format!("{name}-{OCB_VERSION}-{}", manifest_hash(&bytes)));
    let bin = dir.join(&name);
    let label = format!("{name} {OCB_VERSION}");
    if bin.is_file() {
        println!("ok    {label:<24} {}", bin.display());
        return Ok(bin);
    }
    let started = Instant::now();
    let go = find_go()?;
    let builder = ensure_builder(cache_root, &go)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let copy = dir.join("builder.yaml");
    std::fs::write(&copy, rewrite_manifest(&manifest, &dir)?)
        .with_context(|| format!("writing {}", copy.display()))?;
    let mut cmd = Command::new(&builder);
    cmd.current_dir(&dir).arg("--config").arg(&copy);
    with_go_on_path(&mut cmd, &go);
    proc::run_with_timeout(&mut cmd, BUILD_LIMIT)
        .with_context(|| format!("building {label} from {BUILDER_MANIFEST}"))?;
    installed(&label, &bin, started)
}

/// `go` on PATH, else Go's default install location; fails saying what needs it.
fn find_go() -> Result<PathBuf> {
    proc::on_path("go")
        .or_else(|| proc::on_path(GO_FALLBACK))
        .with_context(|| {
            format!(
                "building otelcol-blueprint needs Go (`go` on PATH or {GO_FALLBACK}; measured with \
                 Go 1.26): install it from https://go.dev/dl/ and retry"
            )
        })
}

/// Lets a child find `go` when it is not on PATH (the builder runs `go` itself).
fn with_go_on_path(cmd: &mut Command, go: &Path) {
    if proc::on_path("go").is_some() {
        return;
    }
    if let Some(dir) = go.parent() {
        let mut paths = vec![dir.to_owned()];
        if let Some(path) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&path));
        }
        if let Ok(joined) = std::env::join_paths(paths) {
            cmd.env("PATH", joined);
        }
    }
}

/// `go install <builder>@v<OCB_VERSION>` into `<cache>/ocb-<version>/bin`, unless it is there.
fn ensure_builder(cache_root: &Path, go: &Path) -> Result<PathBuf> {
    let bin_dir = cache_root.join(format!("ocb-{OCB_VERSION}/bin"));
    let bin = bin_dir.join("builder");
    let label = format!("ocb {OCB_VERSION}");
    if bin.is_file() {
        println!("ok    {label:<24} {}", bin.display());
        return Ok(bin);
    }
    let started = Instant::now();
    std::fs::create_dir_all(cache_root)
        .with_context(|| format!("creating {}", cache_root.display()))?;
    let mut cmd = Command::new(go);
    // Outside any module, so `go install pkg@version` resolves only the pinned module.
    cmd.current_dir(cache_root)
        .env("GOBIN", &bin_dir)
        .arg("install")
        .arg(format!("{OCB_PACKAGE}@v{OCB_VERSION}"));
    proc::run_with_timeout(&mut cmd, OCB_INSTALL_LIMIT)
        .with_context(|| format!("installing {label} with go install"))?;
    installed(&label, &bin, started)
}

fn installed(label: &str, bin: &Path, started: Instant) -> Result<PathBuf> {
    if !bin.is_file() {
        bail!("building {label} finished but {} is missing", bin.display());
    }
    println!(
        "new   {label:<24} {} (installed in {:.1} s)",
        bin.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(bin.to_owned())
}

/// The first [`MANIFEST_HASH_HEX`] hex digits of the manifest's SHA-256.
fn manifest_hash(bytes: &[u8]) -> String {
    let mut digest = hex::encode(Sha256::digest(bytes));
    digest.truncate(MANIFEST_HASH_HEX);
    digest
}

/// The manifest as YAML with `dist.output_path` set to `output` (comments are not kept: the
/// copy is only for the builder).
fn rewrite_manifest(manifest: &Value, output: &Path) -> Result<String> {
    let mut manifest = manifest.clone();
    let output_path = manifest
        .get_mut("dist")
        .and_then(|d| d.get_mut("output_path"))
        .with_context(|| format!("{BUILDER_MANIFEST}: no dist.output_path to rewrite"))?;
    let output = output
        .to_str()
        .with_context(|| format!("{} is not UTF-8", output.display()))?;
    *output_path = Value::String(output.to_owned());
    serde_yaml::to_string(&manifest).context("writing the manifest copy")
}

/// Core modules whose version is not `v<OCB_VERSION>`: the builder and the core must match.
fn manifest_version_problems(manifest: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(sections) = manifest.as_mapping() else {
        return vec!["the manifest is not a mapping".to_owned()];
    };
    for (section, items) in sections {
        for item in items.as_sequence().into_iter().flatten() {
            let Some(gomod) = item.get("gomod").and_then(Value::as_str) else {
                continue;
            };
            let (module, version) = gomod.split_once(' ').unwrap_or((gomod, ""));
            if module.starts_with(CORE_MODULE_PREFIX) && version.trim() != format!("v{OCB_VERSION}")
            {
                problems.push(format!(
                    "{}: {module} is {}, but the builder is v{OCB_VERSION}; bump the core \
                     modules and OCB_VERSION (xtask/src/otelcol.rs) together",
                    section.as_str().unwrap_or("?"),
                    if version.is_empty() {
                        "unversioned"
                    } else {
                        version.trim()
                    }
                ));
            }
        }
    }
    problems
}

/// Runs `<collector> validate --config config/otel-collector/config.yaml` with the variables the
/// config reads removed from the environment, so the committed defaults are what is validated.
/// The structural check of [`pipeline_problems`] runs first.
pub fn validate(collector: &Path) -> Result<()> {
    let path = crate::root().join(COLLECTOR_CONFIG);
    let (text, config) = read_yaml(&path, COLLECTOR_CONFIG)?;
    report(COLLECTOR_CONFIG, &pipeline_problems(&config))?;
    let mut cmd = proc::isolated(collector);
    for name in env_names(&text) {
        cmd.env_remove(name);
    }
    cmd.arg("validate").arg("--config").arg(&path);
    proc::run(&mut cmd).with_context(|| format!("otelcol-blueprint rejects {COLLECTOR_CONFIG}"))?;
    println!("{COLLECTOR_CONFIG}: valid for {}", collector.display());
    Ok(())
}

/// Structural check of `config/jaeger/config.yaml` (Jaeger itself cannot be installed here): every
/// component named in `service` is defined, and the storage names resolve (see
/// [`jaeger_storage_problems`]).
pub fn check_jaeger_config(root: &Path) -> Result<()> {
    let (_, config) = read_yaml(&root.join(JAEGER_CONFIG), JAEGER_CONFIG)?;
    let mut problems = pipeline_problems(&config);
    problems.extend(jaeger_storage_problems(&config));
    report(JAEGER_CONFIG, &problems)?;
    println!("{JAEGER_CONFIG}: every component and storage name resolves");
    Ok(())
}

fn read_yaml(path: &Path, name: &str) -> Result<(String, Value)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value = serde_yaml::from_str(&text).with_context(|| format!("parsing {name}"))?;
    Ok((text, value))
}

fn report(file: &str, problems: &[String]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "{} problem(s) in {file}:\n  {}",
        problems.len(),
        problems.join("\n  ")
    )
}

/// The keys of a top-level section (`receivers`, …) of a collector config.
fn defined(config: &Value, section: &str) -> BTreeSet<String> {
    config
        .get(section)
        .and_then(Value::as_mapping)
        .map(|map| {
            map.keys()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The component type of an id: `otlp_grpc/jaeger` → `otlp_grpc`.
fn component_type(id: &str) -> &str {
    id.split_once('/').map_or(id, |(kind, _)| kind)
}

/// The names listed under `value[key]` (a sequence of strings), or a problem.
fn names<'a>(value: &'a Value, key: &str, at: &str, problems: &mut Vec<String>) -> Vec<&'a str> {
    match value.get(key) {
        None => Vec::new(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|item| {
                let name = item.as_str();
                if name.is_none() {
                    problems.push(format!("{at}.{key} holds {item:?}, not a component name"));
                }
                name
            })
            .collect(),
        Some(other) => {
            problems.push(format!("{at}.{key} is {other:?}, not a list"));
            Vec::new()
        }
    }
}

/// The references a collector (or Jaeger v2) config makes in `service`, checked against what it
/// defines: every extension in `service.extensions` is under `extensions`; in every pipeline of
/// `service.pipelines` (named `traces`, `metrics`, `logs` or `profiles`, optionally `/name`), every
/// receiver is under `receivers` or `connectors`, every processor under `processors`, every
/// exporter under `exporters` or `connectors`, none twice, at least one receiver and exporter; and
/// every connector used as an exporter is also used as a receiver, and the other way round.
pub fn pipeline_problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let connectors = defined(config, "connectors");
    let empty = Value::Null;
    let service = config.get("service").unwrap_or(&empty);
    let extensions = defined(config, "extensions");
    for name in names(service, "extensions", "service", &mut problems) {
        if !extensions.contains(name) {
            problems.push(format!(
                "service.extensions names \"{name}\", which is not defined under extensions"
            ));
        }
    }
    let Some(pipelines) = service.get("pipelines").and_then(Value::as_mapping) else {
        problems.push("no service.pipelines".to_owned());
        return problems;
    };
    let mut connector_use: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for (id, pipeline) in pipelines {
        let id = id.as_str().unwrap_or("?");
        let at = format!("service.pipelines.{id}");
        if !SIGNALS.contains(&component_type(id)) {
            problems.push(format!(
                "{at}: a pipeline is named {}[/name]",
                SIGNALS.join("|")
            ));
        }
        for (key, sections) in [
            ("receivers", &["receivers", "connectors"][..]),
            ("processors", &["processors"][..]),
            ("exporters", &["exporters", "connectors"][..]),
        ] {
            let listed = names(pipeline, key, &at, &mut problems);
            if listed.is_empty() && key != "processors" {
                problems.push(format!("{at} has no {key}"));
            }
            let mut seen = BTreeSet::new();
            for name in listed {
                if !seen.insert(name) {
                    problems.push(format!("{at}.{key} names \"{name}\" twice"));
                }
                if connectors.contains(name) && key != "processors" {
                    let used = connector_use.entry(name).or_default();
                    if key == "receivers" {
                        used.0 = true;
                    } else {
                        used.1 = true;
                    }
                } else if !defined(config, sections[0]).contains(name) {
                    problems.push(format!(
                        "{at}.{key} names \"{name}\", which is not defined under {}",
                        sections.join(" or ")
                    ));
                }
            }
        }
    }
    for (name, (as_receiver, as_exporter)) in connector_use {
        if as_receiver != as_exporter {
            problems.push(format!(
                "connector \"{name}\" is used as {} in a pipeline but never as {}",
                if as_exporter {
                    "an exporter"
                } else {
                    "a receiver"
                },
                if as_exporter {
                    "a receiver"
                } else {
                    "an exporter"
                }
            ));
        }
    }
    problems
}

/// Jaeger v2's storage references: `jaeger_query`'s `storage.traces` and `storage.traces_archive`,
/// and every `jaeger_storage_exporter`'s `trace_storage`, name a backend under
/// `extensions.jaeger_storage.backends` (`storage.metrics`: one under `metric_backends`); and
/// `jaeger_storage` is enabled in `service.extensions` when they use it.
pub fn jaeger_storage_problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let of_type = |section: &str, kind: &str| -> Vec<(String, Value)> {
        config
            .get(section)
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(id, value)| Some((id.as_str()?.to_owned(), value.clone())))
            .filter(|(id, _)| component_type(id) == kind)
            .collect()
    };
    let storages = of_type("extensions", "jaeger_storage");
    let backends = |key: &str| -> BTreeSet<String> {
        storages
            .iter()
            .filter_map(|(_, s)| s.get(key).and_then(Value::as_mapping))
            .flat_map(|m| m.keys().filter_map(Value::as_str).map(str::to_owned))
            .collect()
    };
    let (trace_backends, metric_backends) = (backends("backends"), backends("metric_backends"));
    let mut check = |at: String, name: Option<&Value>, required: bool, known: &BTreeSet<String>| {
        let defined = known.iter().cloned().collect::<Vec<_>>().join(", ");
        match name {
            None if !required => {}
            None => problems.push(format!(
                "{at} is missing: it must name a backend defined under extensions.jaeger_storage \
                 (defined: {defined})"
            )),
            Some(name) => match name.as_str() {
                Some(name) if known.contains(name) => {}
                _ => problems.push(format!(
                    "{at} is {}, which is not a backend defined under \
                     extensions.jaeger_storage (defined: {defined})",
                    serde_yaml::to_string(name).unwrap_or_default().trim()
                )),
            },
        }
    };
    let queries = of_type("extensions", "jaeger_query");
    let exporters = of_type("exporters", "jaeger_storage_exporter");
    for (id, query) in &queries {
        let storage = query.get("storage");
        let at = format!("extensions.{id}.storage");
        check(
            format!("{at}.traces"),
            storage.and_then(|s| s.get("traces")),
            true,
            &trace_backends,
        );
        let archive = storage.and_then(|s| s.get("traces_archive"));
        check(
            format!("{at}.traces_archive"),
            archive,
            false,
            &trace_backends,
        );
        let metrics = storage.and_then(|s| s.get("metrics"));
        check(format!("{at}.metrics"), metrics, false, &metric_backends);
    }
    for (id, exporter) in &exporters {
        let at = format!("exporters.{id}.trace_storage");
        check(at, exporter.get("trace_storage"), true, &trace_backends);
    }
    let enabled: Vec<&str> = config
        .get("service")
        .and_then(|s| s.get("extensions"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let users = queries.len() + exporters.len();
    if users > 0
        && !enabled
            .iter()
            .any(|e| component_type(e) == "jaeger_storage")
    {
        problems.push(
            "jaeger_query / jaeger_storage_exporter read their storage from the jaeger_storage \
             extension, which is not enabled in service.extensions"
                .to_owned(),
        );
    }
    problems
}

/// The environment variables a config reads, `${env:NAME}` or `${env:NAME:-default}`.
fn env_names(text: &str) -> BTreeSet<String> {
    text.split("${env:")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find([':', '}'])?;
            Some(rest[..end].to_owned())
        })
        .collect()
}

/// The collector config for the log check, from the committed one: the `file_log` include paths
/// point under `work` (`/var/log/pods/…` → `<work>/var/log/pods/…`), and every exporter that
/// sends over the network (to Jaeger, to Loki) is replaced by `debug` (`verbosity: detailed`).
/// Everything else stays: the operators, the processors, the traces pipeline with `span_metrics`
/// and the `prometheus` exporter (which only listens, on a port the check chooses).
fn log_check_config(config: &Value, work: &Path) -> Result<Value> {
    let mut config = config.clone();
    let work = work
        .to_str()
        .with_context(|| format!("{} is not UTF-8", work.display()))?;
    let include = config
        .get_mut("receivers")
        .and_then(|r| r.get_mut("file_log"))
        .and_then(|f| f.get_mut("include"))
        .and_then(Value::as_sequence_mut)
        .context("no receivers.file_log.include list")?;
    for pattern in include {
        let text = pattern
            .as_str()
            .context("a file_log include that is not a string")?;
        ensure!(
            text.starts_with('/'),
            "file_log include {text:?} is not absolute"
        );
        *pattern = Value::String(format!("{work}{text}"));
    }
    let connectors = defined(&config, "connectors");
    let exporters = config
        .get_mut("exporters")
        .and_then(Value::as_mapping_mut)
        .context("no exporters")?;
    exporters.retain(|id, _| {
        id.as_str()
            .is_some_and(|id| LOCAL_EXPORTER_TYPES.contains(&component_type(id)))
    });
    let kept: BTreeSet<String> = exporters
        .keys()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    exporters.insert(
        DEBUG_EXPORTER.into(),
        serde_yaml::from_str("verbosity: detailed").context("the debug exporter")?,
    );
    let pipelines = config
        .get_mut("service")
        .and_then(|s| s.get_mut("pipelines"))
        .and_then(Value::as_mapping_mut)
        .context("no service.pipelines")?;
    for (_, pipeline) in pipelines.iter_mut() {
        let Some(list) = pipeline
            .get_mut("exporters")
            .and_then(Value::as_sequence_mut)
        else {
            continue;
        };
        let before = list.len();
        list.retain(|e| {
            e.as_str()
                .is_some_and(|e| kept.contains(e) || connectors.contains(e))
        });
        if list.len() < before {
            list.push(Value::String(DEBUG_EXPORTER.to_owned()));
        }
    }
    Ok(config)
}

/// The collector's log pipeline, run for real: `blueprint-api` (`api`) serves one request with a
/// `traceparent` and logs its access line; its stdout is stored as the kubelet would, in the
/// containerd CRI format, under `<work>/var/log/pods/…`, beside a worker-like pod's file in the
/// docker json-file format and a coredns pod's file; `collector` runs [`log_check_config`]'s
/// variant of the committed config on free loopback ports (through the `${env:…}` variables the
/// config reads) and prints what it would send with the `debug` exporter. The check then asserts
/// the access line's record: `Trace ID` and `Span ID` from the line, severity `INFO`, the message
/// as the body, the line's `ts` as the timestamp, `service.name` from the pod name, the consumed
/// fields gone and the event's fields typed; the worker line's record; the plain-text line passed
/// through; and nothing of the coredns file. About 6 s, most of it the batch processor's 5 s.
pub fn log_pipeline_check(collector: &Path, api: &Path, work: &Path) -> Result<()> {
    let started = Instant::now();
    let pods = work.join("var/log/pods");
    if pods.exists() {
        std::fs::remove_dir_all(&pods).with_context(|| format!("removing {}", pods.display()))?;
    }
    std::fs::create_dir_all(work.join("data"))
        .with_context(|| format!("creating {}", work.display()))?;
    let trace_id = fresh_trace_id();
    let api_lines = api_output(api, work, &trace_id)?;
    let access = AccessLine::find(&api_lines, &trace_id)?;
    write_pod_logs(&pods, &api_lines, &access.ts)?;

    let committed = crate::root().join(COLLECTOR_CONFIG);
    let (text, config) = read_yaml(&committed, COLLECTOR_CONFIG)?;
    let variant = work.join("otelcol-log-check.yaml");
    let variant_text = serde_yaml::to_string(&log_check_config(&config, work)?)?;
    std::fs::write(&variant, variant_text)
        .with_context(|| format!("writing {}", variant.display()))?;
    let output = run_collector(collector, &variant, &env_names(&text), work, &trace_id)?;
    verify_records(&output, &access)?;
    println!(
        "log pipeline: the access line (trace {trace_id}), a docker-format worker line and a \
         plain-text line came out as expected, the coredns file was not read ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A trace id for this run: 32 hex digits from the clock and the process id, never all zeros.
fn fresh_trace_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos());
    format!(
        "{:032x}",
        (nanos ^ (u128::from(std::process::id()) << 96)) | 1
    )
}

/// Runs the api, sends `GET /api/info` with a `traceparent` of `trace_id`, stops it with SIGTERM
/// and returns its stdout lines.
fn api_output(api: &Path, work: &Path, trace_id: &str) -> Result<Vec<String>> {
    let port = proc::free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cmd = proc::isolated(api);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-log", "--drain-delay", "0s", "--data-path"])
        .arg(work.join("data"));
    let stdout_path = work.join("blueprint-api.stdout.log");
    let stdout = File::create(&stdout_path)
        .with_context(|| format!("creating {}", stdout_path.display()))?;
    let mut server = Server::spawn("blueprint-api", addr, &mut cmd, stdout.into(), work)?;
    server.wait_ready("/readyz", API_READY_LIMIT, API_READY_POLL)?;
    let traceparent = format!("00-{trace_id}-{PARENT_SPAN_ID}-01");
    println!("GET /api/info with traceparent: {traceparent}");
    let resp = http::get(
        addr,
        "/api/info",
        &[("traceparent", &traceparent)],
        Duration::from_secs(5),
    )?;
    ensure!(resp.status == 200, "GET /api/info answered {}", resp.status);
    server.stop(STOP_GRACE)?;
    let text = std::fs::read_to_string(&stdout_path)
        .with_context(|| format!("reading {}", stdout_path.display()))?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// The api's access line for the check's request, and what its record must show.
#[derive(Debug)]
struct AccessLine {
    trace_id: String,
    span_id: String,
    ts: String,
    msg: String,
}

impl AccessLine {
    /// The line with `target` `access` and the trace id, from the api's stdout.
    fn find(lines: &[String], trace_id: &str) -> Result<Self> {
        let line = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["target"] == "access" && l["trace_id"] == trace_id)
            .with_context(|| {
                format!(
                    "blueprint-api logged no access line with trace_id {trace_id}; its stdout:\n{}",
                    lines.join("\n")
                )
            })?;
        let field = |key: &str| {
            line[key]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("the access line has no string `{key}`: {line}"))
        };
        ensure!(
            line["level"] == "info" && line["route"] == "/api/info" && line["status"] == 200,
            "expected an info access line for /api/info with status 200: {line}"
        );
        Ok(Self {
            trace_id: trace_id.to_owned(),
            span_id: field("span_id")?,
            ts: field("ts")?,
            msg: field("msg")?,
        })
    }
}

/// The time a container runtime would put beside a line logged at `ts`: the same second with
/// another fraction, so the output shows which of the two the collector used.
fn runtime_time(ts: &str) -> String {
    let whole = ts.trim_end_matches('Z');
    let (seconds, fraction) = whole.split_once('.').unwrap_or((whole, ""));
    let other = if fraction == "999999999" {
        "000000000"
    } else {
        "999999999"
    };
    format!("{seconds}.{other}Z")
}

/// Writes the three pod log files under `pods` (`…/var/log/pods`).
fn write_pod_logs(pods: &Path, api_lines: &[String], access_ts: &str) -> Result<()> {
    let runtime = runtime_time(access_ts);
    let mut api = String::new();
    for line in api_lines {
        let ts = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|l| l["ts"].as_str().map(runtime_time))
            .unwrap_or_else(|| runtime.clone());
        let _ = writeln!(api, "{ts} stdout F {line}");
    }
    let _ = writeln!(api, "{runtime} stderr F {PLAIN_LINE}");
    let worker_line = serde_json::json!({
        "ts": WORKER_TS, "level": "warn", "msg": WORKER_MSG,
        "target": "blueprint_worker::app", "attempts": 1,
    })
    .to_string();
    let docker = serde_json::json!({
        "log": format!("{worker_line}\n"), "stream": "stdout", "time": runtime_time(WORKER_TS),
    });
    let coredns = format!("{runtime} stdout F [INFO] plugin/reload: coredns must not be read\n");
    for (file, text) in [
        (API_POD_LOG, api),
        (WORKER_POD_LOG, format!("{docker}\n")),
        (COREDNS_POD_LOG, coredns),
    ] {
        let path = pods.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs the collector on `config` with its listeners on free loopback ports, waits until the
/// debug output holds the check's records (or [`RECORD_WAIT`] passed), stops it and returns its
/// output (stderr, where the debug exporter logs, then stdout).
fn run_collector(
    collector: &Path,
    config: &Path,
    env_read: &BTreeSet<String>,
    work: &Path,
    trace_id: &str,
) -> Result<String> {
    let env = listener_env(env_read)?;
    let health_port = env
        .iter()
        .find(|(k, _)| k == "OTELCOL_HEALTH_PORT")
        .map(|(_, v)| v.clone())
        .context("no health port")?;
    let addr: SocketAddr = format!("127.0.0.1:{health_port}").parse()?;
    let mut cmd = proc::isolated(collector);
    for name in env_read {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.arg("--config").arg(config);
    let stdout_path = work.join("otelcol-blueprint.stdout.log");
    let stdout = File::create(&stdout_path)
        .with_context(|| format!("creating {}", stdout_path.display()))?;
    let stderr_path = work.join("otelcol-blueprint.stderr.log");
    let mut server = Server::spawn("otelcol-blueprint", addr, &mut cmd, stdout.into(), work)?;
    server.wait_ready("/status", COLLECTOR_READY_LIMIT, COLLECTOR_READY_POLL)?;
    let read = || {
        let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        err + &out
    };
    let expected = [
        format!("Trace ID: {trace_id}"),
        format!("Str({WORKER_MSG})"),
        format!("Str({PLAIN_LINE})"),
    ];
    let waited = Instant::now();
    let complete = loop {
        let output = read();
        if expected.iter().all(|e| output.contains(e.as_str())) {
            break true;
        }
        if let Some(status) = server.try_wait()? {
            bail!(
                "otelcol-blueprint exited ({status}) before printing the records; its stderr ends \
                 with:\n{}",
                server.stderr_tail()
            );
        }
        if waited.elapsed() >= RECORD_WAIT {
            break false;
        }
        proc::pause(OUTPUT_POLL);
    };
    println!(
        "collector output {} after {:.1} s",
        if complete { "complete" } else { "incomplete" },
        waited.elapsed().as_secs_f64()
    );
    let tail = server.stderr_tail();
    server.stop(STOP_GRACE)?;
    if !complete {
        bail!(
            "within {} s the collector's debug output did not show all of: {}; its output ends \
             with:\n{tail}",
            RECORD_WAIT.as_secs(),
            expected.join(", ")
        );
    }
    Ok(read())
}

/// The environment for the log check's collector: every `…_PORT` the config reads gets a distinct
/// free loopback port, listeners bind 127.0.0.1, `file_log` reads the sample files from their
/// start. Fails when the config no longer reads a variable the check depends on.
fn listener_env(env_read: &BTreeSet<String>) -> Result<Vec<(String, String)>> {
    for needed in [
        "OTELCOL_LISTEN_HOST",
        "OTELCOL_HEALTH_PORT",
        "FILELOG_START_AT",
    ] {
        ensure!(
            env_read.contains(needed),
            "{COLLECTOR_CONFIG} no longer reads ${{env:{needed}}}, which the log check sets"
        );
    }
    let mut env = vec![
        ("OTELCOL_LISTEN_HOST".to_owned(), "127.0.0.1".to_owned()),
        ("FILELOG_START_AT".to_owned(), "beginning".to_owned()),
    ];
    let mut ports = BTreeSet::new();
    for name in env_read.iter().filter(|n| n.ends_with("_PORT")) {
        let port = loop {
            let port = proc::free_port()?;
            if ports.insert(port) {
                break port;
            }
        };
        env.push((name.clone(), port.to_string()));
    }
    Ok(env)
}

/// One log record of the debug exporter's `detailed` output.
#[derive(Debug, Default, Clone)]
struct LogRecord {
    /// The resource attributes of its `ResourceLog` (`service.name` → `Str(blueprint-api)`).
    resource: Vec<(String, String)>,
    /// Its top-level fields (`Timestamp`, `SeverityText`, `Body`, `Trace ID`, …).
    fields: Vec<(String, String)>,
    /// Its attributes (`status` → `Int(200)`).
    attributes: Vec<(String, String)>,
    /// The lines it was printed as, to quote.
    text: String,
}

impl LogRecord {
    fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn field(&self, key: &str) -> Option<&str> {
        Self::lookup(&self.fields, key)
    }

    fn attribute(&self, key: &str) -> Option<&str> {
        Self::lookup(&self.attributes, key)
    }

    fn resource(&self, key: &str) -> Option<&str> {
        Self::lookup(&self.resource, key)
    }

    /// The record with its resource attributes, for an error message.
    fn quote(&self) -> String {
        let mut text = String::from("Resource attributes:\n");
        for (k, v) in &self.resource {
            let _ = writeln!(text, "     -> {k}: {v}");
        }
        text + &self.text
    }
}

/// Where a line of the debug output belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Not inside a `ResourceLog` (collector log lines, spans, metrics).
    Outside,
    ResourceAttributes,
    /// Inside a `ResourceLog`, between records.
    Logs,
    Record,
    RecordAttributes,
}

/// Parses the log records out of the collector's output (zap log lines with the debug
/// exporter's multi-line messages in between).
fn parse_debug_output(output: &str) -> Vec<LogRecord> {
    let mut records = Vec::new();
    let mut resource = Vec::new();
    let mut current: Option<LogRecord> = None;
    let mut section = Section::Outside;
    let pair = |text: &str| {
        let (k, v) = text.split_once(':').unwrap_or((text, ""));
        (k.trim().to_owned(), v.trim().to_owned())
    };
    for line in output.lines() {
        let zap_line = line.starts_with('\t') || line.starts_with(|c: char| c.is_ascii_digit());
        let other_resource = line.starts_with("Resource") && line.contains(" #");
        if line.contains("ResourceLog #") || zap_line || other_resource {
            records.extend(current.take());
            section = if line.contains("ResourceLog #") {
                resource.clear();
                Section::Logs
            } else {
                Section::Outside
            };
            continue;
        }
        if section == Section::Outside {
            continue;
        }
        if line.starts_with("ScopeLogs #") || line.starts_with("LogRecord #") {
            records.extend(current.take());
            section = Section::Logs;
            if line.starts_with("LogRecord #") {
                current = Some(LogRecord {
                    resource: resource.clone(),
                    text: format!("{line}\n"),
                    ..LogRecord::default()
                });
                section = Section::Record;
            }
            continue;
        }
        if let Some(record) = current.as_mut() {
            record.text.push_str(line);
            record.text.push('\n');
        }
        match (section, line.strip_prefix("     -> ")) {
            (Section::ResourceAttributes, Some(attr)) => resource.push(pair(attr)),
            (Section::RecordAttributes, Some(attr)) => {
                if let Some(record) = current.as_mut() {
                    record.attributes.push(pair(attr));
                }
            }
            (_, None) if line == "Resource attributes:" => section = Section::ResourceAttributes,
            (Section::Record | Section::RecordAttributes, None) if line == "Attributes:" => {
                section = Section::RecordAttributes;
            }
            (Section::Record | Section::RecordAttributes, None) => {
                if let Some(record) = current.as_mut() {
                    record.fields.push(pair(line));
                }
                section = Section::Record;
            }
            _ => {}
        }
    }
    records.extend(current);
    records
}

/// How Go prints a `time.Time` in UTC, as the debug exporter shows timestamps: RFC 3339 `ts`
/// `2026-11-26T08:28:36.700771490Z` → `2026-11-26 08:28:36.70077149 +0000 UTC` (trailing zeros
/// of the fraction dropped). `None` unless `ts` is in UTC (`Z`).
fn go_time(ts: &str) -> Option<String> {
    let (date, time) = ts.strip_suffix('Z')?.split_once('T')?;
    let (seconds, fraction) = time.split_once('.').unwrap_or((time, ""));
    let fraction = fraction.trim_end_matches('0');
    Some(if fraction.is_empty() {
        format!("{date} {seconds} +0000 UTC")
    } else {
        format!("{date} {seconds}.{fraction} +0000 UTC")
    })
}

/// The assertions on the collector's output; every mismatch is reported with the record quoted.
fn verify_records(output: &str, access: &AccessLine) -> Result<()> {
    let records = parse_debug_output(output);
    let with_trace: Vec<&LogRecord> = records
        .iter()
        .filter(|r| r.field("Trace ID") == Some(access.trace_id.as_str()))
        .filter(|r| r.attribute("target") == Some("Str(access)"))
        .collect();
    let [record] = with_trace[..] else {
        bail!(
            "expected one access record with Trace ID {} among {} records, found {}; the output \
             ends with:\n{}",
            access.trace_id,
            records.len(),
            with_trace.len(),
            tail(output, 80)
        );
    };
    let time = go_time(&access.ts).with_context(|| format!("`ts` {} is not UTC", access.ts))?;
    let body = format!("Str({})", access.msg);
    let mut problems = Vec::new();
    let mut mismatches = mismatches(&[
        ("Span ID", record.field("Span ID"), &access.span_id),
        ("SeverityText", record.field("SeverityText"), "INFO"),
        ("Body (the line's msg)", record.field("Body"), &body),
        (
            "Timestamp (the line's ts)",
            record.field("Timestamp"),
            &time,
        ),
        (
            "resource service.name",
            record.resource("service.name"),
            "Str(blueprint-api)",
        ),
        (
            "resource k8s.namespace.name",
            record.resource("k8s.namespace.name"),
            "Str(blueprint)",
        ),
        ("attribute status", record.attribute("status"), "Int(200)"),
        (
            "attribute route",
            record.attribute("route"),
            "Str(/api/info)",
        ),
    ]);
    for consumed in [
        "ts",
        "level",
        "msg",
        "trace_id",
        "span_id",
        "log.file.path",
        "logtag",
    ] {
        if let Some(value) = record.attribute(consumed) {
            mismatches.push(format!(
                "attribute {consumed} = {value}: expected it removed"
            ));
        }
    }
    if !mismatches.is_empty() {
        problems.push(format!(
            "the access line's record (containerd format):\n  - {}\n{}",
            mismatches.join("\n  - "),
            record.quote()
        ));
    }
    verify_samples(&records, output, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "the collector's log records are not as expected:\n{}",
            problems.join("\n")
        )
    }
}

/// `what: expected …, found …` for every `(what, actual, expected)` that differs.
fn mismatches(checks: &[(&str, Option<&str>, &str)]) -> Vec<String> {
    checks
        .iter()
        .filter(|(_, actual, expected)| *actual != Some(*expected))
        .map(|(what, actual, expected)| {
            format!(
                "{what}: expected {expected:?}, found {:?}",
                actual.unwrap_or("(none)")
            )
        })
        .collect()
}

/// The worker-like docker line, the plain-text line, and the coredns file.
fn verify_samples(records: &[LogRecord], output: &str, problems: &mut Vec<String>) {
    let by_body = |body: &str| {
        let body = format!("Str({body})");
        records
            .iter()
            .find(|r| r.field("Body") == Some(body.as_str()))
    };
    match by_body(WORKER_MSG) {
        Some(worker) => {
            let time = go_time(WORKER_TS).unwrap_or_default();
            let mismatches = mismatches(&[
                (
                    "resource service.name",
                    worker.resource("service.name"),
                    "Str(blueprint-worker)",
                ),
                ("SeverityText", worker.field("SeverityText"), "WARN"),
                (
                    "Timestamp (the line's ts)",
                    worker.field("Timestamp"),
                    &time,
                ),
                ("attribute attempts", worker.attribute("attempts"), "Int(1)"),
            ]);
            if !mismatches.is_empty() {
                problems.push(format!(
                    "the worker line's record (docker format):\n  - {}\n{}",
                    mismatches.join("\n  - "),
                    worker.quote()
                ));
            }
        }
        None => problems.push(format!(
            "expected a record with Body Str({WORKER_MSG}) from the docker-format worker file; the \
             output ends with:\n{}",
            tail(output, 80)
        )),
    }
    match by_body(PLAIN_LINE) {
        Some(plain)
            if plain.field("SeverityText") == Some("")
                && plain.resource("service.name") == Some("Str(blueprint-api)") => {}
        Some(plain) => problems.push(format!(
            "the plain-text line should pass through without severity, as blueprint-api's:\n{}",
            plain.quote()
        )),
        None => problems.push(format!("expected a record with Body Str({PLAIN_LINE})")),
    }
    if let Some(line) = output.lines().find(|l| l.contains("coredns")) {
        problems.push(format!(
            "the coredns pod's file must not be read, but the output mentions it:\n{line}"
        ));
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).expect("test YAML parses")
    }

    const PIPELINES: &str = "
extensions: {health: {}}
receivers: {otlp: {}}
processors: {batch: {}}
exporters: {otlp_grpc/jaeger: {}, prometheus: {}}
connectors: {span_metrics: {}}
service:
  extensions: [health]
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc/jaeger, span_metrics]}
    metrics: {receivers: [span_metrics], exporters: [prometheus]}
";

    #[test]
    fn a_wired_config_has_no_pipeline_problems() {
        assert_eq!(pipeline_problems(&yaml(PIPELINES)), Vec::<String>::new());
    }

    #[test]
    fn broken_references_are_reported_with_their_name() {
        let text = PIPELINES
            .replace("extensions: [health]", "extensions: [health, zpages]")
            .replace(
                "processors: [batch]",
                "processors: [batch, batch, memory_limiter]",
            )
            .replace("otlp_grpc/jaeger, span", "otlp_grpc/jaegr, span")
            .replace("receivers: [span_metrics]", "receivers: [otlp]");
        assert_eq!(
            pipeline_problems(&yaml(&text)),
            [
                "service.extensions names \"zpages\", which is not defined under extensions",
                "service.pipelines.traces.processors names \"batch\" twice",
                "service.pipelines.traces.processors names \"memory_limiter\", which is not \
                 defined under processors",
                "service.pipelines.traces.exporters names \"otlp_grpc/jaegr\", which is not \
                 defined under exporters or connectors",
                "connector \"span_metrics\" is used as an exporter in a pipeline but never as a \
                 receiver",
            ]
        );
    }

    const JAEGER: &str = "
extensions:
  jaeger_storage: {backends: {memstore: {memory: {max_traces: 10}}}}
  jaeger_query: {storage: {traces: memstore}}
receivers: {otlp: {}}
exporters: {jaeger_storage_exporter: {trace_storage: memstore}}
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines: {traces: {receivers: [otlp], exporters: [jaeger_storage_exporter]}}
";

    #[test]
    fn jaeger_storage_names_must_resolve() {
        assert_eq!(jaeger_storage_problems(&yaml(JAEGER)), Vec::<String>::new());
        let text = JAEGER
            .replace("traces: memstore", "traces: memstor")
            .replace("extensions: [jaeger_storage, ", "extensions: [");
        assert_eq!(
            jaeger_storage_problems(&yaml(&text)),
            [
                "extensions.jaeger_query.storage.traces is memstor, which is not a backend \
                 defined under extensions.jaeger_storage (defined: memstore)",
                "jaeger_query / jaeger_storage_exporter read their storage from the \
                 jaeger_storage extension, which is not enabled in service.extensions",
            ]
        );
        let text = JAEGER.replace("{trace_storage: memstore}", "{}");
        assert_eq!(
            jaeger_storage_problems(&yaml(&text)),
            [
                "exporters.jaeger_storage_exporter.trace_storage is missing: it must name a backend \
              defined under extensions.jaeger_storage (defined: memstore)"
            ]
        );
    }

    #[test]
    fn the_committed_configs_pass_the_structural_checks() {
        check_jaeger_config(crate::root()).expect("the Jaeger config passes");
        let (_, config) =
            read_yaml(&crate::root().join(COLLECTOR_CONFIG), COLLECTOR_CONFIG).expect("reads");
        assert_eq!(pipeline_problems(&config), Vec::<String>::new());
    }

    #[test]
    fn the_manifest_copy_points_into_the_cache_and_its_hash_is_stable() {
        let bytes = std::fs::read(crate::root().join(BUILDER_MANIFEST)).expect("reads");
        let manifest: Value = serde_yaml::from_slice(&bytes).expect("parses");
        assert_eq!(manifest_version_problems(&manifest), Vec::<String>::new());
        let copy = rewrite_manifest(&manifest, Path::new("/cache/otelcol-x")).expect("rewrites");
        let mut copy: Value = serde_yaml::from_str(&copy).expect("the copy parses");
        assert_eq!(
            copy["dist"]["output_path"].as_str(),
            Some("/cache/otelcol-x")
        );
        // Nothing else changed.
        copy["dist"]["output_path"] = manifest["dist"]["output_path"].clone();
        assert_eq!(copy, manifest);
        // SHA-256 of "abc" starts ba7816bf8f01; any change of a byte changes the name.
        assert_eq!(manifest_hash(b"abc"), "ba7816bf8f01");
        assert_eq!(manifest_hash(&bytes), manifest_hash(&bytes.clone()));
        assert_ne!(
            manifest_hash(&bytes),
            manifest_hash(&[&bytes[..], b"\n"].concat())
        );
    }

    #[test]
    fn a_core_module_off_the_builder_version_is_reported() {
        let manifest = yaml(
            "processors:\n  - gomod: go.opentelemetry.io/collector/processor/batchprocessor v0.164.0\n\
             exporters:\n  - gomod: github.com/x/y v0.1.0\n",
        );
        let problems = manifest_version_problems(&manifest);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with(
            "processors: go.opentelemetry.io/collector/processor/batchprocessor is v0.164.0"
        ));
    }

    #[test]
    fn env_names_are_read_from_the_placeholders() {
        let names = env_names("a: ${env:A_PORT:-1}\nb: ${env:B}\nc: $HOME ${other:X}");
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["A_PORT", "B"]);
    }

    #[test]
    fn the_log_check_config_swaps_only_paths_and_network_exporters() {
        let (_, config) =
            read_yaml(&crate::root().join(COLLECTOR_CONFIG), COLLECTOR_CONFIG).expect("reads");
        let variant = log_check_config(&config, Path::new("/w")).expect("rewrites");
        assert_eq!(pipeline_problems(&variant), Vec::<String>::new());
        let include = &variant["receivers"]["file_log"]["include"][0];
        assert_eq!(
            include.as_str(),
            Some("/w/var/log/pods/*_blueprint-api-*_*/*/*.log")
        );
        let exporters: Vec<_> = variant["exporters"]
            .as_mapping()
            .expect("a mapping")
            .keys()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(exporters, ["prometheus", "debug"]);
        let pipeline = |name: &str| variant["service"]["pipelines"][name]["exporters"].clone();
        assert_eq!(pipeline("traces"), yaml("[span_metrics, debug]"));
        assert_eq!(pipeline("logs"), yaml("[debug]"));
        assert_eq!(pipeline("metrics"), yaml("[prometheus]"));
        assert_eq!(
            variant["receivers"]["file_log"]["operators"],
            config["receivers"]["file_log"]["operators"]
        );
        assert_eq!(variant["processors"], config["processors"]);
    }

    #[test]
    fn times_print_as_go_prints_them() {
        assert_eq!(
            go_time("2026-11-26T08:28:36.700771490Z").as_deref(),
            Some("2026-11-26 08:28:36.70077149 +0000 UTC")
        );
        assert_eq!(
            go_time("2026-11-26T08:28:36Z").as_deref(),
            Some("2026-11-26 08:28:36 +0000 UTC")
        );
        assert_eq!(go_time("2026-11-26T08:28:36+01:00"), None);
        assert_eq!(
            runtime_time("2026-11-26T08:28:36.7Z"),
            "2026-11-26T08:28:36.999999999Z"
        );
    }

    const DEBUG_OUTPUT: &str = "\
2026-11-26T08:38:36.727Z\tinfo\tLogs\t{\"resource\": {}, \"log records\": 2}
2026-11-26T08:38:36.727Z\tinfo\tResourceLog #0
Resource SchemaURL: 
Resource attributes:
     -> k8s.pod.name: Str(blueprint-api-5d8f7c9b4-x2x9q)
     -> service.name: Str(blueprint-api)
ScopeLogs #0
ScopeLogs SchemaURL: 
InstrumentationScope github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver 0.165.0
LogRecord #0
ObservedTimestamp: 2026-11-26 08:38:31.928763215 +0000 UTC
Timestamp: 2026-11-26 08:28:36.700771492 +0000 UTC
SeverityText: INFO
SeverityNumber: Info(9)
Body: Str(request)
Attributes:
     -> status: Int(200)
     -> target: Str(access)
Trace ID: 4bf92f3577b34da6a3ce929d0e0e4736
Span ID: fe960caa8bd3c4a5
Flags: 0
LogRecord #1
SeverityText: 
Body: Str(plain)
Attributes:
     -> log.iostream: Str(stderr)
Trace ID: 
Flags: 0
\t{\"resource\": {}, \"otelcol.component.id\": \"debug\"}
2026-11-26T08:38:36.727Z\tinfo\tResourceSpans #0
Resource attributes:
     -> service.name: Str(not-a-log)
";

    #[test]
    fn debug_output_parses_into_records_with_their_resource() {
        let records = parse_debug_output(DEBUG_OUTPUT);
        assert_eq!(records.len(), 2, "{records:#?}");
        let access = &records[0];
        assert_eq!(access.resource("service.name"), Some("Str(blueprint-api)"));
        assert_eq!(
            access.field("Trace ID"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            access.field("Timestamp"),
            Some("2026-11-26 08:28:36.700771492 +0000 UTC")
        );
        assert_eq!(access.field("Body"), Some("Str(request)"));
        assert_eq!(access.attribute("status"), Some("Int(200)"));
        assert_eq!(access.attribute("Trace ID"), None);
        let plain = &records[1];
        assert_eq!(plain.field("SeverityText"), Some(""));
        assert_eq!(plain.field("Trace ID"), Some(""));
        assert_eq!(plain.attribute("log.iostream"), Some("Str(stderr)"));
    }

    #[test]
    fn a_wrong_record_is_reported_with_what_was_expected_and_the_record() {
        let access = AccessLine {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            span_id: "fe960caa8bd3c4a5".to_owned(),
            ts: "2026-11-26T08:28:36.700771493Z".to_owned(),
            msg: "request".to_owned(),
        };
        let err = verify_records(DEBUG_OUTPUT, &access).expect_err("the timestamp differs");
        let text = format!("{err:#}");
        assert!(
            text.contains(
                "the access line's record (containerd format):\n  - Timestamp (the line's ts): \
                 expected \"2026-11-26 08:28:36.700771493 +0000 UTC\", found \"2026-11-26 \
                 08:28:36.700771492 +0000 UTC\""
            ),
            "{text}"
        );
        assert!(
            text.contains("LogRecord #0\n"),
            "the record is quoted: {text}"
        );
    }
}
