//! Custom resources' schemas: the upstream projects' published CRD YAML, read from pinned Go
//! modules and converted into the strict JSON Schemas kubeconform validates against.
//!
//! Nothing here is hand-written or committed: [`SOURCES`] names a module, its version and the
//! CRD files inside it (and [`GENERATED`] an API module whose CRDs controller-gen makes, where the
//! proxy serves no CRD YAML); `go mod download` fetches the module (checked against the Go checksum
//! database), and each served version of each CRD becomes
//! `<cache>/crd-schemas-<hash>/<group>/<kind>_<version>.json` — the layout kubeconform's
//! `-schema-location '<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'` reads
//! (kubeconform v0.8.0 fills `Group` with the full API group and lowercases `ResourceKind`).
//! The directory's hash covers the source table and this file's own text, so a pin bump or a
//! change of the conversion converts again beside the old result, and a warm run reads no module.
//!
//! The conversion follows kubeconform's `scripts/openapi2jsonschema.py` (strict mode), with three
//! corrections where the script and the API server disagree:
//! - `additionalProperties: false` wherever `properties` are listed — at the root too (the
//!   script's `DENY_ROOT_ADDITIONAL_PROPERTIES`), so a misspelt `spec` fails — but **not** under
//!   `x-kubernetes-preserve-unknown-fields: true`, where the API server keeps unknown fields,
//!   and only in structural positions (`properties`, `items`, `additionalProperties`): the
//!   branches of `allOf`/`anyOf`/`oneOf`/`not` constrain a subset of the fields and would
//!   otherwise reject every other field;
//! - `x-kubernetes-int-or-string` (and the script's `format: int-or-string`) accepts exactly an
//!   integer or a string;
//! - `nullable: true` admits `null`, as the API server does.
//!
//! What this cannot check: the CRDs' CEL rules (`x-kubernetes-validations`) and the defaults and
//! webhooks of the controllers — only a cluster with the CRDs installed evaluates those.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// One upstream Go module and the CRD files (paths inside the module) taken from it.
#[derive(Debug)]
pub struct CrdSource {
    pub module: &'static str,
    pub version: &'static str,
    pub files: &'static [&'static str],
}

