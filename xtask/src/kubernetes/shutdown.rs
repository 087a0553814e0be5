//! Each workload's `terminationGracePeriodSeconds` covers its shutdown, read from the rendered
//! overlay: the preStop `sleep`, the settings that bound the process's own shutdown (from the
//! container's `env` and the ConfigMaps of its `envFrom`), the fixed parts the code adds, and a
//! margin. The grace period counts from the start of preStop, so every part adds up; a setting the
//! budget needs must be set explicitly in the manifests, so a changed default in the code cannot
//! silently outgrow the grace period.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_yaml::Value;

use crate::validate::Rendered;

/// Seconds kept free beyond the computed shutdown before the kubelet's SIGKILL.
const MARGIN_SECONDS: u64 = 5;

/// What bounds one app's shutdown after preStop.
struct Budget {
    /// The pod template's `app.kubernetes.io/name`.
    app: &'static str,
    /// `BLUEPRINT_*` durations the process spends one after the other after SIGTERM.
    settings: &'static [&'static str],
    /// Seconds added by the code or the server, and why.
    fixed_seconds: u64,
    fixed_why: &'static str,
}

/// Every workload of the overlays; one that is missing here fails the check.
const BUDGETS: [Budget; 4] = [
    Budget {
        app: "blueprint-api",
        // apps/api: readiness off for the drain delay, then in-flight requests get the timeout.
        settings: &["BLUEPRINT_DRAIN_DELAY", "BLUEPRINT_SHUTDOWN_TIMEOUT"],
        fixed_seconds: 5,
        fixed_why: "trace flush (FLUSH_TIMEOUT, crates/telemetry)",
    },
    Budget {
        app: "blueprint-worker",
        // apps/worker: jobs in flight get the drain timeout.
        settings: &["BLUEPRINT_DRAIN_TIMEOUT"],
        fixed_seconds: 2 + 5,
        fixed_why: "a last scrape (ADMIN_GRACE, apps/worker) + trace flush (crates/telemetry)",
    },
    Budget {
        app: "blueprint-web",
        settings: &[],
        fixed_seconds: 30,
        fixed_why: "nginx's graceful quit waits for proxied calls, at most the api's 30 s \
                    --http-server-timeout",
    },
    Budget {
        app: "redis",
        settings: &[],
        fixed_seconds: 10,
        fixed_why: "the AOF fsync at exit",
    },
];

/// Checks every Deployment and StatefulSet of each overlay; one line per overlay.
pub fn check(rendered: &[Rendered]) -> Result<Vec<String>> {
    rendered
        .iter()
        .map(|r| {
            let parts = check_objects(&r.objects)
                .with_context(|| format!("shutdown budgets of the {} overlay", r.overlay))?;
            Ok(format!(
                "overlay {}: shutdown budgets ok ({})",
                r.overlay,
                parts.join(", ")
            ))
        })
        .collect()
}

/// One `app a+b+…=n s ≤ grace s` entry per workload.
fn check_objects(objects: &[Value]) -> Result<Vec<String>> {
    let config_maps: BTreeMap<&str, &Value> = objects
        .iter()
        .filter(|o| str_at(o, &["kind"]) == Some("ConfigMap"))
        .filter_map(|o| Some((str_at(o, &["metadata", "name"])?, o.get("data")?)))
        .collect();
    let mut lines = Vec::new();
    for object in objects {
        let kind = str_at(object, &["kind"]).unwrap_or_default();
        if !matches!(kind, "Deployment" | "StatefulSet") {
            continue;
        }
        let name = str_at(object, &["metadata", "name"]).unwrap_or("?");
        let pod = object
            .get("spec")
            .and_then(|s| s.get("template"))
            .and_then(|t| t.get("spec"))
            .with_context(|| format!("{kind} {name}: no pod template"))?;
        let app = object
            .get("spec")
            .and_then(|s| s.get("template"))
            .and_then(|t| str_at(t, &["metadata", "labels", "app.kubernetes.io/name"]))
            .with_context(|| format!("{kind} {name}: no app.kubernetes.io/name on its pods"))?;
        let budget = BUDGETS.iter().find(|b| b.app == app).with_context(|| {
            format!("{kind} {name}: no shutdown budget for app {app} (add it to BUDGETS)")
        })?;
        let grace = pod
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_u64)
            .with_context(|| {
                format!("{kind} {name}: terminationGracePeriodSeconds must be set explicitly")
            })?;
        let containers = pod
            .get("containers")
            .and_then(Value::as_sequence)
            .with_context(|| format!("{kind} {name}: no containers"))?;
        for container in containers {
            let cname = str_at(container, &["name"]).unwrap_or("?");
            let pre_stop = pre_stop_seconds(container)
                .with_context(|| format!("{kind} {name}, container {cname}"))?;
            let mut parts = vec![pre_stop];
            let mut text = format!("{app} {pre_stop}");
            for setting in budget.settings {
                let value = env_value(container, setting, &config_maps).with_context(|| {
                    format!(
                        "{kind} {name}, container {cname}: {setting} is not set in the manifests; \
                         set it explicitly, the grace period is derived from it"
                    )
                })?;
                let duration = crate::parse_duration(&value).map_err(|e| {
                    anyhow::anyhow!("{kind} {name}, container {cname}: {setting}: {e}")
                })?;
                let seconds = ceil_seconds(duration);
                parts.push(seconds);
                write!(text, "+{seconds}").expect("writing to a String");
            }
            parts.push(budget.fixed_seconds);
            let needed: u64 = parts.iter().sum::<u64>() + MARGIN_SECONDS;
            write!(
                text,
                "+{}+{MARGIN_SECONDS}={needed}≤{grace} s",
                budget.fixed_seconds
            )
            .expect("writing to a String");
            if grace < needed {
                bail!(
                    "{kind} {name}, container {cname}: terminationGracePeriodSeconds {grace} is \
                     below preStop {pre_stop} s + {} + {} s ({}) + {MARGIN_SECONDS} s margin = \
                     {needed} s: the kubelet would SIGKILL it mid-shutdown",
                    if budget.settings.is_empty() {
                        "no settings".to_owned()
                    } else {
                        budget.settings.join(" + ")
                    },
                    budget.fixed_seconds,
                    budget.fixed_why
                );
            }
            lines.push(text);
        }
    }
    if lines.is_empty() {
        bail!("no Deployment or StatefulSet found");
    }
    Ok(lines)
}

