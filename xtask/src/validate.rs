//! `cargo xtask validate`: the platform as code, checked by the tools it targets, with no cluster
//! and no container engine.
//!
//! In order: the PrometheusRule matches its source rule files; the Compose file against the
//! Compose specification; every overlay rendered with kustomize, then every object checked
//! against the Kubernetes schemas and every custom resource against its upstream CRD; yamllint,
//! checkov; the admission policies run by the Kyverno CLI on every rendered overlay and on bad
//! fixtures; and the images: hadolint, then the runtime stage of each Dockerfile built with buildah
//! from locally built binaries, measured, inspected and run. One summary line per overlay.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::tools::Tools;
use crate::{
    canary, compose, deny, gitops, images, kubernetes, policies, precommit, proc, prometheusrule,
    repo_docs, root, secrets, target_dir, terraform, workflows,
};

/// The overlays, one per environment, under `infra/kubernetes/overlays/`.
pub const OVERLAYS: [&str; 3] = ["dev", "staging", "production"];

/// Which parts `cargo xtask validate` runs (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// The PrometheusRule and the Compose file.
    Sources,
    /// Render, schemas, CRDs, yamllint, checkov.
    Kubernetes,
    /// The Kyverno CLI on the policies.
    Policies,
    /// hadolint, checkov and buildah on the Dockerfiles.
    Images,
    /// Flux, image automation, canaries, Terraform, secrets and backups.
    Gitops,
    /// The workflows (actionlint, zizmor, pins), cargo-deny, pre-commit, the policy documents.
    Supply,
}

/// One rendered overlay.
#[derive(Debug)]
pub struct Rendered {
    /// `dev`, `staging` or `production`.
    pub overlay: &'static str,
    /// The `kustomize build` output, written to `target/validate/<overlay>.yaml`.
    pub path: PathBuf,
    /// Its objects, in order.
    pub objects: Vec<serde_yaml::Value>,
}

/// `cargo xtask validate [--only PART …]`.
pub fn command(only: &[Part]) -> Result<()> {
    let started = Instant::now();
    let cache = crate::tools::Cache::from_env()?;
    let tools = crate::tools::setup(&cache, crate::tools::Scope::default())?;
    let wants = |part| only.is_empty() || only.contains(&part);
    if wants(Part::Sources) {
        sources()?;
    }
    let rendered = if wants(Part::Kubernetes) || wants(Part::Policies) {
        render(&tools)?
    } else {
        Vec::new()
    };
    if wants(Part::Kubernetes) {
        for line in kubernetes::validate(&tools, &rendered)? {
            println!("{line}");
        }
    }
    if wants(Part::Policies) {
        policies::test(&tools, &rendered)?;
    }
    if wants(Part::Supply) {
        for line in supply_chain(&tools)? {
            println!("{line}");
        }
    }
    if wants(Part::Gitops) {
        for line in gitops(&tools)? {
            println!("{line}");
        }
    }
    if wants(Part::Images) {
        images::check(&tools)?;
    }
    println!("validate: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The generated PrometheusRule matches the rule files; the Compose file is valid.
pub fn sources() -> Result<()> {
    prometheusrule::check_committed()?;
    compose::check(root())
}

/// Flux (clusters, controllers, image automation, notifications), the canaries, Terraform, the
/// encrypted secrets and the backups.
pub fn gitops(tools: &Tools) -> Result<Vec<String>> {
    let mut lines = gitops::check(tools)?;
    lines.extend(canary::check(tools)?);
    lines.extend(terraform::check(tools)?);
    lines.extend(secrets::check(tools)?);
    Ok(lines)
}

/// The CI/CD and supply-chain checks: workflows, dependency licences and sources, pre-commit
/// hooks, and the repository's policy documents.
pub fn supply_chain(tools: &Tools) -> Result<Vec<String>> {
    let mut lines = workflows::check(&tools.go.actionlint, &tools.zizmor, &tools.shellcheck)?;
    lines.extend(deny::check(&tools.cargo_deny)?);
    lines.extend(precommit::check(&tools.pre_commit)?);
    lines.extend(repo_docs::check()?);
    lines.push(repo_docs::issue_forms(&tools.check_jsonschema)?);
    Ok(lines)
}

/// `kustomize build` of every overlay into `target/validate/<overlay>.yaml`, parsed.
pub fn render(tools: &Tools) -> Result<Vec<Rendered>> {
    let out_dir = target_dir().join("validate");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    OVERLAYS
        .iter()
        .map(|&overlay| {
            let dir = root().join("infra/kubernetes/overlays").join(overlay);
            let mut cmd = std::process::Command::new(&tools.go.kustomize);
            cmd.arg("build").arg(&dir);
            let out = proc::output(&mut cmd)?;
            if !out.status.success() {
                anyhow::bail!(
                    "kustomize build {} failed: {}",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let path = out_dir.join(format!("{overlay}.yaml"));
            std::fs::write(&path, &out.stdout)
                .with_context(|| format!("writing {}", path.display()))?;
            let text = String::from_utf8(out.stdout)
                .with_context(|| format!("kustomize build {overlay}: output is not UTF-8"))?;
            let mut objects = Vec::new();
            for document in serde_yaml::Deserializer::from_str(&text) {
                let value = <serde_yaml::Value as serde::Deserialize>::deserialize(document)
                    .with_context(|| format!("parsing the rendered {overlay} overlay"))?;
                if !value.is_null() {
                    objects.push(value);
                }
            }
            Ok(Rendered {
                overlay,
                path,
                objects,
            })
        })
        .collect()
}
