//! The local stack's Compose file and the dev container, checked without a container engine.
//!
//! `infra/docker/compose.yaml` is validated against the Compose Specification's JSON schema, taken
//! pinned from upstream: the Go module `github.com/compose-spec/compose-go/v2` (the loader
//! `docker compose` itself uses) ships it as `schema/compose-spec.json`. YAML merge keys are
//! resolved first, as Compose's YAML parser does. Then what the schema cannot see:
//!
//! - every bind-mounted host path exists in the repository (a host-only path such as the Docker
//!   socket must be on [`HOST_PATHS`]); every named volume is declared;
//! - every `build.context` is a directory and its `dockerfile` exists;
//! - every image is pinned: a tag other than `latest`, or a digest;
//! - `depends_on` names services; `service_healthy` waits on a service with a healthcheck;
//!   `service_completed_successfully` on a one-shot (`restart: "no"`); a core service never waits
//!   on one only started with a profile;
//! - the profile split: [`CORE`] services have no profile, every other one is in `observability`;
//! - our services run as 65532 with a read-only root, no capabilities, no-new-privileges, a restart
//!   policy and a healthcheck; their OTLP endpoint defaults to empty (export off), so the core never
//!   depends on the collector;
//! - every absolute path a `command`/`entrypoint` names is mounted into that service;
//! - the hosts the mounted configs name resolve to a service or network alias: Prometheus' scrape
//!   and Alertmanager targets, Grafana's data source URLs, the collector's exporter endpoints (with
//!   their `${env:…:-default}` filled from the service's environment), Alloy's URLs, Loki's ruler
//!   Alertmanager; Loki's data directory is a volume;
//! - Alloy's config (`config/alloy/config.alloy`) structurally: every component it references is
//!   declared, its Docker socket is mounted, its project filter is this Compose project. Alloy
//!   cannot be built here (see `infra/docker/README.md`).
//!
//! The dev container (`.devcontainer/devcontainer.json`, JSON with comments) must install the
//! repository's pins: Rust at least `rust-version` of Cargo.toml, Go equal to the `go` line of
//! `xtask/tools/go.mod`, a Node that satisfies `apps/web/package.json`'s `engines.node` lower bound,
//! and exactly the Debian packages of [`crate::tools::DEBIAN`]; its Dockerfile declares and uses
//! each of those build args, with the same defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

/// The Compose file, relative to the repository root.
pub const COMPOSE_FILE: &str = "infra/docker/compose.yaml";

/// The dev container's definition, relative to the repository root.
pub const DEVCONTAINER_FILE: &str = ".devcontainer/devcontainer.json";

/// The Go module that ships the Compose Specification schema, and its pinned version.
const COMPOSE_GO_MODULE: &str = "github.com/compose-spec/compose-go/v2";
const COMPOSE_GO_VERSION: &str = "v2.16.2";
/// The schema's path inside that module.
const COMPOSE_SCHEMA: &str = "schema/compose-spec.json";

/// The profile every non-core service belongs to.
const PROFILE: &str = "observability";

/// Services `docker compose up` starts with no profile: the application and its Redis (plus the
/// one-shot that hands Redis' volume to uid 65532).
const CORE: [&str; 5] = ["api", "worker", "web", "redis", "redis-data-owner"];

/// Our services (and Redis), held to the hardening rules.
const HARDENED: [&str; 4] = ["api", "worker", "web", "redis"];

/// The non-root uid:gid of our images and manifests.
const USER: &str = "65532:65532";

/// Host paths that may be bind-mounted although they are not in the repository.
const HOST_PATHS: [&str; 1] = ["/var/run/docker.sock"];

/// Hosts a config may name that are the container itself.
const SELF_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "0.0.0.0"];

/// Where the observability services read the configs cross-checked here.
const PROMETHEUS_CONFIG: (&str, &str) = ("prometheus", "/etc/prometheus/prometheus.yml");
const GRAFANA_DATASOURCES: (&str, &str) = ("grafana", "/etc/grafana/provisioning/datasources");
const COLLECTOR_CONFIG: (&str, &str) = ("otel-collector", "/etc/otelcol-contrib/config.yaml");
const ALLOY_CONFIG: (&str, &str) = ("alloy", "/etc/alloy/config.alloy");
const LOKI_CONFIG: (&str, &str) = ("loki", "/etc/loki/config.yaml");

