//! The Flux tree (`flux/`), checked with no cluster: what Flux would build, it must be able to
//! build, and what it would act on must be consistent.
//!
//! 1. Every cluster entry point `flux/clusters/<env>` is rendered with kustomize, and so is every
//!    path a Flux `Kustomization` in it names — the way kustomize-controller builds them: kustomize
//!    with load restrictions off, inside the repository (`--load-restrictor LoadRestrictionsNone`),
//!    from an explicit `kustomization.yaml` (Flux would generate one; we require it, so the local
//!    render is the cluster's). The Flux CLI cannot be built from the Go module proxy (its
//!    `cmd/flux` embeds manifests its release build generates), so `flux build` is not used.
//! 2. Only the GA Flux APIs ([`FLUX_APIS`]).
//! 3. Every `HelmRelease` names an exact chart version (no range) and a source that exists; an
//!    `OCIRepository` chart source is pinned by tag or digest, not by a range.
//! 4. Every `dependsOn` names a `Kustomization` that exists, with no cycle; the apps' Kustomization
//!    depends, transitively, on the infrastructure configs and on the decrypted secrets; every
//!    Kustomization prunes, has a timeout and waits for health (`wait` or `healthChecks`); the
//!    secrets' one decrypts with SOPS.
//! 5. Image automation: every `$imagepolicy` marker in an overlay names an `ImagePolicy` of that
//!    environment's cluster, whose `ImageRepository` scans the image the marker's entry names, and
//!    every policy has a marker. Each policy is run on tags made by [`crate::tag`]: dev's accepts
//!    exactly the `develop` builds and staging's the `main` builds, and their extracted value
//!    orders them by build time (across days and years); production's semver range accepts the
//!    next patch, minor and major release and rejects pre-releases and build tags. The tags at the
//!    markers today pass their policy. The `ImageUpdateAutomation` writes into the overlay of its
//!    environment and its message template uses the v1 `.Changed` data.
//!
//! The regular expressions are Rust's `regex`, whose syntax is RE2's, as Go's `regexp` that
//! image-reflector-controller uses; the semver ranges are Rust's `semver`, whose comma-separated
//! comparators mean what they mean to Masterminds/semver, the controller's library.
//!
//! The objects' schemas are checked by `kubernetes::validate` against the controllers' CRDs.
//! Reconciliation itself (health, Helm installs, decryption with the real key, image scans, Git
//! pushes) needs a cluster and is not checked here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};
use regex::Regex;
use serde_yaml::Value;

use crate::tag::{self, Level};
use crate::tools::Tools;
use crate::validate::OVERLAYS;
use crate::{proc, root};

/// The one API version of each Flux group (and kind, where a group has two) that this tree may
/// use: the GA versions of Flux 2.7, and notification's `v1beta3` for `Provider` and `Alert`, whose
/// newest served version it is in the pinned notification-controller CRDs.
pub const FLUX_APIS: &[(&str, &str)] = &[
    ("kustomize.toolkit.fluxcd.io/v1", "*"),
    ("source.toolkit.fluxcd.io/v1", "*"),
    ("helm.toolkit.fluxcd.io/v2", "*"),
    ("image.toolkit.fluxcd.io/v1", "*"),
    ("notification.toolkit.fluxcd.io/v1beta3", "Provider"),
    ("notification.toolkit.fluxcd.io/v1beta3", "Alert"),
    ("notification.toolkit.fluxcd.io/v1", "Receiver"),
];

/// The source every cluster's Kustomizations read, created by the bootstrap (infra/terraform:
/// the Flux Operator's sync), not by this tree.
const BOOTSTRAP_SOURCE: (&str, &str, &str) = ("GitRepository", "flux-system", "flux-system");

/// The Kustomization that applies a cluster's entry point, made by the bootstrap (the Flux
/// Operator names its sync objects after the namespace).
const BOOTSTRAP_KUSTOMIZATION: &str = "flux-system/flux-system";

/// Namespaces that exist before Flux applies anything: Kubernetes' own and the bootstrap's.
const PREEXISTING_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "flux-system"];

/// Fields of a Flux Kustomization that change what its path renders to, other than `patches`:
/// this check does not apply them, so a Kustomization using one is refused rather than checked
/// on the wrong objects.
const UNSUPPORTED_TRANSFORMS: [&str; 7] = [
    "targetNamespace",
    "namePrefix",
    "nameSuffix",
    "images",
    "components",
    "commonMetadata",
    "postBuild",
];

/// Where `$imagepolicy` markers are read.
const OVERLAY_DIR: &str = "infra/kubernetes/overlays";

/// One object with where it came from.
#[derive(Debug, Clone)]
struct Obj {
    /// The kustomize path that rendered it, for messages.
    from: String,
    /// `namespace/name` of the Flux Kustomization that applies it (empty until known).
    owner: String,
    value: Value,
}

impl Obj {
    fn owned_by(mut self, owner: &str) -> Self {
        owner.clone_into(&mut self.owner);
        self
    }
    fn str(&self, path: &[&str]) -> Option<&str> {
        let mut node = &self.value;
        for key in path {
            node = node.get(*key)?;
        }
        node.as_str()
    }
    fn api_version(&self) -> &str {
        self.str(&["apiVersion"]).unwrap_or_default()
    }
    fn kind(&self) -> &str {
        self.str(&["kind"]).unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.str(&["metadata", "name"]).unwrap_or_default()
    }
    fn namespace(&self) -> &str {
        self.str(&["metadata", "namespace"]).unwrap_or_default()
    }
    fn group(&self) -> &str {
        self.api_version()
            .split_once('/')
            .map_or("", |(group, _)| group)
    }
    fn spec(&self) -> &Value {
        self.value.get("spec").unwrap_or(&Value::Null)
    }
    fn is(&self, group: &str, kind: &str) -> bool {
        self.group() == group && self.kind() == kind
    }
}

impl std::fmt::Display for Obj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}/{} (from {})",
            self.kind(),
            self.namespace(),
            self.name(),
            self.from
        )
    }
}

/// A string field of a YAML value.
fn field<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut node = value;
    for key in path {
        node = node.get(*key)?;
    }
    node.as_str()
}

