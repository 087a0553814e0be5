//! Observability as code, checked: rules, alerts, runbooks, routing, PromQL.
//!
//! What `make test` proves here, each with the tool the file is written for:
//!
//! - the SLO rules are what `config/slo/slos.yaml` generates ([`crate::slo`]);
//! - `promtool check config` (Prometheus config and every rule file it loads) and
//!   `promtool test rules` (every file in `config/prometheus/tests/`);
//! - every alert has `severity` (page, ticket or none), `team`, `summary`, `description` and a
//!   `runbook_url` naming `docs/runbooks/<alert>.md`, which exists with the sections an on-call
//!   engineer looks for, and no runbook is left without its alert;
//! - every alert has a promtool case that makes it fire and one that keeps it quiet (an alert
//!   whose expression is `vector(1)` — the always-firing Watchdog — needs only the first);
//! - `amtool check-config`, and `amtool config routes test` for each case in
//!   `config/alertmanager/routes-test.yaml`;
//! - every PromQL expression in the rules, the dashboards and the runbooks parses
//!   (`promql-parser`), and — in the live test ([`crate::obs_live`]), against a real scrape —
//!   names only metrics the services export or the rules record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail, ensure};
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr as Ast;
use promql_parser::util::{ExprVisitor, walk_expr};
use serde::Deserialize;
use serde_yaml::Value;

use crate::{proc, root};

/// Rule files, relative to the root.
const RULES_DIR: &str = "config/prometheus/rules";
/// promtool unit tests, relative to the root.
const RULE_TESTS_DIR: &str = "config/prometheus/tests";
/// The Prometheus config (outside Kubernetes), relative to the root.
const PROMETHEUS_CONFIG: &str = "config/prometheus/prometheus.yml";
/// The Alertmanager config, relative to the root.
pub const ALERTMANAGER_CONFIG: &str = "config/alertmanager/alertmanager.yml";
/// Routing cases for `amtool config routes test`, relative to the root.
const ROUTE_CASES: &str = "config/alertmanager/routes-test.yaml";
/// One runbook per alert, relative to the root.
const RUNBOOKS_DIR: &str = "docs/runbooks";

/// The sections every runbook has, in this order.
const RUNBOOK_SECTIONS: [&str; 5] = [
    "## Meaning",
    "## Impact",
    "## Diagnosis",
    "## Mitigation",
    "## Related",
];

/// The severities Alertmanager routes on.
const SEVERITIES: [&str; 3] = ["page", "ticket", "none"];

/// A PromQL expression and where it was written.
#[derive(Debug, Clone)]
pub struct Expr {
    pub source: String,
    pub promql: String,
}