/// Every custom resource the manifests and policies may use. To support a new kind (Flux's, for
/// example: `github.com/fluxcd/kustomize-controller/api` is not enough, the CRD YAML lives in the
/// controller module's `config/crd/bases/`), add its module, pinned version and CRD files here.
pub const SOURCES: &[CrdSource] = &[
    // ServiceMonitor and PrometheusRule. v0.85.0 is the newest version the Go module proxy serves
    // (later releases are not published as Go module versions); `example/prometheus-operator-crd/`
    // is the published CRD set (the `-full` directory differs only by a version annotation).
    CrdSource {
        module: "github.com/prometheus-operator/prometheus-operator",
        version: "v0.85.0",
        files: &[
            "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
        ],
    },
    // HTTPRoute and the Gateway it attaches to, from the standard channel.
    CrdSource {
        module: "sigs.k8s.io/gateway-api",
        version: "v1.6.3",
        files: &[
            "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
            "config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
            "config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml",
            "config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml",
        ],
    },
    // ScaledObject (worker autoscaling on the Redis Streams lag) and the TriggerAuthentication a
    // trigger may reference. v2.21.0: the newest release served, its go.mod asks for Go 1.26.0.
    CrdSource {
        module: "github.com/kedacore/keda/v2",
        version: "v2.21.0",
        files: &[
            "config/crd/bases/keda.sh_scaledobjects.yaml",
            "config/crd/bases/keda.sh_triggerauthentications.yaml",
        ],
    },
    // EnvoyProxy (flux/infrastructure/configs/gateway): the same version as the Envoy Gateway
    // chart in flux/infrastructure/controllers/sources.yaml, whose CRDs these are.
    CrdSource {
        module: "github.com/envoyproxy/gateway",
        version: "v1.4.2",
        files: &["charts/gateway-helm/crds/generated/gateway.envoyproxy.io_envoyproxies.yaml"],
    },
    // Canary and MetricTemplate (components/canary). v1.36.1: the newest version the Go module
    // proxy lists; `artifacts/flagger/crd.yaml` is the CRD set the Flagger chart and kustomize
    // base install (it also holds AlertProvider).
    CrdSource {
        module: "github.com/fluxcd/flagger",
        version: "v1.36.1",
        files: &["artifacts/flagger/crd.yaml"],
    },
    // The admission policies (config/policies), and the Kyverno CLI's own test and values files
    // beside them — the same version as the Kyverno CLI that runs them (gotools::KYVERNO_VERSION).
    CrdSource {
        module: "github.com/kyverno/kyverno",
        version: crate::gotools::KYVERNO_VERSION,
        files: &[
            "config/crds/policies.kyverno.io/policies.kyverno.io_validatingpolicies.yaml",
            "config/crds/policies.kyverno.io/policies.kyverno.io_policyexceptions.yaml",
            "cmd/cli/kubectl-kyverno/config/crds/cli.kyverno.io_tests.yaml",
            "cmd/cli/kubectl-kyverno/config/crds/cli.kyverno.io_values.yaml",
        ],
    },
    // Flux (flux/): the controllers' CRD YAML in each controller module's `config/crd/bases/`,
    // the newest version the Go module proxy serves whose go.mod asks for Go <= 1.26 (the proxy
    // refuses most versions of helm-controller and notification-controller; source- and
    // kustomize-controller v1.10 ask for Go 1.27). Image automation's controller modules are not
    // served at all: see GENERATED.
    CrdSource {
        module: "github.com/fluxcd/source-controller",
        version: "v1.9.6",
        files: &[
            "config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml",
            "config/crd/bases/source.toolkit.fluxcd.io_helmrepositories.yaml",
            "config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml",
        ],
    },
    CrdSource {
        module: "github.com/fluxcd/kustomize-controller",
        version: "v1.9.6",
        files: &["config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml"],
    },
    CrdSource {
        module: "github.com/fluxcd/helm-controller",
        version: "v1.4.3",
        files: &["config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml"],
    },
    CrdSource {
        module: "github.com/fluxcd/notification-controller",
        version: "v1.5.0",
        files: &[
            "config/crd/bases/notification.toolkit.fluxcd.io_providers.yaml",
            "config/crd/bases/notification.toolkit.fluxcd.io_alerts.yaml",
        ],
    },
    // Velero's BackupStorageLocation and Schedule (flux/infrastructure/configs/velero): the
    // newest release served, its go.mod asks for Go 1.26.0.
    CrdSource {
        module: "github.com/vmware-tanzu/velero",
        version: "v1.18.3",
        files: &[
            "config/crd/v1/bases/velero.io_backupstoragelocations.yaml",
            "config/crd/v1/bases/velero.io_schedules.yaml",
        ],
    },
];

/// CRDs generated from a pinned API module, for projects whose CRD YAML the Go module proxy does
/// not serve: the way upstream makes them (`cd api; controller-gen crd:crdVersions=v1
/// paths=./... output:crd:artifacts:config=<dir>`), with the controller-tools version upstream's
/// Makefile pins, run on a copy of the module (the module cache is read-only).
#[derive(Debug)]
pub struct GeneratedCrds {
    /// The Go module of the API types (a module of its own, `…/api`).
    pub module: &'static str,
    pub version: &'static str,
    /// `sigs.k8s.io/controller-tools` version.
    pub controller_gen: &'static str,
}