/// `cargo xtask validate --only gitops`, the Flux part: one summary line per check.
pub fn check(tools: &Tools) -> Result<Vec<String>> {
    let started = Instant::now();
    let kustomize = &tools.go.kustomize;
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut paths_rendered = BTreeSet::new();
    let mut releases = 0;
    let mut policies = 0;
    let mut tags_tried = 0;
    for env in OVERLAYS {
        let entry = format!("flux/clusters/{env}");
        let cluster = render(kustomize, &entry)?;
        // Everything the cluster applies: its entry point (applied by the bootstrap's
        // Kustomization, flux-system/flux-system) and every Kustomization's path.
        let mut applied: Vec<Obj> = cluster
            .iter()
            .cloned()
            .map(|o| o.owned_by(BOOTSTRAP_KUSTOMIZATION))
            .collect();
        for ks in cluster
            .iter()
            .filter(|o| o.is("kustomize.toolkit.fluxcd.io", "Kustomization"))
        {
            let path =
                field(ks.spec(), &["path"]).with_context(|| format!("{ks} has no spec.path"))?;
            let path = path.trim_start_matches("./").trim_end_matches('/');
            let dir = root().join(path);
            ensure!(
                dir.join("kustomization.yaml").is_file(),
                "{ks}: {path}/kustomization.yaml is missing (Flux would generate one; this tree \
                 keeps it explicit so the render here is the cluster's)"
            );
            let owner = format!("{}/{}", ks.namespace(), ks.name());
            let objects =
                render_kustomization(kustomize, env, ks, path).with_context(|| format!("{ks}"))?;
            paths_rendered.insert(path.to_owned());
            applied.extend(objects.into_iter().map(|o| o.owned_by(&owner)));
        }
        let report = check_cluster(env, &applied);
        failures.extend(report.failures.iter().map(|f| format!("{env}: {f}")));
        failures.extend(owned_twice(&applied).iter().map(|f| format!("{env}: {f}")));
        failures.extend(
            namespaces_before_use(&applied)
                .iter()
                .map(|f| format!("{env}: {f}")),
        );
        releases = releases.max(report.releases);
        let markers = read_markers(env)?;
        let images = check_images(env, &applied, &markers)?;
        failures.extend(images.failures.iter().map(|f| format!("{env}: {f}")));
        policies += images.policies;
        tags_tried += images.tags;
        lines.push(format!(
            "flux {env}: {} objects applied ({}), {} Kustomizations in order {}, {} markers ok",
            applied.len(),
            count_kinds(&applied),
            report.order.len(),
            report.order.join(" → "),
            markers.len(),
        ));
    }
    if !failures.is_empty() {
        bail!(
            "the Flux tree failed {} check(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    lines.push(format!(
        "flux: {} paths rendered with kustomize ({}), {releases} HelmReleases pinned, {policies} \
         ImagePolicies agree with xtask tag on {tags_tried} tags; done in {:.1} s",
        paths_rendered.len(),
        paths_rendered
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    ));
    Ok(lines)
}

/// What a Flux Kustomization applies: its path rendered, with its `spec.patches` applied the way
/// kustomize-controller does (a kustomization over the path that adds them).
fn render_kustomization(kustomize: &Path, env: &str, ks: &Obj, path: &str) -> Result<Vec<Obj>> {
    for transform in UNSUPPORTED_TRANSFORMS {
        ensure!(
            ks.spec().get(transform).is_none(),
            "spec.{transform} is not applied by this check: render it here before using it"
        );
    }
    let Some(patches) = ks.spec().get("patches") else {
        return render(kustomize, path);
    };
    let dir = crate::target_dir()
        .join("validate/flux")
        .join(env)
        .join(ks.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut wrapper = serde_yaml::Mapping::new();
    wrapper.insert(
        "apiVersion".into(),
        "kustomize.config.k8s.io/v1beta1".into(),
    );
    wrapper.insert("kind".into(), "Kustomization".into());
    let target = relative(&dir, &root().join(path))?;
    wrapper.insert("resources".into(), vec![Value::from(target)].into());
    wrapper.insert("patches".into(), patches.clone());
    let file = dir.join("kustomization.yaml");
    std::fs::write(&file, serde_yaml::to_string(&wrapper)?)
        .with_context(|| format!("writing {}", file.display()))?;
    let mut objects = render(kustomize, &dir.display().to_string())?;
    for o in &mut objects {
        format!("{path} (patched by {})", ks.name()).clone_into(&mut o.from);
    }
    Ok(objects)
}

/// `to` relative to the directory `from` (kustomize refuses absolute resource paths).
fn relative(from: &Path, to: &Path) -> Result<String> {
    let from = from
        .canonicalize()
        .with_context(|| format!("resolving {}", from.display()))?;
    let to = to
        .canonicalize()
        .with_context(|| format!("resolving {}", to.display()))?;
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.components().count() - common];
    parts.extend(
        to.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Ok(parts.join("/"))
}

/// `kustomize build --load-restrictor LoadRestrictionsNone <root>/<path>`, parsed.
fn render(kustomize: &Path, path: &str) -> Result<Vec<Obj>> {
    let mut cmd = Command::new(kustomize);
    cmd.current_dir(root())
        .args(["build", "--load-restrictor", "LoadRestrictionsNone"])
        .arg(path);
    let out = proc::output(&mut cmd)?;
    if !out.status.success() {
        bail!(
            "kustomize build {path} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8(out.stdout)
        .with_context(|| format!("kustomize build {path}: output is not UTF-8"))?;
    parse_objects(path, &text)
}

fn parse_objects(from: &str, text: &str) -> Result<Vec<Obj>> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document)
            .with_context(|| format!("parsing the render of {from}"))?;
        if !value.is_null() {
            objects.push(Obj {
                from: from.to_owned(),
                owner: String::new(),
                value,
            });
        }
    }
    Ok(objects)
}

