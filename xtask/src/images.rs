//! `cargo xtask validate --only images`: the Dockerfiles checked by the tools they target, with no
//! container engine and no registry.
//!
//! 1. **Lint.** hadolint and checkov on `apps/{api,worker,web}/Dockerfile`: no finding, and every
//!    checkov skip carries its reason. The web image's nginx template: every `${NAME}` it uses has
//!    an `ENV` default in the runtime stage (envsubst leaves undefined ones literal). Each tool also gets a broken copy of the api Dockerfile (an
//!    untagged base image for hadolint; no `USER`, no `HEALTHCHECK` for checkov) and must fail it,
//!    so a linter that silently reads nothing cannot pass.
//! 2. **Build context.** buildah copies the repository root through `/.dockerignore` into a scratch
//!    image, and the copy must hold what the Dockerfiles read and nothing heavy (no `target/`,
//!    `node_modules/`, `.git/`).
//! 3. **Binaries.** blueprint-api and blueprint-worker built once, statically
//!    (`+crt-static` on the gnu target, explicit `--target`), with the `image-check` profile of
//!    the root `Cargo.toml`: release without LTO (on 2 cores a clean build takes 5 minutes
//!    instead of 9, a rebuild after a change 39 s instead of 83 s). Without LTO a binary only gets
//!    larger, so the size limit below is checked conservatively. This build's target dir lives in
//!    the tool cache (`<cache>/cargo-target-image-check`), not in the clone: its dependencies are
//!    pinned by `Cargo.lock` and compile identically for every clone, so a fresh clone rebuilds
//!    only the workspace's own crates (the trade-off CI's cargo caches make). Cargo's fingerprints
//!    still rebuild whatever changed, the toolchain included. The build runs in the background
//!    at the lowest CPU priority ([`start_binaries_build`]): `make test` starts it before the
//!    steps that mostly wait, so it costs little wall time.
//! 4. **Runtime stage, built.** Each service Dockerfile is built by buildah with
//!    `--build-arg BINARY_FROM=prebuilt`: the Dockerfile's own runtime stage, fed from a context
//!    directory holding the binary and the CA bundle, while the Rust stages (which need base
//!    images and the network) are skipped. The image config is then checked (user 65532:65532,
//!    exec-form entrypoint, exposed port, `HEALTHCHECK` in exec form, stop signal, the OCI labels
//!    with the build args' values), its root filesystem listed (exactly the expected files: no
//!    shell), and its size measured: as pushed (gzip layers, what a registry stores and a node
//!    pulls), limited to 10 MB, and unpacked.
//! 5. **Runtime stage, run.** In the image's root filesystem (`buildah run --isolation chroot`):
//!    `--version` must print the workspace version; the image's own `HEALTHCHECK` command and
//!    `healthcheck URL` probes must pass against a live service started from the same binary on a
//!    free loopback port (by IP, by `localhost`, and by a name from `/etc/hosts`: the static glibc
//!    resolves names with its built-in `files` and `dns` modules, no NSS libraries in the image)
//!    and must fail with nothing listening or on a 503. The worker is started with a Redis URL
//!    where nothing listens: it is live (`/healthz` 200) but not ready (`/readyz` 503), which
//!    gives both answers without a Redis server.
//!
//! The web image is linted only: its stages need the node and nginx base images, which cannot be
//! pulled here (its nginx configuration runs in the web UI's end-to-end test).
//!
//! buildah runs with a throwaway storage root under `target/images/storage` (`--root`,
//! `--runroot`, the `vfs` driver): nothing global is touched, and the directory is removed at the
//! end, on failure too, after checking that nothing is still mounted below it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use serde::Deserialize;

use crate::proc;
use crate::tools::Tools;
use crate::{root, target_dir};

/// The Dockerfiles linted; their build context is the repository root.
const DOCKERFILES: [&str; 4] = [
    "apps/api/Dockerfile",
    "apps/worker/Dockerfile",
    "apps/web/Dockerfile",
    // The dev container's image (linted only; it needs base images to build).
    ".devcontainer/Dockerfile",
];

/// The Rust target of the image binaries (the Dockerfiles map `TARGETARCH` to it on amd64).
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The Cargo profile the binaries are built with here (see the module docs and `Cargo.toml`).
const PROFILE: &str = "image-check";

/// The image binaries' cargo target dir, under the tool cache root (see the module docs).
const IMAGE_TARGET_DIR: &str = "cargo-target-image-check";

/// Largest pushed image, in bytes (10 MB, decimal as registries count): the sum of the gzip
/// layers a node pulls.
const PUSHED_LIMIT_BYTES: u64 = 10_000_000;

/// Largest build context, in bytes: the sources are about 2 MB; a build output or dependency tree
/// slipping past `/.dockerignore` is hundreds.
const CONTEXT_LIMIT_BYTES: u64 = 20_000_000;

/// The CA bundle of Debian's ca-certificates, the file the Dockerfiles' bookworm build stage copies.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The numeric user and group every image runs as.
const SERVICE_USER: &str = "65532:65532";
const SERVICE_UID: u32 = 65532;

/// A name added to the container's `/etc/hosts` (`buildah from --add-host`), resolved by the
/// static binary inside the image.
const HOSTS_ALIAS: &str = "blueprint-probe.test";

/// The OCI annotations every image carries as labels.
const OCI_LABELS: [&str; 10] = [
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
    "org.opencontainers.image.vendor",
    "org.opencontainers.image.url",
    "org.opencontainers.image.documentation",
];

/// One service image built here.
struct Service {
    /// The image name under `ghcr.io/sre-blueprint/sre-blueprint/`.
    name: &'static str,
    /// The binary, in `/usr/local/bin/` of the image.
    binary: &'static str,
    dockerfile: &'static str,
    /// The port the image exposes and the healthcheck probes by default.
    port: u16,
    /// Directories the image holds, with the uid that must own them.
    dirs: &'static [(&'static str, u32)],
    /// Arguments that start the service on `127.0.0.1:<port>` (the port is appended).
    serve_args: &'static [&'static str],
    /// A path of the live service that answers 503, so a probe of it must fail.
    unhealthy_path: &'static str,
}

const SERVICES: [Service; 2] = [
    Service {
        name: "api",
        binary: "blueprint-api",
        dockerfile: "apps/api/Dockerfile",
        port: 9898,
        dirs: &[("data", SERVICE_UID)],
        serve_args: &["--host", "127.0.0.1", "--port"],
        unhealthy_path: "/status/503",
    },
    Service {
        name: "worker",
        binary: "blueprint-worker",
        dockerfile: "apps/worker/Dockerfile",
        port: 9899,
        dirs: &[],
        serve_args: &["--host", "127.0.0.1", "--port"],
        unhealthy_path: "/readyz",
    },
];

/// The images step of `cargo xtask validate`; prints one line per image.
pub fn check(tools: &Tools) -> Result<()> {
    check_with(tools, start_binaries_build()?)
}