/// `cargo xtask validate --only sources`: the Compose file and the dev container.
pub fn check(root: &Path) -> Result<()> {
    let started = Instant::now();
    let file = root.join(COMPOSE_FILE);
    let compose = load_yaml_as_json(&file)?;
    let schema_path =
        crate::gotools::module_dir(COMPOSE_GO_MODULE, COMPOSE_GO_VERSION)?.join(COMPOSE_SCHEMA);
    let schema = read_json(&schema_path)?;
    let mut problems = schema_problems(&schema, &compose)
        .with_context(|| format!("compiling {}", schema_path.display()))?;
    if problems.is_empty() {
        problems = semantic_problems(root, &file, &compose);
    }
    if !problems.is_empty() {
        bail!(
            "{} is invalid ({} problem(s)):\n  - {}",
            file.display(),
            problems.len(),
            problems.join("\n  - ")
        );
    }
    let services = services(&compose);
    let core = services.keys().filter(|s| CORE.contains(s)).count();
    println!(
        "compose: {COMPOSE_FILE}: {} services ({core} core, {} in `{PROFILE}`) valid against the \
         Compose Specification ({COMPOSE_GO_MODULE} {COMPOSE_GO_VERSION}); mounts, builds, pins, \
         depends_on, profiles, hardening and config hosts cross-checked",
        services.len(),
        services.len() - core,
    );
    let pins = check_devcontainer(root)?;
    println!(
        "compose: {DEVCONTAINER_FILE}: {pins} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A YAML file as JSON, with `<<` merge keys applied as Compose's parser does.
fn load_yaml_as_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    yaml_to_json(&text).with_context(|| format!("parsing {}", path.display()))
}

fn yaml_to_json(text: &str) -> Result<Value> {
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(text)?;
    yaml.apply_merge()?;
    Ok(serde_json::to_value(yaml)?)
}

/// Every schema violation, as `<JSON pointer>: <message>`.
fn schema_problems(schema: &Value, instance: &Value) -> Result<Vec<String>> {
    let validator = jsonschema::validator_for(schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(validator
        .iter_errors(instance)
        .map(|e| format!("schema: {}: {e}", e.instance_path()))
        .collect())
}

fn services(compose: &Value) -> BTreeMap<&str, &Value> {
    compose
        .get("services")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => s.split_whitespace().collect(),
        _ => Vec::new(),
    }
}

fn profiles(service: &Value) -> Vec<&str> {
    strings(service.get("profiles"))
}

/// A mount of a service: a bind of a host path, a named (or anonymous) volume, or a tmpfs.
#[derive(Debug, PartialEq, Eq)]
enum Mount {
    Bind {
        source: String,
        target: String,
    },
    Volume {
        name: Option<String>,
        target: String,
    },
    Tmpfs {
        target: String,
    },
}

impl Mount {
    fn target(&self) -> &str {
        match self {
            Mount::Bind { target, .. } | Mount::Volume { target, .. } | Mount::Tmpfs { target } => {
                target
            }
        }
    }
}

fn is_host_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

fn mounts(service: &Value) -> Vec<Mount> {
    let mut out = Vec::new();
    for volume in service
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(short) = volume.as_str() {
            let parts: Vec<&str> = short.split(':').collect();
            match parts.as_slice() {
                [target] => out.push(Mount::Volume {
                    name: None,
                    target: (*target).to_owned(),
                }),
                [source, target, ..] if is_host_path(source) => out.push(Mount::Bind {
                    source: (*source).to_owned(),
                    target: (*target).to_owned(),
                }),
                [source, target, ..] => out.push(Mount::Volume {
                    name: Some((*source).to_owned()),
                    target: (*target).to_owned(),
                }),
                [] => {}
            }
        } else {
            let field = |k: &str| volume.get(k).and_then(Value::as_str).map(str::to_owned);
            let target = field("target").unwrap_or_default();
            match field("type").as_deref() {
                Some("bind") => out.push(Mount::Bind {
                    source: field("source").unwrap_or_default(),
                    target,
                }),
                Some("tmpfs") => out.push(Mount::Tmpfs { target }),
                _ => out.push(Mount::Volume {
                    name: field("source"),
                    target,
                }),
            }
        }
    }
    let tmpfs = match service.get("tmpfs") {
        Some(Value::String(s)) => vec![s.as_str()],
        other => strings(other),
    };
    for t in tmpfs {
        let target = t.split(':').next().unwrap_or(t);
        out.push(Mount::Tmpfs {
            target: target.to_owned(),
        });
    }
    out
}

/// Whether `path` is `target` or below it.
fn under(path: &str, target: &str) -> bool {
    let target = target.trim_end_matches('/');
    path == target || path.starts_with(&format!("{target}/"))
}

/// The lexically normalised `base/relative` (no symlinks followed), for paths that may not exist.
fn join_normalised(base: &Path, relative: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for part in base.join(relative).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// What the cross-checks of one Compose file share.
struct Project<'a> {
    /// The repository root: relative bind mounts must stay inside it.
    root: &'a Path,
    /// The Compose file's directory, which relative paths start from.
    dir: &'a Path,
    compose: &'a Value,
    services: BTreeMap<&'a str, &'a Value>,
    volumes: BTreeSet<&'a str>,
    /// Every name a service answers to on the Compose network (its own and its aliases), to the
    /// service.
    hosts: BTreeMap<String, &'a str>,
}

impl<'a> Project<'a> {
    fn new(root: &'a Path, file: &'a Path, compose: &'a Value) -> Self {
        let services = services(compose);
        let volumes = compose
            .get("volumes")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut hosts = BTreeMap::new();
        for (&name, service) in &services {
            hosts.insert(name.to_owned(), name);
            if let Some(networks) = service.get("networks").and_then(Value::as_object) {
                for network in networks.values() {
                    for alias in strings(network.get("aliases")) {
                        hosts.insert(alias.to_owned(), name);
                    }
                }
            }
        }
        Self {
            root,
            dir: file.parent().unwrap_or(root),
            compose,
            services,
            volumes,
            hosts,
        }
    }
}

/// Every problem the schema cannot see; empty when the file is right.
fn semantic_problems(root: &Path, file: &Path, compose: &Value) -> Vec<String> {
    let project = Project::new(root, file, compose);
    let mut problems = Vec::new();
    for (&name, &service) in &project.services {
        let found = [
            build_problems(&project, service),
            image_problems(service),
            mount_problems(&project, service),
            command_problems(service),
            depends_on_problems(&project, service),
            profile_problems(name, service),
            hardening_problems(name, service),
            config_host_problems(&project, name, service),
        ];
        problems.extend(
            found
                .into_iter()
                .flatten()
                .map(|p| format!("service `{name}`: {p}")),
        );
    }
    for (service, _) in [
        PROMETHEUS_CONFIG,
        GRAFANA_DATASOURCES,
        COLLECTOR_CONFIG,
        ALLOY_CONFIG,
        LOKI_CONFIG,
    ] {
        if !project.services.contains_key(service) {
            problems.push(format!("service `{service}` is missing"));
        }
    }
    problems
}