/// One alerting rule, as written.
#[derive(Debug)]
pub struct Alert {
    pub name: String,
    pub file: String,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Everything in the rule files.
#[derive(Debug, Default)]
pub struct Rules {
    pub alerts: Vec<Alert>,
    /// Names written by recording rules.
    pub records: BTreeSet<String>,
    pub exprs: Vec<Expr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    // Accepted so that strict parsing allows them; promtool checks their values.
    #[serde(default, rename = "interval")]
    _interval: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    expr: String,
    #[serde(default, rename = "for")]
    _for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The `*.yaml` files of a directory under the root, sorted, relative to the root.
fn yaml_files(dir: &str) -> Result<Vec<PathBuf>> {
    let full = root().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&full)
        .with_context(|| format!("listing {}", full.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .filter_map(|path| path.strip_prefix(root()).ok().map(Path::to_owned))
        .collect();
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<String> {
    let full = root().join(path);
    std::fs::read_to_string(&full).with_context(|| format!("reading {}", full.display()))
}

/// The rule files under `config/prometheus/rules/`, relative to the root.
pub fn rule_files() -> Result<Vec<PathBuf>> {
    yaml_files(RULES_DIR)
}

/// Reads every rule file under `config/prometheus/rules/`.
pub fn load_rules() -> Result<Rules> {
    let mut rules = Rules::default();
    for path in rule_files()? {
        let file = path.display().to_string();
        let parsed: RuleFile =
            serde_yaml::from_str(&read(&path)?).with_context(|| format!("parsing {file}"))?;
        for group in parsed.groups {
            for rule in group.rules {
                match (rule.record, rule.alert) {
                    (Some(record), None) => {
                        rules.exprs.push(Expr {
                            source: format!("{file}: record {record}"),
                            promql: rule.expr,
                        });
                        rules.records.insert(record);
                    }
                    (None, Some(name)) => {
                        rules.exprs.push(Expr {
                            source: format!("{file}: alert {name}"),
                            promql: rule.expr.clone(),
                        });
                        rules.alerts.push(Alert {
                            name,
                            file: file.clone(),
                            expr: rule.expr,
                            labels: rule.labels,
                            annotations: rule.annotations,
                        });
                    }
                    _ => bail!(
                        "{file}, group {}: a rule needs exactly one of `record` and `alert`",
                        group.name
                    ),
                }
            }
        }
    }
    ensure!(!rules.alerts.is_empty(), "no alerts found in {RULES_DIR}");
    Ok(rules)
}

impl Rules {
    /// Alert names, each once, sorted.
    pub fn alert_names(&self) -> BTreeSet<&str> {
        self.alerts.iter().map(|a| a.name.as_str()).collect()
    }
}

/// Labels and annotations every alert needs, and a `runbook_url` that names its own runbook.
pub fn check_alert_metadata(rules: &Rules, runbook_base_url: &str) -> Result<()> {
    let mut problems = Vec::new();
    for alert in &rules.alerts {
        let at = format!("{}: alert {}", alert.file, alert.name);
        match alert.labels.get("severity").map(String::as_str) {
            Some(severity) if SEVERITIES.contains(&severity) => {}
            other => problems.push(format!(
                "{at}: label `severity` must be one of {SEVERITIES:?}, not {other:?}"
            )),
        }
        if alert.labels.get("team").is_none_or(String::is_empty) {
            problems.push(format!("{at}: no `team` label (Alertmanager routes on it)"));
        }
        for key in ["summary", "description", "runbook_url"] {
            if alert
                .annotations
                .get(key)
                .is_none_or(|v| v.trim().is_empty())
            {
                problems.push(format!("{at}: no `{key}` annotation"));
            }
        }
        let expected = format!("{runbook_base_url}{}.md", alert.name);
        if let Some(url) = alert.annotations.get("runbook_url")
            && *url != expected
        {
            problems.push(format!("{at}: runbook_url is {url}, expected {expected}"));
        }
    }
    report(&problems)
}

/// Runbooks of procedures that no alert starts (restoring from backup, rolling back a release):
/// they must exist in `docs/runbooks/`, and are not alerts' runbooks.
const PROCEDURES: [&str; 2] = ["disaster-recovery", "rollback"];

/// `docs/runbooks/<alert>.md` exists for every alert, with its title and sections in order; every
/// runbook belongs to an alert or to one of the [`PROCEDURES`].
pub fn check_runbooks(rules: &Rules) -> Result<()> {
    let mut problems = Vec::new();
    for procedure in PROCEDURES {
        let path = PathBuf::from(RUNBOOKS_DIR).join(format!("{procedure}.md"));
        if read(&path).is_err() {
            problems.push(format!(
                "the procedure {procedure} has no runbook: {} is missing",
                path.display()
            ));
        }
    }
    let names = rules.alert_names();
    for name in &names {
        let path = PathBuf::from(RUNBOOKS_DIR).join(format!("{name}.md"));
        let Ok(text) = read(&path) else {
            problems.push(format!(
                "alert {name} has no runbook: {} is missing",
                path.display()
            ));
            continue;
        };
        let title = format!("# {name}");
        if text.lines().next() != Some(title.as_str()) {
            problems.push(format!(
                "{}: the first line must be `{title}`",
                path.display()
            ));
        }
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
        let mut at = 0;
        for section in RUNBOOK_SECTIONS {
            match headings[at..].iter().position(|h| h.trim_end() == section) {
                Some(i) => at += i + 1,
                None => problems.push(format!(
                    "{}: no `{section}` section (after the ones before it; expected in order: {})",
                    path.display(),
                    RUNBOOK_SECTIONS.join(", ")
                )),
            }
        }
    }
    let dir = root().join(RUNBOOKS_DIR);
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "md")
            && stem != "README"
            && !names.contains(stem)
            && !PROCEDURES.contains(&stem)
        {
            problems.push(format!(
                "{}: no alert is named {stem} (rename or delete the runbook)",
                path.display()
            ));
        }
    }
    report(&problems)
}

/// Every alert has a promtool case that fires it and one that keeps it quiet.
pub fn check_alert_tests(rules: &Rules) -> Result<()> {
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for path in yaml_files(RULE_TESTS_DIR)? {
        let file = path.display().to_string();
        let doc: Value =
            serde_yaml::from_str(&read(&path)?).with_context(|| format!("parsing {file}"))?;
        let tests = doc["tests"]
            .as_sequence()
            .with_context(|| format!("{file}: no `tests` list"))?;
        for test in tests {
            for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"]
                    .as_str()
                    .with_context(|| format!("{file}: an alert_rule_test without alertname"))?
                    .to_owned();
                let fires = case["exp_alerts"]
                    .as_sequence()
                    .is_some_and(|alerts| !alerts.is_empty());
                if fires {
                    firing.insert(name);
                } else {
                    quiet.insert(name);
                }
            }
        }
    }
    let mut problems = Vec::new();
    for alert in &rules.alerts {
        let always = alert.expr.trim() == "vector(1)";
        if !firing.contains(&alert.name) {
            problems.push(format!(
                "alert {} has no promtool case in {RULE_TESTS_DIR} that makes it fire",
                alert.name
            ));
        }
        if !always && !quiet.contains(&alert.name) {
            problems.push(format!(
                "alert {} has no promtool case in {RULE_TESTS_DIR} that keeps it quiet (exp_alerts: [])",
                alert.name
            ));
        }
    }
    let known = rules.alert_names();
    for name in firing.union(&quiet) {
        if !known.contains(name.as_str()) {
            problems.push(format!(
                "{RULE_TESTS_DIR} tests alert {name}, which no rule defines"
            ));
        }
    }
    report(&problems)
}

/// `promtool check config` (which checks every rule file the config loads too), then
/// `promtool test rules` on every test file, two at a time (the SLO files take the longest).
pub fn promtool(promtool: &Path) -> Result<()> {
    proc::run(
        Command::new(promtool)
            .current_dir(root())
            .args(["check", "config"])
            .arg(PROMETHEUS_CONFIG),
    )?;
    let files = yaml_files(RULE_TESTS_DIR)?;
    ensure!(!files.is_empty(), "no promtool tests in {RULE_TESTS_DIR}");
    let (first, second): (Vec<_>, Vec<_>) = files.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let run_all = |files: Vec<(usize, &PathBuf)>| -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        proc::run(
            Command::new(promtool)
                .current_dir(root())
                .args(["test", "rules"])
                .args(files.into_iter().map(|(_, f)| f)),
        )
    };
    std::thread::scope(|scope| {
        let other = scope.spawn(|| run_all(second));
        let mine = run_all(first);
        let other = other
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("promtool thread panicked")));
        mine.and(other)
    })
}