/// The images step with the binaries from `build` (started earlier by the caller).
pub fn check_with(tools: &Tools, build: BinariesBuild) -> Result<()> {
    let started = Instant::now();
    let work = target_dir().join("images");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    lint(tools, &work)?;
    let web = check_web_template()?;
    let binaries = build.wait()?;
    let build = BuildArgs::new()?;
    let storage = Storage::create(&tools.buildah, &work.join("storage"))?;
    let context = check_context(&storage, &work)?;
    let mut lines = Vec::new();
    for service in &SERVICES {
        lines.push(check_service(&storage, service, &binaries, &build, &work)?);
    }
    lines.push(format!(
        "image web     not built here (its stages need the node and nginx base images)  \
         user {SERVICE_USER}  entrypoint /docker-entrypoint.sh  checks: hadolint checkov \
         template-env ({})",
        web.join(" ")
    ));
    storage.remove()?;
    println!("build context: {context}");
    for line in lines {
        println!("{line}");
    }
    println!(
        "images: checked in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 1. Lint.

fn lint(tools: &Tools, work: &Path) -> Result<()> {
    let api = std::fs::read_to_string(root().join(DOCKERFILES[0]))
        .with_context(|| format!("reading {}", DOCKERFILES[0]))?;

    let mut hadolint = Command::new(&tools.hadolint);
    hadolint
        .current_dir(root())
        .args(["--no-color", "--failure-threshold", "info"])
        .args(DOCKERFILES);
    proc::run(&mut hadolint).context("hadolint on the Dockerfiles")?;

    let untagged_dir = work.join("lint/untagged");
    let untagged = write_file(&untagged_dir.join("Dockerfile"), &untag_first_base(&api)?)?;
    let out = proc::output(
        Command::new(&tools.hadolint)
            .args(["--no-color"])
            .arg(&untagged),
    )?;
    ensure!(
        !out.status.success() && String::from_utf8_lossy(&out.stdout).contains("DL3006"),
        "hadolint passed {} (an untagged base image), so it does not check what it is given",
        untagged.display()
    );

    let unsafe_dir = work.join("lint/no-user-no-healthcheck");
    let unsafe_copy = write_file(
        &unsafe_dir.join("Dockerfile"),
        &strip_user_and_healthcheck(&api),
    )?;
    let mut checkov = Command::new(&tools.checkov);
    checkov.current_dir(root()).args([
        "--framework",
        "dockerfile",
        "--skip-download",
        "--output",
        "json",
    ]);
    for file in DOCKERFILES {
        checkov.arg("--file").arg(file);
    }
    checkov.arg("--file").arg(&unsafe_copy);
    let out = proc::output(&mut checkov)?;
    // checkov exits 1 when any check fails, which the broken copy makes sure of: judge the report.
    let report: CheckovReport = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "checkov printed no JSON report; its stderr: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    let verdict = judge_checkov(&report, &unsafe_dir)?;
    println!(
        "checkov: {} Dockerfiles clean ({} passed, {} skipped with a reason); the broken copy failed {}",
        DOCKERFILES.len(),
        verdict.passed,
        verdict.skipped,
        verdict.broken_failed.join(", ")
    );
    Ok(())
}

/// The Dockerfile with the tag of its first tagged `FROM` image removed.
fn untag_first_base(dockerfile: &str) -> Result<String> {
    let mut done = false;
    let lines: Vec<String> = dockerfile
        .lines()
        .map(|line| {
            let Some(rest) = line.strip_prefix("FROM ") else {
                return line.to_owned();
            };
            let mut words = rest.split_whitespace();
            match words.next() {
                Some(image) if !done && image.contains(':') && !image.contains('$') => {
                    done = true;
                    let bare = image.rsplit_once(':').map_or(image, |(name, _)| name);
                    let tail: Vec<&str> = words.collect();
                    format!("FROM {bare} {}", tail.join(" "))
                }
                _ => line.to_owned(),
            }
        })
        .collect();
    ensure!(done, "the api Dockerfile has no tagged FROM image");
    Ok(lines.join("\n") + "\n")
}

/// The Dockerfile without its `USER` and `HEALTHCHECK` instructions (continuations included).
fn strip_user_and_healthcheck(dockerfile: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in dockerfile.lines() {
        let starts = line.starts_with("USER ") || line.starts_with("HEALTHCHECK ");
        if starts || skipping {
            skipping = line.trim_end().ends_with('\\');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[derive(Debug, Deserialize)]
struct CheckovReport {
    results: CheckovResults,
}

#[derive(Debug, Deserialize)]
struct CheckovResults {
    #[serde(default, rename = "passed_checks")]
    passed: Vec<CheckovCheck>,
    #[serde(default, rename = "failed_checks")]
    failed: Vec<CheckovCheck>,
    #[serde(default, rename = "skipped_checks")]
    skipped: Vec<CheckovCheck>,
}

#[derive(Debug, Deserialize)]
struct CheckovCheck {
    check_id: String,
    file_abs_path: String,
    #[serde(default)]
    file_line_range: Vec<u64>,
    #[serde(default)]
    check_result: CheckovResult,
}

#[derive(Debug, Default, Deserialize)]
struct CheckovResult {
    #[serde(default)]
    suppress_comment: Option<String>,
}

#[derive(Debug)]
struct CheckovVerdict {
    passed: usize,
    skipped: usize,
    broken_failed: Vec<String>,
}

/// Our Dockerfiles: no failed check, every skip with a reason. The broken copy (a file under
/// `broken_dir`): CKV_DOCKER_2 (no HEALTHCHECK) and CKV_DOCKER_3 (no USER) must fail.
fn judge_checkov(report: &CheckovReport, broken_dir: &Path) -> Result<CheckovVerdict> {
    let is_broken = |c: &CheckovCheck| Path::new(&c.file_abs_path).starts_with(broken_dir);
    let ours =
        |checks: &[CheckovCheck]| -> usize { checks.iter().filter(|c| !is_broken(c)).count() };
    let failures: Vec<String> = report
        .results
        .failed
        .iter()
        .filter(|c| !is_broken(c))
        .map(|c| {
            format!(
                "{} in {} {:?}",
                c.check_id, c.file_abs_path, c.file_line_range
            )
        })
        .collect();
    ensure!(
        failures.is_empty(),
        "checkov failed on the Dockerfiles: {}",
        failures.join("; ")
    );
    let silent: Vec<String> = report
        .results
        .skipped
        .iter()
        .filter(|c| {
            c.check_result
                .suppress_comment
                .as_deref()
                .is_none_or(|reason| reason.trim().is_empty())
        })
        .map(|c| format!("{} in {}", c.check_id, c.file_abs_path))
        .collect();
    ensure!(
        silent.is_empty(),
        "checkov checks skipped without a reason (`# checkov:skip=ID: reason`): {}",
        silent.join("; ")
    );
    let broken_failed: BTreeSet<String> = report
        .results
        .failed
        .iter()
        .filter(|c| is_broken(c))
        .map(|c| c.check_id.clone())
        .collect();
    for expected in ["CKV_DOCKER_2", "CKV_DOCKER_3"] {
        ensure!(
            broken_failed.contains(expected),
            "checkov did not fail {expected} on the Dockerfile without USER and HEALTHCHECK in {} \
             (it failed: {broken_failed:?}), so it does not check what it is given",
            broken_dir.display()
        );
    }
    Ok(CheckovVerdict {
        passed: ours(&report.results.passed),
        skipped: ours(&report.results.skipped),
        broken_failed: broken_failed.into_iter().collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// The web image's template.

/// The web Dockerfile and the nginx template it installs.
const WEB_DOCKERFILE: &str = "apps/web/Dockerfile";
const WEB_TEMPLATE: &str = "apps/web/nginx/default.conf.template";

/// The web image renders its nginx template with envsubst at start, substituting only variables
/// that are defined: one without an `ENV` default would stay a literal `${NAME}` and nginx would
/// refuse the file. So every `${NAME}` of the template needs an `ENV` in the runtime stage, and
/// the template must be copied to `/etc/nginx/templates/`, where the entrypoint looks. Returns the
/// variables.
fn check_web_template() -> Result<Vec<String>> {
    let read = |path: &str| {
        std::fs::read_to_string(root().join(path)).with_context(|| format!("reading {path}"))
    };
    let (dockerfile, template) = (read(WEB_DOCKERFILE)?, read(WEB_TEMPLATE)?);
    judge_web_template(&dockerfile, &template)
        .with_context(|| format!("{WEB_DOCKERFILE} and {WEB_TEMPLATE}"))
}

fn judge_web_template(dockerfile: &str, template: &str) -> Result<Vec<String>> {
    let instructions = instructions(dockerfile);
    let last_stage = instructions
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .context("no FROM")?;
    let runtime = &instructions[last_stage..];
    let defined: BTreeSet<&str> = runtime
        .iter()
        .filter_map(|i| i.strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .filter_map(|pair| pair.split_once('=').map(|(key, _)| key))
        .collect();
    let used = template_variables(template);
    ensure!(!used.is_empty(), "the template uses no ${{VARIABLE}}");
    let missing: Vec<&String> = used
        .iter()
        .filter(|v| !defined.contains(v.as_str()))
        .collect();
    ensure!(
        missing.is_empty(),
        "the template uses {missing:?}, which the runtime stage gives no ENV default"
    );
    let installed = runtime.iter().any(|i| {
        let words: Vec<&str> = i.split_whitespace().collect();
        words.first() == Some(&"COPY")
            && words.contains(&WEB_TEMPLATE)
            && words.last().is_some_and(|dest| {
                dest.starts_with("/etc/nginx/templates/")
                    && Path::new(dest)
                        .extension()
                        .is_some_and(|ext| ext.eq_ignore_ascii_case("template"))
            })
    });
    ensure!(
        installed,
        "the runtime stage does not COPY {WEB_TEMPLATE} to /etc/nginx/templates/<name>.template"
    );
    Ok(used.into_iter().collect())
}

/// The instructions of a Dockerfile: continuation lines joined, comments and blank lines dropped.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The `${NAME}` references (upper-case names: envsubst's, not nginx's own `$variables`).
fn template_variables(template: &str) -> BTreeSet<String> {
    template
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 3. Binaries.

/// A running `cargo build --profile image-check --target x86_64-unknown-linux-gnu` of both
/// binaries, statically linked, at the lowest CPU priority (`nice -n 19`), its output in a log
/// file. `make test` starts it early so it uses the idle time of the steps that mostly wait (the
/// contract checks, the browser, the live alerting test) without slowing them, and the images step
/// waits for it. Dropped unfinished (an earlier step failed), it is stopped.
pub struct BinariesBuild {
    child: Option<Child>,
    log: PathBuf,
    dir: PathBuf,
    started: Instant,
}

/// Starts the build of the image binaries in the background (see [`BinariesBuild`]).
pub fn start_binaries_build() -> Result<BinariesBuild> {
    let target_dir = crate::tools::Cache::from_env()?.root.join(IMAGE_TARGET_DIR);
    let log_dir = crate::target_dir().join("images");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let log = log_dir.join("binaries-build.log");
    let file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "19"])
        .arg(cargo)
        .current_dir(root())
        .args([
            "build",
            "--profile",
            PROFILE,
            "--locked",
            "--target",
            TARGET,
        ])
        .args([
            "--package",
            "blueprint-api",
            "--package",
            "blueprint-worker",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        // With an explicit --target, RUSTFLAGS reach only the target's crates: build scripts and
        // proc macros stay dynamic. CARGO_ENCODED_RUSTFLAGS would win over RUSTFLAGS, so it goes.
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null())
        .stdout(
            file.try_clone()
                .context("duplicating the build log handle")?,
        )
        .stderr(file)
        // A group of its own, so a stop reaches cargo's rustc children too.
        .process_group(0);
    crate::no_incremental_in_ci(&mut cmd);
    println!(
        "$ {}  (in the background, output in {})",
        proc::display_command(&cmd),
        log.display()
    );
    let child = cmd
        .spawn()
        .with_context(|| format!("could not start `{}`", proc::display_command(&cmd)))?;
    Ok(BinariesBuild {
        child: Some(child),
        log,
        dir: target_dir.join(TARGET).join(PROFILE),
        started: Instant::now(),
    })
}

impl BinariesBuild {
    /// Waits for the build; returns the directory holding both binaries.
    fn wait(mut self) -> Result<PathBuf> {
        let mut child = self.child.take().expect("waited once");
        let status = child
            .wait()
            .context("waiting for the image binaries' build")?;
        if !status.success() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            bail!(
                "building the static image binaries failed ({status}); the end of {}:\n{}",
                self.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        for service in &SERVICES {
            let path = self.dir.join(service.binary);
            let size = std::fs::metadata(&path)
                .with_context(|| format!("cargo built no {}", path.display()))?
                .len();
            println!("binary {}: {:.1} MB", path.display(), megabytes(size));
        }
        println!(
            "static binaries ({PROFILE} profile, {TARGET}) ready {:.1} s after the build started",
            self.started.elapsed().as_secs_f64()
        );
        Ok(self.dir.clone())
    }
}

impl Drop for BinariesBuild {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        // The whole process group: cargo (nice execs it) and its rustc children.
        let group = format!("-{}", child.id());
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
            if matches!(
                proc::wait_with_deadline(child, Duration::from_secs(10)),
                Ok(Some(_))
            ) {
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// buildah with a throwaway storage root.

/// A buildah storage root used by this run alone, removed on drop.
struct Storage {
    buildah: PathBuf,
    dir: PathBuf,
}

impl Storage {
    fn create(buildah: &Path, dir: &Path) -> Result<Self> {
        remove_storage(dir)?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            buildah: buildah.to_owned(),
            dir: dir.to_owned(),
        })
    }

    /// `buildah --root <dir>/root --runroot <dir>/run --storage-driver vfs`: vfs because it
    /// needs no kernel overlay support and no fuse; it copies layers, which is fine at 20 MB.
    fn buildah(&self) -> Command {
        let mut cmd = Command::new(&self.buildah);
        cmd.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--storage-driver", "vfs"])
            .current_dir(root());
        cmd
    }

    /// Runs buildah with `args`; its stdout, trimmed, when it succeeds.
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = proc::output(self.buildah().args(args))?;
        ensure!(
            out.status.success(),
            "`buildah {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Removes every container, then the storage directory.
    fn remove(&self) -> Result<()> {
        let out = proc::output(self.buildah().args(["rm", "--all"]))?;
        ensure!(
            out.status.success(),
            "`buildah rm --all` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        remove_storage(&self.dir)
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if self.dir.exists()
            && let Err(err) = self.remove()
        {
            println!(
                "warn  buildah storage {} left in place: {err:#}",
                self.dir.display()
            );
        }
    }
}

/// Removes a storage directory, refusing when anything is mounted below it (`buildah run` bind
/// mounts /dev, /proc and /sys into the root filesystem while a command runs: deleting through
/// such a mount would delete host files).
fn remove_storage(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let mounted = mounts_under(&mountinfo, dir);
    ensure!(
        mounted.is_empty(),
        "not removing {}: still mounted below it: {}",
        dir.display(),
        mounted
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// Mount points (field 5 of `/proc/self/mountinfo`, octal escapes decoded) at or below `dir`.
fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|mount| mount.starts_with(dir))
        .collect()
}

/// Decodes the `\NNN` octal escapes the kernel writes for space, tab, newline and backslash.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// 2. Build context.

/// Files the Dockerfiles read from the build context.
const CONTEXT_REQUIRED: [&str; 9] = [
    "Cargo.toml",
    "Cargo.lock",
    "apps/api/Cargo.toml",
    "apps/api/src/main.rs",
    "apps/worker/src/main.rs",
    "crates/service/src/lib.rs",
    "xtask/Cargo.toml",
    "apps/web/package-lock.json",
    "apps/web/nginx/default.conf.template",
];

/// Path components that must never reach a build context.
const CONTEXT_FORBIDDEN: [&str; 4] = ["target", "node_modules", ".git", "dist"];

/// The repository root copied through `/.dockerignore` by buildah, and checked.
fn check_context(storage: &Storage, work: &Path) -> Result<String> {
    let containerfile = write_file(
        &work.join("context/Containerfile"),
        "FROM scratch\nCOPY . /context/\n",
    )?;
    let tag = "localhost/sre-blueprint/context:validate";
    let root_dir = root().to_string_lossy().into_owned();
    storage.run(&[
        "build-using-dockerfile",
        "--isolation",
        "chroot",
        "--pull=never",
        "--file",
        &containerfile.to_string_lossy(),
        "--tag",
        tag,
        &root_dir,
    ])?;
    let container = storage.run(&["from", "--pull=never", tag])?;
    let mount = PathBuf::from(storage.run(&["mount", &container])?);
    let listing = walk(&mount.join("context"));
    storage.run(&["umount", &container])?;
    storage.run(&["rm", &container])?;
    let entries = listing?;
    let (files, bytes) = judge_context(&entries)?;
    Ok(format!(
        "{files} files, {:.1} MB (/.dockerignore)",
        megabytes(bytes)
    ))
}

/// Checks the listing of a build context; returns its file count and size in bytes.
fn judge_context(entries: &[Entry]) -> Result<(usize, u64)> {
    let files: BTreeSet<&str> = entries
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| e.path.as_str())
        .collect();
    let missing: Vec<&str> = CONTEXT_REQUIRED
        .iter()
        .copied()
        .filter(|f| !files.contains(f))
        .collect();
    ensure!(
        missing.is_empty(),
        "the build context lacks {} (see /.dockerignore)",
        missing.join(", ")
    );
    let forbidden: Vec<&str> = entries
        .iter()
        .map(|e| e.path.as_str())
        .filter(|p| p.split('/').any(|part| CONTEXT_FORBIDDEN.contains(&part)))
        .take(5)
        .collect();
    ensure!(
        forbidden.is_empty(),
        "the build context holds build outputs or VCS data, e.g. {} (see /.dockerignore)",
        forbidden.join(", ")
    );
    let bytes: u64 = entries.iter().filter(|e| !e.is_dir).map(|e| e.size).sum();
    ensure!(
        bytes <= CONTEXT_LIMIT_BYTES,
        "the build context is {:.1} MB, over {:.0} MB (see /.dockerignore)",
        megabytes(bytes),
        megabytes(CONTEXT_LIMIT_BYTES)
    );
    Ok((files.len(), bytes))
}

/// One entry of a directory tree, relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: String,
    is_dir: bool,
    uid: u32,
    mode: u32,
    size: u64,
}

/// Every entry below `dir` (symlinks not followed), sorted by path.
fn walk(dir: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for item in
            std::fs::read_dir(&current).with_context(|| format!("listing {}", current.display()))?
        {
            let item = item.with_context(|| format!("listing {}", current.display()))?;
            let path = item.path();
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let relative = path.strip_prefix(dir).unwrap_or(&path);
            entries.push(Entry {
                path: relative.to_string_lossy().into_owned(),
                is_dir: meta.is_dir(),
                uid: meta.uid(),
                mode: meta.mode() & 0o7777,
                size: meta.len(),
            });
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

// ---------------------------------------------------------------------------------------------
// 4 and 5. The service images.

/// The values passed as build args, checked back in the labels.
struct BuildArgs {
    version: String,
    revision: String,
    created: String,
}

impl BuildArgs {
    fn new() -> Result<Self> {
        let revision = proc::output(
            Command::new("git")
                .current_dir(root())
                .args(["rev-parse", "HEAD"]),
        )
        .ok()
        .filter(|out| out.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |out| String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        );
        let date = proc::output(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))?;
        ensure!(date.status.success(), "`date -u` failed");
        Ok(Self {
            // xtask's version is the workspace version, the one the binaries print.
            version: env!("CARGO_PKG_VERSION").to_owned(),
            revision,
            created: String::from_utf8_lossy(&date.stdout).trim().to_owned(),
        })
    }
}

/// Builds, inspects, measures and runs one service image; returns its summary line.
fn check_service(
    storage: &Storage,
    service: &Service,
    binaries: &Path,
    build: &BuildArgs,
    work: &Path,
) -> Result<String> {
    let context = stage_context(service, binaries, work)?;
    let tag = format!("localhost/sre-blueprint/{}:validate", service.name);
    let started = Instant::now();
    build_runtime_stage(storage, service, build, &context, &tag)?;
    let built_in = started.elapsed();

    let inspect: Inspect =
        serde_json::from_str(&storage.run(&["inspect", "--type", "image", &tag])?)
            .with_context(|| format!("parsing `buildah inspect {tag}`"))?;
    let expected = Expected::new(service, build);
    let problems = config_problems(&inspect.docker.config, &expected);
    ensure!(
        problems.is_empty(),
        "the {} image config is wrong ({}):\n  {}",
        service.name,
        service.dockerfile,
        problems.join("\n  ")
    );
    let unpacked = unpacked_bytes(&inspect.manifest)?;
    let pushed = push_to_layout(storage, &tag, &work.join(format!("oci-{}", service.name)))?;
    ensure!(
        pushed <= PUSHED_LIMIT_BYTES,
        "the {} image is {:.2} MB as pushed (gzip layers), over the {:.0} MB limit",
        service.name,
        megabytes(pushed),
        megabytes(PUSHED_LIMIT_BYTES)
    );

    let container = storage.run(&[
        "from",
        "--pull=never",
        "--add-host",
        &format!("{HOSTS_ALIAS}:127.0.0.1"),
        &tag,
    ])?;
    let mount = PathBuf::from(storage.run(&["mount", &container])?);
    let listing = walk(&mount);
    storage.run(&["umount", &container])?;
    judge_rootfs(&listing?, service)
        .with_context(|| format!("the {} image's root filesystem", service.name))?;

    let version = run_in(storage, &container, &[&expected.entrypoint, "--version"])?;
    ensure!(
        version.status.success(),
        "`{} --version` failed in the image: {}",
        service.binary,
        String::from_utf8_lossy(&version.stderr).trim()
    );
    let printed = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let wanted = format!("{} {}", service.binary, build.version);
    ensure!(
        printed == wanted,
        "`{} --version` printed {printed:?} in the image, expected {wanted:?}",
        service.binary
    );

    let probes = probe_live(storage, &container, service, binaries, work, &inspect)?;
    storage.run(&["rm", &container])?;

    Ok(format!(
        "image {:<7} {:.1} MB pushed ({:.1} MB unpacked, limit {:.0} MB pushed)  user {}  \
         entrypoint {}  built in {:.1} s  checks: hadolint checkov build config rootfs --version \
         healthcheck×{probes}",
        service.name,
        megabytes(pushed),
        megabytes(unpacked),
        megabytes(PUSHED_LIMIT_BYTES),
        inspect.docker.config.user,
        expected.entrypoint,
        built_in.as_secs_f64()
    ))
}

/// The `prebuilt` stage's build context: the binary, the CA bundle, the image's directories.
fn stage_context(service: &Service, binaries: &Path, work: &Path) -> Result<PathBuf> {
    let context = work.join(format!("context-{}", service.name));
    if context.exists() {
        std::fs::remove_dir_all(&context)
            .with_context(|| format!("removing {}", context.display()))?;
    }
    std::fs::create_dir_all(&context).with_context(|| format!("creating {}", context.display()))?;
    copy(
        &binaries.join(service.binary),
        &context.join(service.binary),
    )?;
    copy(Path::new(CA_BUNDLE), &context.join("ca-certificates.crt"))?;
    for (dir, _) in service.dirs {
        std::fs::create_dir_all(context.join(dir))
            .with_context(|| format!("creating {}", context.join(dir).display()))?;
    }
    Ok(context)
}

/// The service's own Dockerfile built with `BINARY_FROM=prebuilt`: its runtime stage, fed from
/// `context`; the Rust stages are skipped, and `--pull=never` makes sure no base image is needed.
fn build_runtime_stage(
    storage: &Storage,
    service: &Service,
    build: &BuildArgs,
    context: &Path,
    tag: &str,
) -> Result<()> {
    storage
        .run(&[
            "build-using-dockerfile",
            "--isolation",
            "chroot",
            // docker format keeps HEALTHCHECK (the OCI image config has no field for it).
            "--format",
            "docker",
            "--pull=never",
            "--build-arg",
            "BINARY_FROM=prebuilt",
            "--build-arg",
            &format!("VERSION={}", build.version),
            "--build-arg",
            &format!("REVISION={}", build.revision),
            "--build-arg",
            &format!("BUILD_DATE={}", build.created),
            "--file",
            &root().join(service.dockerfile).to_string_lossy(),
            "--tag",
            tag,
            &context.to_string_lossy(),
        ])
        .map(|_| ())
        .with_context(|| format!("building the runtime stage of {}", service.dockerfile))
}

/// `buildah push` into an OCI layout directory with gzip layers; returns the pushed size.
fn push_to_layout(storage: &Storage, tag: &str, layout: &Path) -> Result<u64> {
    if layout.exists() {
        std::fs::remove_dir_all(layout)
            .with_context(|| format!("removing {}", layout.display()))?;
    }
    storage.run(&[
        "push",
        "--compression-format",
        "gzip",
        tag,
        &format!("oci:{}", layout.display()),
    ])?;
    pushed_bytes(layout)
}

/// Starts the service from the staged binary on a free loopback port and probes it from inside
/// the image; returns the number of probes run.
fn probe_live(
    storage: &Storage,
    container: &str,
    service: &Service,
    binaries: &Path,
    work: &Path,
    inspect: &Inspect,
) -> Result<usize> {
    let port = proc::free_port()?;
    let logs = work.join(format!("logs-{}", service.name));
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut cmd = proc::isolated(&binaries.join(service.binary));
    cmd.args(service.serve_args).arg(port.to_string());
    if service.name == "api" {
        cmd.arg("--data-path").arg(logs.join("data"));
    } else {
        // Nothing listens there: the worker is live but not ready, with no Redis server needed.
        let redis = format!("redis://127.0.0.1:{}", proc::free_port()?);
        cmd.args(["--redis-url", &redis]);
    }
    let mut server = proc::Server::spawn(
        service.binary,
        SocketAddr::from(([127, 0, 0, 1], port)),
        &mut cmd,
        Stdio::null(),
        &logs,
    )?;
    server.wait_ready(
        "/healthz",
        Duration::from_secs(20),
        Duration::from_millis(50),
    )?;

    let binary = format!("/usr/local/bin/{}", service.binary);
    let closed = proc::free_port()?;
    let probes: [(String, bool); 5] = [
        (format!("http://127.0.0.1:{port}/healthz"), true),
        (format!("http://localhost:{port}/healthz"), true),
        (format!("http://{HOSTS_ALIAS}:{port}/livez"), true),
        (
            format!("http://127.0.0.1:{port}{}", service.unhealthy_path),
            false,
        ),
        (format!("http://127.0.0.1:{closed}/healthz"), false),
    ];
    for (url, healthy) in &probes {
        let out = run_in(
            storage,
            container,
            &[&binary, "healthcheck", url, "--timeout", "2s"],
        )?;
        judge_probe(&out, service.binary, url, *healthy)?;
    }

    // The image's own HEALTHCHECK command, as the engine would run it. Its default URL is the
    // image's port, so the container is told the port through BLUEPRINT_PORT: first a closed one
    // (must fail: proves the setting is read, whatever else listens on the default port), then
    // the live one (must pass).
    let test = &inspect
        .docker
        .config
        .healthcheck
        .as_ref()
        .context("no HEALTHCHECK in the image")?
        .test;
    let argv: Vec<&str> = test.iter().skip(1).map(String::as_str).collect();
    for (probe_port, healthy) in [(closed, false), (port, true)] {
        let env = format!("BLUEPRINT_PORT={probe_port}");
        storage.run(&["config", "--env", &env, container])?;
        let out = run_in(storage, container, &argv)?;
        judge_probe(
            &out,
            service.binary,
            &format!("{env} {}", test.join(" ")),
            healthy,
        )?;
    }

    let (status, killed) = server.stop(Duration::from_secs(10))?;
    ensure!(
        status.success() && !killed,
        "{} did not stop cleanly on SIGTERM ({status}, SIGKILL needed: {killed})",
        service.binary
    );
    Ok(probes.len() + 2)
}

/// `buildah run --isolation chroot <container> -- argv…`, its output whatever the exit status.
fn run_in(storage: &Storage, container: &str, argv: &[&str]) -> Result<Output> {
    let mut cmd = storage.buildah();
    cmd.args(["run", "--isolation", "chroot", container, "--"])
        .args(argv);
    proc::output(&mut cmd)
}

/// A probe's exit status against what it must be; a failure must be the probe's own, not buildah's.
fn judge_probe(out: &Output, binary: &str, target: &str, healthy: bool) -> Result<()> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if healthy {
        ensure!(
            out.status.success(),
            "`{binary} healthcheck` of {target} failed in the image: {}",
            stderr.trim()
        );
    } else {
        ensure!(
            !out.status.success(),
            "`{binary} healthcheck` of {target} passed in the image, but must fail"
        );
        ensure!(
            stderr.contains(&format!("{binary} healthcheck: ")),
            "`{binary} healthcheck` of {target} failed without the probe's own message, so \
             buildah did not run it: {}",
            stderr.trim()
        );
    }
    Ok(())
}

/// The root filesystem holds exactly the binary and the CA bundle (and the service's
/// directories, owned as declared): no shell, nothing else.
fn judge_rootfs(entries: &[Entry], service: &Service) -> Result<()> {
    let binary = format!("usr/local/bin/{}", service.binary);
    let files: BTreeSet<&str> = entries
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| e.path.as_str())
        .collect();
    let wanted: BTreeSet<&str> = [binary.as_str(), "etc/ssl/certs/ca-certificates.crt"]
        .into_iter()
        .collect();
    ensure!(
        files == wanted,
        "files {files:?}, expected exactly {wanted:?}"
    );
    let exe = entries
        .iter()
        .find(|e| e.path == binary)
        .context("no binary")?;
    ensure!(
        exe.uid == 0 && exe.mode & 0o111 != 0 && exe.mode & 0o022 == 0,
        "{binary}: owner {} mode {:o}, expected root-owned, executable, not group/world-writable",
        exe.uid,
        exe.mode
    );
    for (dir, uid) in service.dirs {
        let entry = entries
            .iter()
            .find(|e| e.path == *dir && e.is_dir)
            .with_context(|| format!("no /{dir} directory"))?;
        ensure!(
            entry.uid == *uid && entry.mode & 0o700 == 0o700,
            "/{dir}: owner {} mode {:o}, expected owner {uid} with rwx",
            entry.uid,
            entry.mode
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// buildah inspect.

/// The parts of `buildah inspect --type image` checked here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    /// The image manifest, as a JSON string.
    manifest: String,
    docker: DockerImage,
}

#[derive(Debug, Deserialize)]
struct DockerImage {
    config: ImageConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ImageConfig {
    user: String,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    labels: Option<BTreeMap<String, String>>,
    healthcheck: Option<Healthcheck>,
    stop_signal: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Healthcheck {
    test: Vec<String>,
}

/// What a service image's config must say.
struct Expected {
    entrypoint: String,
    port: String,
    labels: BTreeMap<&'static str, String>,
}

impl Expected {
    fn new(service: &Service, build: &BuildArgs) -> Self {
        Self {
            entrypoint: format!("/usr/local/bin/{}", service.binary),
            port: format!("{}/tcp", service.port),
            labels: BTreeMap::from([
                ("org.opencontainers.image.title", service.binary.to_owned()),
                ("org.opencontainers.image.version", build.version.clone()),
                ("org.opencontainers.image.revision", build.revision.clone()),
                ("org.opencontainers.image.created", build.created.clone()),
                ("org.opencontainers.image.licenses", "Apache-2.0".to_owned()),
            ]),
        }
    }
}

/// Every way `config` differs from `expected`, one line each.
fn config_problems(config: &ImageConfig, expected: &Expected) -> Vec<String> {
    let mut problems = Vec::new();
    if config.user != SERVICE_USER {
        problems.push(format!(
            "User is {:?}, expected {SERVICE_USER:?}",
            config.user
        ));
    }
    if config.entrypoint.as_deref() != Some(std::slice::from_ref(&expected.entrypoint)) {
        problems.push(format!(
            "Entrypoint is {:?}, expected [{:?}] (exec form)",
            config.entrypoint, expected.entrypoint
        ));
    }
    if config.cmd.as_ref().is_some_and(|cmd| !cmd.is_empty()) {
        problems.push(format!("Cmd is {:?}, expected none", config.cmd));
    }
    let ports: Vec<&String> = config
        .exposed_ports
        .as_ref()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    if ports != [&expected.port] {
        problems.push(format!(
            "ExposedPorts is {ports:?}, expected [{:?}]",
            expected.port
        ));
    }
    if config.stop_signal.as_deref() != Some("SIGTERM") {
        problems.push(format!(
            "StopSignal is {:?}, expected SIGTERM",
            config.stop_signal
        ));
    }
    match &config.healthcheck {
        Some(check)
            if check.test.first().map(String::as_str) == Some("CMD")
                && check.test.get(1) == Some(&expected.entrypoint)
                && check.test.get(2).map(String::as_str) == Some("healthcheck") => {}
        other => problems.push(format!(
            "Healthcheck is {:?}, expected [\"CMD\", {:?}, \"healthcheck\", …] (exec form: the \
             image has no shell)",
            other.as_ref().map(|c| &c.test),
            expected.entrypoint
        )),
    }
    let labels = config.labels.clone().unwrap_or_default();
    for key in OCI_LABELS {
        match labels.get(key) {
            None => problems.push(format!("label {key} is missing")),
            Some(value) if value.trim().is_empty() => {
                problems.push(format!("label {key} is empty"));
            }
            Some(value) => {
                if let Some(wanted) = expected.labels.get(key).filter(|w| *w != value) {
                    problems.push(format!("label {key} is {value:?}, expected {wanted:?}"));
                }
            }
        }
    }
    problems
}

#[derive(Debug, Deserialize)]
struct Manifest {
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    size: u64,
    #[serde(default)]
    digest: String,
}

/// The unpacked size of an image: its uncompressed layer tars, from the docker-format manifest
/// of `buildah inspect` (buildah stores layers uncompressed).
fn unpacked_bytes(manifest: &str) -> Result<u64> {
    let manifest: Manifest =
        serde_json::from_str(manifest).context("parsing the image manifest")?;
    ensure!(!manifest.layers.is_empty(), "the image has no layers");
    let mut total = 0;
    for layer in &manifest.layers {
        ensure!(
            layer
                .media_type
                .rsplit_once('.')
                .is_some_and(|(_, suffix)| suffix == "tar"),
            "layer {} is {}, not an uncompressed tar: its size is not the unpacked size",
            layer.digest,
            layer.media_type
        );
        total += layer.size;
    }
    Ok(total)
}

#[derive(Debug, Deserialize)]
struct OciIndex {
    manifests: Vec<Descriptor>,
}

/// The pushed size of an image in an OCI layout directory: its gzip layers.
fn pushed_bytes(layout: &Path) -> Result<u64> {
    let index_path = layout.join("index.json");
    let index: OciIndex = serde_json::from_slice(
        &std::fs::read(&index_path).with_context(|| format!("reading {}", index_path.display()))?,
    )
    .with_context(|| format!("parsing {}", index_path.display()))?;
    let [manifest] = index.manifests.as_slice() else {
        bail!(
            "{} lists {} manifests, expected one",
            index_path.display(),
            index.manifests.len()
        );
    };
    let blob = blob_path(layout, &manifest.digest)?;
    let text =
        std::fs::read_to_string(&blob).with_context(|| format!("reading {}", blob.display()))?;
    compressed_layer_bytes(&text).with_context(|| format!("in {}", blob.display()))
}

/// The sum of the gzip layers of an OCI manifest.
fn compressed_layer_bytes(manifest: &str) -> Result<u64> {
    let manifest: Manifest = serde_json::from_str(manifest).context("parsing the OCI manifest")?;
    ensure!(!manifest.layers.is_empty(), "the image has no layers");
    let mut total = 0;
    for layer in &manifest.layers {
        ensure!(
            layer.media_type.ends_with("+gzip"),
            "layer {} is {}, not gzip",
            layer.digest,
            layer.media_type
        );
        total += layer.size;
    }
    Ok(total)
}

/// `<layout>/blobs/sha256/<hex>` for `sha256:<hex>`.
fn blob_path(layout: &Path, digest: &str) -> Result<PathBuf> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .with_context(|| format!("unexpected digest {digest:?}"))?;
    Ok(layout.join("blobs/sha256").join(hex))
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn write_file(path: &Path, text: &str) -> Result<PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path.to_owned())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `buildah inspect --type image` of the api image built here.
    const INSPECT: &str = r#"{
      "Type": "buildah 0.0.1",
      "Manifest": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":2610,\"digest\":\"sha256:83bc\"},\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\",\"size\":18008576,\"digest\":\"sha256:b097\"}]}",
      "Docker": {
        "config": {
          "User": "65532:65532",
          "ExposedPorts": {"9898/tcp": {}},
          "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
          "Cmd": [],
          "Healthcheck": {"Test": ["CMD", "/usr/local/bin/blueprint-api", "healthcheck", "--timeout", "3s"], "Interval": 30000000000},
          "Entrypoint": ["/usr/local/bin/blueprint-api"],
          "Labels": {
            "io.buildah.version": "1.28.2",
            "org.opencontainers.image.created": "2026-11-26T00:00:00Z",
            "org.opencontainers.image.description": "SRE Blueprint reference HTTP service",
            "org.opencontainers.image.documentation": "https://github.com/sre-blueprint/sre-blueprint/blob/main/docs/containers.md",
            "org.opencontainers.image.licenses": "Apache-2.0",
            "org.opencontainers.image.revision": "abc",
            "org.opencontainers.image.source": "https://github.com/sre-blueprint/sre-blueprint",
            "org.opencontainers.image.title": "blueprint-api",
            "org.opencontainers.image.url": "https://github.com/sre-blueprint/sre-blueprint",
            "org.opencontainers.image.vendor": "SRE Blueprint",
            "org.opencontainers.image.version": "0.1.0"
          },
          "StopSignal": "SIGTERM"
        }
      }
    }"#;

    fn expected() -> Expected {
        Expected::new(
            &SERVICES[0],
            &BuildArgs {
                version: "0.1.0".into(),
                revision: "abc".into(),
                created: "2026-11-26T00:00:00Z".into(),
            },
        )
    }

    fn inspect() -> Inspect {
        serde_json::from_str(INSPECT).expect("fixture parses")
    }

    #[test]
    fn a_conforming_image_config_has_no_problems() {
        let inspect = inspect();
        assert_eq!(
            config_problems(&inspect.docker.config, &expected()),
            Vec::<String>::new()
        );
        assert_eq!(
            unpacked_bytes(&inspect.manifest).expect("sizes"),
            18_008_576
        );
    }

    #[test]
    fn a_root_user_a_shell_healthcheck_and_a_stale_label_are_each_reported() {
        let mut config = inspect().docker.config;
        config.user = "root".into();
        config.healthcheck = Some(Healthcheck {
            test: vec!["CMD-SHELL".into(), "curl -f localhost:9898/healthz".into()],
        });
        config.stop_signal = None;
        let labels = config.labels.as_mut().expect("labels");
        labels.insert(
            "org.opencontainers.image.version".into(),
            "0.0.0-dev".into(),
        );
        labels.remove("org.opencontainers.image.vendor");
        let problems = config_problems(&config, &expected());
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].starts_with("User is \"root\""), "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("StopSignal is None")));
        assert!(problems.iter().any(|p| p.starts_with("Healthcheck is")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("version is \"0.0.0-dev\""))
        );
        assert!(problems.iter().any(|p| p.contains("vendor is missing")));
    }

    #[test]
    fn a_shell_form_entrypoint_and_an_extra_port_are_reported() {
        let mut config = inspect().docker.config;
        config.entrypoint = Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "/usr/local/bin/blueprint-api".into(),
        ]);
        config
            .exposed_ports
            .as_mut()
            .expect("ports")
            .insert("22/tcp".into(), serde_json::Value::Null);
        let problems = config_problems(&config, &expected());
        assert_eq!(problems.len(), 2, "{problems:#?}");
    }

    #[test]
    fn compressed_and_unpacked_sizes_need_the_right_layer_types() {
        let oci = r#"{"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":7356690,"digest":"sha256:b998"},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":10,"digest":"sha256:b999"}]}"#;
        assert_eq!(compressed_layer_bytes(oci).expect("gzip layers"), 7_356_700);
        let err = unpacked_bytes(oci).expect_err("gzip sizes are not unpacked sizes");
        assert!(err.to_string().contains("not an uncompressed tar"), "{err}");
        let err = compressed_layer_bytes(r#"{"layers":[]}"#).expect_err("no layers");
        assert!(err.to_string().contains("no layers"), "{err}");
        assert!(compressed_layer_bytes("not json").is_err());
    }

    #[test]
    fn blob_paths_accept_only_sha256_digests() {
        let layout = Path::new("/l");
        let hex = "a".repeat(64);
        assert_eq!(
            blob_path(layout, &format!("sha256:{hex}")).expect("valid"),
            Path::new("/l/blobs/sha256").join(&hex)
        );
        assert!(blob_path(layout, "sha256:../../etc/passwd").is_err());
        assert!(blob_path(layout, &format!("sha512:{hex}")).is_err());
    }

    #[test]
    fn mounts_below_a_directory_are_found_with_escapes_decoded() {
        let mountinfo = "\
22 1 0:21 / / rw,relatime - overlay overlay rw
35 22 0:5 / /work/t/images/storage/root/vfs/dir/abc/dev rw,nosuid - devtmpfs udev rw
36 22 0:6 / /work/t/images/storage\\040x/proc rw - proc proc rw
37 22 0:7 / /work/t/images/storage-other rw - tmpfs tmpfs rw
";
        let dir = Path::new("/work/t/images/storage");
        assert_eq!(
            mounts_under(mountinfo, dir),
            vec![PathBuf::from("/work/t/images/storage/root/vfs/dir/abc/dev")]
        );
        assert_eq!(
            mounts_under(mountinfo, Path::new("/work/t/images/storage x")),
            vec![PathBuf::from("/work/t/images/storage x/proc")]
        );
        assert!(mounts_under(mountinfo, Path::new("/elsewhere")).is_empty());
    }

    fn entry(path: &str, is_dir: bool, uid: u32, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            is_dir,
            uid,
            mode,
            size: 1000,
        }
    }

    #[test]
    fn a_rootfs_with_exactly_the_binary_and_bundle_passes_and_a_shell_fails() {
        let good = vec![
            entry("data", true, 65532, 0o755),
            entry("etc/ssl/certs/ca-certificates.crt", false, 0, 0o644),
            entry("usr/local/bin/blueprint-api", false, 0, 0o755),
        ];
        judge_rootfs(&good, &SERVICES[0]).expect("conforming");

        let mut shell = good.clone();
        shell.push(entry("bin/sh", false, 0, 0o755));
        let err = judge_rootfs(&shell, &SERVICES[0]).expect_err("a shell");
        assert!(err.to_string().contains("bin/sh"), "{err}");

        let mut root_data = good.clone();
        root_data[0].uid = 0;
        let err = judge_rootfs(&root_data, &SERVICES[0]).expect_err("root-owned /data");
        assert!(err.to_string().contains("/data: owner 0"), "{err}");

        let mut writable = good;
        writable[2].mode = 0o777;
        assert!(judge_rootfs(&writable, &SERVICES[0]).is_err());
    }

    #[test]
    fn a_context_with_build_outputs_or_missing_sources_fails() {
        let sources: Vec<Entry> = CONTEXT_REQUIRED
            .iter()
            .map(|p| entry(p, false, 0, 0o644))
            .collect();
        assert_eq!(
            judge_context(&sources).expect("clean"),
            (CONTEXT_REQUIRED.len(), 1000 * CONTEXT_REQUIRED.len() as u64)
        );

        let mut heavy = sources.clone();
        heavy.push(entry(
            "apps/web/node_modules/vite/index.js",
            false,
            0,
            0o644,
        ));
        let err = judge_context(&heavy).expect_err("node_modules");
        assert!(err.to_string().contains("node_modules"), "{err}");

        let err = judge_context(&sources[1..]).expect_err("no Cargo.toml");
        assert!(err.to_string().contains("lacks Cargo.toml"), "{err}");
    }

    #[test]
    fn the_lint_mutations_break_what_they_should() {
        let dockerfile = "ARG X=1\nFROM docker.io/library/rust:1.95.0-slim AS chef\nFROM chef AS b\n\
                          USER 65532:65532\nHEALTHCHECK --interval=30s \\\n  CMD [\"x\"]\nENTRYPOINT [\"x\"]\n";
        let untagged = untag_first_base(dockerfile).expect("has a tag");
        assert!(
            untagged.contains("FROM docker.io/library/rust AS chef\n"),
            "{untagged}"
        );
        assert!(untagged.contains("FROM chef AS b\n"), "{untagged}");
        assert!(untag_first_base("FROM scratch\n").is_err());

        let stripped = strip_user_and_healthcheck(dockerfile);
        assert!(!stripped.contains("USER") && !stripped.contains("HEALTHCHECK"));
        assert!(!stripped.contains("CMD"), "{stripped}");
        assert!(stripped.ends_with("ENTRYPOINT [\"x\"]\n"), "{stripped}");
    }

    #[test]
    fn checkov_reports_are_judged_per_file() {
        let broken = Path::new("/t/lint/broken");
        let report = |failed: &str, skipped: &str| -> CheckovReport {
            serde_json::from_str(&format!(
                r#"{{"results": {{"passed_checks": [{{"check_id": "CKV_DOCKER_1", "file_abs_path": "/r/apps/api/Dockerfile"}}],
                "failed_checks": [{failed}], "skipped_checks": [{skipped}]}}}}"#
            ))
            .expect("report parses")
        };
        let broken_fails = r#"{"check_id": "CKV_DOCKER_2", "file_abs_path": "/t/lint/broken/Dockerfile"},
                              {"check_id": "CKV_DOCKER_3", "file_abs_path": "/t/lint/broken/Dockerfile"}"#;
        let reasoned = r#"{"check_id": "CKV_DOCKER_7", "file_abs_path": "/r/apps/api/Dockerfile",
                           "check_result": {"result": "SKIPPED", "suppress_comment": " a stage name"}}"#;
        let verdict = judge_checkov(&report(broken_fails, reasoned), broken).expect("clean");
        assert_eq!((verdict.passed, verdict.skipped), (1, 1));
        assert_eq!(verdict.broken_failed, ["CKV_DOCKER_2", "CKV_DOCKER_3"]);

        let ours_fail = format!(
            r#"{broken_fails}, {{"check_id": "CKV_DOCKER_8", "file_abs_path": "/r/apps/web/Dockerfile", "file_line_range": [3, 3]}}"#
        );
        let err = judge_checkov(&report(&ours_fail, reasoned), broken).expect_err("a failure");
        assert!(
            err.to_string()
                .contains("CKV_DOCKER_8 in /r/apps/web/Dockerfile"),
            "{err}"
        );

        let silent = r#"{"check_id": "CKV_DOCKER_7", "file_abs_path": "/r/apps/api/Dockerfile",
                         "check_result": {"result": "SKIPPED", "suppress_comment": ""}}"#;
        let err = judge_checkov(&report(broken_fails, silent), broken).expect_err("no reason");
        assert!(err.to_string().contains("without a reason"), "{err}");

        let err = judge_checkov(&report("", reasoned), broken).expect_err("blind checkov");
        assert!(
            err.to_string().contains("does not check what it is given"),
            "{err}"
        );
    }

    #[test]
    fn every_template_variable_needs_an_env_default_in_the_runtime_stage() {
        let template = "upstream a { server ${BLUEPRINT_API_UPSTREAM}; }\n\
                        map $http_upgrade $c { default upgrade; }\nlisten ${NGINX_PORT};\n";
        let dockerfile = "FROM node:22 AS build\nENV NGINX_PORT=1\nFROM nginx:1 AS runtime\n\
                          COPY apps/web/nginx/default.conf.template /etc/nginx/templates/default.conf.template\n\
                          # a comment\nENV NGINX_PORT=8080 \\\n    BLUEPRINT_API_UPSTREAM=blueprint-api:9898\n";
        assert_eq!(
            judge_web_template(dockerfile, template).expect("complete"),
            ["BLUEPRINT_API_UPSTREAM", "NGINX_PORT"]
        );

        // An ENV of the build stage does not count.
        let only_build = dockerfile.replace("ENV NGINX_PORT=8080 \\\n    ", "ENV ");
        let err = judge_web_template(&only_build, template).expect_err("NGINX_PORT missing");
        assert!(err.to_string().contains("NGINX_PORT"), "{err}");

        let elsewhere = dockerfile.replace("/etc/nginx/templates/", "/etc/nginx/conf.d/");
        let err = judge_web_template(&elsewhere, template).expect_err("not a template dir");
        assert!(err.to_string().contains("does not COPY"), "{err}");
    }

    #[test]
    fn probes_must_fail_by_themselves_not_by_buildah() {
        use std::os::unix::process::ExitStatusExt as _;
        let output = |code: i32, stderr: &str| Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        };
        judge_probe(&output(0, ""), "blueprint-api", "u", true).expect("healthy");
        judge_probe(
            &output(1, "blueprint-api healthcheck: u: status 503"),
            "blueprint-api",
            "u",
            false,
        )
        .expect("fails as it should");
        let err = judge_probe(
            &output(125, "Error: container not found"),
            "blueprint-api",
            "u",
            false,
        )
        .expect_err("buildah's own failure");
        assert!(err.to_string().contains("buildah did not run it"), "{err}");
        assert!(judge_probe(&output(0, ""), "blueprint-api", "u", false).is_err());
        assert!(judge_probe(&output(1, "x"), "blueprint-api", "u", true).is_err());
    }
}