/// The build context is a directory holding the Dockerfile.
fn build_problems(project: &Project, service: &Value) -> Vec<String> {
    let Some(build) = service.get("build") else {
        return Vec::new();
    };
    let context = match build {
        Value::String(s) => s.as_str(),
        other => other.get("context").and_then(Value::as_str).unwrap_or("."),
    };
    let context_dir = join_normalised(project.dir, context);
    if !context_dir.is_dir() {
        return vec![format!(
            "build.context {} is not a directory",
            context_dir.display()
        )];
    }
    let dockerfile = build
        .get("dockerfile")
        .and_then(Value::as_str)
        .unwrap_or("Dockerfile");
    if context_dir.join(dockerfile).is_file() {
        Vec::new()
    } else {
        vec![format!(
            "build.dockerfile {dockerfile} does not exist in {}",
            context_dir.display()
        )]
    }
}

/// Every service names its image, pinned.
fn image_problems(service: &Value) -> Vec<String> {
    match service.get("image").and_then(Value::as_str) {
        None => vec!["has no `image` (every image is named and pinned)".to_owned()],
        Some(image) => unpinned(image)
            .map(|why| format!("image {image}: {why}"))
            .into_iter()
            .collect(),
    }
}

/// Bind mounts come from the repository (or [`HOST_PATHS`]); named volumes are declared.
fn mount_problems(project: &Project, service: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for mount in mounts(service) {
        match &mount {
            Mount::Bind { source, target } => {
                if source.starts_with('/') || source.starts_with('~') {
                    if !HOST_PATHS.contains(&source.as_str()) {
                        problems.push(format!(
                            "bind mount of host path {source} (not in the repository)"
                        ));
                    }
                } else {
                    let path = join_normalised(project.dir, source);
                    if !path.starts_with(project.root) {
                        problems.push(format!("bind mount {source} leaves the repository"));
                    } else if !path.exists() {
                        problems.push(format!(
                            "bind mount {source} -> {target}: {} does not exist",
                            path.display()
                        ));
                    }
                }
            }
            Mount::Volume {
                name: Some(volume), ..
            } if !project.volumes.contains(volume.as_str()) => {
                problems.push(format!(
                    "volume `{volume}` is not declared under top-level `volumes`"
                ));
            }
            _ => {}
        }
    }
    problems
}

/// Absolute paths in `command`/`entrypoint` (alone or as `--flag=/path`) are mounted.
fn command_problems(service: &Value) -> Vec<String> {
    let mounted = mounts(service);
    strings(service.get("command"))
        .into_iter()
        .chain(strings(service.get("entrypoint")))
        .map(|arg| {
            if arg.starts_with('-') {
                arg.rsplit('=').next().unwrap_or(arg)
            } else {
                arg
            }
        })
        .filter(|value| value.starts_with('/') && !mounted.iter().any(|m| under(value, m.target())))
        .map(|value| format!("command names {value}, which no mount provides"))
        .collect()
}

/// `depends_on` names services, waits only on what can satisfy its condition, and never makes the
/// core wait on a profiled service.
fn depends_on_problems(project: &Project, service: &Value) -> Vec<String> {
    let depends: Vec<(&str, Option<&str>)> = match service.get("depends_on") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.as_str(), v.get("condition").and_then(Value::as_str)))
            .collect(),
        other => strings(other).into_iter().map(|d| (d, None)).collect(),
    };
    let mut problems = Vec::new();
    for (dependency, condition) in depends {
        let Some(target) = project.services.get(dependency) else {
            problems.push(format!("depends_on `{dependency}`, which is not a service"));
            continue;
        };
        if profiles(service).is_empty() && !profiles(target).is_empty() {
            problems.push(format!(
                "a core service depends_on `{dependency}`, which only starts with a profile"
            ));
        }
        match condition {
            Some("service_healthy") if target.get("healthcheck").is_none() => {
                problems.push(format!(
                    "waits for `{dependency}` to be healthy, but it has no healthcheck"
                ));
            }
            Some("service_completed_successfully")
                if target.get("restart").and_then(Value::as_str) != Some("no") =>
            {
                problems.push(format!(
                    "waits for `{dependency}` to complete, but it is not a one-shot (restart: \"no\")"
                ));
            }
            _ => {}
        }
    }
    problems
}

/// [`CORE`] services have no profile; every other one is in exactly [`PROFILE`].
fn profile_problems(name: &str, service: &Value) -> Vec<String> {
    let own = profiles(service);
    if CORE.contains(&name) {
        if own.is_empty() {
            Vec::new()
        } else {
            vec![format!("is a core service but has profiles {own:?}")]
        }
    } else if own == [PROFILE] {
        Vec::new()
    } else {
        vec![format!(
            "must be in exactly the `{PROFILE}` profile, has {own:?}"
        )]
    }
}

/// Our services (and Redis) run hardened, restart, report health, and export spans only when
/// asked to.
fn hardening_problems(name: &str, service: &Value) -> Vec<String> {
    if !HARDENED.contains(&name) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    if service.get("user").and_then(Value::as_str) != Some(USER) {
        problems.push(format!("must run as user \"{USER}\""));
    }
    if service.get("read_only") != Some(&Value::Bool(true)) {
        problems.push("must have read_only: true".to_owned());
    }
    if !strings(service.get("cap_drop")).contains(&"ALL") {
        problems.push("must drop all capabilities (cap_drop: [ALL])".to_owned());
    }
    if !strings(service.get("security_opt")).contains(&"no-new-privileges:true") {
        problems.push("must set security_opt no-new-privileges:true".to_owned());
    }
    if service.get("restart").is_none() {
        problems.push("needs a restart policy".to_owned());
    }
    if service.get("healthcheck").is_none() {
        problems.push("needs a healthcheck".to_owned());
    }
    if let Some(endpoint) = service
        .get("environment")
        .and_then(|e| e.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .and_then(Value::as_str)
        && !(endpoint.starts_with("${") && endpoint.ends_with(":-}"))
    {
        problems.push(format!(
            "OTEL_EXPORTER_OTLP_ENDPOINT={endpoint} must default to empty (`${{VAR:-}}`) so the \
             core runs without the collector"
        ));
    }
    problems
}

/// Why an image reference is not pinned, or `None` when it is (a tag other than `latest`, or a
/// digest).
fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains('$') {
        return Some("is interpolated, so its pin cannot be checked");
    }
    if image.contains("@sha256:") {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("has no tag (means :latest)"),
        Some((_, "latest")) => Some("is :latest, not a pinned version"),
        Some((_, "")) => Some("has an empty tag"),
        Some(_) => None,
    }
}

