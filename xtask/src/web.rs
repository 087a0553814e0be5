//! The web UI (`apps/web`): its own checks, then a real browser against the real api.
//!
//! - `npm ci` (skipped when `node_modules` was installed from this very lockfile), the API types regenerated from the api's OpenAPI
//!   snapshot and compared (a contract change breaks the build), `vue-tsc`, ESLint, Vitest, the
//!   Vite build and the JS budget (≤ 150 KB gzipped);
//! - end-to-end with `playwright-core` driving Debian's Chromium (`apps/web/e2e/run.mjs`):
//!   1. `full` against blueprint-api serving the build with `--ui-path` (views, readiness, jobs,
//!      dead letters and retry, axe-core on every view, screenshots into `target/web/screenshots`);
//!   2. `proxy` through Debian's nginx running the container's config
//!      (`apps/web/nginx/default.conf.template`, rendered as the official image does);
//!   3. `api-down` through the same nginx once the api is stopped: an error state, not a blank page.
//!
//! `cargo xtask screenshots` runs the same and copies the screenshots to `docs/images/`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use sha2::{Digest as _, Sha256};

use crate::proc::{self, Server};
use crate::tools::Tools;
use crate::{root, target_dir};

/// The web app, relative to the root.
const WEB_DIR: &str = "apps/web";

/// The nginx server block of the `web` container, relative to the root.
const NGINX_TEMPLATE: &str = "apps/web/nginx/default.conf.template";

/// The document root the template names; the harness points it at the build.
const NGINX_IMAGE_ROOT: &str = "/usr/share/nginx/html";

/// Where the committed screenshots live, relative to the root.
const SCREENSHOTS_DIR: &str = "docs/images";

/// Upper bound on one e2e scenario (each bounds its own waits to about 30 s).
const E2E_LIMIT: Duration = Duration::from_secs(5 * 60);

/// Upper bound on `npm ci` (from npm's cache it takes tens of seconds).
const NPM_CI_LIMIT: Duration = Duration::from_secs(15 * 60);

/// How long the api and nginx may take to answer their probes.
const READY_LIMIT: Duration = Duration::from_secs(20);
const READY_POLL: Duration = Duration::from_millis(50);

fn web_dir() -> PathBuf {
    root().join(WEB_DIR)
}

fn npm(args: &[&str]) -> Command {
    let mut cmd = Command::new("npm");
    cmd.current_dir(web_dir()).args(args);
    cmd
}

/// Written into `node_modules` after a successful `npm ci`: the SHA-256 of the lockfile it
/// installed. Equal to the lockfile's → the tree is up to date.
const INSTALLED_MARKER: &str = "node_modules/.xtask-package-lock.sha256";

/// `npm ci`, unless the installed tree came from this very lockfile (an interrupted install
/// writes no marker, so it is redone).
pub fn install() -> Result<()> {
    let lock = std::fs::read(web_dir().join("package-lock.json"))
        .context("reading apps/web/package-lock.json")?;
    let digest = hex::encode(Sha256::digest(&lock));
    let marker = web_dir().join(INSTALLED_MARKER);
    if std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == digest) {
        println!("ok    node_modules is installed from this package-lock.json");
        return Ok(());
    }
    proc::run_with_timeout(&mut npm(&["ci", "--no-audit", "--no-fund"]), NPM_CI_LIMIT)?;
    std::fs::write(&marker, format!("{digest}\n"))
        .with_context(|| format!("writing {}", marker.display()))
}

/// The app's own checks, each an npm script.
pub const CHECKS: [&str; 6] = ["check:api", "typecheck", "lint", "test", "build", "budget"];

/// Runs one npm script.
pub fn script(name: &str) -> Result<()> {
    proc::run(&mut npm(&["run", "--silent", name]))
}

/// The nginx server block rendered for a loopback run, wrapped in a main config for a non-root
/// nginx (pid, logs and temp files in `work`).
fn nginx_config(work: &Path, port: u16, api: SocketAddr, html: &Path) -> Result<PathBuf> {
    let template = std::fs::read_to_string(root().join(NGINX_TEMPLATE))
        .with_context(|| format!("reading {NGINX_TEMPLATE}"))?;
    ensure!(
        template.contains(NGINX_IMAGE_ROOT),
        "{NGINX_TEMPLATE} no longer names the image's root {NGINX_IMAGE_ROOT}"
    );
    let server = template
        .replace("${BLUEPRINT_API_UPSTREAM}", &api.to_string())
        .replace("${NGINX_PORT}", &format!("127.0.0.1:{port}"))
        .replace(NGINX_IMAGE_ROOT, &html.display().to_string());
    ensure!(
        !server.contains("${"),
        "{NGINX_TEMPLATE} has a placeholder the harness does not fill"
    );
    let server_path = work.join("default.conf");
    std::fs::write(&server_path, server)?;
    let w = work.display();
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {w}/nginx.pid;\nerror_log {w}/error.log notice;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n\
         \x20 access_log {w}/access.log;\n  client_body_temp_path {w}/client_body;\n\
         \x20 proxy_temp_path {w}/proxy;\n  fastcgi_temp_path {w}/fastcgi;\n\
         \x20 uwsgi_temp_path {w}/uwsgi;\n  scgi_temp_path {w}/scgi;\n\
         \x20 include {};\n}}\n",
        server_path.display()
    );
    let main_path = work.join("nginx.conf");
    std::fs::write(&main_path, main)?;
    Ok(main_path)
}