/// A case of `config/alertmanager/routes-test.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteCase {
    name: String,
    labels: BTreeMap<String, String>,
    receivers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteCases {
    cases: Vec<RouteCase>,
}

/// `amtool check-config`, then each routing case; every receiver of the config is reached by at
/// least one case.
pub fn amtool(amtool: &Path) -> Result<()> {
    proc::run(
        Command::new(amtool)
            .current_dir(root())
            .arg("check-config")
            .arg(ALERTMANAGER_CONFIG),
    )?;
    let cases: RouteCases = serde_yaml::from_str(&read(Path::new(ROUTE_CASES))?)
        .with_context(|| format!("parsing {ROUTE_CASES}"))?;
    let mut reached = BTreeSet::new();
    for case in &cases.cases {
        let mut cmd = Command::new(amtool);
        cmd.current_dir(root())
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={ALERTMANAGER_CONFIG}"))
            .arg(format!("--verify.receivers={}", case.receivers.join(",")))
            .args(case.labels.iter().map(|(k, v)| format!("{k}={v}")));
        proc::run(&mut cmd).with_context(|| {
            format!(
                "{ROUTE_CASES}: case `{}` did not reach {:?}",
                case.name, case.receivers
            )
        })?;
        reached.extend(case.receivers.iter().cloned());
    }
    let config: Value = serde_yaml::from_str(&read(Path::new(ALERTMANAGER_CONFIG))?)
        .with_context(|| format!("parsing {ALERTMANAGER_CONFIG}"))?;
    let unreached: Vec<&str> = config["receivers"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .filter(|name| !reached.contains(*name))
        .collect();
    ensure!(
        unreached.is_empty(),
        "{ROUTE_CASES}: no case reaches the receivers {unreached:?}"
    );
    println!(
        "{} routing cases passed; every receiver is reached",
        cases.cases.len()
    );
    Ok(())
}

/// The ```promql blocks of the runbooks and docs, as expressions.
pub fn doc_exprs() -> Result<Vec<Expr>> {
    let mut docs: Vec<PathBuf> = vec![PathBuf::from("docs/observability.md")];
    let dir = root().join(RUNBOOKS_DIR);
    let mut runbooks: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter_map(|p| p.strip_prefix(root()).ok().map(Path::to_owned))
        .collect();
    runbooks.sort();
    docs.extend(runbooks);
    let mut exprs = Vec::new();
    for path in docs {
        if !root().join(&path).is_file() {
            continue;
        }
        exprs.extend(promql_blocks(&path.display().to_string(), &read(&path)?));
    }
    Ok(exprs)
}

/// The expressions of the ```promql fenced blocks of a Markdown text (indented fences
/// included). A block may hold several expressions, separated by blank lines; `#` lines are
/// comments.
fn promql_blocks(file: &str, text: &str) -> Vec<Expr> {
    let mut exprs = Vec::new();
    let mut inside = false;
    let mut current: Option<(usize, String)> = None;
    let mut flush = |current: &mut Option<(usize, String)>| {
        if let Some((line, body)) = current.take() {
            exprs.push(Expr {
                source: format!("{file}:{line}"),
                promql: body,
            });
        }
    };
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if !inside {
            inside = trimmed == "```promql";
            continue;
        }
        if trimmed == "```" {
            inside = false;
            flush(&mut current);
        } else if trimmed.is_empty() {
            flush(&mut current);
        } else if !trimmed.starts_with('#') {
            let (_, body) = current.get_or_insert_with(|| (number + 1, String::new()));
            body.push_str(trimmed);
            body.push('\n');
        }
    }
    exprs
}