/// The host of `host:port`, `scheme://host:port/path` or `host`.
fn host_of(address: &str) -> &str {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// The bind-mount source (resolved) of `service` at `target`.
fn bind_source(dir: &Path, service: &Value, target: &str) -> Option<PathBuf> {
    mounts(service).into_iter().find_map(|m| match m {
        Mount::Bind { source, target: t } if t == target => Some(join_normalised(dir, &source)),
        _ => None,
    })
}

/// Hosts named by the configs a service mounts, each of which must be a service or alias.
fn config_host_problems(project: &Project, name: &str, service: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    // (what names it, the address): resolved against the project's hosts at the end.
    let mut wanted: Vec<(String, String)> = Vec::new();
    let found = match name {
        n if n == PROMETHEUS_CONFIG.0 => prometheus_addresses(project, service),
        n if n == GRAFANA_DATASOURCES.0 => grafana_addresses(project, service),
        n if n == COLLECTOR_CONFIG.0 => collector_addresses(project, service),
        n if n == ALLOY_CONFIG.0 => alloy_addresses(project, service, &mut problems),
        n if n == LOKI_CONFIG.0 => loki_addresses(project, service, &mut problems),
        _ => Ok(Vec::new()),
    };
    match found {
        Ok(addresses) => wanted.extend(addresses),
        Err(err) => problems.push(err),
    }
    for (what, address) in wanted {
        let host = host_of(&address);
        if !SELF_HOSTS.contains(&host) && !project.hosts.contains_key(host) {
            problems.push(format!("{what} {address}: `{host}` is no service or alias"));
        }
    }
    problems
}

/// The YAML bind-mounted into `service` at `target`, as JSON.
fn mounted_yaml(project: &Project, service: &Value, target: &str) -> Result<Value, String> {
    let path = bind_source(project.dir, service, target)
        .ok_or_else(|| format!("nothing is bind-mounted at {target}"))?;
    load_yaml_as_json(&path).map_err(|e| format!("{e:#}"))
}

/// `static_configs[].targets` of each entry of `list`.
fn static_targets(list: Option<&Value>) -> Vec<&str> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|entry| {
            entry
                .get("static_configs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .flat_map(|sc| strings(sc.get("targets")))
        .collect()
}

/// Prometheus' scrape targets and Alertmanagers.
fn prometheus_addresses(
    project: &Project,
    service: &Value,
) -> Result<Vec<(String, String)>, String> {
    let config = mounted_yaml(project, service, PROMETHEUS_CONFIG.1)?;
    let scrape = static_targets(config.get("scrape_configs"))
        .into_iter()
        .map(|t| ("Prometheus scrape target".to_owned(), t.to_owned()));
    let alerting = static_targets(config.pointer("/alerting/alertmanagers"))
        .into_iter()
        .map(|t| ("Prometheus Alertmanager target".to_owned(), t.to_owned()));
    Ok(scrape.chain(alerting).collect())
}

/// The URLs of every data source file Grafana is provisioned with.
fn grafana_addresses(project: &Project, service: &Value) -> Result<Vec<(String, String)>, String> {
    let dir = bind_source(project.dir, service, GRAFANA_DATASOURCES.1)
        .ok_or_else(|| format!("nothing is bind-mounted at {}", GRAFANA_DATASOURCES.1))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no data source files in {}", dir.display()));
    }
    let mut addresses = Vec::new();
    for file in files {
        let config = load_yaml_as_json(&file).map_err(|e| format!("{e:#}"))?;
        let sources = config.get("datasources").and_then(Value::as_array);
        for url in sources
            .into_iter()
            .flatten()
            .filter_map(|ds| ds.get("url").and_then(Value::as_str))
        {
            addresses.push(("Grafana data source URL".to_owned(), url.to_owned()));
        }
    }
    Ok(addresses)
}

/// The collector's exporter endpoints, with `${env:…}` filled from the service's environment.
fn collector_addresses(
    project: &Project,
    service: &Value,
) -> Result<Vec<(String, String)>, String> {
    let config = mounted_yaml(project, service, COLLECTOR_CONFIG.1)?;
    let env = service.get("environment");
    let exporters = config.get("exporters").and_then(Value::as_object);
    Ok(exporters
        .into_iter()
        .flatten()
        // The prometheus exporter's endpoint is a listener, not a destination.
        .filter(|(exporter, _)| !exporter.starts_with("prometheus"))
        .filter_map(|(exporter, settings)| {
            let endpoint = settings.get("endpoint").and_then(Value::as_str)?;
            Some((
                format!("collector exporter {exporter}"),
                expand_env(endpoint, env),
            ))
        })
        .collect())
}

/// Loki's ruler Alertmanager; its data directory (`common.path_prefix`) must be a mount, or
/// Loki would write into the read-only root (and lose it with the container).
fn loki_addresses(
    project: &Project,
    service: &Value,
    problems: &mut Vec<String>,
) -> Result<Vec<(String, String)>, String> {
    let config = mounted_yaml(project, service, LOKI_CONFIG.1)?;
    match config
        .pointer("/common/path_prefix")
        .and_then(Value::as_str)
    {
        None => problems.push("Loki's config sets no common.path_prefix".to_owned()),
        Some(prefix) if !mounts(service).iter().any(|m| under(prefix, m.target())) => {
            problems.push(format!(
                "Loki writes under {prefix}, which no volume provides"
            ));
        }
        Some(_) => {}
    }
    Ok(config
        .pointer("/ruler/alertmanager_url")
        .and_then(Value::as_str)
        .map(|url| ("Loki ruler Alertmanager".to_owned(), url.to_owned()))
        .into_iter()
        .collect())
}

/// Alloy's URLs; its references, socket and project filter go straight into `problems`.
fn alloy_addresses(
    project: &Project,
    service: &Value,
    problems: &mut Vec<String>,
) -> Result<Vec<(String, String)>, String> {
    let path = bind_source(project.dir, service, ALLOY_CONFIG.1)
        .ok_or_else(|| format!("nothing is bind-mounted at {}", ALLOY_CONFIG.1))?;
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let alloy = alloy_structure(&text);
    for reference in &alloy.undefined {
        problems.push(format!(
            "{}: `{reference}` references a component that is not declared",
            path.display()
        ));
    }
    let mounted = mounts(service);
    let mut addresses = Vec::new();
    for s in &alloy.strings {
        if let Some(socket) = s.strip_prefix("unix://") {
            if !mounted.iter().any(|m| m.target() == socket) {
                problems.push(format!("Alloy reads {s}, which is not mounted"));
            }
        } else if s.starts_with("http://") || s.starts_with("https://") {
            addresses.push(("Alloy URL".to_owned(), s.clone()));
        } else if let Some(filter) = s.strip_prefix("com.docker.compose.project=")
            && project.compose.get("name").and_then(Value::as_str) != Some(filter)
        {
            problems.push(format!(
                "Alloy filters on Compose project `{filter}`, but the file's `name` differs"
            ));
        }
    }
    Ok(addresses)
}

/// `${env:NAME:-default}` (the collector's syntax) replaced by the service's `environment` value
/// of NAME, or the default.
fn expand_env(text: &str, env: Option<&Value>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "${env:".len()..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let (var, default) = after[..end].split_once(":-").unwrap_or((&after[..end], ""));
        let value = env.and_then(|e| e.get(var)).map_or_else(
            || default.to_owned(),
            |v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        );
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// What the structural check of an Alloy file found.
#[derive(Debug, Default)]
struct Alloy {
    /// Declared components, `<type> "<label>"` as `<type>.<label>`.
    components: BTreeSet<String>,
    /// References (`a.b.label.export`) to no declared component.
    undefined: Vec<String>,
    /// Every string literal, for the host and socket checks.
    strings: Vec<String>,
}

/// Reads an Alloy file's components and references. Alloy syntax in brief: a component is
/// `<dotted.type> "<label>" { … }` at the top level; its exports are referenced as
/// `<dotted.type>.<label>.<export>` in expressions. A reference is a dotted name of at least four
/// parts outside strings and comments not followed by `"` or `{` (a declaration or a block).
fn alloy_structure(text: &str) -> Alloy {
    #[derive(Debug)]
    enum Tok {
        Ident(String),
        Str(String),
        Punct(char),
    }
    let mut toks = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                s.push(n);
                            }
                        }
                        '"' => break,
                        c => s.push(c),
                    }
                }
                toks.push(Tok::Str(s));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' || n == '.' {
                        s.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                toks.push(Tok::Ident(s));
            }
            c if c.is_whitespace() => {}
            c => toks.push(Tok::Punct(c)),
        }
    }
    let mut alloy = Alloy::default();
    let mut depth = 0usize;
    let mut references = Vec::new();
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth = depth.saturating_sub(1),
            Tok::Str(s) => alloy.strings.push(s.clone()),
            Tok::Ident(name) => match (toks.get(i + 1), toks.get(i + 2)) {
                (Some(Tok::Str(label)), Some(Tok::Punct('{'))) if depth == 0 => {
                    alloy.components.insert(format!("{name}.{label}"));
                }
                (Some(Tok::Str(_) | Tok::Punct('{')), _) => {}
                _ if name.split('.').count() >= 4 => references.push(name.clone()),
                _ => {}
            },
            Tok::Punct(_) => {}
        }
    }
    alloy.undefined = references
        .into_iter()
        .filter(|r| {
            !alloy.components.iter().any(|c| {
                r.strip_prefix(c.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
            })
        })
        .collect();
    alloy
}

