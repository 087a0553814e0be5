//! The admission policies of `config/policies/`, run by the real engine: the Kyverno CLI
//! (`kubectl-kyverno`, pinned in `xtask/tools/go.mod`) evaluates the same CEL a cluster's Kyverno
//! admission controller would, offline.
//!
//! Four checks, each failing with the object and policy named:
//!
//! 1. **The bundle.** `kustomize build config/policies` — the policy set exactly as a cluster
//!    installs it — must hold every policy file of the directory, and every policy must have its
//!    `tests/<policy>/kyverno-test.yaml`.
//! 2. **The policy tests.** `kubectl-kyverno test config/policies`: each policy admits its good
//!    fixtures and denies its bad ones. The CLI also validates each policy against the
//!    `ValidatingPolicy` CRD schema it embeds, and reports a policy that does not compile.
//! 3. **The fixtures, against all policies at once.** One `kubectl-kyverno apply` of the bundle to
//!    every fixture, read from its JSON policy report. Each fixture says what must happen to it
//!    in annotations (`policy.sre-blueprint.test/expect`): `pass` — no policy fails it and at
//!    least one evaluates it; `deny` — exactly the policy named by `…/denied-by` fails it, with a
//!    message containing `…/message`, so a bad fixture cannot pass for the wrong reason; `ignore`
//!    — no policy evaluates it (it lives outside the application's namespaces).
//! 4. **Every rendered overlay.** One `apply` per overlay, to its objects of the kinds the
//!    policies match: the CLI must exit 0 with no failure in its report, and every policy must
//!    have evaluated every workload of a kind it matches — so a policy whose selector misses an
//!    overlay's namespace cannot pass by matching nothing.
//!
//! The CLI skips a policy file it cannot load with exit code 0 and no message, which is why no
//! check here trusts the exit code alone: each also requires the evaluations it expects to be in
//! the report.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::tools::Tools;
use crate::validate::Rendered;
use crate::{proc, root, target_dir};

/// The policies and their kustomization, relative to the workspace root.
const POLICY_DIR: &str = "config/policies";

/// The fixtures (`good.yaml`, `bad.yaml` per policy, `out-of-scope.yaml`) and `kyverno-test.yaml`s.
const FIXTURE_DIR: &str = "config/policies/tests";

/// The annotation prefix of a fixture's expectation. `.test` is reserved for testing (RFC 2606),
/// so the keys can never collide with a real controller's annotations.
const EXPECT_PREFIX: &str = "policy.sre-blueprint.test/";

/// The workload resources a policy may match, with the group and kind of their objects: how a
/// policy's `resourceRules` are mapped to the objects of a rendered overlay it must evaluate.
const WORKLOAD_RESOURCES: &[(&str, &str, &str)] = &[
    ("", "pods", "Pod"),
    ("apps", "deployments", "Deployment"),
    ("apps", "statefulsets", "StatefulSet"),
    ("apps", "daemonsets", "DaemonSet"),
    ("apps", "replicasets", "ReplicaSet"),
    ("batch", "jobs", "Job"),
    ("batch", "cronjobs", "CronJob"),
];