/// Flux's image automation (ImageRepository, ImagePolicy, ImageUpdateAutomation): the proxy
/// refuses every version of image-reflector-controller and image-automation-controller but serves
/// their `api` modules. v1.2.5: the newest whose go.mod asks for Go <= 1.26; controller-tools
/// v0.21.0 as in the Makefiles of the same Flux release (source-controller v1.9.6).
pub const GENERATED: &[GeneratedCrds] = &[
    GeneratedCrds {
        module: "github.com/fluxcd/image-reflector-controller/api",
        version: "v1.2.5",
        controller_gen: "v0.21.0",
    },
    GeneratedCrds {
        module: "github.com/fluxcd/image-automation-controller/api",
        version: "v1.2.5",
        controller_gen: "v0.21.0",
    },
];

/// Runs controller-gen for one [`GeneratedCrds`]; returns each CRD file's name and text.
fn generate(source: &GeneratedCrds) -> Result<Vec<(String, String)>> {
    let module_dir = crate::gotools::module_dir(source.module, source.version)?;
    let work = tempfile::tempdir().context("creating a directory for controller-gen")?;
    let copy = work.path().join("api");
    let out = work.path().join("crds");
    copy_tree(&module_dir, &copy)?;
    let go = crate::gotools::find_go()?;
    let mut cmd = std::process::Command::new(go);
    cmd.current_dir(&copy)
        // The copy's go.sum may lack sums of the generator's package loading; the copy is
        // throwaway, and every module is still checked against the checksum database.
        .env("GOFLAGS", "-mod=mod")
        .arg("run")
        .arg(format!(
            "sigs.k8s.io/controller-tools/cmd/controller-gen@{}",
            source.controller_gen
        ))
        .args(["crd:crdVersions=v1", "paths=./..."])
        .arg(format!("output:crd:artifacts:config={}", out.display()));
    crate::proc::run_with_timeout(&mut cmd, std::time::Duration::from_secs(15 * 60)).with_context(
        || {
            format!(
                "generating the CRDs of {}@{}",
                source.module, source.version
            )
        },
    )?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&out).with_context(|| format!("reading {}", out.display()))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((name, text));
    }
    files.sort();
    if files.is_empty() {
        bail!(
            "controller-gen wrote no CRD for {}@{}",
            source.module,
            source.version
        );
    }
    Ok(files)
}

/// Copies a directory tree, making the copies writable (module cache files are read-only).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)
                .with_context(|| format!("copying {} to {}", path.display(), target.display()))?;
            let mut permissions = std::fs::metadata(&target)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)] // a private throwaway copy
            permissions.set_readonly(false);
            std::fs::set_permissions(&target, permissions)
                .with_context(|| format!("making {} writable", target.display()))?;
        }
    }
    Ok(())
}

/// Group, version and kind of a resource type, as in `apiVersion: <group>/<version>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// The schema's path under the schema directory, in kubeconform's template layout.
    pub fn schema_file(&self) -> PathBuf {
        Path::new(&self.group).join(format!(
            "{}_{}.json",
            self.kind.to_lowercase(),
            self.version
        ))
    }
}

impl std::fmt::Display for Gvk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} {}", self.group, self.version, self.kind)
    }
}

/// The converted schemas.
#[derive(Debug)]
pub struct Schemas {
    /// The directory kubeconform's `-schema-location` template points into.
    pub dir: PathBuf,
    /// Every group/version/kind with a schema.
    pub kinds: BTreeSet<Gvk>,
}

impl Schemas {
    /// The kubeconform `-schema-location` template.
    pub fn location(&self) -> String {
        format!(
            "{}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
            self.dir.display()
        )
    }
}

/// The index of a conversion, written last: its presence means the directory is complete.
const INDEX: &str = "index.json";