/// Checks `.devcontainer/devcontainer.json` against the repository's pins; returns a summary.
fn check_devcontainer(root: &Path) -> Result<String> {
    let path = root.join(DEVCONTAINER_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let pins = RepoPins::read(root)?;
    let mut problems =
        devcontainer_problems(&text, &pins, crate::tools::DEBIAN.iter().map(|d| d.package))
            .with_context(|| format!("parsing {} (JSON with comments)", path.display()))?;
    let config: Value =
        jsonc_parser::parse_to_serde_value(&text, &jsonc_parser::ParseOptions::default())
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
    let dockerfile = path.with_file_name(
        config
            .pointer("/build/dockerfile")
            .and_then(Value::as_str)
            .unwrap_or("Dockerfile"),
    );
    let dockerfile_text = std::fs::read_to_string(&dockerfile)
        .with_context(|| format!("reading {}", dockerfile.display()))?;
    problems.extend(build_arg_problems(
        config.pointer("/build/args"),
        &dockerfile_text,
    ));
    if !problems.is_empty() {
        bail!(
            "{} does not match the repository's pins:\n  - {}",
            path.display(),
            problems.join("\n  - ")
        );
    }
    Ok(format!(
        "Rust ≥ {}, Go {}, Node ≥ {}, {} Debian packages as in tools::DEBIAN",
        pins.rust,
        pins.go,
        pins.node,
        crate::tools::DEBIAN.len()
    ))
}

/// Each build arg of devcontainer.json is declared (`ARG NAME`) and used (`${NAME}`) by the
/// Dockerfile, and a default the Dockerfile gives it equals devcontainer.json's value, so a pin
/// cannot be dropped on the floor or differ between the two files.
fn build_arg_problems(args: Option<&Value>, dockerfile: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in args.and_then(Value::as_object).into_iter().flatten() {
        let declared: Vec<&str> = dockerfile
            .lines()
            .filter_map(|l| l.trim().strip_prefix("ARG "))
            .filter(|decl| decl.split('=').next() == Some(name.as_str()))
            .collect();
        if declared.is_empty() {
            problems.push(format!("the Dockerfile does not declare `ARG {name}`"));
        }
        if !dockerfile.contains(&format!("${{{name}}}")) {
            problems.push(format!("the Dockerfile never uses `${{{name}}}`"));
        }
        for default in declared
            .iter()
            .filter_map(|d| d.split_once('=').map(|(_, v)| v))
        {
            if Some(default) != value.as_str() {
                problems.push(format!(
                    "the Dockerfile's default {name}={default} differs from devcontainer.json's {value}"
                ));
            }
        }
    }
    problems
}

/// The versions the repository pins.
#[derive(Debug)]
struct RepoPins {
    /// `rust-version` of the workspace (the minimum supported Rust).
    rust: String,
    /// The `go` line of the Go tools module.
    go: String,
    /// The lower bound of `engines.node` in the web UI's package.json.
    node: String,
}

impl RepoPins {
    fn read(root: &Path) -> Result<Self> {
        let read = |rel: &str| {
            let p = root.join(rel);
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
        };
        let cargo = read("Cargo.toml")?;
        let rust = cargo
            .lines()
            .find_map(|l| l.trim().strip_prefix("rust-version"))
            .and_then(|rest| rest.split('"').nth(1))
            .context("Cargo.toml has no rust-version")?
            .to_owned();
        let gomod = read(&format!("{}/go.mod", crate::gotools::TOOLS_MODULE))?;
        let go = gomod
            .lines()
            .find_map(|l| l.strip_prefix("go "))
            .context("xtask/tools/go.mod has no `go` line")?
            .trim()
            .to_owned();
        let package: Value = serde_json::from_str(&read("apps/web/package.json")?)
            .context("parsing apps/web/package.json")?;
        let node = package
            .pointer("/engines/node")
            .and_then(Value::as_str)
            .and_then(|r| r.trim().strip_prefix(">="))
            .context("apps/web/package.json has no `engines.node` of the form >=X.Y.Z")?
            .trim()
            .to_owned();
        Ok(Self { rust, go, node })
    }
}

/// `1.95.0` → `[1, 95, 0]`; `None` when a part is not a number.
fn version(text: &str) -> Option<Vec<u64>> {
    text.trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().ok())
        .collect()
}