/// `cargo xtask validate --only policies`: the four checks of the module docs.
pub fn test(tools: &Tools, rendered: &[Rendered]) -> Result<()> {
    let started = Instant::now();
    let bundle = bundle(tools)?;
    let names: Vec<&str> = bundle.policies.iter().map(|p| p.name.as_str()).collect();
    println!(
        "policies: {} ValidatingPolicies ({})",
        names.len(),
        names.join(", ")
    );

    // Each CLI run costs 1-3 s of CPU (it compiles the policies per resource), and the runs are
    // independent: run them side by side, then report in a fixed order.
    let (tests, fixtures, overlays) = std::thread::scope(|scope| {
        let tests = scope.spawn(|| kyverno_tests(tools));
        let fixtures = scope.spawn(|| check_fixtures(tools, &bundle));
        let overlays: Vec<_> = rendered
            .iter()
            .map(|overlay| scope.spawn(|| check_overlay(tools, &bundle, overlay)))
            .collect();
        (
            joined(tests),
            joined(fixtures),
            overlays.into_iter().map(joined).collect::<Vec<_>>(),
        )
    });
    let tests = tests?;
    println!(
        "policies: kubectl-kyverno test: {} results as expected, 0 failed",
        tests.passed
    );
    let fixtures = fixtures?;
    println!(
        "policies: fixtures: {} admitted, {} denied by the intended policy, {} out of scope",
        fixtures.admitted, fixtures.denied, fixtures.ignored
    );
    for (overlay, summary) in rendered.iter().zip(overlays) {
        let summary = summary?;
        println!(
            "policies: {:<10} {} workloads, {} evaluations passed, 0 failed",
            overlay.overlay, summary.workloads, summary.passed
        );
    }
    println!("policies: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A scoped thread's result, a panic in it turned into an error.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("a policy check thread panicked"))?
}

/// Applies the bundle to one rendered overlay and judges the report.
///
/// The CLI is given the overlay's objects of the kinds some policy matches, written to
/// `target/validate/<overlay>.workloads.yaml`: its cost grows with policies × objects (it compiles
/// every policy for every object, about 7 ms of CPU a pair), and no other object can match — the
/// kinds come from the policies' own `resourceRules`, and one xtask cannot map fails [`policy`].
/// For an overlay of 36 objects, 4 of them workloads, that is 0.6 s of CPU instead of 1.7 s.
fn check_overlay(tools: &Tools, bundle: &Bundle, overlay: &Rendered) -> Result<OverlaySummary> {
    let context = || {
        format!(
            "the {} overlay ({})",
            overlay.overlay,
            overlay.path.display()
        )
    };
    let matched: BTreeSet<&(String, String)> =
        bundle.policies.iter().flat_map(|p| &p.kinds).collect();
    let mut workloads = String::new();
    for object in overlay
        .objects
        .iter()
        .filter(|o| matched.contains(&group_kind(o)))
    {
        workloads.push_str("---\n");
        workloads.push_str(&serde_yaml::to_string(object).with_context(context)?);
    }
    let report = if workloads.is_empty() {
        // Nothing to evaluate: judge_overlay says so.
        Report {
            success: true,
            outcomes: Vec::new(),
        }
    } else {
        let path = overlay
            .path
            .with_file_name(format!("{}.workloads.yaml", overlay.overlay));
        std::fs::write(&path, workloads).with_context(|| format!("writing {}", path.display()))?;
        apply(tools, &bundle.path, &[path])?
    };
    judge_overlay(&bundle.policies, &overlay.objects, &report).with_context(context)
}

/// An object's API group (empty for the core group) and kind.
fn group_kind(object: &serde_yaml::Value) -> (String, String) {
    let group = str_at(object, &["apiVersion"])
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(group, _)| group);
    let kind = str_at(object, &["kind"]).unwrap_or_default();
    (group.to_owned(), kind.to_owned())
}

// ---- 1. the bundle ----------------------------------------------------------------------------

/// The rendered policy set.
struct Bundle {
    /// `target/validate/policies.yaml`, the `kustomize build` output given to the CLI.
    path: PathBuf,
    policies: Vec<Policy>,
}

/// What the checks need to know of one `ValidatingPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Policy {
    name: String,
    /// The (group, kind) of every workload resource its `resourceRules` name.
    kinds: BTreeSet<(String, String)>,
}