/// The converted schemas in the cache, converting them first when this table and converter have
/// not been converted yet.
pub fn ensure(cache_root: &Path) -> Result<Schemas> {
    let dir = cache_root.join(format!("crd-schemas-{}", sources_hash()));
    let index = dir.join(INDEX);
    if index.is_file() {
        let text = std::fs::read(&index).with_context(|| format!("reading {}", index.display()))?;
        let kinds: Vec<(String, String, String)> = serde_json::from_slice(&text)
            .with_context(|| format!("parsing {}", index.display()))?;
        println!(
            "ok    CRD schemas ({} kinds)   {}",
            kinds.len(),
            dir.display()
        );
        return Ok(Schemas {
            dir,
            kinds: kinds
                .into_iter()
                .map(|(group, version, kind)| Gvk {
                    group,
                    version,
                    kind,
                })
                .collect(),
        });
    }
    // Convert into a scratch directory and rename it into place, so an interrupted run leaves
    // no half-written directory behind a valid name.
    let scratch = cache_root.join(format!(
        "crd-schemas-{}.partial-{}",
        sources_hash(),
        std::process::id()
    ));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing {}", scratch.display()))?;
    }
    let mut kinds = BTreeSet::new();
    for source in SOURCES {
        let module_dir = crate::gotools::module_dir(source.module, source.version)?;
        for file in source.files {
            let path = module_dir.join(file);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("reading {file} of {}@{}", source.module, source.version)
            })?;
            add_schemas(&text, &path.display().to_string(), &scratch, &mut kinds)?;
        }
    }
    for source in GENERATED {
        for (file, text) in generate(source)? {
            let label = format!("{file} generated from {}@{}", source.module, source.version);
            add_schemas(&text, &label, &scratch, &mut kinds)?;
        }
    }
    let list: Vec<(&str, &str, &str)> = kinds
        .iter()
        .map(|k| (k.group.as_str(), k.version.as_str(), k.kind.as_str()))
        .collect();
    let index_path = scratch.join(INDEX);
    std::fs::write(&index_path, serde_json::to_vec_pretty(&list)?)
        .with_context(|| format!("writing {}", index_path.display()))?;
    if let Err(err) = std::fs::rename(&scratch, &dir) {
        // Another run converted the same sources meanwhile: its result is as good as ours.
        let _ = std::fs::remove_dir_all(&scratch);
        if !index.is_file() {
            return Err(err)
                .with_context(|| format!("renaming {} to {}", scratch.display(), dir.display()));
        }
    }
    prune_stale(cache_root, &dir);
    println!(
        "new   CRD schemas ({} kinds)   {}",
        kinds.len(),
        dir.display()
    );
    Ok(Schemas { dir, kinds })
}

/// Converts the CRDs in `text` (from `label`) into `scratch`, adding their kinds to `kinds`.
fn add_schemas(text: &str, label: &str, scratch: &Path, kinds: &mut BTreeSet<Gvk>) -> Result<()> {
    let converted = convert_crds(text).with_context(|| format!("converting {label}"))?;
    if converted.is_empty() {
        bail!("{label} holds no CRD with an openAPIV3Schema");
    }
    for (gvk, schema) in converted {
        let out = scratch.join(gvk.schema_file());
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let body = serde_json::to_vec_pretty(&schema)?;
        std::fs::write(&out, body).with_context(|| format!("writing {}", out.display()))?;
        if !kinds.insert(gvk.clone()) {
            bail!("two CRD sources define {gvk}: keep one in kubernetes::crds::SOURCES");
        }
    }
    Ok(())
}

