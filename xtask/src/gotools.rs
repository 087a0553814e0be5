//! The pinned upstream Go CLIs of the platform checks, built from the Go module proxy into the tool
//! cache, and the upstream CRD schemas read from pinned Go modules.
//!
//! `xtask/tools/go.mod` is a tools module: its `tool` directives name the CLIs, its `require`s and
//! `go.sum` pin every version, and `GOBIN=<dir> go install tool` builds them all. The build
//! directory is named after a hash of `go.mod` + `go.sum`, so a pin bump builds beside the old one
//! and a cached run never mixes versions:
//!
//! ```text
//! <cache>/go-tools-<hash>/bin/kubectl-kyverno   the Kyverno CLI (policy tests)
//! <cache>/go-tools-<hash>/bin/kubeconform        custom resources against their CRD schemas
//! <cache>/go-tools-<hash>/bin/kustomize          renders the overlays
//! <cache>/go-tools-sops-<hash>/bin/{sops,age,age-keygen}   encrypted secrets (xtask/tools/sops)
//! <cache>/go-tools-tofu-<hash>/bin/tofu           OpenTofu, Terraform checks (xtask/tools/tofu)
//! <cache>/go-tools-actionlint-<hash>/bin/actionlint   workflow linter (xtask/tools/actionlint)
//! ```
//!
//! A plain `go install MODULE/cmd/X@VERSION` cannot build the Kyverno CLI: its go.mod has a
//! `replace` directive, which only counts in the main module, so the tools module repeats it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::proc;

/// The tools module, relative to the workspace root.
pub const TOOLS_MODULE: &str = "xtask/tools";

/// The Kyverno CLI's version, which also pins the Kyverno CRDs the validation reads.
pub const KYVERNO_VERSION: &str = "v1.19.1";
/// kubeconform's version (its error messages are matched by the validation).
pub const KUBECONFORM_VERSION: &str = "v0.8.0";

/// Upper bound on the cold build of all the tools: the Kyverno CLI alone pulls in client-go,
/// CEL and sigstore (several minutes on 2 cores); an hour means something hangs.
const BUILD_LIMIT: Duration = Duration::from_secs(60 * 60);

/// Where Go's official tarball installs it, for when `go` is not on PATH.
const GO_FALLBACK: &str = "/usr/local/go/bin/go";

/// Hex digits of the SHA-256 of go.mod + go.sum naming the build directory.
const HASH_HEX: usize = 12;

/// Paths of the built Go tools.
#[derive(Debug, Clone)]
pub struct GoTools {
    /// The Kyverno CLI (`kubectl-kyverno test`, `apply`).
    pub kyverno: PathBuf,
    pub kubeconform: PathBuf,
    pub kustomize: PathBuf,
    pub sops: PathBuf,
    /// OpenTofu (`tofu`), for the provider-free Terraform checks.
    pub tofu: PathBuf,
    /// actionlint, the GitHub Actions workflow linter.
    pub actionlint: PathBuf,
}

/// One tools module: its directory under [`TOOLS_MODULE`], the cache directory's name part, the
/// modules it pins for its tools (as its go.mod requires them; a unit test keeps them equal), and
/// the binaries `go install tool` builds.
struct Module {
    dir: &'static str,
    cache_name: &'static str,
    pins: &'static [(&'static str, &'static str)],
    binaries: &'static [&'static str],
}