fn bundle(tools: &Tools) -> Result<Bundle> {
    let dir = root().join(POLICY_DIR);
    let mut cmd = Command::new(&tools.go.kustomize);
    cmd.arg("build").arg(&dir);
    let out = proc::output(&mut cmd)?;
    if !out.status.success() {
        bail!(
            "kustomize build {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let out_dir = target_dir().join("validate");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let path = out_dir.join("policies.yaml");
    std::fs::write(&path, &out.stdout).with_context(|| format!("writing {}", path.display()))?;
    let text =
        String::from_utf8(out.stdout).context("kustomize build config/policies: not UTF-8")?;
    let policies = documents(&text)
        .with_context(|| format!("parsing the kustomize build of {}", dir.display()))?
        .iter()
        .map(policy)
        .collect::<Result<Vec<_>>>()?;

    // Every policy file of the directory is in the bundle, and every policy has its test.
    let bundled: BTreeSet<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    for file in yaml_files(&dir, false)? {
        if file.file_name().is_some_and(|n| n == "kustomization.yaml") {
            continue;
        }
        for doc in documents(&read(&file)?)? {
            let name = str_at(&doc, &["metadata", "name"]).unwrap_or_default();
            if !bundled.contains(name) {
                bail!(
                    "{} defines policy `{name}`, which {}/kustomization.yaml does not list",
                    file.display(),
                    dir.display()
                );
            }
        }
    }
    for name in &bundled {
        let test_file = root()
            .join(FIXTURE_DIR)
            .join(name)
            .join("kyverno-test.yaml");
        if !test_file.is_file() {
            bail!(
                "policy `{name}` has no test: {} is missing",
                test_file.display()
            );
        }
    }
    Ok(Bundle { path, policies })
}

/// Reads one bundled document as a [`Policy`].
fn policy(doc: &serde_yaml::Value) -> Result<Policy> {
    let name = str_at(doc, &["metadata", "name"])
        .context("a document of the policy bundle has no metadata.name")?
        .to_owned();
    let kind = str_at(doc, &["kind"]).unwrap_or_default();
    if kind != "ValidatingPolicy" {
        bail!("`{name}` in the policy bundle is a `{kind}`, not a ValidatingPolicy");
    }
    let rules = value_at(doc, &["spec", "matchConstraints", "resourceRules"])
        .and_then(serde_yaml::Value::as_sequence)
        .with_context(|| format!("policy `{name}` has no spec.matchConstraints.resourceRules"))?;
    let mut kinds = BTreeSet::new();
    for rule in rules {
        let groups = strings_at(rule, "apiGroups");
        for resource in strings_at(rule, "resources") {
            // A subresource (pods/ephemeralcontainers) is the same object as its resource.
            if resource.contains('/') {
                continue;
            }
            for group in &groups {
                let Some(&(_, _, kind)) = WORKLOAD_RESOURCES
                    .iter()
                    .find(|(g, r, _)| g == group && *r == resource)
                else {
                    bail!(
                        "policy `{name}` matches `{resource}` in group `{group}`, which xtask \
                         cannot map to a kind: add it to WORKLOAD_RESOURCES in xtask/src/policies.rs"
                    );
                };
                kinds.insert((group.clone(), kind.to_owned()));
            }
        }
    }
    Ok(Policy { name, kinds })
}

// ---- 2. kubectl-kyverno test ------------------------------------------------------------------

/// The counts of `kubectl-kyverno test`'s closing line.
#[derive(Debug, PartialEq, Eq)]
struct TestSummary {
    passed: u32,
    failed: u32,
}

fn kyverno_tests(tools: &Tools) -> Result<TestSummary> {
    let mut cmd = Command::new(&tools.go.kyverno);
    cmd.current_dir(root())
        .args(["test", POLICY_DIR, "--remove-color"]);
    let out = proc::output(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = parse_test_summary(&stdout);
    match summary {
        Some(summary) if out.status.success() && summary.failed == 0 && summary.passed > 0 => {
            Ok(summary)
        }
        _ => {
            // The lines that say what went wrong: load errors, failed rows, the summary.
            let mut lines: Vec<&str> = stdout
                .lines()
                .chain(stderr.lines())
                .filter(|l| {
                    l.contains("ERROR")
                        || l.contains("Error")
                        || l.contains("│ Fail")
                        || l.contains("Test Summary")
                        || l.contains("Loading test")
                })
                .collect();
            if lines.is_empty() {
                lines = stdout.lines().chain(stderr.lines()).collect();
            }
            bail!(
                "`kubectl-kyverno test {POLICY_DIR}` failed ({}):\n{}",
                out.status,
                lines.join("\n")
            )
        }
    }
}

/// Reads `Test Summary: N tests passed and M tests failed`, the last line of a run.
fn parse_test_summary(stdout: &str) -> Option<TestSummary> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Test Summary: "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [passed, "tests", "passed", "and", failed, "tests", "failed"] => Some(TestSummary {
            passed: passed.parse().ok()?,
            failed: failed.parse().ok()?,
        }),
        _ => None,
    }
}

// ---- kubectl-kyverno apply and its policy report ----------------------------------------------

/// An object as the policy report names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
struct ResourceId {
    kind: String,
    #[serde(default)]
    namespace: String,
    name: String,
}

impl ResourceId {
    fn of(object: &serde_yaml::Value) -> Option<Self> {
        Some(Self {
            kind: str_at(object, &["kind"])?.to_owned(),
            namespace: str_at(object, &["metadata", "namespace"])
                .unwrap_or_default()
                .to_owned(),
            name: str_at(object, &["metadata", "name"])?.to_owned(),
        })
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A policy's verdict on one object (`openreports.io` result values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Pass,
    Fail,
    Warn,
    Error,
    Skip,
}

impl Verdict {
    /// How a problem line says it: `<policy> <verb> <object>: <message>`.
    fn verb(self) -> &'static str {
        match self {
            Self::Pass => "admits",
            Self::Fail => "denies",
            Self::Warn => "warns on",
            Self::Error => "could not evaluate",
            Self::Skip => "skipped",
        }
    }
}

/// One result of the report: a policy evaluated on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    policy: String,
    verdict: Verdict,
    resource: ResourceId,
    message: String,
}

/// What `kubectl-kyverno apply --policy-report` said.
#[derive(Debug)]
struct Report {
    /// Whether the CLI exited 0 (it exits 1 when a policy failed).
    success: bool,
    outcomes: Vec<Outcome>,
}

impl Report {
    fn for_resource(&self, id: &ResourceId) -> Vec<&Outcome> {
        self.outcomes.iter().filter(|o| &o.resource == id).collect()
    }
}

/// The report's JSON, as much of it as the checks read.
#[derive(Deserialize)]
struct ReportJson {
    kind: String,
    #[serde(default)]
    results: Vec<ResultJson>,
}

