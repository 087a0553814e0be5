//! Progressive delivery (`infra/kubernetes/components/canary`): the Flagger `Canary` and
//! `MetricTemplate` objects of the rendered overlays, checked for what their CRD schema cannot
//! say (kubeconform already validates their shape against Flagger's CRDs, `crds::SOURCES`).
//!
//! - **Queries.** Each MetricTemplate's query is rendered the way Flagger renders it (Go
//!   `text/template` with `{{ namespace }}`, `{{ target }}`, `{{ interval }}`, …; an unknown
//!   variable fails, as Flagger's `missingkey=error` does), then parsed as PromQL with
//!   `promql-parser`. It may read only metrics the recording rules read — the live alerting test
//!   proves each of those against a real scrape of the services — and only labels the rules use
//!   or the Prometheus Operator gives every scraped series (`namespace`, `service`, `pod`, …), so
//!   a `route` for `path` or `status_code` for `status` fails here instead of returning no data
//!   (which Flagger counts as a failed check, rolling back every release).
//! - **SLOs.** A metric bound to an SLO of `config/slo/slos.yaml` ([`BINDINGS`]) must select the
//!   requests that SLO counts (its matchers, e.g. `api_requests`, in every selector) and use its
//!   numbers: the success-rate minimum is the availability objective (percent); the latency
//!   template's quantile is the latency objective and its maximum the SLO's `le` bound (ms).
//!   Every SLO of a canaried service must be bound in that service's Canary.
//! - **Wiring.** The targetRef names a Deployment of the overlay with no `replicas` (its
//!   autoscaler owns the count; Flux would otherwise scale the idle canary back up); the
//!   autoscalerRef names an HPA of the overlay that scales that Deployment; a
//!   PodDisruptionBudget covers the `-primary` pods; no Service or HTTPRoute in Git has a name
//!   Flagger generates; the hosts are real (not the component's `.invalid` placeholders); a
//!   pre-rollout, a rollout and a `rollback` (manual abort) webhook exist, and every URL in
//!   their commands names this Canary's own `-canary` Service, in its namespace, on its port.
//!
//! What needs a cluster: Flagger actually generating the Services and HTTPRoute, Envoy Gateway
//! applying the weights, the queries returning data from kube-prometheus-stack, the load tester
//! running the commands. See `infra/kubernetes/components/canary/README.md`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, Result, bail};
use promql_parser::parser::Expr as Ast;
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

use crate::tools::Tools;
use crate::{observability, slo, validate};

/// Overlays that must release through Flagger, and the Canaries each must hold.
const CANARY_OVERLAYS: &[(&str, &[&str])] = &[
    ("staging", &["blueprint-api", "blueprint-web"]),
    ("production", &["blueprint-api", "blueprint-web"]),
];

/// The Prometheus every MetricTemplate asks: kube-prometheus-stack's, release
/// `kube-prometheus-stack` in `monitoring`.
const PROMETHEUS_ADDRESS: &str = "http://kube-prometheus-stack-prometheus.monitoring:9090";

/// Labels the Prometheus Operator puts on every series of a ServiceMonitor's targets.
const SCRAPE_LABELS: &[&str] = &[
    "job",
    "instance",
    "namespace",
    "service",
    "pod",
    "container",
    "endpoint",
];

/// Flagger's template variables (`MetricTemplateModel.TemplateFunctions`, v1.36); `interval`
/// renders as `1m` here, the others as a name. `{{ variables.x }}` (templateVariables) is not
/// accepted: these templates do not use it, and the checks could not know its values.
const TEMPLATE_VARIABLES: &[&str] = &[
    "name",
    "namespace",
    "target",
    "service",
    "ingress",
    "route",
    "interval",
];

/// What a MetricTemplate measures, for the SLO it stands for.
#[derive(Debug, Clone, Copy)]
enum Measure {
    /// Percent of requests without a server error; the Canary sets `thresholdRange.min`.
    SuccessRatePercent,
    /// A latency quantile in milliseconds; the Canary sets `thresholdRange.max`.
    LatencyQuantileMs,
}