impl Module {
    /// `kyverno v1.19.1, kubeconform v0.8.0, …`: the last path element of each pinned module.
    fn label(&self) -> String {
        self.pins
            .iter()
            .map(|(module, version)| {
                let name = module
                    .split('/')
                    .rev()
                    .find(|part| !(part.starts_with('v') && part[1..].parse::<u32>().is_ok()))
                    .unwrap_or(module);
                format!("{name} {version}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Separate modules, so a bump of one tool never moves another's dependencies (one module for all
/// does not even resolve on Go 1.26). The Flux CLI is not among them: its `cmd/flux` embeds
/// manifests that its release build generates and the module proxy's copy lacks (`go install`
/// fails: `manifests.embed.go:27:12: pattern manifests/*.yaml: no matching files found`).
const MODULES: [Module; 4] = [
    Module {
        dir: "",
        cache_name: "go-tools",
        pins: &[
            ("github.com/kyverno/kyverno", KYVERNO_VERSION),
            ("github.com/yannh/kubeconform", KUBECONFORM_VERSION),
            ("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.2"),
        ],
        binaries: &["kubectl-kyverno", "kubeconform", "kustomize"],
    },
    Module {
        dir: "sops",
        cache_name: "go-tools-sops",
        pins: &[
            ("github.com/getsops/sops/v3", "v3.13.3"),
            ("filippo.io/age", "v1.3.2"),
        ],
        binaries: &["sops", "age", "age-keygen"],
    },
    Module {
        dir: "tofu",
        cache_name: "go-tools-tofu",
        pins: &[("github.com/opentofu/opentofu", "v1.12.6")],
        binaries: &["tofu"],
    },
    Module {
        dir: "actionlint",
        cache_name: "go-tools-actionlint",
        pins: &[("github.com/rhysd/actionlint", "v1.7.12")],
        binaries: &["actionlint"],
    },
];

/// Builds every tools module into the cache unless its go.mod + go.sum's build is there.
pub fn ensure(cache_root: &Path) -> Result<GoTools> {
    let mut bins = Vec::new();
    for module in &MODULES {
        let bin_dir = ensure_module(cache_root, module)?;
        bins.extend(module.binaries.iter().map(|b| bin_dir.join(b)));
    }
    // age and age-keygen are built for people (making keys, see docs/adr/0003-secrets.md); the
    // checks need only sops, which carries age itself.
    let [
        kyverno,
        kubeconform,
        kustomize,
        sops,
        _age,
        _age_keygen,
        tofu,
        actionlint,
    ] = <[PathBuf; 8]>::try_from(bins).expect("MODULES lists eight binaries");
    Ok(GoTools {
        kyverno,
        kubeconform,
        kustomize,
        sops,
        tofu,
        actionlint,
    })
}

/// One module's `go install tool` into `<cache>/<name>-<hash>/bin`; returns that directory.
fn ensure_module(cache_root: &Path, module: &Module) -> Result<PathBuf> {
    let source = crate::root().join(TOOLS_MODULE).join(module.dir);
    let dir = cache_root.join(format!("{}-{}", module.cache_name, module_hash(&source)?));
    let bin = dir.join("bin");
    let label = module.label();
    // The marker is written after every binary is there: an interrupted build is redone.
    let marker = dir.join(".xtask-installed");
    if marker.is_file() && module.binaries.iter().all(|b| bin.join(b).is_file()) {
        println!("ok    {label:<24} {}", bin.display());
        return Ok(bin);
    }
    let started = Instant::now();
    let go = find_go()?;
    let mut cmd = Command::new(go);
    cmd.current_dir(&source)
        .env("GOBIN", &bin)
        // The module's go.sum is complete; never edit it from a build.
        .env("GOFLAGS", "-mod=readonly")
        .args(["install", "tool"]);
    proc::run_with_timeout(&mut cmd, BUILD_LIMIT)
        .with_context(|| format!("building {label} from {}/go.mod", source.display()))?;
    for b in module.binaries {
        if !bin.join(b).is_file() {
            bail!(
                "`go install tool` finished but {} is missing",
                bin.join(b).display()
            );
        }
    }
    std::fs::write(&marker, "ok\n").with_context(|| format!("writing {}", marker.display()))?;
    println!(
        "new   {label:<24} {} (built in {:.1} s)",
        bin.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(bin)
}

/// The first [`HASH_HEX`] hex digits of SHA-256(go.mod ‖ go.sum).
fn module_hash(module: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    for file in ["go.mod", "go.sum"] {
        let path = module.join(file);
        hasher.update(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    let mut digest = hex::encode(hasher.finalize());
    digest.truncate(HASH_HEX);
    Ok(digest)
}

/// `go` on PATH, else Go's default install location.
pub fn find_go() -> Result<PathBuf> {
    proc::on_path("go")
        .or_else(|| proc::on_path(GO_FALLBACK))
        .with_context(|| {
            format!(
                "the platform checks build pinned Go tools and read CRDs from Go modules: install \
                 Go 1.26 or newer (`go` on PATH or {GO_FALLBACK}) and retry"
            )
        })
}

/// The extracted directory of `module@version` in Go's module cache (downloaded from the module
/// proxy, and checked against the checksum database, on first use).
pub fn module_dir(module: &str, version: &str) -> Result<PathBuf> {
    let go = find_go()?;
    let mut cmd = Command::new(go);
    // Outside any module, so only the named module version is resolved.
    cmd.current_dir(std::env::temp_dir())
        .env("GOFLAGS", "-mod=mod")
        .args(["mod", "download", "-json"])
        .arg(format!("{module}@{version}"));
    let out = proc::output(&mut cmd)?;
    // `-json` prints the error in the JSON too, so a failed exit is read below, not here.
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("parsing `go mod download -json {module}@{version}`"))?;
    if let Some(err) = json.get("Error").and_then(serde_json::Value::as_str) {
        bail!("go mod download {module}@{version}: {err}");
    }
    let dir = json
        .get("Dir")
        .and_then(serde_json::Value::as_str)
        .with_context(|| format!("go mod download {module}@{version}: no Dir in its answer"))?;
    Ok(PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pin is what the module's go.mod really requires.
    #[test]
    fn pins_match_the_tools_modules() {
        for module in &MODULES {
            let path = crate::root()
                .join(TOOLS_MODULE)
                .join(module.dir)
                .join("go.mod");
            let go_mod = std::fs::read_to_string(&path).expect("go.mod of a tools module");
            for (name, version) in module.pins {
                let line = format!("\t{name} {version}");
                assert!(
                    go_mod.lines().any(|l| l.starts_with(&line)),
                    "{} does not require {name} {version}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn labels_name_each_tool_with_its_version() {
        assert_eq!(
            MODULES[0].label(),
            "kyverno v1.19.1, kubeconform v0.8.0, kustomize v5.8.2"
        );
        assert_eq!(MODULES[1].label(), "sops v3.13.3, age v1.3.2");
    }
}
