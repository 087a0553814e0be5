//! The rendered overlays and the admission policies, validated by the tools they target, with no
//! cluster.
//!
//! Every object goes to exactly one schema check, chosen by its `apiVersion` and `kind`:
//!
//! - **custom resources** (a group one of the pinned upstream CRDs serves, see [`crds`]) go to
//!   kubeconform in strict mode, against JSON Schemas converted from those CRDs;
//! - **built-in kinds** go to kubernetes-validate in strict mode (unknown fields fail), once per
//!   Kubernetes version we support ([`K8S_VERSIONS`]), against the schemas it ships offline;
//! - **anything else** fails before a tool runs: a kind no schema covers is not validated, so it
//!   is an error, never a silent skip (kubernetes-validate alone would only warn and pass).
//!
//! Then checkov on the rendered overlays — a check is skipped only by a
//! `checkov.io/skip<N>: CKV_…=<reason>` annotation on the resource, and a skip without a reason
//! fails — and yamllint on every YAML file of the repository (`/.yamllint.yaml`). The tools run in
//! parallel threads, each over all files at once, because their start-up (Python imports, schema
//! loading) costs more than the objects. The split objects go to `target/validate/kubernetes/`.
//!
//! Then each workload's shutdown budget ([`shutdown`]): its `terminationGracePeriodSeconds`
//! covers its preStop sleep, its shutdown settings and what the code adds, plus a margin.
//!
//! The validators are shown to be able to fail in the same run: known-bad objects (an unknown
//! field in a Deployment, a wrong type and an unknown field in a ServiceMonitor, a kind without a
//! schema) are fed to the same tools with the same flags, and the run fails unless each one is
//! rejected for the expected reason.
//!
//! Not checked here, because only a cluster does it: admission (Pod Security, webhooks, the
//! CRDs' CEL rules), defaulting, the fields of a custom resource's `metadata` (CRD schemas leave
//! it open; the API server checks it as ObjectMeta) and the controllers' behaviour.

mod crds;
mod shutdown;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::tools::Tools;
use crate::validate::Rendered;
use crate::{proc, root, target_dir};

/// The Kubernetes minor versions every built-in object must be valid for: the three releases the
/// platform supports (2026-11), as patch `.0` because kubernetes-validate ships one schema set
/// per minor version.
pub const K8S_VERSIONS: [&str; 3] = ["1.33.0", "1.34.0", "1.35.0"];

/// Trees of Kubernetes objects that are applied or tested as written (not rendered from an
/// overlay), relative to the root: every YAML document under them is validated like an
/// overlay's objects. `config/policies`: the admission policies, the Kyverno CLI's test files and
/// the resources those tests use. `flux/…`: the Flux tree but its SOPS-encrypted Secrets (no
/// objects until decrypted: `secrets::check` decrypts and checks them).
const OBJECT_TREES: &[&str] = &[
    "config/policies",
    "flux/clusters",
    "flux/infrastructure",
    "flux/image-automation",
    "flux/notifications",
];

/// The API group of kustomize's own files (`Kustomization`, `Component`), with its slash.
const KUSTOMIZE_API: &str = "kustomize.config.k8s.io/";

/// The repository's yamllint configuration, relative to the root.
const YAMLLINT_CONFIG: &str = ".yamllint.yaml";

/// Known-bad objects: each must be rejected by the tool named, or the validation proves nothing.
const NEGATIVE_BUILTIN: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: negative-unknown-field
spec:
  replicas: 1
  selector:
    matchLabels: {app: negative}
  template:
    metadata:
      labels: {app: negative}
    spec:
      containers:
        - name: app
          image: ghcr.io/sre-blueprint/sre-blueprint/api:0.1.0
          imagePullPolicyy: IfNotPresent
";
const NEGATIVE_CR_TYPE: &str = "\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: negative-wrong-type
spec:
  selector:
    matchLabels: {app: negative}
  endpoints:
    - port: http
      honorLabels: sometimes
";
const NEGATIVE_CR_FIELD: &str = "\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: negative-unknown-field
spec:
  selector:
    matchLabels: {app: negative}
  endpoints:
    - port: http
      scrapeEvery: 30s
";
const NEGATIVE_UNKNOWN_KIND: &str = "\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: negative-unknown-kind
spec: {}
";

/// The known-bad files, by name.
const NEGATIVES: [(&str, &str); 4] = [
    ("builtin-unknown-field.yaml", NEGATIVE_BUILTIN),
    ("cr-wrong-type.yaml", NEGATIVE_CR_TYPE),
    ("cr-unknown-field.yaml", NEGATIVE_CR_FIELD),
    ("unknown-kind.yaml", NEGATIVE_UNKNOWN_KIND),
];

/// How an object's schema is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    /// A Kubernetes kind kubernetes-validate has a schema for at every supported version.
    Builtin,
    /// A custom resource with a converted CRD schema.
    Custom,
    /// No schema: an error, with the reason.
    Unknown(String),
}