/// Parses every expression; returns the metric names each one reads, by expression.
pub fn parse_all(exprs: &[Expr]) -> Result<Vec<(&Expr, BTreeSet<String>)>> {
    let mut parsed = Vec::new();
    let mut problems = Vec::new();
    for expr in exprs {
        match metric_names(&expr.promql) {
            Ok(names) => parsed.push((expr, names)),
            Err(err) => problems.push(format!(
                "{}: not valid PromQL: {err}\n    {}",
                expr.source,
                expr.promql.trim()
            )),
        }
    }
    report(&problems)?;
    Ok(parsed)
}

/// The metric names a PromQL expression reads (selector names and `__name__="…"` matchers).
pub fn metric_names(promql: &str) -> Result<BTreeSet<String>, String> {
    struct Names(BTreeSet<String>);
    impl ExprVisitor for Names {
        type Error = String;
        fn pre_visit(&mut self, expr: &Ast) -> Result<bool, String> {
            let selector = match expr {
                Ast::VectorSelector(vs) => vs,
                Ast::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            if let Some(name) = &selector.name {
                self.0.insert(name.clone());
                return Ok(true);
            }
            let by_name: Vec<_> = selector
                .matchers
                .matchers
                .iter()
                .filter(|m| m.name == "__name__")
                .collect();
            match by_name.as_slice() {
                [m] if matches!(m.op, MatchOp::Equal) => {
                    self.0.insert(m.value.clone());
                    Ok(true)
                }
                _ => Err(format!(
                    "selector `{selector}` does not name one metric; the checks cannot tell what it reads"
                )),
            }
        }
    }
    let ast = promql_parser::parser::parse(promql)?;
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &ast)?;
    Ok(names.0)
}

/// The metric names of a scrape in the Prometheus text format or OpenMetrics: every sample's name,
/// plus, for each histogram or summary, its `_bucket`, `_sum`, `_count` series.
pub fn exposition_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                match kind {
                    "histogram" => {
                        for suffix in ["_bucket", "_sum", "_count"] {
                            names.insert(format!("{name}{suffix}"));
                        }
                    }
                    "summary" => {
                        for suffix in ["_sum", "_count"] {
                            names.insert(format!("{name}{suffix}"));
                        }
                        names.insert(name.to_owned());
                    }
                    // OpenMetrics names a counter family without `_total`.
                    "counter" => {
                        names.insert(format!("{}_total", name.trim_end_matches("_total")));
                    }
                    _ => {
                        names.insert(name.to_owned());
                    }
                }
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line
                .find(|c: char| c == '{' || c.is_whitespace())
                .unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Metrics Prometheus makes itself: scrape health and alert state.