#[derive(Deserialize)]
struct ResultJson {
    policy: String,
    result: Verdict,
    #[serde(default)]
    message: String,
    /// `subjects` in newer releases of the openreports API.
    #[serde(default, alias = "subjects")]
    resources: Vec<ResourceId>,
}

/// Applies the bundle to `resources`, reading the JSON policy report it prints.
fn apply(tools: &Tools, bundle: &Path, resources: &[PathBuf]) -> Result<Report> {
    let mut cmd = Command::new(&tools.go.kyverno);
    cmd.current_dir(root()).arg("apply").arg(bundle);
    for resource in resources {
        cmd.arg("--resource").arg(resource);
    }
    cmd.args([
        "--policy-report",
        "--output-format",
        "json",
        "--remove-color",
    ]);
    let out = proc::output(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let outcomes = parse_report(&stdout).with_context(|| {
        format!(
            "`{}` ({}) printed no policy report; its output:\n{}\n{}",
            proc::display_command(&cmd),
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    Ok(Report {
        success: out.status.success(),
        outcomes,
    })
}

/// The results of every report in the CLI's output: one JSON document per line (a cluster-wide
/// report, then one per namespace after a `---` line).
fn parse_report(stdout: &str) -> Result<Vec<Outcome>> {
    let mut reports = 0;
    let mut outcomes = Vec::new();
    for line in stdout.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let report: ReportJson =
            serde_json::from_str(line).context("parsing a policy report line")?;
        if !report.kind.ends_with("Report") {
            bail!("expected a policy report, found a `{}`", report.kind);
        }
        reports += 1;
        for result in report.results {
            if result.resources.is_empty() {
                bail!(
                    "a result of policy `{}` names no resource: {}",
                    result.policy,
                    result.message
                );
            }
            for resource in result.resources {
                outcomes.push(Outcome {
                    policy: result.policy.clone(),
                    verdict: result.result,
                    resource,
                    message: result.message.clone(),
                });
            }
        }
    }
    if reports == 0 {
        bail!("no policy report in the output");
    }
    Ok(outcomes)
}

// ---- 3. the fixtures --------------------------------------------------------------------------

/// What a fixture's annotations say must happen to it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expectation {
    /// Admitted: no policy fails it, at least one evaluates it.
    Pass,
    /// Denied by exactly `policy`, with a message containing `message`.
    Deny { policy: String, message: String },
    /// Evaluated by no policy.
    Ignore,
}

impl Expectation {
    fn of(object: &serde_yaml::Value) -> Result<Self> {
        let annotation = |key: &str| {
            str_at(
                object,
                &["metadata", "annotations", &format!("{EXPECT_PREFIX}{key}")],
            )
        };
        match annotation("expect") {
            Some("pass") => Ok(Self::Pass),
            Some("ignore") => Ok(Self::Ignore),
            Some("deny") => Ok(Self::Deny {
                policy: annotation("denied-by")
                    .context("`expect: deny` needs the annotation `…/denied-by: <policy>`")?
                    .to_owned(),
                message: annotation("message")
                    .filter(|m| !m.is_empty())
                    .context("`expect: deny` needs a non-empty annotation `…/message`")?
                    .to_owned(),
            }),
            Some(other) => bail!("`{EXPECT_PREFIX}expect: {other}`: expected pass, deny or ignore"),
            None => bail!("no `{EXPECT_PREFIX}expect` annotation (pass, deny or ignore)"),
        }
    }
}

/// Counts of the fixtures by expectation, all met.
#[derive(Debug, Default, PartialEq, Eq)]
struct FixtureSummary {
    admitted: usize,
    denied: usize,
    ignored: usize,
}

fn check_fixtures(tools: &Tools, bundle: &Bundle) -> Result<FixtureSummary> {
    let dir = root().join(FIXTURE_DIR);
    let files: Vec<PathBuf> = yaml_files(&dir, true)?
        .into_iter()
        .filter(|f| f.file_name().is_none_or(|n| n != "kyverno-test.yaml"))
        .collect();
    let mut fixtures = BTreeMap::new();
    for file in &files {
        for doc in documents(&read(file)?)? {
            let id = ResourceId::of(&doc)
                .with_context(|| format!("{}: a fixture without kind or name", file.display()))?;
            let expectation = Expectation::of(&doc)
                .with_context(|| format!("{}: fixture {id}", file.display()))?;
            if fixtures.insert(id.clone(), expectation).is_some() {
                bail!(
                    "{}: fixture {id} is defined twice; the report could not tell them apart",
                    file.display()
                );
            }
        }
    }
    let report = apply(tools, &bundle.path, &files)?;
    let names: BTreeSet<&str> = bundle.policies.iter().map(|p| p.name.as_str()).collect();
    judge_fixtures(&names, &fixtures, &report)
}

/// Checks every fixture's expectation against the report, and that each policy is exercised
/// by at least one admitted and one denied fixture. Lists every problem, not just the first.
fn judge_fixtures(
    policies: &BTreeSet<&str>,
    fixtures: &BTreeMap<ResourceId, Expectation>,
    report: &Report,
) -> Result<FixtureSummary> {
    let mut problems = Vec::new();
    let mut summary = FixtureSummary::default();
    let mut admitted_by: BTreeSet<&str> = BTreeSet::new();
    let mut denied_by: BTreeSet<&str> = BTreeSet::new();
    for (id, expectation) in fixtures {
        let outcomes = report.for_resource(id);
        problems.extend(judge_fixture(id, expectation, &outcomes, policies));
        match expectation {
            Expectation::Pass => {
                summary.admitted += 1;
                admitted_by.extend(outcomes.iter().map(|o| o.policy.as_str()));
            }
            Expectation::Deny { policy, message } => {
                summary.denied += 1;
                if outcomes.iter().any(|o| denies(o, policy, message)) {
                    denied_by.insert(policy.as_str());
                }
            }
            Expectation::Ignore => summary.ignored += 1,
        }
    }
    for o in &report.outcomes {
        if !fixtures.contains_key(&o.resource) {
            problems.push(format!(
                "the report names {}, which is no fixture",
                o.resource
            ));
        }
    }
    for policy in policies {
        if !admitted_by.contains(policy) {
            problems.push(format!(
                "policy {policy} admits no fixture: add one to its good.yaml"
            ));
        }
        if !denied_by.contains(policy) {
            problems.push(format!(
                "policy {policy} denies no fixture: add one to its bad.yaml"
            ));
        }
    }
    // The CLI exits 1 exactly when a result failed; anything else means it misbehaved.
    let failed = report.outcomes.iter().any(|o| o.verdict == Verdict::Fail);
    if report.success == failed {
        problems.push(format!(
            "kubectl-kyverno apply exited {} although the report {} failures",
            if report.success { "0" } else { "non-zero" },
            if failed { "holds" } else { "holds no" }
        ));
    }
    if problems.is_empty() {
        Ok(summary)
    } else {
        bail!(
            "{} fixture problem(s) under {FIXTURE_DIR}:\n  {}",
            problems.len(),
            problems.join("\n  ")
        )
    }
}

/// Whether `outcome` is `policy` denying with a message containing `message`.
fn denies(outcome: &Outcome, policy: &str, message: &str) -> bool {
    outcome.verdict == Verdict::Fail
        && outcome.policy == policy
        && outcome.message.contains(message)
}

/// The problems of one fixture: how its outcomes differ from its expectation.
fn judge_fixture(
    id: &ResourceId,
    expectation: &Expectation,
    outcomes: &[&Outcome],
    policies: &BTreeSet<&str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let not_passed = outcomes.iter().filter(|o| o.verdict != Verdict::Pass);
    match expectation {
        Expectation::Pass => {
            if outcomes.is_empty() {
                problems.push(format!(
                    "{id}: expected to be admitted, but no policy evaluated it"
                ));
            }
            for o in not_passed {
                problems.push(format!(
                    "{id}: expected to be admitted, but {} says {:?}: {}",
                    o.policy, o.verdict, o.message
                ));
            }
        }
        Expectation::Deny { policy, message } => {
            if !policies.contains(policy.as_str()) {
                problems.push(format!(
                    "{id}: `denied-by: {policy}` names no policy of the bundle"
                ));
            }
            if !outcomes.iter().any(|o| denies(o, policy, message)) {
                let said = outcomes.iter().find(|o| &o.policy == policy).map_or_else(
                    || "did not evaluate it".to_owned(),
                    |o| format!("says {:?}: {}", o.verdict, o.message),
                );
                problems.push(format!(
                    "{id}: expected {policy} to deny it with a message containing `{message}`, \
                     but {policy} {said}"
                ));
            }
            for o in not_passed.filter(|o| &o.policy != policy) {
                problems.push(format!(
                    "{id}: meant to violate {policy} only, but {} says {:?} too: {}",
                    o.policy, o.verdict, o.message
                ));
            }
        }
        Expectation::Ignore => {
            for o in outcomes {
                problems.push(format!(
                    "{id}: out of scope, but {} evaluated it ({:?})",
                    o.policy, o.verdict
                ));
            }
        }
    }
    problems
}

// ---- 4. the rendered overlays -----------------------------------------------------------------

/// What one overlay's check counted.
#[derive(Debug, PartialEq, Eq)]
struct OverlaySummary {
    workloads: usize,
    passed: usize,
}

/// No policy fails an object of the overlay, and every policy evaluated every workload of a kind
/// it matches (none slipped past its namespace selector).
fn judge_overlay(
    policies: &[Policy],
    objects: &[serde_yaml::Value],
    report: &Report,
) -> Result<OverlaySummary> {
    let mut problems = Vec::new();
    for o in report
        .outcomes
        .iter()
        .filter(|o| o.verdict != Verdict::Pass)
    {
        problems.push(format!(
            "{} {} {}: {}",
            o.policy,
            o.verdict.verb(),
            o.resource,
            o.message
        ));
    }
    let mut workloads = BTreeSet::new();
    for policy in policies {
        let evaluated: BTreeSet<&ResourceId> = report
            .outcomes
            .iter()
            .filter(|o| o.policy == policy.name)
            .map(|o| &o.resource)
            .collect();
        for object in objects {
            if !policy.kinds.contains(&group_kind(object)) {
                continue;
            }
            let Some(id) = ResourceId::of(object) else {
                continue;
            };
            if !evaluated.contains(&id) {
                problems.push(format!(
                    "{} did not evaluate {id}: is namespace `{}` in its namespaceSelector?",
                    policy.name, id.namespace
                ));
            }
            workloads.insert(id);
        }
    }
    if workloads.is_empty() {
        problems.push("holds no workload for the policies to check".to_owned());
    }
    let failed = report.outcomes.iter().any(|o| o.verdict == Verdict::Fail);
    if !report.success && !failed {
        problems.push("kubectl-kyverno apply exited non-zero without a failed result".to_owned());
    }
    if problems.is_empty() {
        Ok(OverlaySummary {
            workloads: workloads.len(),
            passed: report.outcomes.len(),
        })
    } else {
        bail!(
            "the admission policies reject it ({} problem(s)):\n  {}",
            problems.len(),
            problems.join("\n  ")
        )
    }
}

// ---- YAML helpers -----------------------------------------------------------------------------

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The non-empty documents of a multi-document YAML text.
fn documents(text: &str) -> Result<Vec<serde_yaml::Value>> {
    let mut docs = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// `*.yaml` files of `dir`, sorted; with `recursive`, of its subdirectories too.
fn yaml_files(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.is_dir() {
            if recursive {
                files.extend(yaml_files(&path, true)?);
            }
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn value_at<'a>(value: &'a serde_yaml::Value, path: &[&str]) -> Option<&'a serde_yaml::Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

fn str_at<'a>(value: &'a serde_yaml::Value, path: &[&str]) -> Option<&'a str> {
    value_at(value, path)?.as_str()
}

/// A list of strings under `key` (missing or non-string entries are skipped).
fn strings_at(value: &serde_yaml::Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(serde_yaml::Value::as_sequence)
        .map(|items| {
            items
                .iter()
                .filter_map(serde_yaml::Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).expect("test YAML")
    }

    fn id(kind: &str, name: &str) -> ResourceId {
        ResourceId {
            kind: kind.to_owned(),
            namespace: "blueprint-dev".to_owned(),
            name: name.to_owned(),
        }
    }

    fn outcome(policy: &str, verdict: Verdict, resource: &ResourceId, message: &str) -> Outcome {
        Outcome {
            policy: policy.to_owned(),
            verdict,
            resource: resource.clone(),
            message: message.to_owned(),
        }
    }

    /// A report line as kubectl-kyverno v1.19.1 prints it (trimmed to two results).
    const REPORT: &str = r#"{"kind":"ClusterReport","apiVersion":"openreports.io/v1alpha1","metadata":{"name":"merged"},"source":"","summary":{"pass":1,"fail":1,"warn":0,"error":0,"skip":0},"results":[{"source":"KyvernoValidatingPolicy","policy":"require-probes","result":"pass","scored":true,"resources":[{"kind":"Deployment","namespace":"blueprint-dev","name":"good","apiVersion":"apps/v1"}],"message":"success","properties":{"process":"background scan"}},{"source":"KyvernoValidatingPolicy","policy":"restrict-images","result":"fail","scored":true,"resources":[{"kind":"Pod","namespace":"blueprint-dev","name":"bad","apiVersion":"v1"}],"message":"image must carry a version tag other than latest, or a digest, for container(s): api (x)","properties":{"cel.validationIndex":"0","process":"background scan"}}]}"#;

    #[test]
    fn the_json_policy_report_is_read_into_outcomes() {
        let outcomes = parse_report(&format!("\n{REPORT}\n---\n")).expect("report");
        assert_eq!(
            outcomes,
            vec![
                outcome(
                    "require-probes",
                    Verdict::Pass,
                    &id("Deployment", "good"),
                    "success"
                ),
                outcome(
                    "restrict-images",
                    Verdict::Fail,
                    &id("Pod", "bad"),
                    "image must carry a version tag other than latest, or a digest, for container(s): api (x)"
                ),
            ]
        );
    }

    #[test]
    fn output_without_a_report_is_an_error() {
        let text = "\nApplying 0 policy rule(s) to 4 resource(s)...\n\npass: 0, fail: 0\n";
        let err = parse_report(text).expect_err("no report");
        assert!(err.to_string().contains("no policy report"), "{err}");
        assert!(parse_report(r#"{"kind":"Deployment"}"#).is_err());
        assert!(parse_report("{not json").is_err());
    }

    #[test]
    fn the_test_summary_line_is_parsed_and_a_failing_one_too() {
        let ok = "Loading test ...\n\nTest Summary: 64 tests passed and 0 tests failed\n\n";
        assert_eq!(
            parse_test_summary(ok),
            Some(TestSummary {
                passed: 64,
                failed: 0
            })
        );
        let failing = "Test Summary: 61 tests passed and 3 tests failed\n\nError: 3 tests failed\n";
        assert_eq!(
            parse_test_summary(failing),
            Some(TestSummary {
                passed: 61,
                failed: 3
            })
        );
        assert_eq!(parse_test_summary("Error: failed to run test"), None);
        assert_eq!(
            parse_test_summary("Test Summary: 3 out of 9 tests failed"),
            None
        );
    }

    #[test]
    fn expectations_come_from_annotations_and_bad_ones_are_refused() {
        let deny = yaml(
            "metadata:\n  annotations:\n    policy.sre-blueprint.test/expect: deny\n    \
             policy.sre-blueprint.test/denied-by: require-probes\n    \
             policy.sre-blueprint.test/message: livenessProbe\n",
        );
        assert_eq!(
            Expectation::of(&deny).expect("deny"),
            Expectation::Deny {
                policy: "require-probes".into(),
                message: "livenessProbe".into()
            }
        );
        let pass = yaml("metadata:\n  annotations:\n    policy.sre-blueprint.test/expect: pass\n");
        assert_eq!(Expectation::of(&pass).expect("pass"), Expectation::Pass);
        assert!(Expectation::of(&yaml("metadata: {name: x}")).is_err());
        let vague = yaml("metadata:\n  annotations:\n    policy.sre-blueprint.test/expect: deny\n");
        assert!(Expectation::of(&vague).is_err());
        let typo =
            yaml("metadata:\n  annotations:\n    policy.sre-blueprint.test/expect: denied\n");
        assert!(Expectation::of(&typo).is_err());
    }

    fn fixtures() -> BTreeMap<ResourceId, Expectation> {
        BTreeMap::from([
            (id("Deployment", "good"), Expectation::Pass),
            (
                id("Deployment", "no-liveness"),
                Expectation::Deny {
                    policy: "require-probes".into(),
                    message: "livenessProbe is required".into(),
                },
            ),
        ])
    }

    #[test]
    fn fixtures_meeting_their_expectations_pass() {
        let policies = BTreeSet::from(["require-probes"]);
        let report = Report {
            success: false,
            outcomes: vec![
                outcome(
                    "require-probes",
                    Verdict::Pass,
                    &id("Deployment", "good"),
                    "success",
                ),
                outcome(
                    "require-probes",
                    Verdict::Fail,
                    &id("Deployment", "no-liveness"),
                    "livenessProbe is required for container(s): api",
                ),
            ],
        };
        let summary = judge_fixtures(&policies, &fixtures(), &report).expect("as expected");
        assert_eq!(
            summary,
            FixtureSummary {
                admitted: 1,
                denied: 1,
                ignored: 0
            }
        );
    }

    #[test]
    fn a_bad_fixture_denied_for_the_wrong_reason_fails() {
        let policies = BTreeSet::from(["require-probes", "restrict-images"]);
        let report = Report {
            success: false,
            outcomes: vec![
                outcome(
                    "require-probes",
                    Verdict::Pass,
                    &id("Deployment", "good"),
                    "success",
                ),
                outcome(
                    "restrict-images",
                    Verdict::Pass,
                    &id("Deployment", "good"),
                    "success",
                ),
                // Denied, but by the other policy, and its own policy let it through.
                outcome(
                    "require-probes",
                    Verdict::Pass,
                    &id("Deployment", "no-liveness"),
                    "success",
                ),
                outcome(
                    "restrict-images",
                    Verdict::Fail,
                    &id("Deployment", "no-liveness"),
                    "image must carry a version tag",
                ),
            ],
        };
        let err = judge_fixtures(&policies, &fixtures(), &report)
            .expect_err("wrong policy")
            .to_string();
        assert!(err.contains("expected require-probes to deny it"), "{err}");
        assert!(err.contains("but restrict-images says Fail too"), "{err}");
        assert!(
            err.contains("policy restrict-images denies no fixture"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_fixture_denied_with_another_message_fails() {
        let policies = BTreeSet::from(["require-probes"]);
        let report = Report {
            success: false,
            outcomes: vec![
                outcome(
                    "require-probes",
                    Verdict::Pass,
                    &id("Deployment", "good"),
                    "success",
                ),
                outcome(
                    "require-probes",
                    Verdict::Fail,
                    &id("Deployment", "no-liveness"),
                    "readinessProbe is required for container(s): api",
                ),
            ],
        };
        let err = judge_fixtures(&policies, &fixtures(), &report)
            .expect_err("wrong message")
            .to_string();
        assert!(
            err.contains("containing `livenessProbe is required`"),
            "{err}"
        );
    }

    #[test]
    fn a_fixture_no_policy_evaluated_fails_when_it_should_pass() {
        let policies = BTreeSet::from(["require-probes"]);
        // The CLI skipped the policy (e.g. it did not load): no results, exit 0.
        let report = Report {
            success: true,
            outcomes: vec![],
        };
        let err = judge_fixtures(&policies, &fixtures(), &report)
            .expect_err("vacuous")
            .to_string();
        assert!(err.contains("no policy evaluated it"), "{err}");
        assert!(err.contains("require-probes did not evaluate it"), "{err}");
    }

    fn probes_policy() -> Policy {
        policy(&yaml(
            "apiVersion: policies.kyverno.io/v1\nkind: ValidatingPolicy\nmetadata: {name: require-probes}\n\
             spec:\n  matchConstraints:\n    resourceRules:\n\
             \x20     - apiGroups: [apps]\n        resources: [deployments, statefulsets]\n\
             \x20     - apiGroups: ['']\n        resources: [pods/ephemeralcontainers]\n",
        ))
        .expect("policy")
    }

    #[test]
    fn policies_are_read_with_the_kinds_they_match() {
        let probes = probes_policy();
        assert_eq!(probes.name, "require-probes");
        assert_eq!(
            probes.kinds,
            BTreeSet::from([
                ("apps".to_owned(), "Deployment".to_owned()),
                ("apps".to_owned(), "StatefulSet".to_owned()),
            ])
        );
        let unknown = yaml(
            "kind: ValidatingPolicy\nmetadata: {name: x}\nspec:\n  matchConstraints:\n    \
             resourceRules: [{apiGroups: [apps], resources: [controllerrevisions]}]\n",
        );
        assert!(policy(&unknown).is_err());
        assert!(policy(&yaml("kind: ClusterPolicy\nmetadata: {name: x}\n")).is_err());
    }

    fn overlay() -> Vec<serde_yaml::Value> {
        vec![
            yaml(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: blueprint-api, namespace: blueprint-dev}",
            ),
            yaml(
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: redis, namespace: blueprint-dev}",
            ),
            yaml(
                "apiVersion: v1\nkind: Service\nmetadata: {name: blueprint-api, namespace: blueprint-dev}",
            ),
        ]
    }

    #[test]
    fn an_overlay_every_workload_of_passes() {
        let report = Report {
            success: true,
            outcomes: vec![
                outcome(
                    "require-probes",
                    Verdict::Pass,
                    &id("Deployment", "blueprint-api"),
                    "success",
                ),
                outcome(
                    "require-probes",
                    Verdict::Pass,
                    &id("StatefulSet", "redis"),
                    "success",
                ),
            ],
        };
        let summary = judge_overlay(&[probes_policy()], &overlay(), &report).expect("compliant");
        assert_eq!(
            summary,
            OverlaySummary {
                workloads: 2,
                passed: 2
            }
        );
    }

    #[test]
    fn an_overlay_with_a_violation_or_an_unevaluated_workload_fails() {
        let report = Report {
            success: false,
            outcomes: vec![outcome(
                "require-probes",
                Verdict::Fail,
                &id("Deployment", "blueprint-api"),
                "livenessProbe is required for container(s): api",
            )],
        };
        let err = judge_overlay(&[probes_policy()], &overlay(), &report)
            .expect_err("violation")
            .to_string();
        assert!(
            err.contains(
                "require-probes denies Deployment blueprint-dev/blueprint-api: livenessProbe"
            ),
            "{err}"
        );
        assert!(
            err.contains("require-probes did not evaluate StatefulSet blueprint-dev/redis"),
            "{err}"
        );
        // Nothing matched at all (a namespace outside the selector) is no success either.
        let empty = Report {
            success: true,
            outcomes: vec![],
        };
        assert!(judge_overlay(&[probes_policy()], &overlay(), &empty).is_err());
    }
}