/// The native preStop `sleep` action's seconds; 0 without a preStop hook. An `exec` hook cannot be
/// timed here (and needs a shell the images do not have), so it fails.
fn pre_stop_seconds(container: &Value) -> Result<u64> {
    let Some(pre_stop) = container.get("lifecycle").and_then(|l| l.get("preStop")) else {
        return Ok(0);
    };
    pre_stop
        .get("sleep")
        .and_then(|s| s.get("seconds"))
        .and_then(Value::as_u64)
        .context("preStop is not a `sleep` action with seconds: its duration cannot be budgeted")
}

/// The literal value of `name` in the container's `env`, else in the ConfigMaps of its `envFrom`
/// (later sources win, as in Kubernetes; `env` wins over `envFrom`).
fn env_value(
    container: &Value,
    name: &str,
    config_maps: &BTreeMap<&str, &Value>,
) -> Option<String> {
    let from_env = container
        .get("env")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .find(|e| str_at(e, &["name"]) == Some(name))
        .and_then(|e| str_at(e, &["value"]));
    if let Some(value) = from_env {
        return Some(value.to_owned());
    }
    container
        .get("envFrom")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .rev()
        .filter_map(|source| str_at(source, &["configMapRef", "name"]))
        .filter_map(|cm| config_maps.get(cm))
        .find_map(|data| data.get(name).and_then(Value::as_str))
        .map(str::to_owned)
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(grace: u64, pre_stop: Option<u64>, drain: Option<&str>) -> Vec<Value> {
        let lifecycle = pre_stop
            .map(|s| format!("lifecycle: {{preStop: {{sleep: {{seconds: {s}}}}}}}"))
            .unwrap_or_default();
        let drain = drain
            .map(|d| format!("BLUEPRINT_DRAIN_DELAY: {d}"))
            .unwrap_or_default();
        let text = format!(
            "kind: ConfigMap\nmetadata: {{name: api-abc}}\ndata: {{BLUEPRINT_SHUTDOWN_TIMEOUT: 10s, {drain}}}\n---\n\
             kind: Deployment\nmetadata: {{name: blueprint-api}}\nspec:\n  template:\n    metadata: {{labels: {{app.kubernetes.io/name: blueprint-api}}}}\n    spec:\n      terminationGracePeriodSeconds: {grace}\n      containers:\n        - name: api\n          envFrom: [{{configMapRef: {{name: api-abc}}}}]\n          {lifecycle}\n"
        );
        serde_yaml::Deserializer::from_str(&text)
            .map(|d| <Value as serde::Deserialize>::deserialize(d).expect("yaml"))
            .collect()
    }

    #[test]
    fn a_grace_period_that_covers_the_shutdown_passes() {
        let lines = check_objects(&objects(30, Some(5), Some("0s"))).expect("5+0+10+5+5 = 25");
        assert_eq!(lines, ["blueprint-api 5+0+10+5+5=25≤30 s"]);
    }

    #[test]
    fn a_grace_period_below_the_shutdown_fails() {
        let err = check_objects(&objects(20, Some(5), Some("5s")))
            .expect_err("5+5+10+5+5 = 30 > 20")
            .to_string();
        assert!(err.contains("terminationGracePeriodSeconds 20"), "{err}");
        assert!(err.contains("= 30 s"), "{err}");
    }

    #[test]
    fn a_setting_left_to_the_default_fails() {
        let err = format!(
            "{:#}",
            check_objects(&objects(30, None, None)).expect_err("no drain delay")
        );
        assert!(err.contains("BLUEPRINT_DRAIN_DELAY is not set"), "{err}");
    }

    #[test]
    fn env_wins_over_env_from_and_sub_second_values_round_up() {
        let mut objs = objects(30, None, Some("1s"));
        let container = &mut objs[1]["spec"]["template"]["spec"]["containers"][0];
        container["env"] =
            serde_yaml::from_str("[{name: BLUEPRINT_DRAIN_DELAY, value: 2500ms}]").expect("yaml");
        let lines = check_objects(&objs).expect("0+3+10+5+5 = 23");
        assert_eq!(lines, ["blueprint-api 0+3+10+5+5=23≤30 s"]);
    }

    #[test]
    fn an_exec_pre_stop_or_an_unknown_app_fails() {
        let mut objs = objects(30, None, Some("0s"));
        objs[1]["spec"]["template"]["spec"]["containers"][0]["lifecycle"] =
            serde_yaml::from_str("{preStop: {exec: {command: [sleep, '5']}}}").expect("yaml");
        let err = format!("{:#}", check_objects(&objs).expect_err("exec"));
        assert!(err.contains("not a `sleep` action"), "{err}");

        let mut objs = objects(30, None, Some("0s"));
        objs[1]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] =
            Value::from("other");
        let err = format!("{:#}", check_objects(&objs).expect_err("unknown app"));
        assert!(err.contains("no shutdown budget for app other"), "{err}");
    }
}