/// `Kustomization 5, HelmRelease 11` sorted by kind.
fn count_kinds(objects: &[Obj]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in objects {
        *counts.entry(o.kind()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Objects applied by two Flux Kustomizations (or twice by one): each would overwrite the
/// other's and prune it when one of them drops it.
fn owned_twice(objects: &[Obj]) -> Vec<String> {
    let mut owners: BTreeMap<(&str, &str, &str, &str), Vec<&str>> = BTreeMap::new();
    for o in objects {
        owners
            .entry((o.group(), o.kind(), o.namespace(), o.name()))
            .or_default()
            .push(&o.from);
    }
    owners
        .into_iter()
        .filter(|(_, from)| from.len() > 1)
        .map(|((_, kind, ns, name), from)| {
            format!(
                "{kind} {ns}/{name} is applied by more than one Kustomization: {}",
                from.join(", ")
            )
        })
        .collect()
}

/// Every namespaced object goes into a namespace that exists before its Kustomization runs:
/// created by that Kustomization itself, by one it depends on (directly or not), by the cluster's
/// entry point, or one of [`PREEXISTING_NAMESPACES`]. Otherwise the apply fails on a fresh
/// cluster, and whatever depends on it never starts.
fn namespaces_before_use(objects: &[Obj]) -> Vec<String> {
    let graph = dependency_graph(objects);
    let created: BTreeMap<&str, &str> = objects
        .iter()
        .filter(|o| o.group().is_empty() && o.kind() == "Namespace")
        .map(|o| (o.name(), o.owner.as_str()))
        .collect();
    let mut problems = BTreeSet::new();
    for o in objects.iter().filter(|o| !o.namespace().is_empty()) {
        let ns = o.namespace();
        if PREEXISTING_NAMESPACES.contains(&ns) {
            continue;
        }
        let in_time = created.get(ns).is_some_and(|creator| {
            *creator == o.owner
                || *creator == BOOTSTRAP_KUSTOMIZATION
                || ancestors(&graph, &o.owner).contains(*creator)
        });
        if !in_time {
            problems.insert(format!(
                "{} applies {} into namespace {ns}, which {}",
                o.owner,
                o.kind(),
                created.get(ns).map_or_else(
                    || "nothing creates".to_owned(),
                    |c| format!("{c} creates, but {} does not depend on it", o.owner)
                )
            ));
        }
    }
    problems.into_iter().collect()
}

/// `namespace/name` of each Flux Kustomization → those it depends on.
fn dependency_graph(objects: &[Obj]) -> BTreeMap<String, Vec<String>> {
    objects
        .iter()
        .filter(|o| o.is("kustomize.toolkit.fluxcd.io", "Kustomization"))
        .map(|ks| {
            let deps = ks
                .spec()
                .get("dependsOn")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .map(|dep| {
                    let name = field(dep, &["name"]).unwrap_or_default();
                    let ns = field(dep, &["namespace"]).unwrap_or(ks.namespace());
                    format!("{ns}/{name}")
                })
                .collect();
            (format!("{}/{}", ks.namespace(), ks.name()), deps)
        })
        .collect()
}

/// What [`check_cluster`] found.
#[derive(Debug, Default)]
struct ClusterReport {
    failures: Vec<String>,
    releases: usize,
    /// The Kustomizations in an order that respects `dependsOn`.
    order: Vec<String>,
}

/// API versions, HelmReleases and their sources, Kustomizations and their dependencies.
fn check_cluster(env: &str, objects: &[Obj]) -> ClusterReport {
    let mut failures = Vec::new();
    check_apis(objects, &mut failures);
    let sources = source_keys(objects);
    let releases = check_releases(objects, &sources, &mut failures);
    let order = check_kustomizations(env, objects, &sources, &mut failures);
    ClusterReport {
        failures,
        releases,
        order,
    }
}

/// `(kind, namespace, name)` of every source, the bootstrap's GitRepository included.
type SourceKeys = BTreeSet<(String, String, String)>;

/// Only the API versions of [`FLUX_APIS`].
fn check_apis(objects: &[Obj], failures: &mut Vec<String>) {
    for o in objects
        .iter()
        .filter(|o| o.group().ends_with(".toolkit.fluxcd.io"))
    {
        let allowed = FLUX_APIS
            .iter()
            .any(|(api, kind)| o.api_version() == *api && (*kind == "*" || *kind == o.kind()));
        if !allowed {
            failures.push(format!(
                "{o}: {} is not the API version this tree uses for {} (see gitops::FLUX_APIS)",
                o.api_version(),
                o.kind()
            ));
        }
    }
}

fn source_keys(objects: &[Obj]) -> SourceKeys {
    // Sources by (kind, namespace, name); the bootstrap's GitRepository is known to exist.
    let mut sources: SourceKeys = objects
        .iter()
        .filter(|o| o.group() == "source.toolkit.fluxcd.io")
        .map(|o| {
            (
                o.kind().to_owned(),
                o.namespace().to_owned(),
                o.name().to_owned(),
            )
        })
        .collect();
    let (kind, namespace, name) = BOOTSTRAP_SOURCE;
    sources.insert((kind.to_owned(), namespace.to_owned(), name.to_owned()));

    sources
}

fn exists(sources: &SourceKeys, kind: &str, namespace: &str, name: &str) -> bool {
    sources.contains(&(kind.to_owned(), namespace.to_owned(), name.to_owned()))
}

/// OCI sources pinned; every HelmRelease on an exact chart version from a source that exists.
/// Returns how many HelmReleases there are.
fn check_releases(objects: &[Obj], sources: &SourceKeys, failures: &mut Vec<String>) -> usize {
    let mut releases = 0;
    for o in objects
        .iter()
        .filter(|o| o.group() == "source.toolkit.fluxcd.io" && o.kind() == "OCIRepository")
    {
        let reference = o.spec().get("ref");
        let pinned = ["tag", "digest"]
            .iter()
            .any(|k| reference.and_then(|r| r.get(*k)).is_some());
        let ranged = reference.and_then(|r| r.get("semver")).is_some();
        if !pinned || ranged {
            failures.push(format!(
                "{o}: pin spec.ref to a tag or digest, not a semver range or the latest artifact"
            ));
        }
    }

    for hr in objects
        .iter()
        .filter(|o| o.is("helm.toolkit.fluxcd.io", "HelmRelease"))
    {
        releases += 1;
        let spec = hr.spec();
        if let Some(chart_ref) = spec.get("chartRef") {
            let kind = field(chart_ref, &["kind"]).unwrap_or_default();
            let name = field(chart_ref, &["name"]).unwrap_or_default();
            let ns = field(chart_ref, &["namespace"]).unwrap_or(hr.namespace());
            if !exists(sources, kind, ns, name) {
                failures.push(format!(
                    "{hr}: its chartRef {kind} {ns}/{name} does not exist"
                ));
            }
            continue;
        }
        let Some(chart) = spec.get("chart").and_then(|c| c.get("spec")) else {
            failures.push(format!("{hr}: neither spec.chart.spec nor spec.chartRef"));
            continue;
        };
        match field(chart, &["version"]) {
            Some(v) if semver::Version::parse(v).is_ok() => {}
            Some(v) => failures.push(format!(
                "{hr}: chart version `{v}` is not one exact version (ranges float)"
            )),
            None => failures.push(format!(
                "{hr}: no chart version: the newest would be installed, whatever it is"
            )),
        }
        let kind = field(chart, &["sourceRef", "kind"]).unwrap_or_default();
        let name = field(chart, &["sourceRef", "name"]).unwrap_or_default();
        let ns = field(chart, &["sourceRef", "namespace"]).unwrap_or(hr.namespace());
        if !exists(sources, kind, ns, name) {
            failures.push(format!(
                "{hr}: its chart source {kind} {ns}/{name} does not exist"
            ));
        }
    }

    releases
}

/// Dependencies, pruning, health, timeouts and decryption of the Flux Kustomizations; returns
/// them in an order `dependsOn` allows.
fn check_kustomizations(
    env: &str,
    objects: &[Obj],
    sources: &SourceKeys,
    failures: &mut Vec<String>,
) -> Vec<String> {
    let mut order = Vec::new();
    let kustomizations: Vec<&Obj> = objects
        .iter()
        .filter(|o| o.is("kustomize.toolkit.fluxcd.io", "Kustomization"))
        .collect();
    let key = |o: &Obj| format!("{}/{}", o.namespace(), o.name());
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ks in &kustomizations {
        let spec = ks.spec();
        let mut deps = Vec::new();
        for dep in spec
            .get("dependsOn")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let name = field(dep, &["name"]).unwrap_or_default();
            let ns = field(dep, &["namespace"]).unwrap_or(ks.namespace());
            let target = format!("{ns}/{name}");
            if !kustomizations.iter().any(|k| key(k) == target) {
                failures.push(format!("{ks}: dependsOn {target}, which does not exist"));
            }
            deps.push(target);
        }
        graph.insert(key(ks), deps);
        if spec.get("prune").and_then(Value::as_bool) != Some(true) {
            failures.push(format!(
                "{ks}: prune must be true (removed files must leave the cluster)"
            ));
        }
        if field(spec, &["timeout"]).is_none() {
            failures.push(format!("{ks}: no timeout"));
        }
        let waits = spec.get("wait").and_then(Value::as_bool) == Some(true)
            || spec
                .get("healthChecks")
                .and_then(Value::as_sequence)
                .is_some_and(|c| !c.is_empty());
        if !waits {
            failures.push(format!(
                "{ks}: neither wait: true nor healthChecks, so what depends on it would not wait \
                 for its health"
            ));
        }
        let kind = field(spec, &["sourceRef", "kind"]).unwrap_or_default();
        let name = field(spec, &["sourceRef", "name"]).unwrap_or_default();
        let ns = field(spec, &["sourceRef", "namespace"]).unwrap_or(ks.namespace());
        if !exists(sources, kind, ns, name) {
            failures.push(format!(
                "{ks}: its source {kind} {ns}/{name} does not exist"
            ));
        }
        let path = field(spec, &["path"]).unwrap_or_default();
        if path.starts_with("./flux/secrets/") {
            let sops = field(spec, &["decryption", "provider"]) == Some("sops")
                && field(spec, &["decryption", "secretRef", "name"]).is_some();
            if !sops {
                failures.push(format!(
                    "{ks}: {path} holds SOPS-encrypted Secrets, so it needs decryption with \
                     provider sops and a secretRef"
                ));
            }
            if path.trim_end_matches('/') != format!("./flux/secrets/{env}") {
                failures.push(format!(
                    "{ks}: the {env} cluster applies another env's secrets, {path}"
                ));
            }
        }
    }
    match topological_order(&graph) {
        Ok(sorted) => order = sorted,
        Err(cycle) => failures.push(format!("dependsOn forms a cycle: {cycle}")),
    }

    check_apps_wait(env, &kustomizations, &graph, failures);
    order
}

/// The apps' Kustomization waits, transitively, for the platform's controllers and
/// configuration and for the decrypted secrets.
fn check_apps_wait(
    env: &str,
    kustomizations: &[&Obj],
    graph: &BTreeMap<String, Vec<String>>,
    failures: &mut Vec<String>,
) {
    let key = |o: &Obj| format!("{}/{}", o.namespace(), o.name());
    let by_path = |prefix: &str| -> Vec<String> {
        kustomizations
            .iter()
            .filter(|k| field(k.spec(), &["path"]).is_some_and(|p| p.starts_with(prefix)))
            .map(|k| key(k))
            .collect()
    };
    let apps = by_path(&format!("./{OVERLAY_DIR}/{env}"));
    if apps.len() != 1 {
        failures.push(format!(
            "{} Kustomizations apply ./{OVERLAY_DIR}/{env}: expected exactly one",
            apps.len()
        ));
    }
    for app in &apps {
        let before = ancestors(graph, app);
        for needed in [
            "./flux/infrastructure/controllers",
            "./flux/infrastructure/configs",
            "./flux/secrets/",
        ] {
            let providers = by_path(needed);
            if providers.is_empty() || !providers.iter().any(|p| before.contains(p)) {
                failures.push(format!(
                    "Kustomization {app} does not depend (directly or not) on the one that \
                     applies {needed}"
                ));
            }
        }
    }
}

/// Kahn's algorithm over `node → its dependencies`; the error names the nodes left in a cycle.
fn topological_order(graph: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, String> {
    let mut done: Vec<String> = Vec::new();
    let mut left: BTreeSet<&String> = graph.keys().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .copied()
            .filter(|n| {
                graph[*n]
                    .iter()
                    .all(|d| !graph.contains_key(d) || done.contains(d))
            })
            .collect();
        if ready.is_empty() {
            return Err(left
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "));
        }
        for n in ready {
            left.remove(n);
            done.push(n.clone());
        }
    }
    Ok(done
        .into_iter()
        .map(|k| k.rsplit('/').next().unwrap_or_default().to_owned())
        .collect())
}

/// Every node `node` depends on, directly or through others.
fn ancestors(graph: &BTreeMap<String, Vec<String>>, node: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<&str> = vec![node];
    while let Some(n) = pending.pop() {
        for d in graph.get(n).into_iter().flatten() {
            if seen.insert(d.clone()) {
                pending.push(d);
            }
        }
    }
    seen
}

/// An `$imagepolicy` marker in an overlay: the image entry it sits in, and the tag it holds.
#[derive(Debug, Clone)]
struct Marker {
    /// `namespace/name` of the ImagePolicy.
    policy: String,
    /// The `images[].name` the marker's `newTag` belongs to.
    image: String,
    /// The tag written there today.
    tag: String,
}

/// The markers of `infra/kubernetes/overlays/<env>/kustomization.yaml`.
fn read_markers(env: &str) -> Result<Vec<Marker>> {
    let path = root()
        .join(OVERLAY_DIR)
        .join(env)
        .join("kustomization.yaml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_markers(&text).with_context(|| format!("in {}", path.display()))
}

fn parse_markers(text: &str) -> Result<Vec<Marker>> {
    let marker = Regex::new(
        r##"^\s*newTag:\s*"?([^\s"#]+)"?\s*#\s*\{"\$imagepolicy":\s*"([^":]+):([^":]+):tag"\}\s*$"##,
    )?;
    let name = Regex::new(r##"^\s*-\s*name:\s*"?([^\s"#]+)"?"##)?;
    let mut image = None;
    let mut markers = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(c) = name.captures(line) {
            image = Some(c[1].to_owned());
        }
        if line.contains("$imagepolicy") {
            let c = marker.captures(line).with_context(|| {
                format!(
                    "line {}: a `$imagepolicy` marker not in the form \
                     `newTag: <tag> # {{\"$imagepolicy\": \"<namespace>:<name>:tag\"}}`",
                    n + 1
                )
            })?;
            markers.push(Marker {
                policy: format!("{}/{}", &c[2], &c[3]),
                image: image
                    .clone()
                    .with_context(|| format!("line {}: a marker outside an image entry", n + 1))?,
                tag: c[1].to_owned(),
            });
        }
    }
    Ok(markers)
}

/// What [`check_images`] found.
#[derive(Debug, Default)]
struct ImageReport {
    failures: Vec<String>,
    policies: usize,
    tags: usize,
}

/// The branch whose builds an environment follows; `None`: releases (semver tags).
fn followed_branch(env: &str) -> Option<&'static str> {
    match env {
        "dev" => Some(tag::DEV_BRANCH),
        "staging" => Some(tag::STAGING_BRANCH),
        _ => None,
    }
}

/// Markers against policies and repositories, and every policy against tags from `tag.rs`.
fn check_images(env: &str, objects: &[Obj], markers: &[Marker]) -> Result<ImageReport> {
    let mut report = ImageReport::default();
    let key = |o: &Obj| format!("{}/{}", o.namespace(), o.name());
    let policies: Vec<&Obj> = objects
        .iter()
        .filter(|o| o.is("image.toolkit.fluxcd.io", "ImagePolicy"))
        .collect();
    let repositories: Vec<&Obj> = objects
        .iter()
        .filter(|o| o.is("image.toolkit.fluxcd.io", "ImageRepository"))
        .collect();
    let failures = &mut report.failures;
    for m in markers {
        let Some(policy) = policies.iter().find(|p| key(p) == m.policy) else {
            failures.push(format!(
                "the overlay's marker names ImagePolicy {}, which the cluster does not define",
                m.policy
            ));
            continue;
        };
        let repo_name = field(policy.spec(), &["imageRepositoryRef", "name"]).unwrap_or_default();
        let repo_ns = field(policy.spec(), &["imageRepositoryRef", "namespace"])
            .unwrap_or(policy.namespace());
        match repositories
            .iter()
            .find(|r| r.name() == repo_name && r.namespace() == repo_ns)
        {
            None => failures.push(format!(
                "{policy}: its ImageRepository {repo_ns}/{repo_name} does not exist"
            )),
            Some(repo) if field(repo.spec(), &["image"]) != Some(m.image.as_str()) => failures
                .push(format!(
                    "{policy} sets the tag of {} but its ImageRepository scans {}",
                    m.image,
                    field(repo.spec(), &["image"]).unwrap_or("nothing")
                )),
            Some(_) => {}
        }
        let selection = Selection::of(policy)?;
        if selection.choose(&[m.tag.as_str()]).is_none() {
            failures.push(format!(
                "{policy} rejects the tag the overlay holds today, {}",
                m.tag
            ));
        }
    }
    let version = tag::workspace_version(&root().join("Cargo.toml"))?;
    for policy in &policies {
        report.policies += 1;
        if !markers.iter().any(|m| m.policy == key(policy)) {
            failures.push(format!(
                "{policy}: no `$imagepolicy` marker in the {env} overlay uses it"
            ));
        }
        let selection = Selection::of(policy)?;
        let (tried, problems) = selection.agrees_with_tag_scheme(followed_branch(env), &version)?;
        report.tags += tried;
        failures.extend(problems.into_iter().map(|p| format!("{policy}: {p}")));
    }
    let overlay = format!("./{OVERLAY_DIR}/{env}");
    let automations: Vec<&Obj> = objects
        .iter()
        .filter(|o| o.is("image.toolkit.fluxcd.io", "ImageUpdateAutomation"))
        .collect();
    if automations.len() != 1 {
        failures.push(format!(
            "{} ImageUpdateAutomations: expected one, writing to {overlay}",
            automations.len()
        ));
    }
    for auto in automations {
        let path = field(auto.spec(), &["update", "path"]).unwrap_or_default();
        if path.trim_end_matches('/') != overlay {
            failures.push(format!("{auto}: writes to `{path}`, not to {overlay}"));
        }
        let template =
            field(auto.spec(), &["git", "commit", "messageTemplate"]).unwrap_or_default();
        if !template.contains(".Changed") || template.contains(".Updated") {
            failures.push(format!(
                "{auto}: the message template must use v1's `.Changed` (`.Updated` is gone)"
            ));
        }
        let selector = auto
            .spec()
            .get("policySelector")
            .and_then(|s| s.get("matchLabels"))
            .and_then(Value::as_mapping);
        for policy in &policies {
            let labels = policy.value.get("metadata").and_then(|m| m.get("labels"));
            let selected = selector.is_none_or(|wanted| {
                wanted
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            });
            if !selected {
                failures.push(format!("{auto}: its policySelector leaves out {policy}"));
            }
        }
    }
    Ok(report)
}

/// How an ImagePolicy picks a tag.
#[derive(Debug)]
struct Selection {
    filter: Option<(Regex, String)>,
    order: Order,
}

#[derive(Debug)]
enum Order {
    Numerical { ascending: bool },
    Alphabetical { ascending: bool },
    SemVer(semver::VersionReq),
}

impl Selection {
    fn of(policy: &Obj) -> Result<Self> {
        let spec = policy.spec();
        let filter = match spec.get("filterTags") {
            Some(f) => {
                let pattern = field(f, &["pattern"]).unwrap_or_default();
                let regex = Regex::new(pattern)
                    .with_context(|| format!("{policy}: filterTags.pattern does not compile"))?;
                let extract = field(f, &["extract"]).unwrap_or("$0").to_owned();
                Some((regex, extract))
            }
            None => None,
        };
        let choice = spec.get("policy").context("no spec.policy")?;
        let ascending = |k: &str| field(choice, &[k, "order"]).unwrap_or("asc") == "asc";
        let order = if choice.get("numerical").is_some() {
            Order::Numerical {
                ascending: ascending("numerical"),
            }
        } else if choice.get("alphabetical").is_some() {
            Order::Alphabetical {
                ascending: ascending("alphabetical"),
            }
        } else if let Some(range) = field(choice, &["semver", "range"]) {
            Order::SemVer(
                semver::VersionReq::parse(range)
                    .with_context(|| format!("{policy}: semver range `{range}`"))?,
            )
        } else {
            bail!("{policy}: spec.policy is none of numerical, alphabetical, semver");
        };
        Ok(Self { filter, order })
    }

    /// The value a tag is ordered by, or `None` when the policy never picks it.
    fn value(&self, tag: &str) -> Option<String> {
        let value = match &self.filter {
            Some((regex, extract)) => {
                let captures = regex.captures(tag)?;
                let mut out = String::new();
                captures.expand(extract, &mut out);
                out
            }
            None => tag.to_owned(),
        };
        match &self.order {
            Order::Numerical { .. } => value.parse::<f64>().ok().map(|_| value),
            Order::Alphabetical { .. } => Some(value),
            Order::SemVer(range) => semver::Version::parse(&value)
                .ok()
                .filter(|v| range.matches(v))
                .map(|_| value),
        }
    }

    /// The tag the policy picks among `tags`.
    fn choose<'a>(&self, tags: &[&'a str]) -> Option<&'a str> {
        let mut candidates: Vec<(&str, String)> = tags
            .iter()
            .filter_map(|t| self.value(t).map(|v| (*t, v)))
            .collect();
        candidates.sort_by(|(_, a), (_, b)| match &self.order {
            Order::Numerical { ascending } => {
                let (a, b): (f64, f64) = (a.parse().unwrap_or(0.0), b.parse().unwrap_or(0.0));
                let o = a.total_cmp(&b);
                if *ascending { o } else { o.reverse() }
            }
            Order::Alphabetical { ascending } => {
                if *ascending {
                    a.cmp(b)
                } else {
                    b.cmp(a)
                }
            }
            Order::SemVer(_) => {
                let parse = |s: &str| semver::Version::parse(s).ok();
                parse(a).cmp(&parse(b))
            }
        });
        // Every order picks the last after sorting ascending by its key (Flux: the "latest").
        candidates.last().map(|(t, _)| *t)
    }

    /// Runs the policy on tags from [`crate::tag`]; returns how many were tried and what was wrong.
    fn agrees_with_tag_scheme(
        &self,
        branch: Option<&str>,
        version: &semver::Version,
    ) -> Result<(usize, Vec<String>)> {
        let versions = [
            version.clone(),
            tag::next(version, Level::Patch)?,
            tag::next(version, Level::Minor)?,
            tag::next(version, Level::Major)?,
        ];
        match branch {
            Some(followed) => self.agrees_with_builds(followed, &versions),
            None => self.agrees_with_releases(&versions),
        }
    }

    /// A branch-following policy: exactly that branch's builds, the newest picked.
    fn agrees_with_builds(
        &self,
        followed: &str,
        versions: &[semver::Version],
    ) -> Result<(usize, Vec<String>)> {
        let (sha, instants) = (SAMPLE_SHA, SAMPLE_INSTANTS);
        let mut problems = Vec::new();
        let mut tried = 0;
        for b in SAMPLE_BRANCHES {
            let wanted = tag::sanitize_branch(b)? == followed;
            for v in versions {
                let tags: Vec<String> = instants
                    .iter()
                    .map(|&t| tag::build_tag(b, &v.to_string(), sha, t))
                    .collect::<Result<_>>()?;
                for t in &tags {
                    tried += 1;
                    if self.value(t).is_some() != wanted {
                        problems.push(format!(
                            "tag {t} (branch `{b}`) is {} but should be {}",
                            if wanted { "rejected" } else { "accepted" },
                            if wanted { "accepted" } else { "rejected" },
                        ));
                    }
                }
                // Newest build wins, whatever order the registry lists the tags in.
                let mut shuffled: Vec<&str> = tags.iter().map(String::as_str).collect();
                shuffled.rotate_left(2);
                shuffled.swap(0, 1);
                if wanted && self.choose(&shuffled) != tags.last().map(String::as_str) {
                    problems.push(format!(
                        "among {shuffled:?} it does not pick the newest build, {}",
                        tags.last().map_or("", String::as_str)
                    ));
                }
            }
        }
        // Releases are not builds of the branch.
        for v in versions {
            tried += 1;
            if self.value(&v.to_string()).is_some() {
                problems.push(format!("the release tag {v} is accepted"));
            }
        }
        Ok((tried, problems))
    }

    /// A release policy: the promoted releases, never a pre-release or a build.
    fn agrees_with_releases(&self, versions: &[semver::Version]) -> Result<(usize, Vec<String>)> {
        let (sha, instants) = (SAMPLE_SHA, SAMPLE_INSTANTS);
        let version = &versions[0];
        let branches = SAMPLE_BRANCHES;
        let mut problems = Vec::new();
        let mut tried = 0;
        let mut releases: Vec<String> = versions.iter().map(ToString::to_string).collect();
        for r in &releases[1..] {
            tried += 1;
            if self.value(r).is_none() {
                problems.push(format!("the promoted release {r} is rejected"));
            }
        }
        let mut rejected = vec![format!("{}-rc.1", versions[2])];
        for b in branches {
            rejected.push(tag::build_tag(b, &version.to_string(), sha, instants[0])?);
        }
        for t in &rejected {
            tried += 1;
            if self.value(t).is_some() {
                problems.push(format!("tag {t} is accepted, but is no release"));
            }
        }
        let highest = releases.pop().unwrap_or_default();
        releases.insert(0, highest.clone());
        let all: Vec<&str> = releases.iter().map(String::as_str).collect();
        if self.choose(&all) != Some(highest.as_str()) {
            problems.push(format!("among {all:?} it does not pick {highest}"));
        }
        Ok((tried, problems))
    }
}