/// One object's identity, for messages and counts.
#[derive(Debug, Clone)]
struct Object {
    api_version: String,
    kind: String,
    name: String,
    value: serde_yaml::Value,
}

impl Object {
    fn from_value(value: &serde_yaml::Value) -> Result<Self> {
        let field = |key: &str| value.get(key).and_then(serde_yaml::Value::as_str);
        let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
            let keys: Vec<&str> = value
                .as_mapping()
                .into_iter()
                .flat_map(|m| m.keys().filter_map(serde_yaml::Value::as_str))
                .collect();
            bail!(
                "a document without apiVersion and kind (its keys: {}) is no Kubernetes object",
                keys.join(", ")
            );
        };
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or("(unnamed)");
        Ok(Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            value: value.clone(),
        })
    }

    /// `(group, version)`; the core group is empty (`v1`).
    fn group_version(&self) -> (&str, &str) {
        self.api_version
            .split_once('/')
            .unwrap_or(("", self.api_version.as_str()))
    }
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.api_version, self.kind, self.name)
    }
}

/// Where kubernetes-validate's shipped schemas are: `<dir>/v<version>-local-strict/`.
struct BuiltinSchemas {
    dir: PathBuf,
}

impl BuiltinSchemas {
    /// Finds the schema directory inside the kubernetes-validate venv and checks it ships every
    /// version of [`K8S_VERSIONS`] (else it would silently validate against an older one).
    fn locate(kubernetes_validate: &Path) -> Result<Self> {
        let venv = kubernetes_validate
            .parent()
            .and_then(Path::parent)
            .with_context(|| format!("{} is not in a venv", kubernetes_validate.display()))?;
        let lib = venv.join("lib");
        let dir = std::fs::read_dir(&lib)
            .with_context(|| format!("reading {}", lib.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .map(|python| python.join("site-packages/kubernetes_validate/kubernetes-json-schema"))
            .find(|dir| dir.is_dir())
            .with_context(|| format!("no kubernetes_validate schemas under {}", lib.display()))?;
        let schemas = Self { dir };
        for version in K8S_VERSIONS {
            let versioned = schemas.version_dir(version);
            if !versioned.is_dir() {
                bail!(
                    "kubernetes-validate ships no schemas for Kubernetes {version} ({} is missing): \
                     bump its pin in xtask/src/tools.rs",
                    versioned.display()
                );
            }
        }
        Ok(schemas)
    }

    fn version_dir(&self, version: &str) -> PathBuf {
        self.dir.join(format!("v{version}-local-strict"))
    }

    /// Whether every supported version has a schema for this kind, named the way
    /// kubernetes-validate looks it up: `<kind>-<first label of the group>-<version>.json`.
    fn has(&self, object: &Object) -> bool {
        let (group, version) = object.group_version();
        let api = match group.split('.').next() {
            Some(first) if !group.is_empty() => format!("{first}-{version}"),
            _ => version.to_owned(),
        };
        let file = format!("{}-{api}.json", object.kind.to_lowercase());
        K8S_VERSIONS
            .iter()
            .all(|v| self.version_dir(v).join(&file).is_file())
    }
}

/// Decides which tool checks an object. A group a CRD serves is custom even if a built-in kind
/// of the same name exists (kubernetes-validate matches on the group's first label only).
fn classify(
    object: &Object,
    crd_kinds: &BTreeSet<crds::Gvk>,
    builtin: &dyn Fn(&Object) -> bool,
) -> Class {
    let (group, version) = object.group_version();
    let gvk = crds::Gvk {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: object.kind.clone(),
    };
    if crd_kinds.contains(&gvk) {
        return Class::Custom;
    }
    if crd_kinds.iter().any(|k| k.group == group) {
        return Class::Unknown(format!(
            "{gvk} is in a CRD group we pin, but no pinned CRD serves this kind and version: \
             add its CRD file to kubernetes::crds::SOURCES"
        ));
    }
    if group.contains('.') && !group.ends_with(".k8s.io") {
        return Class::Unknown(format!(
            "{gvk} is a custom resource without a pinned CRD: add its upstream CRD to \
             kubernetes::crds::SOURCES"
        ));
    }
    if builtin(object) {
        Class::Builtin
    } else {
        Class::Unknown(format!(
            "{gvk}: no Kubernetes {} schema has this kind and version",
            K8S_VERSIONS.join("/")
        ))
    }
}

/// A set of objects validated together: one overlay, or the policy files.
struct Set {
    /// `overlay dev`, …, or `config/policies`.
    label: String,
    /// The files checkov reads (rendered overlays only).
    checkov_file: Option<PathBuf>,
    builtin: Vec<Object>,
    custom: Vec<Object>,
    /// Written for the tools: `<work>/<slug>.builtin.yaml`, `<work>/<slug>.custom.yaml`.
    builtin_file: PathBuf,
    custom_file: PathBuf,
}

/// Counts per kind, as `Deployment 3, Service 4` (sorted by kind).
fn count_kinds<'a>(objects: impl Iterator<Item = &'a Object>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for object in objects {
        *counts.entry(object.kind.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes objects as one YAML stream.
fn write_stream(path: &Path, objects: &[Object]) -> Result<()> {
    let mut text = String::new();
    for object in objects {
        text.push_str("---\n");
        text.push_str(&serde_yaml::to_string(&object.value)?);
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Every YAML document of every `.yaml`/`.yml` file under `dir`, recursively, sorted by path.
fn read_yaml_tree(dir: &Path) -> Result<Vec<(PathBuf, serde_yaml::Value)>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in
            std::fs::read_dir(&current).with_context(|| format!("reading {}", current.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut documents = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value: serde_yaml::Value = serde::Deserialize::deserialize(document)
                .with_context(|| format!("parsing {}", path.display()))?;
            if !value.is_null() {
                documents.push((path.clone(), value));
            }
        }
    }
    Ok(documents)
}

/// `cargo xtask validate --only kubernetes` after rendering: one summary line per overlay, one
/// for the policy files, one for yamllint and one for the known-bad objects.
pub fn validate(tools: &Tools, rendered: &[Rendered]) -> Result<Vec<String>> {
    let started = Instant::now();
    let cache = crate::tools::Cache::from_env()?;
    let crd_schemas = crds::ensure(&cache.root)?;
    let builtin_schemas = BuiltinSchemas::locate(&tools.kubernetes_validate)?;

    let work = target_dir().join("validate/kubernetes");
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    let negative = work.join("negative");
    std::fs::create_dir_all(&negative)
        .with_context(|| format!("creating {}", negative.display()))?;
    for (file, text) in NEGATIVES {
        let path = negative.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }

    let mut inputs = Vec::new();
    for r in rendered {
        inputs.push(Input::overlay(r)?);
    }
    for tree in OBJECT_TREES {
        let dir = root().join(tree);
        if !dir.is_dir() {
            bail!("{} is missing: remove it from OBJECT_TREES", dir.display());
        }
        inputs.push(Input::tree(tree, &dir)?);
    }
    let sets = split(inputs, &work, &crd_schemas.kinds, &|o: &Object| {
        builtin_schemas.has(o)
    })?;
    let outcomes = run_tools(tools, &sets, &crd_schemas.location(), &negative);
    let mut lines = judge(&sets, outcomes)?;
    lines.extend(shutdown::check(rendered)?);
    lines.push(format!(
        "kubernetes validation: done in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(lines)
}

/// The objects of one set before they are split by schema.
struct Input {
    label: String,
    slug: String,
    checkov_file: Option<PathBuf>,
    /// `(file it came from, object)`.
    objects: Vec<(String, Object)>,
}

impl Input {
    fn overlay(r: &Rendered) -> Result<Self> {
        let objects = r
            .objects
            .iter()
            .map(|v| Object::from_value(v).map(|o| (r.path.display().to_string(), o)))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("reading the rendered {} overlay", r.overlay))?;
        Ok(Self {
            label: format!("overlay {}", r.overlay),
            slug: r.overlay.to_owned(),
            checkov_file: Some(r.path.clone()),
            objects,
        })
    }

    /// Every object under one of [`OBJECT_TREES`].
    fn tree(label: &str, dir: &Path) -> Result<Self> {
        let objects = read_yaml_tree(dir)?
            .into_iter()
            // kustomize's own input (which files make up a bundle) is no API object: kustomize
            // reads and checks it where the bundle is built.
            .filter(|(_, v)| {
                !v.get("apiVersion")
                    .and_then(serde_yaml::Value::as_str)
                    .is_some_and(|a| a.starts_with(KUSTOMIZE_API))
            })
            .map(|(path, v)| {
                Object::from_value(&v)
                    .with_context(|| format!("in {}", path.display()))
                    .map(|o| (path.display().to_string(), o))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            label: label.to_owned(),
            slug: label.replace('/', "-"),
            checkov_file: None,
            objects,
        })
    }
}

/// Splits every input into built-in and custom objects, written to `<work>/<slug>.*.yaml`;
/// fails listing every object no schema covers.
fn split(
    inputs: Vec<Input>,
    work: &Path,
    crd_kinds: &BTreeSet<crds::Gvk>,
    builtin: &dyn Fn(&Object) -> bool,
) -> Result<Vec<Set>> {
    let mut sets = Vec::new();
    let mut unknown = Vec::new();
    for input in inputs {
        let mut set = Set {
            label: input.label,
            checkov_file: input.checkov_file,
            builtin: Vec::new(),
            custom: Vec::new(),
            builtin_file: work.join(format!("{}.builtin.yaml", input.slug)),
            custom_file: work.join(format!("{}.custom.yaml", input.slug)),
        };
        for (source, object) in input.objects {
            match classify(&object, crd_kinds, builtin) {
                Class::Builtin => set.builtin.push(object),
                Class::Custom => set.custom.push(object),
                Class::Unknown(why) => unknown.push(format!("{source}: {object}: {why}")),
            }
        }
        write_stream(&set.builtin_file, &set.builtin)?;
        write_stream(&set.custom_file, &set.custom)?;
        sets.push(set);
    }
    if !unknown.is_empty() {
        bail!(
            "{} object(s) have no schema to validate against:\n  {}",
            unknown.len(),
            unknown.join("\n  ")
        );
    }
    Ok(sets)
}

/// What every tool said.
struct Outcomes {
    /// One per [`K8S_VERSIONS`], in order.
    versions: Vec<Result<KvReport>>,
    kubeconform: Result<KcReport>,
    checkov: Result<CheckovReport>,
    yamllint: Result<usize>,
    negatives: Result<usize>,
}

/// Runs every tool at once, each one process over all its files.
fn run_tools(tools: &Tools, sets: &[Set], location: &str, negative: &Path) -> Outcomes {
    let builtin_files: Vec<&Path> = sets
        .iter()
        .filter(|s| !s.builtin.is_empty())
        .map(|s| s.builtin_file.as_path())
        .collect();
    let custom_files: Vec<&Path> = sets
        .iter()
        .filter(|s| !s.custom.is_empty())
        .map(|s| s.custom_file.as_path())
        .collect();
    let checkov_files: Vec<&Path> = sets
        .iter()
        .filter_map(|s| s.checkov_file.as_deref())
        .collect();
    std::thread::scope(|scope| {
        let versions: Vec<_> = K8S_VERSIONS
            .iter()
            .map(|&version| {
                let files = &builtin_files;
                scope.spawn(move || kubernetes_validate(&tools.kubernetes_validate, version, files))
            })
            .collect();
        let kubeconform =
            scope.spawn(|| kubeconform(&tools.go.kubeconform, location, &custom_files));
        let checkov = scope.spawn(|| checkov(&tools.checkov, &checkov_files));
        let yamllint = scope.spawn(|| yamllint(&tools.yamllint));
        let negatives = scope.spawn(|| {
            check_negatives(
                &tools.kubernetes_validate,
                &tools.go.kubeconform,
                location,
                negative,
            )
        });
        Outcomes {
            versions: versions
                .into_iter()
                .map(|h| join("kubernetes-validate", h.join()))
                .collect(),
            kubeconform: join("kubeconform", kubeconform.join()),
            checkov: join("checkov", checkov.join()),
            yamllint: join("yamllint", yamllint.join()),
            negatives: join("negative fixtures", negatives.join()),
        }
    })
}

/// Judges every outcome, so one run reports every failing tool; then the summary lines.
fn judge(sets: &[Set], outcomes: Outcomes) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    for (version, report) in K8S_VERSIONS.iter().zip(outcomes.versions) {
        match report {
            Ok(report) => {
                for set in sets {
                    let passed = report.passed.get(&set.builtin_file).copied().unwrap_or(0);
                    if passed != set.builtin.len() {
                        failures.push(format!(
                            "kubernetes-validate {version}: {passed} of {} built-in objects of {} \
                             passed",
                            set.builtin.len(),
                            set.label
                        ));
                    }
                }
            }
            Err(err) => failures.push(format!("{err:#}")),
        }
    }
    let kubeconform = ok(outcomes.kubeconform, &mut failures);
    let checkov = ok(outcomes.checkov, &mut failures);
    let yamllint = ok(outcomes.yamllint, &mut failures);
    let negatives = ok(outcomes.negatives, &mut failures);
    if let Some(report) = &kubeconform {
        for set in sets {
            let valid = report.valid.get(&set.custom_file).copied().unwrap_or(0);
            if valid != set.custom.len() {
                failures.push(format!(
                    "kubeconform: {valid} of {} custom resources of {} valid",
                    set.custom.len(),
                    set.label
                ));
            }
        }
    }
    if !failures.is_empty() {
        bail!("Kubernetes validation failed:\n  {}", failures.join("\n  "));
    }

    let versions = K8S_VERSIONS
        .iter()
        .map(|v| v.trim_end_matches(".0"))
        .collect::<Vec<_>>()
        .join("/");
    let mut lines = Vec::new();
    for set in sets {
        let total = set.builtin.len() + set.custom.len();
        let mut line = format!(
            "{}: {total} objects ({}), schemas {versions} ok ({} built-in), {} CRs ok ({})",
            set.label,
            count_kinds(set.builtin.iter().chain(&set.custom)),
            set.builtin.len(),
            set.custom.len(),
            count_kinds(set.custom.iter()),
        );
        if let (Some(file), Some(report)) = (&set.checkov_file, &checkov) {
            let counts = report.per_file(file);
            let skipped: Vec<String> = counts
                .skipped
                .iter()
                .map(|(id, n)| format!("{id} {n}"))
                .collect();
            let _ = write!(
                line,
                ", checkov ok ({} passed, {} skipped with reasons: {})",
                counts.passed,
                counts.skipped.values().sum::<usize>(),
                if skipped.is_empty() {
                    "none".to_owned()
                } else {
                    skipped.join(", ")
                }
            );
        }
        lines.push(line);
    }
    if let Some(files) = yamllint {
        lines.push(format!("yamllint: {files} files ok ({YAMLLINT_CONFIG})"));
    }
    if let Some(rejected) = negatives {
        lines.push(format!(
            "known-bad objects: {rejected} of {rejected} rejected as expected"
        ));
    }
    Ok(lines)
}

/// The value, or `None` with the error's chain added to `failures`.
fn ok<T>(result: Result<T>, failures: &mut Vec<String>) -> Option<T> {
    result.map_err(|e| failures.push(format!("{e:#}"))).ok()
}

/// A tool thread's result; a panic becomes an error naming the tool.
fn join<T>(name: &str, result: std::thread::Result<Result<T>>) -> Result<T> {
    result.unwrap_or_else(|_| Err(anyhow::anyhow!("the {name} thread panicked")))
}

/// What kubernetes-validate said about a run: objects passed per file.
#[derive(Debug, Default)]
struct KvReport {
    passed: BTreeMap<PathBuf, usize>,
}

/// Parses kubernetes-validate's line output. Anything but `INFO … passed` — an ERROR, a WARN
/// (it warns and passes when it has no schema) or a FATAL — is a failure.
fn parse_kubernetes_validate(stdout: &str) -> Result<KvReport, Vec<String>> {
    let mut report = KvReport::default();
    let mut problems = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        match line.strip_prefix("INFO ") {
            Some(rest) if rest.contains(" passed for resource ") => {
                let file = rest
                    .split(" passed for resource ")
                    .next()
                    .unwrap_or_default();
                *report.passed.entry(PathBuf::from(file)).or_default() += 1;
            }
            _ => problems.push(line.to_owned()),
        }
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(problems)
    }
}

fn kubernetes_validate(program: &Path, version: &str, files: &[&Path]) -> Result<KvReport> {
    if files.is_empty() {
        return Ok(KvReport::default());
    }
    let mut cmd = Command::new(program);
    cmd.args(["--strict", "-k", version]).args(files);
    let out = proc::output(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match parse_kubernetes_validate(&stdout) {
        Ok(report) if out.status.success() => Ok(report),
        Ok(_) => bail!(
            "kubernetes-validate -k {version} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(problems) => bail!(
            "kubernetes-validate --strict -k {version}:\n    {}",
            problems.join("\n    ")
        ),
    }
}

/// What kubeconform said: valid resources per file, and every other result.
#[derive(Debug, Default)]
struct KcReport {
    valid: BTreeMap<PathBuf, usize>,
    problems: Vec<KcProblem>,
}

#[derive(Debug)]
struct KcProblem {
    file: PathBuf,
    status: String,
    text: String,
}

/// Parses `kubeconform -output json -summary -verbose`.
fn parse_kubeconform(stdout: &str) -> Result<KcReport> {
    let json: Value = serde_json::from_str(stdout).context("parsing kubeconform's JSON output")?;
    let resources = json
        .get("resources")
        .and_then(Value::as_array)
        .context("kubeconform's output has no resources list")?;
    let mut report = KcReport::default();
    for resource in resources {
        let text = |key: &str| {
            resource
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let file = PathBuf::from(text("filename"));
        if text("status") == "statusValid" {
            *report.valid.entry(file).or_default() += 1;
        } else {
            // The per-field errors when there are any (the message repeats them, less readably).
            let errors: Vec<String> = resource
                .get("validationErrors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| {
                    let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                    format!("{}: {}", field("path"), field("msg"))
                })
                .collect();
            let reason = if errors.is_empty() {
                text("msg").to_owned()
            } else {
                errors.join("; ")
            };
            let detail = format!(
                "{} {} {}: {reason}",
                text("version"),
                text("kind"),
                text("name")
            );
            report.problems.push(KcProblem {
                file,
                status: text("status").to_owned(),
                text: detail,
            });
        }
    }
    Ok(report)
}

fn run_kubeconform(program: &Path, location: &str, files: &[&Path]) -> Result<KcReport> {
    let mut cmd = Command::new(program);
    cmd.args([
        "-strict",
        "-summary",
        "-verbose",
        "-output",
        "json",
        "-schema-location",
    ])
    .arg(location)
    .args(files);
    let out = proc::output(&mut cmd)?;
    let report = parse_kubeconform(&String::from_utf8_lossy(&out.stdout)).with_context(|| {
        format!(
            "kubeconform ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    // Its exit status and its report must agree; a failure without a report is a tool error.
    if out.status.success() != report.problems.is_empty() {
        bail!(
            "kubeconform exited {} but reported {} problem(s)",
            out.status,
            report.problems.len()
        );
    }
    Ok(report)
}

fn kubeconform(program: &Path, location: &str, files: &[&Path]) -> Result<KcReport> {
    if files.is_empty() {
        return Ok(KcReport::default());
    }
    let report = run_kubeconform(program, location, files)?;
    if !report.problems.is_empty() {
        let lines: Vec<String> = report
            .problems
            .iter()
            .map(|p| format!("{}: {} {}", p.file.display(), p.status, p.text))
            .collect();
        bail!(
            "kubeconform {} -strict:\n    {}",
            crate::gotools::KUBECONFORM_VERSION,
            lines.join("\n    ")
        );
    }
    Ok(report)
}

/// The known-bad objects, each rejected for the intended reason; returns how many.
fn check_negatives(
    kubernetes_validate: &Path,
    kubeconform: &Path,
    location: &str,
    dir: &Path,
) -> Result<usize> {
    // kubernetes-validate: the unknown field is named in the error.
    let builtin = dir.join("builtin-unknown-field.yaml");
    let mut cmd = Command::new(kubernetes_validate);
    cmd.args(["--strict", "-k", K8S_VERSIONS[0]]).arg(&builtin);
    let out = proc::output(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() || !stdout.contains("imagePullPolicyy") {
        bail!(
            "kubernetes-validate --strict accepted a Deployment with an unknown field ({}): {stdout}",
            builtin.display()
        );
    }
    // kubeconform: each custom resource rejected, with the reason expected.
    let expected = [
        ("cr-wrong-type.yaml", "statusInvalid", "honorLabels"),
        ("cr-unknown-field.yaml", "statusInvalid", "scrapeEvery"),
        ("unknown-kind.yaml", "statusError", "could not find schema"),
    ];
    let files: Vec<PathBuf> = expected.iter().map(|(f, _, _)| dir.join(f)).collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let report = run_kubeconform(kubeconform, location, &refs)?;
    for ((file, status, needle), path) in expected.iter().zip(&files) {
        let rejected = report
            .problems
            .iter()
            .any(|p| &p.file == path && p.status == *status && p.text.contains(needle));
        if !rejected {
            bail!(
                "kubeconform did not reject {file} with {status} mentioning `{needle}`: {:?}",
                report.problems
            );
        }
    }
    Ok(1 + expected.len())
}

/// checkov's counts for one file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct CheckovCounts {
    passed: usize,
    /// Skipped checks by id.
    skipped: BTreeMap<String, usize>,
}

#[derive(Debug, Default)]
struct CheckovReport {
    /// Per file name (checkov reports paths relative to its working directory).
    files: BTreeMap<String, CheckovCounts>,
}

impl CheckovReport {
    fn per_file(&self, path: &Path) -> CheckovCounts {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.files.get(&name).cloned().unwrap_or_default()
    }
}

/// Parses `checkov -o json` for the kubernetes framework: failures are errors.
fn parse_checkov(stdout: &str) -> Result<CheckovReport> {
    let json: Value = serde_json::from_str(stdout).context("parsing checkov's JSON output")?;
    let results = json.get("results").with_context(|| {
        format!(
            "checkov ran no Kubernetes checks (its summary: {})",
            json.get("summary").unwrap_or(&json)
        )
    })?;
    let list = |key: &str| {
        results
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let file_of = |check: &Value| {
        let path = check
            .get("file_path")
            .and_then(Value::as_str)
            .unwrap_or_default();
        path.rsplit('/').next().unwrap_or(path).to_owned()
    };
    let failed: Vec<String> = list("failed_checks")
        .iter()
        .map(|c| {
            let text = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let guideline = text("guideline");
            let guideline = if guideline.is_empty() {
                String::new()
            } else {
                format!(" ({guideline})")
            };
            format!(
                "{} {}{guideline} on {} in {}",
                text("check_id"),
                text("check_name"),
                text("resource"),
                file_of(c)
            )
        })
        .collect();
    let parsing = list("parsing_errors");
    if !parsing.is_empty() {
        bail!("checkov could not parse: {parsing:?}");
    }
    if !failed.is_empty() {
        bail!(
            "checkov: {} failed check(s) (fix the manifest, or skip one on its resource with a \
             `checkov.io/skip1: <id>=<reason>` annotation):\n    {}",
            failed.len(),
            failed.join("\n    ")
        );
    }
    let mut report = CheckovReport::default();
    for check in list("passed_checks") {
        report.files.entry(file_of(&check)).or_default().passed += 1;
    }
    let mut unjustified = Vec::new();
    for check in list("skipped_checks") {
        let id = check
            .get("check_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let reason = check
            .pointer("/check_result/suppress_comment")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if reason.trim().is_empty() {
            let resource = check
                .get("resource")
                .and_then(Value::as_str)
                .unwrap_or_default();
            unjustified.push(format!("{id} on {resource} in {}", file_of(&check)));
        }
        *report
            .files
            .entry(file_of(&check))
            .or_default()
            .skipped
            .entry(id.to_owned())
            .or_default() += 1;
    }
    if !unjustified.is_empty() {
        bail!(
            "checkov: {} check(s) skipped without a reason (write `<id>=<why>` in the \
             annotation):\n    {}",
            unjustified.len(),
            unjustified.join("\n    ")
        );
    }
    Ok(report)
}

fn checkov(program: &Path, files: &[&Path]) -> Result<CheckovReport> {
    if files.is_empty() {
        return Ok(CheckovReport::default());
    }
    // From the rendered files' directory, so checkov's paths are their names.
    let dir = files[0]
        .parent()
        .context("a rendered file without a directory")?;
    if files.iter().any(|f| f.parent() != Some(dir)) {
        bail!("the rendered overlays are not all in {}", dir.display());
    }
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).args([
        "--framework",
        "kubernetes",
        "--skip-download",
        "--compact",
        "-o",
        "json",
    ]);
    for file in files {
        cmd.arg("-f")
            .arg(file.file_name().unwrap_or(file.as_os_str()));
    }
    let out = proc::output(&mut cmd)?;
    let report = parse_checkov(&String::from_utf8_lossy(&out.stdout)).with_context(|| {
        format!(
            "checkov ({}) in {}: {}",
            out.status,
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    if !out.status.success() {
        bail!(
            "checkov exited {} with no failed check in its report",
            out.status
        );
    }
    for file in files {
        if report.per_file(file).passed == 0 {
            bail!("checkov ran no passing check on {}", file.display());
        }
    }
    Ok(report)
}

/// yamllint over the repository with its config; returns the number of files linted.
fn yamllint(program: &Path) -> Result<usize> {
    let config = root().join(YAMLLINT_CONFIG);
    let mut listing = Command::new(program);
    listing
        .current_dir(root())
        .arg("--list-files")
        .arg("-c")
        .arg(&config)
        .arg(".");
    let out = proc::output(&mut listing)?;
    if !out.status.success() {
        bail!(
            "yamllint --list-files failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let files = String::from_utf8_lossy(&out.stdout).lines().count();
    let mut lint = Command::new(program);
    lint.current_dir(root())
        .args(["--strict", "-f", "parsable", "-c"])
        .arg(&config)
        .arg(".");
    let out = proc::output(&mut lint)?;
    if !out.status.success() {
        bail!(
            "yamllint --strict ({}):\n    {}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .replace('\n', "\n    ")
        );
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Object {
        Object::from_value(&serde_yaml::from_str(text).expect("yaml")).expect("an object")
    }

    fn crd_kinds() -> BTreeSet<crds::Gvk> {
        [("monitoring.coreos.com", "v1", "ServiceMonitor")]
            .into_iter()
            .map(|(g, v, k)| crds::Gvk {
                group: g.into(),
                version: v.into(),
                kind: k.into(),
            })
            .collect()
    }

    fn builtin_names(o: &Object) -> bool {
        matches!(o.kind.as_str(), "Deployment" | "Service" | "NetworkPolicy")
    }

    #[test]
    fn objects_go_to_the_tool_that_has_their_schema() {
        let kinds = crd_kinds();
        let class = |text| classify(&object(text), &kinds, &builtin_names);
        assert_eq!(
            class("{apiVersion: apps/v1, kind: Deployment}"),
            Class::Builtin
        );
        assert_eq!(class("{apiVersion: v1, kind: Service}"), Class::Builtin);
        assert_eq!(
            class("{apiVersion: monitoring.coreos.com/v1, kind: ServiceMonitor}"),
            Class::Custom
        );
    }

    #[test]
    fn a_kind_without_a_schema_is_an_error_not_a_skip() {
        let kinds = crd_kinds();
        let class = |text| classify(&object(text), &kinds, &builtin_names);
        for text in [
            "{apiVersion: example.com/v1, kind: Widget}",
            // A CRD group we pin, but a kind or version no pinned CRD serves.
            "{apiVersion: monitoring.coreos.com/v1, kind: Probe}",
            "{apiVersion: monitoring.coreos.com/v1alpha1, kind: ServiceMonitor}",
            // A built-in name in a custom group must not borrow the built-in schema.
            "{apiVersion: networking.example.com/v1, kind: NetworkPolicy}",
            // A built-in group with a kind Kubernetes does not have.
            "{apiVersion: apps/v1, kind: Deploymint}",
        ] {
            assert!(matches!(class(text), Class::Unknown(_)), "{text}");
        }
        assert!(
            Object::from_value(&serde_yaml::from_str("{kind: Service}").expect("yaml")).is_err()
        );
    }

    #[test]
    fn kubernetes_validate_passes_only_when_every_line_passed() {
        let ok = "INFO a.yaml passed for resource deployment/x against version 1.33\n\
                  INFO a.yaml passed for resource service/x against version 1.33\n\
                  INFO b.yaml passed for resource service/y against version 1.33\n";
        let report = parse_kubernetes_validate(ok).expect("all passed");
        assert_eq!(report.passed[Path::new("a.yaml")], 2);
        assert_eq!(report.passed[Path::new("b.yaml")], 1);
        let bad = "INFO a.yaml passed for resource service/x against version 1.33\n\
                   ERROR a.yaml did not validate for resource deployment/x against version 1.33: \
                   spec: Additional properties are not allowed ('replica' was unexpected)\n\
                   WARN a.yaml Couldn't find schema for kind Widget with api version example.com/v1\n";
        let problems = parse_kubernetes_validate(bad).expect_err("an error and a warning");
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn kubeconform_results_are_counted_per_file() {
        let json = r#"{"resources": [
            {"filename": "a.yaml", "kind": "ServiceMonitor", "name": "x", "version": "monitoring.coreos.com/v1", "status": "statusValid", "msg": ""},
            {"filename": "a.yaml", "kind": "ServiceMonitor", "name": "y", "version": "monitoring.coreos.com/v1", "status": "statusInvalid",
             "msg": "problem validating schema", "validationErrors": [{"path": "/spec/endpoints/0/honorLabels", "msg": "got string, want boolean"}]}
        ], "summary": {"valid": 1, "invalid": 1, "errors": 0, "skipped": 0}}"#;
        let report = parse_kubeconform(json).expect("parses");
        assert_eq!(report.valid[Path::new("a.yaml")], 1);
        assert_eq!(report.problems.len(), 1);
        assert!(
            report.problems[0]
                .text
                .contains("/spec/endpoints/0/honorLabels: got string")
        );
        assert!(parse_kubeconform("not json").is_err());
    }

    #[test]
    fn a_failed_checkov_check_fails_with_its_id_and_resource() {
        let json = r#"{"check_type": "kubernetes", "results": {
            "passed_checks": [{"check_id": "CKV_K8S_8", "file_path": "/dev.yaml"}],
            "failed_checks": [{"check_id": "CKV_K8S_9", "check_name": "Readiness Probe Should be Configured",
                               "guideline": "https://docs", "resource": "Deployment.blueprint-dev.api", "file_path": "/dev.yaml"}],
            "skipped_checks": [], "parsing_errors": []}, "summary": {"passed": 1, "failed": 1}}"#;
        let err = parse_checkov(json).expect_err("a failed check").to_string();
        assert!(
            err.contains("CKV_K8S_9") && err.contains("Deployment.blueprint-dev.api"),
            "{err}"
        );
        let clean = json.replace(r#""failed_checks": [{"#, r#""failed_checks": [], "x": [{"#);
        let report = parse_checkov(&clean).expect("clean");
        assert_eq!(report.per_file(Path::new("/any/dir/dev.yaml")).passed, 1);
        assert!(
            parse_checkov(r#"{"passed": 0, "failed": 0}"#).is_err(),
            "no checks ran"
        );
    }

    #[test]
    fn a_checkov_skip_needs_a_reason() {
        let with = |reason: &str| {
            format!(
                r#"{{"results": {{"passed_checks": [{{"check_id": "CKV_K8S_8", "file_path": "/dev.yaml"}}],
                "failed_checks": [], "parsing_errors": [], "skipped_checks": [{{"check_id": "CKV_K8S_43",
                "resource": "Deployment.blueprint-dev.api", "file_path": "/dev.yaml",
                "check_result": {{"result": "SKIPPED", "suppress_comment": "{reason}"}}}}]}}}}"#
            )
        };
        let report = parse_checkov(&with("tags are immutable")).expect("a justified skip");
        let counts = report.per_file(Path::new("dev.yaml"));
        assert_eq!(counts.skipped.get("CKV_K8S_43"), Some(&1));
        let err = parse_checkov(&with(" "))
            .expect_err("no reason")
            .to_string();
        assert!(
            err.contains("CKV_K8S_43 on Deployment.blueprint-dev.api"),
            "{err}"
        );
    }

    #[test]
    fn kinds_are_counted_in_order() {
        let objects = [
            object("{apiVersion: v1, kind: Service}"),
            object("{apiVersion: apps/v1, kind: Deployment}"),
            object("{apiVersion: v1, kind: Service}"),
        ];
        assert_eq!(count_kinds(objects.iter()), "Deployment 1, Service 2");
    }
}