fn at_least(have: &str, want: &str) -> bool {
    match (version(have), version(want)) {
        (Some(mut h), Some(mut w)) => {
            let len = h.len().max(w.len());
            h.resize(len, 0);
            w.resize(len, 0);
            h >= w
        }
        _ => false,
    }
}

/// The dev container's build args against the pins and the Debian package list.
fn devcontainer_problems<'a>(
    text: &str,
    pins: &RepoPins,
    debian: impl Iterator<Item = &'a str>,
) -> Result<Vec<String>> {
    let config: Value =
        jsonc_parser::parse_to_serde_value(text, &jsonc_parser::ParseOptions::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let args = config.pointer("/build/args");
    let arg = |name: &str| args.and_then(|a| a.get(name)).and_then(Value::as_str);
    let mut problems = Vec::new();
    match arg("RUST_VERSION") {
        Some(v) if at_least(v, &pins.rust) => {}
        other => problems.push(format!(
            "build.args.RUST_VERSION {other:?} must be a version ≥ Cargo.toml's rust-version {}",
            pins.rust
        )),
    }
    if arg("GO_VERSION") != Some(pins.go.as_str()) {
        problems.push(format!(
            "build.args.GO_VERSION {:?} must equal xtask/tools/go.mod's `go {}`",
            arg("GO_VERSION"),
            pins.go
        ));
    }
    match arg("NODE_VERSION") {
        Some(v) if at_least(v, &pins.node) && version(v).map(|v| v[0]) == version(&pins.node).map(|n| n[0]) => {}
        other => problems.push(format!(
            "build.args.NODE_VERSION {other:?} must be ≥ {} within the same major (apps/web/package.json engines.node)",
            pins.node
        )),
    }
    let want: BTreeSet<&str> = debian.collect();
    let have: BTreeSet<&str> = arg("DEBIAN_PACKAGES")
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    if !missing.is_empty() || !extra.is_empty() {
        problems.push(format!(
            "build.args.DEBIAN_PACKAGES must list tools::DEBIAN exactly: missing {missing:?}, extra {extra:?}"
        ));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed Compose file, with one edit applied to its text.
    fn edited(from: &str, to: &str) -> Value {
        let text = std::fs::read_to_string(crate::root().join(COMPOSE_FILE)).expect("compose file");
        assert!(text.contains(from), "the fixture edit must apply: {from}");
        yaml_to_json(&text.replacen(from, to, 1)).expect("still YAML")
    }

    fn committed() -> Value {
        load_yaml_as_json(&crate::root().join(COMPOSE_FILE)).expect("compose file")
    }

    /// Semantic problems of a Compose document, as if it were the committed file.
    fn problems(compose: &Value) -> Vec<String> {
        let root = crate::root();
        let mut all = semantic_problems(root, &root.join(COMPOSE_FILE), compose);
        // Dockerfiles are written separately from this file; their absence is not what these
        // tests are about.
        all.retain(|p| !p.contains("build.dockerfile"));
        all
    }

    fn assert_one(problems: &[String], needle: &str) {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected a problem containing {needle:?}, got {problems:#?}"
        );
    }

    fn schema() -> Value {
        let dir = crate::gotools::module_dir(COMPOSE_GO_MODULE, COMPOSE_GO_VERSION)
            .expect("the compose-go module (needs Go and the module proxy, or the module cache)");
        read_json(&dir.join(COMPOSE_SCHEMA)).expect("schema")
    }

    #[test]
    fn committed_compose_file_is_valid_against_the_schema() {
        let problems = schema_problems(&schema(), &committed()).expect("schema compiles");
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn committed_compose_file_passes_the_cross_checks() {
        let problems = problems(&committed());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn a_schema_violation_is_reported_with_its_path() {
        // An unknown key (Compose has `restart`, not Swarm's `restart_policy`, at this level).
        let broken = edited(
            "    stop_grace_period: 20s\n",
            "    stop_grace_period: 20s\n    restart_policy: always\n",
        );
        let problems = schema_problems(&schema(), &broken).expect("schema compiles");
        assert_one(&problems, "/services/api");
        assert_one(&problems, "restart_policy");
        // A wrong type (a string for a list), through the merge key every hardened service uses.
        let wrong_type = edited("  cap_drop: [ALL]\n", "  cap_drop: ALL\n");
        let problems = schema_problems(&schema(), &wrong_type).expect("schema compiles");
        assert_one(&problems, "/services/worker/cap_drop");
    }

    #[test]
    fn a_missing_bind_mount_source_is_reported() {
        let broken = edited(
            "../../config/alloy/config.alloy:",
            "../../config/alloy/missing.alloy:",
        );
        assert_one(&problems(&broken), "missing.alloy");
    }

    #[test]
    fn host_paths_and_escapes_from_the_repository_are_reported() {
        let broken = edited(
            "/var/run/docker.sock:/var/run/docker.sock:ro",
            "/etc/shadow:/var/run/docker.sock:ro",
        );
        assert_one(&problems(&broken), "host path /etc/shadow");
        let broken = edited("../../config/loki/config.yaml:", "../../../etc/passwd:");
        assert_one(&problems(&broken), "leaves the repository");
    }

    #[test]
    fn a_missing_dockerfile_or_context_is_reported() {
        let root = crate::root();
        let broken = edited(
            "dockerfile: apps/api/Dockerfile",
            "dockerfile: apps/api/Nope.Dockerfile",
        );
        let all = semantic_problems(root, &root.join(COMPOSE_FILE), &broken);
        assert_one(&all, "Nope.Dockerfile does not exist");
        let broken = edited(
            "      context: ../..\n      dockerfile: apps/api",
            "      context: ../../nowhere\n      dockerfile: apps/api",
        );
        assert_one(&problems(&broken), "is not a directory");
    }

    #[test]
    fn unpinned_images_are_reported() {
        assert_one(
            &problems(&edited("grafana/loki:3.7.8", "grafana/loki:latest")),
            ":latest",
        );
        assert_one(
            &problems(&edited("grafana/loki:3.7.8", "grafana/loki")),
            "no tag",
        );
        assert_eq!(
            unpinned("registry:5000/team/app"),
            Some("has no tag (means :latest)")
        );
        assert_eq!(unpinned("registry:5000/team/app:1.2"), None);
        assert_eq!(unpinned("app@sha256:0123"), None);
    }

    #[test]
    fn depends_on_must_name_a_service_with_the_right_shape() {
        assert_one(
            &problems(&edited(
                "      redis:\n        condition: service_healthy",
                "      rediss:\n        condition: service_healthy",
            )),
            "`rediss`, which is not a service",
        );
        // A core service waiting on an observability one breaks `docker compose up`.
        assert_one(
            &problems(&edited(
                "      redis:\n        condition: service_healthy",
                "      loki:\n        condition: service_healthy",
            )),
            "only starts with a profile",
        );
        // service_healthy on a service without a healthcheck never becomes true.
        assert_one(
            &problems(&edited(
                "      loki:\n        condition: service_healthy",
                "      otel-collector:\n        condition: service_healthy",
            )),
            "has no healthcheck",
        );
    }

    #[test]
    fn the_profile_split_is_enforced() {
        assert_one(
            &problems(&edited(
                "  profiles: [observability]",
                "  profiles: [extras]",
            )),
            "exactly the `observability` profile",
        );
        let broken = edited(
            "  api:\n    <<: *hardened\n",
            "  api:\n    <<: *hardened\n    profiles: [observability]\n",
        );
        assert_one(&problems(&broken), "core service but has profiles");
    }

    #[test]
    fn our_services_must_stay_hardened() {
        let broken = edited(
            "  user: \"65532:65532\"\n  read_only: true\n",
            "  user: \"0:0\"\n  read_only: false\n",
        );
        let all = problems(&broken);
        assert_one(&all, "must run as user");
        assert_one(&all, "read_only: true");
        let broken = edited(
            "OTEL_EXPORTER_OTLP_ENDPOINT: ${BLUEPRINT_OTLP_ENDPOINT:-}",
            "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318",
        );
        assert_one(&problems(&broken), "must default to empty");
    }

    #[test]
    fn command_paths_must_be_mounted() {
        let broken = edited(
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.path=/var/prometheus",
        );
        assert_one(
            &problems(&broken),
            "/var/prometheus, which no mount provides",
        );
    }

    #[test]
    fn config_hosts_must_be_services_or_aliases() {
        // Dropping an alias leaves Grafana's `jaeger-query` and the collector's
        // `jaeger-collector` unresolved.
        let all = problems(&edited(
            "aliases: [jaeger-collector, jaeger-query]",
            "aliases: [jaeger-other]",
        ));
        assert_one(&all, "Grafana data source URL http://jaeger-query:16686");
        assert_one(
            &all,
            "collector exporter otlp_grpc/jaeger jaeger-collector:4317",
        );
        // Prometheus scrapes `blueprint-api`, the api's alias.
        assert_one(
            &problems(&edited("aliases: [blueprint-api]", "aliases: []")),
            "Prometheus scrape target blueprint-api:9898",
        );
        // An environment override is what the collector then uses.
        let all = problems(&edited(
            "OTELCOL_LISTEN_HOST: 0.0.0.0\n",
            "OTELCOL_LISTEN_HOST: 0.0.0.0\n      LOKI_OTLP_ENDPOINT: http://loki-gone:3100/otlp\n",
        ));
        assert_one(&all, "`loki-gone` is no service");
    }

    #[test]
    fn loki_must_write_into_a_volume() {
        let all = problems(&edited(
            "      - loki-data:/loki\n",
            "      - loki-data:/var/loki\n",
        ));
        assert_one(&all, "Loki writes under /loki, which no volume provides");
    }

    #[test]
    fn env_defaults_expand_like_the_collector() {
        let env = serde_json::json!({"A": "set:1"});
        assert_eq!(expand_env("${env:A:-x:2}", Some(&env)), "set:1");
        assert_eq!(
            expand_env("http://${env:B:-loki}:3100", Some(&env)),
            "http://loki:3100"
        );
        assert_eq!(host_of("http://loki:3100/otlp"), "loki");
        assert_eq!(host_of("redis:6379"), "redis");
    }

    #[test]
    fn alloy_references_must_name_declared_components() {
        let text = std::fs::read_to_string(crate::root().join("config/alloy/config.alloy"))
            .expect("alloy config");
        let ok = alloy_structure(&text);
        assert!(ok.undefined.is_empty(), "{:?}", ok.undefined);
        assert!(
            ok.components.contains("loki.write.loki"),
            "{:?}",
            ok.components
        );
        let broken = alloy_structure(
            &text.replace("loki.write.loki.receiver", "loki.write.default.receiver"),
        );
        assert_eq!(broken.undefined, ["loki.write.default.receiver"]);
        // References in comments and strings do not count.
        let quiet = alloy_structure("// a.b.c.d\nx = \"a.b.c.d\"\n");
        assert!(quiet.undefined.is_empty());
    }

    #[test]
    fn alloy_socket_url_and_project_are_cross_checked() {
        let all = problems(&edited(
            "      - /var/run/docker.sock:/var/run/docker.sock:ro\n",
            "",
        ));
        assert_one(&all, "unix:///var/run/docker.sock, which is not mounted");
        assert_one(
            &problems(&edited("name: sre-blueprint\n", "name: other\n")),
            "Compose project `sre-blueprint`",
        );
    }

    fn pins() -> RepoPins {
        RepoPins {
            rust: "1.88".into(),
            go: "1.26.6".into(),
            node: "20.19.0".into(),
        }
    }

    #[test]
    fn devcontainer_pins_are_compared_with_the_repository() {
        let text = r#"{
            // comments and trailing commas are allowed (JSONC)
            "build": { "args": {
                "RUST_VERSION": "1.95.0", "GO_VERSION": "1.26.6", "NODE_VERSION": "20.19.0",
                "DEBIAN_PACKAGES": "wrk nginx",
            } },
        }"#;
        let debian = ["nginx", "wrk"];
        assert!(
            devcontainer_problems(text, &pins(), debian.into_iter())
                .expect("parses")
                .is_empty()
        );
        let bad = text
            .replace("1.95.0", "1.80.0")
            .replace("\"1.26.6\"", "\"1.25.0\"")
            .replace("20.19.0", "22.0.0")
            .replace("wrk nginx", "wrk curl");
        let problems = devcontainer_problems(&bad, &pins(), debian.into_iter()).expect("parses");
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert_one(&problems, "missing [\"nginx\"], extra [\"curl\"]");
        assert!(devcontainer_problems("{ nope", &pins(), debian.into_iter()).is_err());
    }

    #[test]
    fn check_passes_on_the_committed_files() {
        check(crate::root()).expect("compose file and dev container are valid");
    }

    #[test]
    fn devcontainer_build_args_must_reach_the_dockerfile() {
        let args = serde_json::json!({"GO_VERSION": "1.26.6", "NODE_VERSION": "20.19.0"});
        let good = "ARG GO_VERSION=1.26.6\nARG NODE_VERSION\nFROM go:${GO_VERSION}\nFROM node:${NODE_VERSION}\n";
        assert!(build_arg_problems(Some(&args), good).is_empty());
        let bad = "ARG GO_VERSION=1.25.0\nFROM go:${GO_VERSION}\nFROM node:20\n";
        let problems = build_arg_problems(Some(&args), bad);
        assert_one(&problems, "default GO_VERSION=1.25.0 differs");
        assert_one(&problems, "does not declare `ARG NODE_VERSION`");
        assert_one(&problems, "never uses `${NODE_VERSION}`");
    }

    #[test]
    fn committed_devcontainer_matches_the_repository() {
        check_devcontainer(crate::root()).expect("devcontainer matches");
    }
}