/// A commit id for the sample tags.
const SAMPLE_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Branches whose builds a policy must tell apart: the two followed, and names that start or end
/// like them.
const SAMPLE_BRANCHES: [&str; 8] = [
    tag::DEV_BRANCH,
    tag::STAGING_BRANCH,
    "Develop",
    "feature/develop",
    "develop-1.2.3-x",
    "main-hotfix",
    "release/1.0",
    "dependabot/cargo/main-1.0.0",
];

/// Build times, in seconds since the epoch: 2026-12-31T23:59:59Z, a second later (a new day and
/// year), a day later, and in 2100.
const SAMPLE_INSTANTS: [i64; 4] = [1_798_761_599, 1_798_761_600, 1_798_848_000, 4_102_444_800];

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(text: &str) -> Vec<Obj> {
        parse_objects("test", text).expect("valid YAML")
    }

    const CLUSTER: &str = r"
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infra-controllers, namespace: flux-system}
spec:
  path: ./flux/infrastructure/controllers
  prune: true
  wait: true
  timeout: 5m
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infra-configs, namespace: flux-system}
spec:
  dependsOn: [{name: infra-controllers}]
  path: ./flux/infrastructure/configs
  prune: true
  wait: true
  timeout: 5m
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: secrets, namespace: flux-system}
spec:
  dependsOn: [{name: infra-controllers}]
  path: ./flux/secrets/dev
  prune: true
  wait: true
  timeout: 5m
  decryption: {provider: sops, secretRef: {name: sops-age}}
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  dependsOn: [{name: infra-configs}, {name: secrets}]
  path: ./infra/kubernetes/overlays/dev
  prune: true
  timeout: 5m
  healthChecks: [{apiVersion: apps/v1, kind: Deployment, name: x, namespace: y}]
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: flux-system}
spec: {url: https://example.com}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: apps}
spec:
  chart:
    spec:
      chart: app
      version: 1.2.3
      sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}