pub const PROMETHEUS_OWN: [&str; 7] = [
    "up",
    "ALERTS",
    "ALERTS_FOR_STATE",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Fails, listing every expression that reads a metric outside `known`.
pub fn check_names(parsed: &[(&Expr, BTreeSet<String>)], known: &BTreeSet<String>) -> Result<()> {
    let mut problems = Vec::new();
    for (expr, names) in parsed {
        let unknown: Vec<&String> = names.iter().filter(|n| !known.contains(*n)).collect();
        if !unknown.is_empty() {
            problems.push(format!(
                "{} reads {unknown:?}, which neither service exports nor any rule records",
                expr.source
            ));
        }
    }
    report(&problems)
}

/// Joins problems into one error, or Ok when there are none.
fn report(problems: &[String]) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_come_from_selectors_ranges_and_name_matchers() {
        let names = metric_names(
            r#"sum(rate(a_total{job="x"}[5m])) / on (job) b + {__name__="c"} - count_over_time(d[1h:1m]) + vector(1)"#,
        )
        .expect("parses");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["a_total", "b", "c", "d"]
        );
        assert!(metric_names("sum(rate(x[5m])").is_err());
        assert!(metric_names(r#"{__name__=~"a.*"}"#).is_err());
    }

    #[test]
    fn exposition_names_cover_histogram_series_and_openmetrics_counters() {
        let text = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# TYPE c counter\nc_total 3\n\
                    # TYPE om counter\n# TYPE g gauge\ng 1\n# EOF\n";
        let names = exposition_names(text);
        for name in ["h_bucket", "h_sum", "h_count", "c_total", "om_total", "g"] {
            assert!(names.contains(name), "{name} in {names:?}");
        }
        assert!(!names.contains("om"));
    }

    #[test]
    fn promql_blocks_are_found_in_markdown_with_their_line() {
        let text = "# T\n\n1. Step\n\n   ```promql\n   sum(up)\n   ```\n\n```sh\nls\n```\n\
                    ```promql\n# one\nrate(a[5m])\n  / 2\n\n# two\nb\n```\n";
        let exprs = promql_blocks("r.md", text);
        let found: Vec<_> = exprs
            .iter()
            .map(|e| (e.source.as_str(), e.promql.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("r.md:6", "sum(up)\n"),
                ("r.md:14", "rate(a[5m])\n/ 2\n"),
                ("r.md:18", "b\n")
            ]
        );
    }

    #[test]
    fn unknown_metrics_are_reported_with_their_source() {
        let expr = Expr {
            source: "dash.json: panel 1".into(),
            promql: "rate(nope_total[5m]) + up".into(),
        };
        let exprs = [expr];
        let parsed = parse_all(&exprs).expect("parses");
        let known: BTreeSet<String> = ["up".to_owned()].into();
        let err = check_names(&parsed, &known).expect_err("nope_total is unknown");
        assert!(
            err.to_string()
                .contains("dash.json: panel 1 reads [\"nope_total\"]"),
            "{err}"
        );
    }

    #[test]
    fn the_committed_rules_have_complete_alerts_runbooks_and_tests() {
        let spec = crate::slo::Spec::load().expect("SLO source");
        let rules = load_rules().expect("rules");
        check_alert_metadata(&rules, &spec.runbook_base_url).expect("metadata");
        check_runbooks(&rules).expect("runbooks");
        check_alert_tests(&rules).expect("promtool cases");
        parse_all(&rules.exprs).expect("rule PromQL parses");
        parse_all(&doc_exprs().expect("docs")).expect("runbook PromQL parses");
    }

    #[test]
    fn an_alert_without_runbook_or_labels_is_reported() {
        let rules = Rules {
            alerts: vec![Alert {
                name: "NoSuchAlertAnywhere".into(),
                file: "x.yaml".into(),
                expr: "up == 0".into(),
                labels: [("severity".to_owned(), "critical".to_owned())].into(),
                annotations: BTreeMap::new(),
            }],
            ..Rules::default()
        };
        let err = check_alert_metadata(&rules, "https://e/").expect_err("incomplete");
        let text = err.to_string();
        for expected in [
            "`severity` must be one of",
            "no `team` label",
            "no `summary`",
            "no `runbook_url`",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        let err = check_runbooks(&rules).expect_err("no runbook");
        assert!(
            err.to_string()
                .contains("alert NoSuchAlertAnywhere has no runbook"),
            "{err}"
        );
        let err = check_alert_tests(&rules).expect_err("no cases");
        assert!(err.to_string().contains("makes it fire"), "{err}");
    }
}