/// Removes the conversions of other sources or converter revisions: derived data, remade in a
/// second when needed, that would otherwise pile up with every change of this file.
fn prune_stale(cache_root: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(cache_root) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let stale = path != current
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("crd-schemas-") && !n.contains(".partial-"));
        if stale && path.join(INDEX).is_file() {
            // Best effort: a directory another run is reading is remade by it if needed.
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// 12 hex digits of SHA-256 over the source table and this converter's source.
fn sources_hash() -> String {
    let mut hasher = Sha256::new();
    for source in SOURCES {
        hasher.update(format!("{}@{}\n", source.module, source.version));
        for file in source.files {
            hasher.update(format!("  {file}\n"));
        }
    }
    hasher.update(include_str!("crds.rs"));
    let mut digest = hex::encode(hasher.finalize());
    digest.truncate(12);
    digest
}

/// Every served version's strict JSON Schema, from a YAML stream of CRDs (other documents are
/// ignored, as the upstream script does).
pub fn convert_crds(text: &str) -> Result<Vec<(Gvk, Value)>> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let crd: Value = serde::Deserialize::deserialize(document).context("parsing YAML")?;
        if crd.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
            continue;
        }
        let spec = crd.get("spec").context("a CRD without spec")?;
        let group = spec
            .get("group")
            .and_then(Value::as_str)
            .context("a CRD without spec.group")?;
        let kind = spec
            .pointer("/names/kind")
            .and_then(Value::as_str)
            .context("a CRD without spec.names.kind")?;
        let versions = spec
            .get("versions")
            .and_then(Value::as_array)
            .with_context(|| format!("CRD {kind}.{group} has no spec.versions"))?;
        for version in versions {
            let name = version
                .get("name")
                .and_then(Value::as_str)
                .with_context(|| format!("CRD {kind}.{group}: a version without a name"))?;
            // A version that is not served cannot be created; do not pretend to validate it.
            if version.get("served").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let Some(schema) = version.pointer("/schema/openAPIV3Schema") else {
                continue;
            };
            out.push((
                Gvk {
                    group: group.to_owned(),
                    version: name.to_owned(),
                    kind: kind.to_owned(),
                },
                strict_schema(schema),
            ));
        }
    }
    Ok(out)
}

/// A CRD version's `openAPIV3Schema` as a strict JSON Schema (see the module docs).
pub fn strict_schema(openapi: &Value) -> Value {
    let mut schema = openapi.clone();
    convert(&mut schema, true);
    schema
}

fn is_true(node: &Map<String, Value>, key: &str) -> bool {
    node.get(key).and_then(Value::as_bool) == Some(true)
}

