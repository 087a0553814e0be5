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

/// The pinned versions, as the tools module's go.mod requires them (a unit test keeps them equal).
pub const KYVERNO_VERSION: &str = "v1.19.1";
pub const KUBECONFORM_VERSION: &str = "v0.8.0";
pub const KUSTOMIZE_VERSION: &str = "v5.8.2";

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
}

/// Builds the tools module into the cache unless this go.mod + go.sum's build is there.
pub fn ensure(cache_root: &Path) -> Result<GoTools> {
    let module = crate::root().join(TOOLS_MODULE);
    let dir = cache_root.join(format!("go-tools-{}", module_hash(&module)?));
    let bin = dir.join("bin");
    let tools = GoTools {
        kyverno: bin.join("kubectl-kyverno"),
        kubeconform: bin.join("kubeconform"),
        kustomize: bin.join("kustomize"),
    };
    let all = [&tools.kyverno, &tools.kubeconform, &tools.kustomize];
    let label = format!(
        "kyverno {KYVERNO_VERSION}, kubeconform {KUBECONFORM_VERSION}, kustomize {KUSTOMIZE_VERSION}"
    );
    // The marker is written after every binary is there: an interrupted build is redone.
    let marker = dir.join(".xtask-installed");
    if marker.is_file() && all.iter().all(|b| b.is_file()) {
        println!("ok    {label:<24} {}", bin.display());
        return Ok(tools);
    }
    let started = Instant::now();
    let go = find_go()?;
    let mut cmd = Command::new(go);
    cmd.current_dir(&module)
        .env("GOBIN", &bin)
        // The module's go.sum is complete; never edit it from a build.
        .env("GOFLAGS", "-mod=readonly")
        .args(["install", "tool"]);
    proc::run_with_timeout(&mut cmd, BUILD_LIMIT)
        .with_context(|| format!("building {label} from {TOOLS_MODULE}/go.mod"))?;
    for b in all {
        if !b.is_file() {
            bail!("`go install tool` finished but {} is missing", b.display());
        }
    }
    std::fs::write(&marker, "ok\n").with_context(|| format!("writing {}", marker.display()))?;
    println!(
        "new   {label:<24} {} (built in {:.1} s)",
        bin.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(tools)
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

    /// The version consts are what go.mod really requires.
    #[test]
    fn pins_match_the_tools_module() {
        let go_mod = std::fs::read_to_string(crate::root().join(TOOLS_MODULE).join("go.mod"))
            .expect("go.mod of the tools module");
        for (module, version) in [
            ("github.com/kyverno/kyverno", KYVERNO_VERSION),
            ("github.com/yannh/kubeconform", KUBECONFORM_VERSION),
            ("sigs.k8s.io/kustomize/kustomize/v5", KUSTOMIZE_VERSION),
        ] {
            let line = format!("\t{module} {version}");
            assert!(
                go_mod.lines().any(|l| l.starts_with(&line)),
                "{TOOLS_MODULE}/go.mod does not require {module} {version}"
            );
        }
    }
}
