//! `cargo xtask slo`: SLOs as code.
//!
//! `config/slo/slos.yaml` is the one source of the SLO rules. For each SLO it gives the SLI as two
//! PromQL expressions (`errors` and `total`, rates over a `{{window}}` placeholder) and an
//! objective; this module turns it into Prometheus rules, the way Sloth and Pyrra do:
//!
//! - one recording rule per alert window: `slo:sli_error:ratio_rate<window>` = errors / total;
//! - the ratio over the SLO period (`slo:sli_error:ratio_rate30d`, an average of the 5-minute
//!   ratio, so a 30-day range of raw counters is never read), the objective, the error budget and
//!   the budget left;
//! - two multi-window, multi-burn-rate alerts (Google SRE Workbook, "Alerting on SLOs", method 6):
//!   a `page` and a `ticket`, each firing when both windows of any of its pairs burn the budget
//!   faster than the pair's rate.
//!
//! A *profile* changes only the ranges in brackets — never an expression or a rule name — so the
//! live test (`obs_live`) runs the very rules that ship, with windows of seconds.
//!
//! The production rules are committed (`config/prometheus/rules/slos.rules.yaml`) so that a review
//! shows them; `make test` regenerates them in memory and fails if the committed file differs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail, ensure};
use serde::Deserialize;

use crate::root;

/// The SLO source, relative to the workspace root.
pub const SOURCE: &str = "config/slo/slos.yaml";

/// The generated production rules, relative to the workspace root.
pub const RULES: &str = "config/prometheus/rules/slos.rules.yaml";

/// The placeholder for a rate range in `errors` and `total`.
const WINDOW: &str = "{{window}}";

/// Alert descriptions are folded into lines this long (YAML `>-` joins them again).
const DESCRIPTION_WIDTH: usize = 88;

/// The short window whose ratio the period's ratio averages (the finest alert window).
const BASE_WINDOW: &str = "5m";

/// `config/slo/slos.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The SLO period, e.g. `30d`.
    pub period: String,
    pub alerting: Alerting,
    /// `runbook_url` = this + `<alert>.md`.
    pub runbook_base_url: String,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Named matcher lists, inserted by `{{name}}` in SLI expressions.
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
    pub slos: Vec<Slo>,
}

/// Window pairs per severity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerting {
    pub page: Vec<WindowPair>,
    pub ticket: Vec<WindowPair>,
}

/// A long and a short window that must both burn faster than `burn_rate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowPair {
    pub long: String,
    pub short: String,
    pub burn_rate: f64,
}

/// Ranges to use instead of the production ones (names stay).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub period: String,
    pub windows: BTreeMap<String, String>,
}

/// One SLO. `errors` and `total` must each aggregate to one series without labels (`sum(…)`):
/// the generator adds `or vector(0)` to `errors` and the SLO's own labels to the ratio.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// kebab-case; the `slo` label of every generated series and alert.
    pub name: String,
    /// The alert's name (`CamelCase`); its runbook is `docs/runbooks/<alert>.md`.
    pub alert: String,
    pub service: String,
    /// Alertmanager routes on it.
    pub team: String,
    /// In percent, e.g. `99.9`.
    pub objective: f64,
    pub description: String,
    pub errors: String,
    pub total: String,
}