/// Copies the build to a world-readable directory: nginx's workers run as `nobody` when the
/// master is root, and a temp dir is 0700.
fn world_readable_copy(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            world_readable_copy(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}

/// One e2e scenario of `apps/web/e2e/run.mjs`.
fn e2e(scenario: &str, ui: SocketAddr, api: SocketAddr, screenshots: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new("node");
    cmd.current_dir(web_dir())
        .arg("e2e/run.mjs")
        .env("SCENARIO", scenario)
        .env("UI_URL", format!("http://{ui}"))
        .env("API_URL", format!("http://{api}"))
        .env("CHROMIUM", crate::tools::CHROMIUM);
    if let Some(dir) = screenshots {
        cmd.env("SCREENSHOTS", dir);
    }
    proc::run_with_timeout(&mut cmd, E2E_LIMIT)
        .with_context(|| format!("e2e scenario `{scenario}`"))
}

/// The three e2e scenarios; returns the screenshot directory.
pub fn end_to_end(tools: &Tools, api_binary: &Path) -> Result<PathBuf> {
    let work = target_dir().join("web");
    let _ = std::fs::remove_dir_all(&work);
    let screenshots = work.join("screenshots");
    std::fs::create_dir_all(&screenshots)?;
    let data = work.join("api-data");
    std::fs::create_dir_all(&data)?;
    let dist = web_dir().join("dist");
    ensure!(
        dist.join("index.html").is_file(),
        "{} has no build; run `npm run build` in {WEB_DIR}",
        dist.display()
    );

    let api_port = proc::free_port()?;
    let log = File::create(work.join("blueprint-api.stdout.log"))?;
    let mut api = Server::spawn(
        "blueprint-api",
        SocketAddr::from(([127, 0, 0, 1], api_port)),
        proc::isolated(api_binary)
            .args(["--host", "127.0.0.1", "--port", &api_port.to_string()])
            .args(["--drain-delay", "0s", "--data-path"])
            .arg(&data)
            .arg("--ui-path")
            .arg(&dist),
        Stdio::from(log),
        &work,
    )?;
    api.wait_ready("/readyz", READY_LIMIT, READY_POLL)?;
    e2e("full", api.addr, api.addr, Some(&screenshots))?;

    let html = work.join("html");
    world_readable_copy(&dist, &html)?;
    let nginx_port = proc::free_port()?;
    let nginx_work = work.join("nginx");
    std::fs::create_dir_all(&nginx_work)?;
    let config = nginx_config(&nginx_work, nginx_port, api.addr, &html)?;
    // A foreground nginx on this config, its prefix and error log in the work dir.
    let nginx_cmd = || {
        let mut cmd = Command::new(&tools.nginx);
        cmd.arg("-c")
            .arg(&config)
            .arg("-p")
            .arg(&nginx_work)
            .arg("-e")
            .arg(nginx_work.join("error.log"));
        cmd
    };
    proc::run(nginx_cmd().arg("-t")).context("nginx -t on the web container's config")?;
    let mut nginx = Server::spawn(
        "nginx",
        SocketAddr::from(([127, 0, 0, 1], nginx_port)),
        &mut nginx_cmd(),
        Stdio::null(),
        &nginx_work,
    )?;
    nginx.wait_ready("/healthz", READY_LIMIT, READY_POLL)?;
    e2e("proxy", nginx.addr, api.addr, None)?;

    let api_addr = api.addr;
    let (status, killed) = api.stop(Duration::from_secs(20))?;
    ensure!(
        status.success() && !killed,
        "blueprint-api did not stop cleanly: {status}"
    );
    e2e("api-down", nginx.addr, api_addr, None)?;
    nginx.stop(Duration::from_secs(10))?;
    Ok(screenshots)
}

/// `cargo xtask screenshots`: the e2e run, then its screenshots copied to `docs/images/`.
pub fn update_screenshots(from: &Path) -> Result<()> {
    let to = root().join(SCREENSHOTS_DIR);
    std::fs::create_dir_all(&to)?;
    let mut copied = 0;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "png") {
            std::fs::copy(&path, to.join(path.file_name().context("a file name")?))?;
            copied += 1;
        }
    }
    ensure!(
        copied > 0,
        "the e2e run saved no screenshots in {}",
        from.display()
    );
    println!("copied {copied} screenshots to {SCREENSHOTS_DIR}/");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nginx_template_renders_without_placeholders_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = nginx_config(
            dir.path(),
            8080,
            SocketAddr::from(([127, 0, 0, 1], 9898)),
            Path::new("/srv/html"),
        )
        .expect("renders");
        let server = std::fs::read_to_string(dir.path().join("default.conf")).expect("server");
        assert!(server.contains("127.0.0.1:9898"), "{server}");
        assert!(server.contains("/srv/html"), "{server}");
        assert!(!server.contains(NGINX_IMAGE_ROOT));
        let main = std::fs::read_to_string(config).expect("main");
        assert!(main.contains("include /etc/nginx/mime.types;"), "{main}");
    }
}