/// Converts one schema node in place. `structural`: the node describes the value at its place
/// (not a branch of `allOf`/`anyOf`/`oneOf`/`not`), so closing its properties is right.
fn convert(node: &mut Value, structural: bool) {
    let Some(obj) = node.as_object_mut() else {
        return;
    };
    let int_or_string = is_true(obj, "x-kubernetes-int-or-string")
        || obj.get("format").and_then(Value::as_str) == Some("int-or-string");
    if int_or_string {
        if obj.get("format").and_then(Value::as_str) == Some("int-or-string") {
            obj.remove("format");
        }
        if !obj.contains_key("anyOf") && !obj.contains_key("oneOf") {
            obj.insert(
                "oneOf".to_owned(),
                json!([{"type": "string"}, {"type": "integer"}]),
            );
        }
    }
    if is_true(obj, "nullable") {
        if let Some(Value::String(ty)) = obj.get("type") {
            let ty = ty.clone();
            obj.insert("type".to_owned(), json!([ty, "null"]));
        }
        if let Some(Value::Array(values)) = obj.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    if structural
        && obj.contains_key("properties")
        && !obj.contains_key("additionalProperties")
        && !is_true(obj, "x-kubernetes-preserve-unknown-fields")
    {
        obj.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = obj.get_mut("properties") {
        for child in properties.values_mut() {
            convert(child, structural);
        }
    }
    if let Some(items) = obj.get_mut("items") {
        match items {
            Value::Array(list) => {
                for child in list {
                    convert(child, structural);
                }
            }
            other => convert(other, structural),
        }
    }
    if let Some(additional @ Value::Object(_)) = obj.get_mut("additionalProperties") {
        convert(additional, structural);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = obj.get_mut(key) {
            for branch in branches {
                convert(branch, false);
            }
        }
    }
    if let Some(not) = obj.get_mut("not") {
        convert(not, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CRD in the shape controller-gen emits, small enough to read.
    const WIDGET_CRD: &str = r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer}
                port:
                  x-kubernetes-int-or-string: true
                  anyOf: [{type: integer}, {type: string}]
                note: {type: string, nullable: true}
                labels:
                  type: object
                  additionalProperties: {type: string}
                extra:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    known: {type: string}
                ports:
                  type: array
                  items:
                    type: object
                    properties:
                      name: {type: string}
              oneOf:
                - required: [size]
                  properties:
                    size: {minimum: 1}
    - name: v1alpha1
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
";

    fn widget_schema() -> Value {
        let mut converted = convert_crds(WIDGET_CRD).expect("a valid CRD");
        assert_eq!(converted.len(), 1, "the unserved version is left out");
        let (gvk, schema) = converted.remove(0);
        assert_eq!(gvk.schema_file(), Path::new("example.com/widget_v1.json"));
        schema
    }

    fn check(instance: &Value) -> Result<(), String> {
        let schema = widget_schema();
        let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
        validator.validate(instance).map_err(|e| e.to_string())
    }

    fn widget(spec: &Value) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
    }

    #[test]
    fn a_resource_that_follows_its_crd_passes() {
        check(&widget(&json!({
            "size": 3, "port": "http", "note": null, "labels": {"a": "b"},
            "extra": {"known": "x", "anything": {"goes": true}},
            "ports": [{"name": "http"}]
        })))
        .expect("valid");
        check(&widget(&json!({"size": 3, "port": 8080}))).expect("int-or-string takes an int");
    }

    #[test]
    fn an_unknown_field_fails_at_every_structural_level() {
        for spec in [
            json!({"size": 3, "colour": "red"}),
            json!({"size": 3, "ports": [{"name": "http", "number": 1}]}),
        ] {
            let err = check(&widget(&spec)).expect_err("unknown field");
            assert!(err.contains("Additional properties"), "{err}");
        }
        let mut misspelt = widget(&json!({"size": 3}));
        misspelt["specc"] = json!({});
        check(&misspelt).expect_err("an unknown top-level field fails too");
    }

    #[test]
    fn a_wrong_type_fails() {
        check(&widget(&json!({"size": "three"}))).expect_err("string for an integer");
        check(&widget(&json!({"size": 3, "port": 1.5}))).expect_err("neither int nor string");
        check(&widget(&json!({"size": 0}))).expect_err("the oneOf branch still applies");
        check(&widget(&json!({}))).expect_err("required field missing");
    }

    #[test]
    fn branches_and_preserved_objects_stay_open() {
        let schema = widget_schema();
        let spec = &schema["properties"]["spec"];
        assert_eq!(spec["additionalProperties"], json!(false));
        assert_eq!(
            schema["additionalProperties"],
            json!(false),
            "the root is closed"
        );
        assert!(spec["oneOf"][0].get("additionalProperties").is_none());
        assert!(
            spec["properties"]["extra"]
                .get("additionalProperties")
                .is_none()
        );
        assert_eq!(
            spec["properties"]["labels"]["additionalProperties"],
            json!({"type": "string"})
        );
        assert_eq!(
            spec["properties"]["note"]["type"],
            json!(["string", "null"])
        );
    }

    #[test]
    fn the_scripts_int_or_string_format_becomes_one_of() {
        let schema = strict_schema(&json!({"type": "object", "properties": {
            "port": {"format": "int-or-string"}
        }}));
        assert_eq!(
            schema["properties"]["port"],
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}]})
        );
    }

    #[test]
    fn every_generated_source_is_a_pinned_api_module() {
        for source in GENERATED {
            assert!(source.module.ends_with("/api"), "{source:?}");
            assert!(source.version.starts_with('v'), "{source:?}");
            assert!(source.controller_gen.starts_with('v'), "{source:?}");
        }
    }

    #[test]
    fn every_source_names_a_pinned_version_and_crd_files() {
        for source in SOURCES {
            assert!(source.version.starts_with('v'), "{source:?}");
            assert!(!source.files.is_empty(), "{source:?}");
            for file in source.files {
                assert!(
                    Path::new(file).extension().is_some_and(|e| e == "yaml"),
                    "{file}"
                );
            }
        }
    }
}