impl Spec {
    /// Reads and validates the committed source.
    pub fn load() -> Result<Self> {
        let path = root().join(SOURCE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {SOURCE}"))
    }

    /// Parses and validates a source text.
    pub fn parse(text: &str) -> Result<Self> {
        let spec: Self = serde_yaml::from_str(text)?;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<()> {
        seconds(&self.period).context("period")?;
        ensure!(!self.slos.is_empty(), "slos: at least one SLO is needed");
        ensure!(
            !self.alerting.page.is_empty() && !self.alerting.ticket.is_empty(),
            "alerting: page and ticket each need at least one window pair"
        );
        for (severity, pairs) in self.severities() {
            for pair in pairs {
                let (long, short) = (seconds(&pair.long)?, seconds(&pair.short)?);
                ensure!(
                    short < long,
                    "alerting.{severity}: the short window {} must be shorter than the long one {}",
                    pair.short,
                    pair.long
                );
                ensure!(
                    pair.burn_rate > 0.0 && pair.burn_rate.is_finite(),
                    "alerting.{severity}: burn_rate must be a positive number, not {}",
                    pair.burn_rate
                );
            }
        }
        ensure!(
            self.windows().iter().any(|w| w == BASE_WINDOW),
            "alerting: one window must be {BASE_WINDOW} (the period's ratio averages it)"
        );
        for (name, profile) in &self.profiles {
            seconds(&profile.period).with_context(|| format!("profiles.{name}.period"))?;
            for window in self.windows() {
                let range = profile.windows.get(&window).with_context(|| {
                    format!("profiles.{name}.windows: no range for the window {window}")
                })?;
                seconds(range).with_context(|| format!("profiles.{name}.windows.{window}"))?;
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for slo in &self.slos {
            let at = format!("slos[{}]", slo.name);
            ensure!(
                !slo.name.is_empty()
                    && slo
                        .name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{at}: name must be kebab-case"
            );
            ensure!(seen.insert(&slo.name), "{at}: the name is used twice");
            ensure!(
                slo.alert.starts_with(|c: char| c.is_ascii_uppercase())
                    && slo.alert.chars().all(|c| c.is_ascii_alphanumeric()),
                "{at}: alert must be CamelCase, not `{}`",
                slo.alert
            );
            ensure!(
                slo.objective > 0.0 && slo.objective < 100.0,
                "{at}: objective is a percentage between 0 and 100 (exclusive), not {}",
                slo.objective
            );
            for (field, expr) in [("errors", &slo.errors), ("total", &slo.total)] {
                ensure!(
                    expr.contains(WINDOW),
                    "{at}.{field}: the expression has no {WINDOW} range"
                );
                let expanded = self
                    .expand(expr, "5m")
                    .with_context(|| format!("{at}.{field}"))?;
                promql_parser::parser::parse(&expanded).map_err(|err| {
                    anyhow::anyhow!("{at}.{field} is not valid PromQL: {err}\n  {expanded}")
                })?;
            }
        }
        Ok(())
    }

    fn severities(&self) -> [(&'static str, &[WindowPair]); 2] {
        [
            ("page", &self.alerting.page),
            ("ticket", &self.alerting.ticket),
        ]
    }

    /// Every alert window, shortest first, each once.
    pub fn windows(&self) -> Vec<String> {
        let mut windows: Vec<String> = self
            .severities()
            .iter()
            .flat_map(|(_, pairs)| pairs.iter())
            .flat_map(|pair| [pair.long.clone(), pair.short.clone()])
            .collect();
        windows.sort_by_key(|w| seconds(w).unwrap_or(u64::MAX));
        windows.dedup();
        windows
    }

    /// Replaces `{{window}}` by `range` and `{{name}}` by the named matchers; an unknown
    /// placeholder is an error.
    pub fn expand(&self, expr: &str, range: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = expr;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").context("a `{{` without `}}`")?;
            let name = after[..end].trim();
            if name == "window" {
                out.push_str(range);
            } else {
                let matchers = self
                    .matchers
                    .get(name)
                    .with_context(|| format!("unknown placeholder {{{{{name}}}}}"))?;
                out.push_str(matchers.trim());
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        // `{ {{matchers}} }` reads well in the source; `{…}` reads well in the rules.
        Ok(collapse_whitespace(&out)
            .replace("{ ", "{")
            .replace(" }", "}"))
    }
}

/// Wraps words into lines of at most `width` characters (a longer word gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Collapses runs of whitespace (YAML folding leaves newlines and indents) into single spaces.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A Prometheus duration (`30s`, `5m`, `1h`, `1d`, `1w`; one unit) in seconds.
pub fn seconds(duration: &str) -> Result<u64> {
    let split = duration
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&i| i > 0)
        .with_context(|| format!("`{duration}` is not a duration such as 30s, 5m, 1h, 1d"))?;
    let (number, unit) = duration.split_at(split);
    let number: u64 = number.parse()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("`{duration}`: the unit must be s, m, h, d or w"),
    };
    ensure!(number > 0, "`{duration}` must be longer than zero");
    Ok(number * unit)
}

/// A number as Prometheus rules should show it: shortest form, no binary noise (`0.001`, not
/// `0.0010000000000000009`).
fn number(value: f64) -> String {
    let text = format!("{value:.10}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// The error budget of an objective in percent, as a ratio (99.9 → 0.001), rounded to the
/// precision a human wrote the objective in.
fn budget(objective: f64) -> f64 {
    ((100.0 - objective) * 1e8).round() / 1e10
}

/// Renders the rules for `profile` (`None`: production ranges).
#[allow(clippy::too_many_lines)] // one YAML document, written top to bottom
pub fn render(spec: &Spec, profile: Option<&str>) -> Result<String> {
    let profile_ranges = profile
        .map(|name| {
            spec.profiles
                .get(name)
                .with_context(|| format!("no profile `{name}` in {SOURCE}"))
        })
        .transpose()?;
    // Validation made sure every profile has a range for every window.
    let ranges = |window: &str| {
        profile_ranges.map_or_else(|| window.to_owned(), |p| p.windows[window].clone())
    };
    let period_range = profile_ranges.map_or_else(|| spec.period.clone(), |p| p.period.clone());
    let period_hours = seconds(&spec.period)? as f64 / 3600.0;

    let mut out = String::new();
    writeln!(
        out,
        "# Generated by `cargo xtask slo` from {SOURCE}{}. Do not edit: change the source\n\
         # and regenerate; `make test` fails when this file and its source disagree.\n\
         #\n\
         # Per SLO: the SLI's error ratio over every alert window, over the period ({}), the\n\
         # objective, the budget and the budget left; then a page and a ticket burn-rate alert.\n\
         groups:",
        profile.map_or(String::new(), |p| format!(" (profile `{p}`)")),
        spec.period,
    )?;
    for slo in &spec.slos {
        let labels = format!(
            "        labels:\n          slo: {}\n          service: {}\n          team: {}\n",
            slo.name, slo.service, slo.team
        );
        let selector = format!("{{slo=\"{}\"}}", slo.name);
        let budget = budget(slo.objective);
        writeln!(out, "  - name: slo-{}", slo.name)?;
        writeln!(out, "    rules:")?;
        for window in spec.windows() {
            let range = ranges(&window);
            writeln!(
                out,
                "      # {}: the share of bad events over {window}.",
                slo.name
            )?;
            writeln!(out, "      - record: slo:sli_error:ratio_rate{window}")?;
            writeln!(out, "        expr: |")?;
            // `or vector(0)`: before the first bad event there is no error series at all, and
            // the ratio must be 0 then, not missing (a missing 5m ratio would also bias the
            // period's mean towards the windows that had errors).
            writeln!(
                out,
                "          (({}) or vector(0))",
                spec.expand(&slo.errors, &range)?
            )?;
            writeln!(out, "          /")?;
            writeln!(out, "          ({})", spec.expand(&slo.total, &range)?)?;
            out.push_str(&labels);
        }
        writeln!(
            out,
            "      # Over the SLO period: the mean of the {BASE_WINDOW} ratio (cheap; a {} range of raw\n      # counters would be read on every evaluation).",
            spec.period
        )?;
        writeln!(
            out,
            "      - record: slo:sli_error:ratio_rate{}",
            spec.period
        )?;
        writeln!(out, "        expr: |")?;
        writeln!(
            out,
            "          sum_over_time(slo:sli_error:ratio_rate{BASE_WINDOW}{selector}[{period_range}])"
        )?;
        writeln!(
            out,
            "          / count_over_time(slo:sli_error:ratio_rate{BASE_WINDOW}{selector}[{period_range}])"
        )?;
        out.push_str(&labels);
        writeln!(out, "      - record: slo:objective:ratio")?;
        writeln!(out, "        expr: vector({})", number(1.0 - budget))?;
        out.push_str(&labels);
        writeln!(out, "      - record: slo:error_budget:ratio")?;
        writeln!(out, "        expr: vector({})", number(budget))?;
        out.push_str(&labels);
        writeln!(
            out,
            "      # 1 = untouched, 0 = spent, below 0 = overspent (over the period)."
        )?;
        writeln!(out, "      - record: slo:error_budget_remaining:ratio")?;
        writeln!(
            out,
            "        expr: 1 - slo:sli_error:ratio_rate{}{selector} / {}",
            spec.period,
            number(budget)
        )?;
        out.push_str(&labels);

        for (severity, pairs) in spec.severities() {
            let terms: Vec<String> = pairs
                .iter()
                .map(|pair| {
                    let threshold = format!("({} * {})", number(pair.burn_rate), number(budget));
                    format!(
                        "          (\n              slo:sli_error:ratio_rate{long}{selector} > {threshold}\n            and\n              slo:sli_error:ratio_rate{short}{selector} > {threshold}\n          )",
                        long = pair.long,
                        short = pair.short,
                    )
                })
                .collect();
            let spends: Vec<String> = pairs
                .iter()
                .map(|pair| {
                    let share = pair.burn_rate * seconds(&pair.long).unwrap_or(0) as f64
                        / 3600.0
                        / period_hours
                        * 100.0;
                    format!(
                        "{}% of the budget goes in {} ({}× over {} and {})",
                        number(share),
                        pair.long,
                        number(pair.burn_rate),
                        pair.long,
                        pair.short
                    )
                })
                .collect();
            writeln!(out, "      - alert: {}", slo.alert)?;
            writeln!(out, "        expr: |")?;
            writeln!(out, "{}", terms.join("\n          or\n"))?;
            writeln!(out, "        labels:")?;
            writeln!(out, "          severity: {severity}")?;
            writeln!(out, "          slo: {}", slo.name)?;
            writeln!(out, "          service: {}", slo.service)?;
            writeln!(out, "          team: {}", slo.team)?;
            writeln!(out, "        annotations:")?;
            writeln!(
                out,
                "          summary: '{} SLO {}: the error budget is burning {}.'",
                slo.service,
                slo.name,
                if severity == "page" {
                    "fast"
                } else {
                    "steadily"
                }
            )?;
            writeln!(out, "          description: >-")?;
            let description = format!(
                "{} Objective {}% over {}. Fires when {}. The burn rate per window is on the \
                 SLO dashboard (uid blueprint-slo).",
                collapse_whitespace(&slo.description),
                number(slo.objective),
                spec.period,
                spends.join(", or ")
            );
            for line in wrap(&description, DESCRIPTION_WIDTH) {
                writeln!(out, "            {line}")?;
            }
            writeln!(
                out,
                "          runbook_url: {}{}.md",
                spec.runbook_base_url, slo.alert
            )?;
        }
    }
    Ok(out)
}

/// `cargo xtask slo [--check] [--profile P --out FILE]`.
pub fn command(check: bool, profile: Option<&str>, out: Option<&Path>) -> Result<()> {
    let spec = Spec::load()?;
    let text = render(&spec, profile)?;
    let target: PathBuf = out.map_or_else(|| root().join(RULES), Path::to_owned);
    if check {
        return check_committed(&spec);
    }
    std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    if out.is_none() {
        // The Kubernetes PrometheusRule wraps the same rule files: regenerate it with them.
        crate::prometheusrule::write()?;
    }
    println!(
        "wrote {} ({} SLOs, {} windows)",
        target.display(),
        spec.slos.len(),
        spec.windows().len()
    );
    Ok(())
}

/// The 1-based number of the first line where two texts differ (one past the shorter text's end
/// when one is a prefix of the other), for "out of date" messages about generated files.
pub fn first_difference(committed: &str, fresh: &str) -> usize {
    committed
        .lines()
        .zip(fresh.lines())
        .position(|(a, b)| a != b)
        .map_or_else(
            || committed.lines().count().min(fresh.lines().count()) + 1,
            |i| i + 1,
        )
}

/// Fails when the committed production rules differ from a fresh rendering of the source.
pub fn check_committed(spec: &Spec) -> Result<()> {
    let fresh = render(spec, None)?;
    let path = root().join(RULES);
    let committed =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    if committed != fresh {
        let line = first_difference(&committed, &fresh);
        bail!(
            "{RULES} is out of date with {SOURCE} (first difference at line {line}); run `cargo xtask slo` and commit the result"
        );
    }
    println!("{RULES} matches {SOURCE} ({} SLOs)", spec.slos.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_rules_match_their_source() {
        let spec = Spec::load().expect("the committed source is valid");
        check_committed(&spec).expect("regenerate with `cargo xtask slo`");
    }

    #[test]
    fn budgets_are_exact_decimals() {
        assert_eq!(number(budget(99.9)), "0.001");
        assert_eq!(number(budget(99.5)), "0.005");
        assert_eq!(number(budget(99.0)), "0.01");
        assert_eq!(number(budget(99.95)), "0.0005");
        assert_eq!(number(14.4), "14.4");
        assert_eq!(number(6.0), "6");
    }

    #[test]
    fn durations_parse_in_prometheus_units() {
        assert_eq!(seconds("5m").expect("valid"), 300);
        assert_eq!(seconds("30d").expect("valid"), 2_592_000);
        assert!(seconds("5").is_err());
        assert!(seconds("m").is_err());
        assert!(seconds("0s").is_err());
        assert!(seconds("1y").is_err());
    }

    const MINIMAL: &str = r"
period: 30d
alerting:
  page: [{ long: 1h, short: 5m, burn_rate: 14.4 }]
  ticket: [{ long: 3d, short: 6h, burn_rate: 1 }]
runbook_base_url: https://example.com/
profiles:
  test: { period: 5m, windows: { 5m: 5s, 1h: 20s, 6h: 40s, 3d: 90s } }
slos:
  - name: demo
    alert: DemoBudgetBurn
    service: demo
    team: demo
    objective: 99.9
    description: Demo.
    errors: sum(rate(errors_total[{{window}}]))
    total: sum(rate(requests_total[{{window}}]))
";

    #[test]
    fn a_profile_changes_ranges_but_not_names_or_expressions() {
        let spec = Spec::parse(MINIMAL).expect("valid");
        let production = render(&spec, None).expect("renders");
        let test = render(&spec, Some("test")).expect("renders");
        assert!(
            production.contains("sum(rate(errors_total[1h]))"),
            "{production}"
        );
        assert!(test.contains("sum(rate(errors_total[20s]))"), "{test}");
        assert!(
            test.contains("record: slo:sli_error:ratio_rate1h"),
            "{test}"
        );
        assert!(test.contains("ratio_rate5m{slo=\"demo\"}[5m])"), "{test}");
        assert!(
            production.contains("ratio_rate5m{slo=\"demo\"}[30d])"),
            "{production}"
        );
        let alerts = |text: &str| {
            text.lines()
                .skip_while(|l| !l.contains("- alert:"))
                .filter(|l| !l.contains('[') && !l.contains("Generated"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(alerts(&production), alerts(&test));
        assert!(production.contains("slo:sli_error:ratio_rate1h{slo=\"demo\"} > (14.4 * 0.001)"));
        assert!(
            production.contains("2% of the budget goes in 1h"),
            "{production}"
        );
    }

    #[test]
    fn the_generated_rules_are_valid_yaml_with_two_alerts_per_slo() {
        let spec = Spec::parse(MINIMAL).expect("valid");
        let text = render(&spec, None).expect("renders");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        let rules = doc["groups"][0]["rules"].as_sequence().expect("rules");
        let alerts: Vec<_> = rules.iter().filter(|r| r.get("alert").is_some()).collect();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0]["labels"]["severity"], "page");
        assert_eq!(alerts[1]["labels"]["severity"], "ticket");
        assert_eq!(
            alerts[0]["annotations"]["runbook_url"],
            "https://example.com/DemoBudgetBurn.md"
        );
        for rule in rules {
            let expr = rule["expr"].as_str().expect("expr");
            promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{e}: {expr}"));
        }
    }

    #[test]
    fn bad_sources_are_refused_with_the_field_named() {
        let cases = [
            (
                MINIMAL.replace("objective: 99.9", "objective: 100"),
                "objective",
            ),
            (
                MINIMAL.replace("1h: 20s, ", ""),
                "no range for the window 1h",
            ),
            (
                MINIMAL.replace("errors_total[{{window}}]", "errors_total[5m]"),
                "has no {{window}}",
            ),
            (
                MINIMAL.replace("sum(rate(errors_total", "sum(rate(errors_total{"),
                "not valid PromQL",
            ),
            (
                MINIMAL.replace(
                    "{{window}}]))\n    total",
                    "{{window}}])) {{nope}}\n    total",
                ),
                "unknown placeholder",
            ),
            (
                MINIMAL.replace("long: 1h, short: 5m", "long: 5m, short: 1h"),
                "must be shorter",
            ),
            (
                MINIMAL.replace("alert: DemoBudgetBurn", "alert: demo-burn"),
                "CamelCase",
            ),
            (
                MINIMAL.replace("team: demo", "team: demo\n    owner: x"),
                "unknown field `owner`",
            ),
        ];
        for (text, expected) in cases {
            let err = Spec::parse(&text).expect_err(expected);
            let chain = format!("{err:#}");
            assert!(
                chain.contains(expected),
                "expected `{expected}` in: {chain}"
            );
        }
    }
}