";

    fn cluster_failures(text: &str) -> Vec<String> {
        check_cluster("dev", &objects(text)).failures
    }

    #[test]
    fn a_consistent_cluster_passes_in_dependency_order() {
        let report = check_cluster("dev", &objects(CLUSTER));
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(
            report.order,
            ["infra-controllers", "infra-configs", "secrets", "apps"]
        );
        assert_eq!(report.releases, 1);
    }

    #[test]
    fn a_chart_version_range_is_rejected() {
        for range in ["1.x", ">=1.2.0", "^1.2", "*"] {
            let text = CLUSTER.replace("version: 1.2.3", &format!("version: '{range}'"));
            let failures = cluster_failures(&text);
            assert!(
                failures.iter().any(|f| f.contains("not one exact version")),
                "{range}: {failures:?}"
            );
        }
        let failures = cluster_failures(
            &CLUSTER.replace("HelmRepository, name: charts", "HelmRepository, name: gone"),
        );
        assert!(
            failures.iter().any(|f| f.contains("does not exist")),
            "{failures:?}"
        );
    }

    #[test]
    fn a_missing_dependency_and_a_cycle_are_rejected() {
        let failures = cluster_failures(&CLUSTER.replace(
            "dependsOn: [{name: infra-controllers}]\n  path: ./flux/infrastructure/configs",
            "dependsOn: [{name: nowhere}]\n  path: ./flux/infrastructure/configs",
        ));
        assert!(
            failures
                .iter()
                .any(|f| f.contains("flux-system/nowhere, which does not exist")),
            "{failures:?}"
        );
        let cyclic = CLUSTER.replace(
            "metadata: {name: infra-controllers, namespace: flux-system}\nspec:\n",
            "metadata: {name: infra-controllers, namespace: flux-system}\nspec:\n  dependsOn: [{name: apps}]\n",
        );
        let failures = cluster_failures(&cyclic);
        assert!(failures.iter().any(|f| f.contains("cycle")), "{failures:?}");
    }

    #[test]
    fn apps_must_wait_for_their_secrets_and_secrets_must_be_decrypted() {
        let failures = cluster_failures(&CLUSTER.replace(
            "dependsOn: [{name: infra-configs}, {name: secrets}]",
            "dependsOn: [{name: infra-configs}]",
        ));
        assert!(
            failures.iter().any(|f| f.contains("./flux/secrets/")),
            "{failures:?}"
        );
        let failures = cluster_failures(&CLUSTER.replace("provider: sops", "provider: none"));
        assert!(failures.iter().any(|f| f.contains("SOPS")), "{failures:?}");
        let failures = cluster_failures(&CLUSTER.replace(
            "  prune: true\n  wait: true\n  timeout: 5m\n  decryption",
            "  prune: false\n  timeout: 5m\n  decryption",
        ));
        assert_eq!(
            failures
                .iter()
                .filter(|f| f.contains("prune") || f.contains("wait"))
                .count(),
            2,
            "{failures:?}"
        );
    }

    #[test]
    fn an_object_applied_twice_is_rejected() {
        let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\n";
        let mut applied = parse_objects("flux/secrets/dev", secret).expect("valid");
        assert!(owned_twice(&applied).is_empty());
        applied.extend(parse_objects("infra/kubernetes/overlays/dev", secret).expect("valid"));
        let failures = owned_twice(&applied);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("flux/secrets/dev, infra/kubernetes/overlays/dev"));
    }

    #[test]
    fn a_namespace_made_after_its_first_use_is_rejected() {
        let flux = objects(CLUSTER)
            .into_iter()
            .map(|o| o.owned_by(BOOTSTRAP_KUSTOMIZATION));
        let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: blueprint-dev}\n";
        let secret =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: blueprint-dev}\n";
        let owned = |text: &str, owner: &str| -> Vec<Obj> {
            objects(text)
                .into_iter()
                .map(|o| o.owned_by(owner))
                .collect()
        };
        // The apps make the namespace, but the secrets (which the apps wait for) go into it.
        let mut applied: Vec<Obj> = flux.clone().collect();
        applied.extend(owned(namespace, "flux-system/apps"));
        applied.extend(owned(secret, "flux-system/secrets"));
        let about = |problems: Vec<String>, ns: &str| -> Vec<String> {
            problems.into_iter().filter(|p| p.contains(ns)).collect()
        };
        let problems = about(namespaces_before_use(&applied), "blueprint-dev");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("flux-system/secrets does not depend on it"));
        // Made by the cluster's entry point, it exists before every Kustomization runs.
        let mut applied: Vec<Obj> = flux.collect();
        applied.extend(owned(namespace, BOOTSTRAP_KUSTOMIZATION));
        applied.extend(owned(secret, "flux-system/secrets"));
        assert!(about(namespaces_before_use(&applied), "blueprint-dev").is_empty());
        applied.extend(owned(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: nowhere}\n",
            "flux-system/apps",
        ));
        let problems = about(namespaces_before_use(&applied), "nowhere");
        assert!(
            problems[0].contains("which nothing creates"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_beta_flux_api_is_rejected() {
        let failures = cluster_failures(&CLUSTER.replace(
            "helm.toolkit.fluxcd.io/v2",
            "helm.toolkit.fluxcd.io/v2beta2",
        ));
        assert!(
            failures.iter().any(|f| f.contains("v2beta2")),
            "{failures:?}"
        );
    }

    fn policy(spec: &str) -> Selection {
        let text = format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {{name: p, namespace: flux-system}}\nspec:\n{spec}"
        );
        Selection::of(&objects(&text)[0]).expect("a policy")
    }

    const DEV: &str = r"  imageRepositoryRef: {name: r}
  filterTags:
    pattern: '^develop-\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?-[0-9a-f]{7}-(?P<date>\d{8})T(?P<time>\d{6})Z$'
    extract: '$date$time'
  policy: {numerical: {order: asc}}
";

    #[test]
    fn the_dev_policy_follows_develop_builds_by_time() {
        let version = semver::Version::new(0, 1, 0);
        let (tried, problems) = policy(DEV)
            .agrees_with_tag_scheme(Some("develop"), &version)
            .expect("ran");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(tried > 100, "{tried}");
        // The same policy is wrong for staging: it rejects every `main` build.
        let (_, problems) = policy(DEV)
            .agrees_with_tag_scheme(Some("main"), &version)
            .expect("ran");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("branch `main`")
                    && p.contains("rejected but should be accepted")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_loose_pattern_or_a_wrong_order_is_caught() {
        let version = semver::Version::new(0, 1, 0);
        let loose = DEV.replace("^develop-", "^develop.*-");
        let (_, problems) = policy(&loose)
            .agrees_with_tag_scheme(Some("develop"), &version)
            .expect("ran");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("develop-1.2.3-x")
                    && p.contains("accepted but should be rejected")),
            "{problems:?}"
        );
        // Ordering by the sha instead of the time picks an arbitrary build.
        let by_sha = DEV
            .replace("-[0-9a-f]{7}-", "-(?P<sha>[0-9a-f]{7})-")
            .replace("extract: '$date$time'", "extract: '$sha'")
            .replace("numerical", "alphabetical");
        let sha_policy = policy(&by_sha);
        let tags = [
            "develop-0.1.0-bbbbbbb-20270101T000000Z",
            "develop-0.1.0-aaaaaaa-20270102T000000Z",
        ];
        assert_eq!(
            sha_policy.choose(&tags),
            Some(tags[0]),
            "picks by sha, not time"
        );
        assert_eq!(policy(DEV).choose(&tags), Some(tags[1]));
    }

    #[test]
    fn the_production_range_takes_releases_only() {
        let version = semver::Version::new(0, 1, 0);
        let prod = "  imageRepositoryRef: {name: r}\n  policy: {semver: {range: '>=0.1.0'}}\n";
        let (_, problems) = policy(prod)
            .agrees_with_tag_scheme(None, &version)
            .expect("ran");
        assert!(problems.is_empty(), "{problems:?}");
        let capped =
            "  imageRepositoryRef: {name: r}\n  policy: {semver: {range: '>=0.1.0, <1.0.0'}}\n";
        let (_, problems) = policy(capped)
            .agrees_with_tag_scheme(None, &version)
            .expect("ran");
        assert!(
            problems.iter().any(|p| p.contains("1.0.0 is rejected")),
            "{problems:?}"
        );
    }

    #[test]
    fn markers_are_read_with_their_image_and_tag() {
        let text = "images:\n  - name: ghcr.io/o/r/api\n    newTag: 0.1.0 # {\"$imagepolicy\": \"flux-system:blueprint-api-production:tag\"}\n";
        let markers = parse_markers(text).expect("parsed");
        assert_eq!(markers.len(), 1);
        assert_eq!(markers[0].policy, "flux-system/blueprint-api-production");
        assert_eq!(markers[0].image, "ghcr.io/o/r/api");
        assert_eq!(markers[0].tag, "0.1.0");
        let broken =
            "images:\n  - name: x\n    newTag: 1 # {\"$imagepolicy\": \"blueprint-api\"}\n";
        assert!(parse_markers(broken).is_err());
    }

    #[test]
    fn a_marker_naming_a_missing_policy_is_rejected() {
        let markers = vec![Marker {
            policy: "flux-system/blueprint-api-dev".into(),
            image: "ghcr.io/o/r/api".into(),
            tag: "develop-0.1.0-abcdef0-20261126T000000Z".into(),
        }];
        let report = check_images("dev", &[], &markers).expect("checked");
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.contains("does not define")),
            "{:?}",
            report.failures
        );
    }
}