/// MetricTemplate name → (SLO name in config/slo/slos.yaml, what it measures).
const BINDINGS: &[(&str, &str, Measure)] = &[
    (
        "api-request-success-rate",
        "api-availability",
        Measure::SuccessRatePercent,
    ),
    (
        "api-request-duration-p99",
        "api-latency",
        Measure::LatencyQuantileMs,
    ),
];

/// `cargo xtask validate --only gitops`: the Canaries of every rendered overlay.
pub fn check(tools: &Tools) -> Result<Vec<String>> {
    let spec = slo::Spec::load()?;
    let rules = observability::load_rules()?;
    let ctx = Context::new(&spec, &rules)?;
    let rendered = validate::render(tools)?;
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for overlay in &rendered {
        let objects: Vec<Value> = overlay
            .objects
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .with_context(|| format!("converting the rendered {} overlay", overlay.overlay))?;
        let found = check_overlay(&ctx, &objects, &mut problems);
        let required = CANARY_OVERLAYS
            .iter()
            .find(|(name, _)| *name == overlay.overlay)
            .map_or(&[][..], |(_, names)| *names);
        for name in required {
            if !found.iter().any(|f| f == name) {
                problems.push(format!(
                    "{}: no Canary `{name}` (is the canary component listed?)",
                    overlay.overlay
                ));
            }
        }
        if !found.is_empty() {
            lines.push(format!(
                "canary {}: {} checked against the SLOs, rules and rendered objects",
                overlay.overlay,
                found.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} canary problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    Ok(lines)
}

/// What the checks compare with, read once from the SLOs and the rules.
struct Context {
    /// Metric names the recording and alerting rules read (not the names they record).
    metrics: BTreeSet<String>,
    /// Label names the rules select or group on, plus [`SCRAPE_LABELS`] and `le`.
    labels: BTreeSet<String>,
    /// Per bound SLO: its service, objective, the matchers every selector of its SLI carries,
    /// and for latency SLOs the `le` bound in seconds.
    slos: BTreeMap<String, SloFacts>,
}

#[derive(Debug)]
struct SloFacts {
    service: String,
    objective: f64,
    matchers: BTreeSet<String>,
    le_seconds: Option<f64>,
}

impl Context {
    fn new(spec: &slo::Spec, rules: &observability::Rules) -> Result<Self> {
        let mut metrics = BTreeSet::new();
        let mut labels: BTreeSet<String> = SCRAPE_LABELS.iter().map(|&l| l.to_owned()).collect();
        labels.insert("le".to_owned());
        for expr in &rules.exprs {
            let walked =
                Walk::run(&expr.promql).map_err(|e| anyhow::anyhow!("{}: {e}", expr.source))?;
            metrics.extend(walked.metrics);
            labels.extend(walked.labels);
        }
        metrics.retain(|name| !rules.records.contains(name));
        let mut slos = BTreeMap::new();
        for &(template, slo_name, measure) in BINDINGS {
            let slo = spec
                .slos
                .iter()
                .find(|s| s.name == slo_name)
                .with_context(|| {
                    format!("MetricTemplate {template} is bound to SLO {slo_name}, which config/slo/slos.yaml lacks")
                })?;
            let total = Walk::run(&spec.expand(&slo.total, SLI_RANGE)?)
                .map_err(|e| anyhow::anyhow!("SLO {slo_name}, total: {e}"))?;
            let errors = Walk::run(&spec.expand(&slo.errors, SLI_RANGE)?)
                .map_err(|e| anyhow::anyhow!("SLO {slo_name}, errors: {e}"))?;
            let le_seconds = match measure {
                Measure::SuccessRatePercent => None,
                Measure::LatencyQuantileMs => {
                    let bounds: BTreeSet<String> = errors.le_values.into_iter().collect();
                    let [bound] = bounds.iter().collect::<Vec<_>>()[..] else {
                        bail!(
                            "SLO {slo_name}: its errors need exactly one `le` bound, not {bounds:?}"
                        );
                    };
                    Some(bound.parse::<f64>().with_context(|| {
                        format!("SLO {slo_name}: `le` bound {bound:?} is not a number")
                    })?)
                }
            };
            slos.insert(
                slo_name.to_owned(),
                SloFacts {
                    service: slo.service.clone(),
                    objective: slo.objective,
                    matchers: total.common_matchers(),
                    le_seconds,
                },
            );
        }
        Ok(Self {
            metrics,
            labels,
            slos,
        })
    }
}

/// The range the SLI expressions are expanded with (the SLO generator's own expansion): the
/// checks read metric and label names, which do not depend on it.
const SLI_RANGE: &str = "5m";

/// What a PromQL expression reads, from one walk of its syntax tree.
#[derive(Debug, Default)]
struct Walk {
    metrics: BTreeSet<String>,
    /// Label names of matchers and of `by`/`without` clauses.
    labels: BTreeSet<String>,
    /// Each selector's matchers (`name op "value"`), `__name__` excluded.
    selectors: Vec<BTreeSet<String>>,
    /// Values of `le="…"` matchers.
    le_values: Vec<String>,
    /// `histogram_quantile`'s first argument, when it is a number.
    quantiles: Vec<f64>,
}

impl Walk {
    fn run(promql: &str) -> Result<Self, String> {
        let ast = promql_parser::parser::parse(promql)?;
        let mut walk = Self {
            metrics: observability::metric_names(promql)?,
            ..Self::default()
        };
        walk_expr(&mut walk, &ast)?;
        Ok(walk)
    }

    /// Matchers every selector carries.
    fn common_matchers(&self) -> BTreeSet<String> {
        let mut selectors = self.selectors.iter();
        let Some(first) = selectors.next() else {
            return BTreeSet::new();
        };
        selectors.fold(first.clone(), |acc, s| {
            acc.intersection(s).cloned().collect()
        })
    }
}

impl ExprVisitor for Walk {
    type Error = String;

    fn pre_visit(&mut self, expr: &Ast) -> Result<bool, String> {
        let selector = match expr {
            Ast::VectorSelector(vs) => vs,
            Ast::MatrixSelector(ms) => &ms.vs,
            Ast::Aggregate(agg) => {
                if let Some(modifier) = &agg.modifier {
                    self.labels.extend(modifier.labels().labels.iter().cloned());
                }
                return Ok(true);
            }
            Ast::Call(call) if call.func.name == "histogram_quantile" => {
                if let Some(Ast::NumberLiteral(n)) = call.args.args.first().map(AsRef::as_ref) {
                    self.quantiles.push(n.val);
                }
                return Ok(true);
            }
            _ => return Ok(true),
        };
        let mut matchers = BTreeSet::new();
        for m in &selector.matchers.matchers {
            if m.name == "__name__" {
                continue;
            }
            self.labels.insert(m.name.clone());
            if m.name == "le" {
                self.le_values.push(m.value.clone());
            }
            matchers.insert(m.to_string());
        }
        if !selector.matchers.or_matchers.is_empty() {
            return Err(format!(
                "selector `{selector}` uses `or` between matchers; the checks cannot tell what it selects"
            ));
        }
        self.selectors.push(matchers);
        Ok(true)
    }
}

/// Renders a Flagger query template: `{{ var }}` → a sample value. Unknown variables and
/// unterminated actions are errors, as in Flagger (`missingkey=error`).
fn render_template(query: &str) -> Result<String, String> {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` without its `}}`".to_owned())?;
        let variable = after[..end].trim();
        if !TEMPLATE_VARIABLES.contains(&variable) {
            return Err(format!(
                "`{{{{ {variable} }}}}` is not a Flagger template variable (known: {TEMPLATE_VARIABLES:?})"
            ));
        }
        // A duration for `interval`, a DNS-label-like name for the rest: what Flagger fills in.
        out.push_str(if variable == "interval" {
            "1m"
        } else {
            "sample"
        });
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> impl Iterator<Item = &'a Value> {
    objects
        .iter()
        .filter(move |o| str_at(o, "/kind") == Some(kind))
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    of_kind(objects, kind).find(|o| str_at(o, "/metadata/name") == Some(name))
}

/// Checks the Canaries of one rendered overlay, adding problems; returns the Canaries' names.
fn check_overlay(ctx: &Context, objects: &[Value], problems: &mut Vec<String>) -> Vec<String> {
    let mut found = Vec::new();
    for canary in of_kind(objects, "Canary") {
        let name = str_at(canary, "/metadata/name").unwrap_or("?").to_owned();
        let namespace = str_at(canary, "/metadata/namespace").unwrap_or("?");
        let at = format!("{namespace}: Canary {name}");
        let mut report = |problem: String| problems.push(format!("{at}: {problem}"));
        check_wiring(canary, objects, &mut report);
        check_routing(canary, &mut report);
        check_webhooks(canary, namespace, &mut report);
        check_metrics(ctx, canary, namespace, objects, &mut report);
        found.push(name);
    }
    found
}

fn check_wiring(canary: &Value, objects: &[Value], report: &mut impl FnMut(String)) {
    let target = match (
        str_at(canary, "/spec/targetRef/kind"),
        str_at(canary, "/spec/targetRef/name"),
    ) {
        (Some("Deployment"), Some(target)) => target,
        other => {
            report(format!("targetRef must name a Deployment, not {other:?}"));
            return;
        }
    };
    match named(objects, "Deployment", target) {
        None => report(format!("targetRef: no Deployment {target} in the overlay")),
        Some(deployment) if deployment.pointer("/spec/replicas").is_some() => report(format!(
            "Deployment {target} sets spec.replicas: Flagger scales it to zero between releases and Flux would scale it back; let its autoscaler own the count"
        )),
        Some(_) => {}
    }
    match (
        str_at(canary, "/spec/autoscalerRef/kind"),
        str_at(canary, "/spec/autoscalerRef/name"),
    ) {
        (Some("HorizontalPodAutoscaler"), Some(hpa_name)) => {
            match named(objects, "HorizontalPodAutoscaler", hpa_name) {
                None => report(format!(
                    "autoscalerRef: no HorizontalPodAutoscaler {hpa_name} in the overlay"
                )),
                Some(hpa) => {
                    let scales = (
                        str_at(hpa, "/spec/scaleTargetRef/kind"),
                        str_at(hpa, "/spec/scaleTargetRef/name"),
                    );
                    if scales != (Some("Deployment"), Some(target)) {
                        report(format!(
                            "HorizontalPodAutoscaler {hpa_name} scales {scales:?}, not Deployment {target}"
                        ));
                    }
                }
            }
        }
        other => report(format!(
            "autoscalerRef must name a HorizontalPodAutoscaler, not {other:?}"
        )),
    }
    let primary = format!("{target}-primary");
    let guarded = of_kind(objects, "PodDisruptionBudget").any(|pdb| {
        str_at(pdb, "/spec/selector/matchLabels/app.kubernetes.io~1name") == Some(&primary)
    });
    if !guarded {
        report(format!(
            "no PodDisruptionBudget selects app.kubernetes.io/name={primary} (the pods that serve)"
        ));
    }
    // Flagger names its Services after spec.service.name, or the target's name.
    let service = str_at(canary, "/spec/service/name").unwrap_or(target);
    for (kind, owned) in [
        ("Service", service.to_owned()),
        ("Service", format!("{service}-primary")),
        ("Service", format!("{service}-canary")),
        ("HTTPRoute", service.to_owned()),
    ] {
        if named(objects, kind, &owned).is_some() {
            report(format!(
                "{kind} {owned} is in Git, but Flagger generates it: Flux and Flagger would overwrite each other"
            ));
        }
    }
}

/// Provider, Gateway, hosts and the analysis' numbers.
fn check_routing(canary: &Value, report: &mut impl FnMut(String)) {
    if !str_at(canary, "/spec/provider").is_some_and(|p| p.starts_with("gatewayapi:")) {
        report("provider must be the Gateway API one (gatewayapi:v1)".to_owned());
    }
    if canary
        .pointer("/spec/service/gatewayRefs")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        report("service.gatewayRefs is empty".to_owned());
    }
    let hosts: Vec<&str> = canary
        .pointer("/spec/service/hosts")
        .and_then(Value::as_array)
        .map(|h| h.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if hosts.is_empty() || hosts.iter().any(|h| h.ends_with(".invalid")) {
        report(format!(
            "service.hosts {hosts:?}: the overlay must set the environment's hosts"
        ));
    }
    let (step, max) = (
        canary
            .pointer("/spec/analysis/stepWeight")
            .and_then(Value::as_u64),
        canary
            .pointer("/spec/analysis/maxWeight")
            .and_then(Value::as_u64),
    );
    if !matches!((step, max), (Some(s), Some(m)) if s > 0 && s <= m && m <= 100) {
        report(format!(
            "analysis needs 0 < stepWeight ≤ maxWeight ≤ 100, not {step:?} / {max:?}"
        ));
    }
    if canary
        .pointer("/spec/analysis/threshold")
        .and_then(Value::as_u64)
        .is_none_or(|t| t == 0)
    {
        report("analysis.threshold must be at least 1".to_owned());
    }
}

/// A pre-rollout and a rollout webhook, a `rollback` gate for a manual abort, and every URL in
/// the webhooks' commands aimed at this Canary's own `-canary` Service in its namespace and on
/// its port.
fn check_webhooks(canary: &Value, namespace: &str, report: &mut impl FnMut(String)) {
    let service = str_at(canary, "/spec/service/name")
        .or_else(|| str_at(canary, "/spec/targetRef/name"))
        .unwrap_or("?");
    let port = canary
        .pointer("/spec/service/port")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let expected = format!("http://{service}-canary.{namespace}.svc:{port}/");
    let webhooks = canary
        .pointer("/spec/analysis/webhooks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for kind in ["pre-rollout", "rollout", "rollback"] {
        if !webhooks.iter().any(|w| str_at(w, "/type") == Some(kind)) {
            report(format!("no `{kind}` webhook"));
        }
    }
    for webhook in webhooks {
        let hook = str_at(webhook, "/name").unwrap_or("?");
        let kind = str_at(webhook, "/type").unwrap_or_default();
        let Some(cmd) = str_at(webhook, "/metadata/cmd") else {
            // Gates (`rollback`, `confirm-*`) ask the load tester's own endpoints; the tests
            // and the load run commands.
            if matches!(kind, "pre-rollout" | "rollout") {
                report(format!("webhook {hook}: no metadata.cmd"));
            }
            continue;
        };
        let mut urls = 0;
        for (i, _) in cmd.match_indices("http://") {
            urls += 1;
            let url = &cmd[i..];
            let url = url
                .find(|c: char| c.is_whitespace() || c == ';' || c == '\'' || c == '"')
                .map_or(url, |end| &url[..end]);
            // `$u/path` commands hold the base without its trailing slash.
            let base = if url.ends_with('/') {
                url.to_owned()
            } else if url.matches('/').count() == 2 {
                format!("{url}/")
            } else {
                url.to_owned()
            };
            if !base.starts_with(&expected) {
                report(format!(
                    "webhook {hook}: {url} is not this Canary's canary Service ({expected})"
                ));
            }
        }
        if urls == 0 {
            report(format!("webhook {hook}: its command names no http:// URL"));
        }
    }
}

fn check_metrics(
    ctx: &Context,
    canary: &Value,
    namespace: &str,
    objects: &[Value],
    report: &mut impl FnMut(String),
) {
    let target = str_at(canary, "/spec/targetRef/name").unwrap_or("?");
    let metrics = canary
        .pointer("/spec/analysis/metrics")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut bound = BTreeSet::new();
    for metric in metrics {
        let name = str_at(metric, "/name").unwrap_or("?");
        let Some(template) = str_at(metric, "/templateRef/name") else {
            report(format!(
                "metric {name}: an inline query or builtin metric; use a MetricTemplate the checks can read"
            ));
            continue;
        };
        if str_at(metric, "/templateRef/namespace").is_some_and(|ns| ns != namespace) {
            report(format!(
                "metric {name}: MetricTemplate {template} must be in the Canary's namespace"
            ));
        }
        let Some(object) = named(objects, "MetricTemplate", template) else {
            report(format!(
                "metric {name}: no MetricTemplate {template} in the overlay"
            ));
            continue;
        };
        let at = format!("metric {name} (MetricTemplate {template})");
        let walked = match check_template(ctx, object) {
            Ok(walked) => walked,
            Err(err) => {
                report(format!("{at}: {err}"));
                continue;
            }
        };
        let Some(&(_, slo_name, measure)) = BINDINGS.iter().find(|(t, _, _)| *t == template) else {
            report(format!(
                "{at}: not bound to an SLO (canary::BINDINGS): its threshold cannot be checked"
            ));
            continue;
        };
        let facts = &ctx.slos[slo_name];
        bound.insert(slo_name);
        for (i, selector) in walked.selectors.iter().enumerate() {
            let missing: Vec<&String> = facts.matchers.difference(selector).collect();
            if !missing.is_empty() {
                report(format!(
                    "{at}: selector {} lacks {missing:?}, so it counts other requests than SLO {slo_name}",
                    i + 1
                ));
            }
        }
        let range = |key: &str| {
            metric
                .pointer(&format!("/thresholdRange/{key}"))
                .and_then(Value::as_f64)
        };
        match measure {
            Measure::SuccessRatePercent => {
                if range("min").is_none_or(|min| (min - facts.objective).abs() > 1e-9) {
                    report(format!(
                        "{at}: thresholdRange.min must be {} (percent, the objective of SLO {slo_name}), not {:?}",
                        facts.objective,
                        range("min")
                    ));
                }
            }
            Measure::LatencyQuantileMs => {
                let quantile = facts.objective / 100.0;
                if walked.quantiles.len() != 1 || (walked.quantiles[0] - quantile).abs() > 1e-9 {
                    report(format!(
                        "{at}: the query must take histogram_quantile({quantile}, …) once (SLO {slo_name}), not {:?}",
                        walked.quantiles
                    ));
                }
                let bound_ms = facts.le_seconds.map(|s| s * 1000.0);
                if range("max")
                    .zip(bound_ms)
                    .is_none_or(|(max, ms)| (max - ms).abs() > 1e-9)
                {
                    report(format!(
                        "{at}: thresholdRange.max must be {bound_ms:?} (ms, the bound of SLO {slo_name}), not {:?}",
                        range("max")
                    ));
                }
            }
        }
    }
    for (slo_name, facts) in &ctx.slos {
        if facts.service == target && !bound.contains(slo_name.as_str()) {
            report(format!(
                "SLO {slo_name} of {target} is not checked by any metric of this Canary"
            ));
        }
    }
}

/// A MetricTemplate's provider, and its query rendered, parsed, and read for names and labels.
fn check_template(ctx: &Context, template: &Value) -> Result<Walk, String> {
    if str_at(template, "/spec/provider/type") != Some("prometheus")
        || str_at(template, "/spec/provider/address") != Some(PROMETHEUS_ADDRESS)
    {
        return Err(format!(
            "provider must be prometheus at {PROMETHEUS_ADDRESS}"
        ));
    }
    let query = str_at(template, "/spec/query").ok_or("no spec.query")?;
    let rendered = render_template(query)?;
    let walked = Walk::run(&rendered).map_err(|e| format!("not valid PromQL: {e}"))?;
    if walked.selectors.is_empty() {
        return Err("selects no series".to_owned());
    }
    let unknown: Vec<&String> = walked.metrics.difference(&ctx.metrics).collect();
    if !unknown.is_empty() {
        return Err(format!(
            "reads {unknown:?}, which no rule reads (the live test proves the rules' metrics exist)"
        ));
    }
    let labels: Vec<&String> = walked.labels.difference(&ctx.labels).collect();
    if !labels.is_empty() {
        return Err(format!(
            "uses the labels {labels:?}, which neither the rules nor the scrape give these series"
        ));
    }
    Ok(walked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let spec = slo::Spec::load().expect("the committed SLOs");
        let rules = observability::load_rules().expect("the committed rules");
        Context::new(&spec, &rules).expect("context")
    }

    /// The canary component's own files, as a rendered overlay would hold them after the
    /// overlay's patches (hosts) and the namespace transformer.
    fn objects() -> Vec<Value> {
        let dir = crate::root().join("infra/kubernetes/components/canary");
        let mut objects = Vec::new();
        for file in [
            "canaries.yaml",
            "metrictemplates.yaml",
            "web-hpa.yaml",
            "primary-pdbs.yaml",
        ] {
            let text = std::fs::read_to_string(dir.join(file)).expect(file);
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value: serde_yaml::Value = serde::Deserialize::deserialize(doc).expect("YAML");
                let mut value = serde_json::to_value(value).expect("JSON");
                value["metadata"]["namespace"] = "blueprint-staging".into();
                if value["kind"] == "Canary" {
                    value["spec"]["service"]["hosts"] = serde_json::json!(["staging.example.com"]);
                    for hook in value["spec"]["analysis"]["webhooks"]
                        .as_array_mut()
                        .expect("webhooks")
                    {
                        // The overlay's `replacements` (kustomization.yaml) do this.
                        if let Some(cmd) = hook.pointer("/metadata/cmd").and_then(Value::as_str) {
                            hook["metadata"]["cmd"] =
                                cmd.replace(".NAMESPACE.", ".blueprint-staging.").into();
                        }
                    }
                }
                objects.push(value);
            }
        }
        for name in ["blueprint-api", "blueprint-web"] {
            objects.push(serde_json::json!({
                "kind": "Deployment", "metadata": {"name": name, "namespace": "blueprint-staging"},
                "spec": {}
            }));
        }
        objects.push(serde_json::json!({
            "kind": "HorizontalPodAutoscaler", "metadata": {"name": "blueprint-api"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "blueprint-api"}}
        }));
        objects
    }

    fn problems(objects: &[Value]) -> Vec<String> {
        let mut problems = Vec::new();
        let found = check_overlay(&ctx(), objects, &mut problems);
        assert_eq!(found, ["blueprint-api", "blueprint-web"]);
        problems
    }

    fn edit(objects: &mut [Value], kind: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let object = objects
            .iter_mut()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .expect("object");
        f(object);
    }

    fn expect_problem(objects: &[Value], needle: &str) {
        let problems = problems(objects);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected a problem containing {needle:?}, got {problems:#?}"
        );
    }

    #[test]
    fn the_components_canaries_pass() {
        assert_eq!(problems(&objects()), Vec::<String>::new());
    }

    #[test]
    fn templates_render_like_flagger_and_reject_unknown_variables() {
        assert_eq!(
            render_template(r#"x{ns="{{ namespace }}"}[{{interval}}]"#).as_deref(),
            Ok(r#"x{ns="sample"}[1m]"#)
        );
        assert!(
            render_template("{{ color }}")
                .expect_err("an error")
                .contains("not a Flagger")
        );
        assert!(render_template("{{ target ").is_err());
    }

    #[test]
    fn a_misnamed_label_or_metric_fails() {
        let mut objects = objects();
        edit(
            &mut objects,
            "MetricTemplate",
            "api-request-success-rate",
            |t| {
                let q = t["spec"]["query"]
                    .as_str()
                    .expect("present")
                    .replace("status!~", "status_code!~");
                t["spec"]["query"] = q.into();
            },
        );
        expect_problem(&objects, "status_code");
        let mut objects = self::objects();
        edit(
            &mut objects,
            "MetricTemplate",
            "api-request-duration-p99",
            |t| {
                let q = t["spec"]["query"].as_str().expect("present").replace(
                    "http_request_duration_seconds_bucket",
                    "http_server_duration_bucket",
                );
                t["spec"]["query"] = q.into();
            },
        );
        expect_problem(&objects, "http_server_duration_bucket");
    }

    #[test]
    fn invalid_promql_fails() {
        let mut objects = objects();
        edit(
            &mut objects,
            "MetricTemplate",
            "api-request-success-rate",
            |t| {
                t["spec"]["query"] = "sum(rate(x[{{ interval }}])".into();
            },
        );
        expect_problem(&objects, "not valid PromQL");
    }

    #[test]
    fn thresholds_off_the_slos_fail() {
        let mut objects = objects();
        edit(&mut objects, "Canary", "blueprint-api", |c| {
            c["spec"]["analysis"]["metrics"][0]["thresholdRange"]["min"] = 99.0.into();
            c["spec"]["analysis"]["metrics"][1]["thresholdRange"]["max"] = 500.into();
        });
        expect_problem(&objects, "thresholdRange.min must be 99.9");
        expect_problem(&objects, "thresholdRange.max must be Some(250.0)");
    }

    #[test]
    fn a_query_counting_other_requests_than_the_slo_fails() {
        let mut objects = objects();
        edit(
            &mut objects,
            "MetricTemplate",
            "api-request-duration-p99",
            |t| {
                let q = t["spec"]["query"]
                    .as_str()
                    .expect("present")
                    .replace("path!~", "method!~");
                t["spec"]["query"] = q.into();
            },
        );
        expect_problem(&objects, "counts other requests than SLO api-latency");
    }

    #[test]
    fn an_unbound_slo_fails() {
        let mut objects = objects();
        edit(&mut objects, "Canary", "blueprint-api", |c| {
            c["spec"]["analysis"]["metrics"]
                .as_array_mut()
                .expect("present")
                .pop();
        });
        expect_problem(&objects, "SLO api-latency of blueprint-api is not checked");
    }

    #[test]
    fn broken_wiring_fails() {
        let mut objects = objects();
        edit(&mut objects, "Deployment", "blueprint-web", |d| {
            d["spec"]["replicas"] = 2.into();
        });
        edit(&mut objects, "Canary", "blueprint-api", |c| {
            c["spec"]["autoscalerRef"]["name"] = "nope".into();
            c["spec"]["service"]["hosts"] = serde_json::json!(["api.blueprint.invalid"]);
        });
        objects.push(serde_json::json!({"kind": "Service", "metadata": {"name": "blueprint-web"}}));
        objects.retain(|o| o["metadata"]["name"] != "blueprint-api-primary");
        expect_problem(&objects, "sets spec.replicas");
        expect_problem(&objects, "no HorizontalPodAutoscaler nope");
        expect_problem(&objects, "the overlay must set the environment's hosts");
        expect_problem(&objects, "Service blueprint-web is in Git");
        expect_problem(&objects, "app.kubernetes.io/name=blueprint-api-primary");
    }

    #[test]
    fn a_webhook_aimed_elsewhere_fails() {
        let mut objects = objects();
        edit(&mut objects, "Canary", "blueprint-web", |c| {
            let hook = &mut c["spec"]["analysis"]["webhooks"][2]["metadata"]["cmd"];
            *hook = hook
                .as_str()
                .expect("present")
                .replace("blueprint-staging", "NAMESPACE")
                .into();
        });
        expect_problem(&objects, "is not this Canary's canary Service");
    }
}
