//! Grafana as code, checked: the dashboards and provisioning files in `config/grafana/`.
//!
//! Grafana itself cannot run here: it is AGPL-3.0, kept out of this repository's toolchain, and is
//! not installable on the build machine. So this is a **structural** check of the files against the
//! model `config/grafana/README.md` describes — not Grafana's own validation. What Grafana would
//! make of a panel option, and whether a query returns data, is not checked (the README says so).
//!
//! For every `config/grafana/dashboards/*.json`:
//!
//! - valid JSON; `uid` equal to the file stem (unique, at most 40 characters), `id` null,
//!   `schemaVersion` ≥ 39, `editable` false, a non-empty `title`, the tag `sre-blueprint`,
//!   `version` 1, `now-6h` and a `30s` refresh;
//! - panel ids unique, counting the panels nested in collapsed rows; every panel that is not a row
//!   has a `gridPos` with `h`, `w`, `x`, `y` inside the 24-column grid; that panel and each of its
//!   targets use the data source `{"type":"prometheus","uid":"${datasource}"}`; each target has a
//!   `refId` (unique in the panel) and an `expr`;
//! - a templating variable `datasource` of type `datasource` with query `prometheus`; every
//!   variable an expression uses is defined (names starting `__` are Grafana's built-ins).
//!
//! Each `expr`, and the selector of each `label_values(<selector>, <label>)` variable query, is
//! returned as an [`Expr`] ready for a PromQL parser, with Grafana's variables replaced (see
//! [`substitute`]): `$__rate_interval`, `$__interval` and `$__range` (also written `${…}`) become
//! the duration `5m`, so they parse inside a range; every other `$name`, `${name}` and
//! `${name:format}` becomes the regex `.*`, which parses inside a label matcher's quotes. That is
//! where the README asks variables to be used; a variable anywhere else fails the parse, naming
//! the panel. `label_values(<label>)` alone holds no selector and yields nothing. A query variable
//! with any other query (`query_result(…)`, `metrics(…)`, …), or a variable of a type other than
//! `datasource`, `custom`, `constant`, `interval` and `textbox`, is reported: this check would not
//! know what to parse.
//!
//! The provisioning files parse into strict structs (unknown keys fail, so a misspelt key is not
//! silently ignored as Grafana would): `apiVersion` 1; data source names and uids unique; every
//! `datasourceUid` anywhere in a `jsonData` names a provisioned data source; the links the README
//! promises exist and are well formed (Prometheus exemplars → Jaeger, Jaeger → Loki, Loki derived
//! fields → Jaeger); no `jsonData` string holds a single `$` that Grafana would expand from its
//! environment when loading the file (a literal `$` is written `$$` there); the dashboard provider
//! is a read-only file provider with an absolute `options.path`.
//!
//! Every problem is collected, then reported together, each naming its file and panel.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};

/// The dashboards, relative to the workspace root.
pub const DASHBOARDS_DIR: &str = "config/grafana/dashboards";

/// The data source provisioning file, relative to the workspace root.
pub const DATASOURCES: &str = "config/grafana/provisioning/datasources/datasources.yaml";

/// The dashboard provider provisioning file, relative to the workspace root.
pub const DASHBOARD_PROVIDERS: &str = "config/grafana/provisioning/dashboards/dashboards.yaml";

/// The oldest dashboard schema the files may declare: Grafana 11's. Newer Grafanas migrate it.
const MIN_SCHEMA_VERSION: u64 = 39;

/// Grafana's dashboard grid is 24 columns wide.
const GRID_COLUMNS: u64 = 24;

/// Grafana refuses dashboard and data source uids longer than this, in characters.
const MAX_UID_LEN: usize = 40;

/// The tag every dashboard carries; their link menus list each other by it.
const TAG: &str = "sre-blueprint";

/// The dashboard `version` the files are committed with (Grafana bumps it on UI saves only).
const DASHBOARD_VERSION: u64 = 1;

/// The default time range start of every dashboard.
const TIME_FROM: &str = "now-6h";

/// The auto-refresh interval of every dashboard.
const REFRESH: &str = "30s";

/// The data source variable every dashboard has, and its plugin type.
const DATASOURCE_VARIABLE: &str = "datasource";

/// The data source plugin every panel, target and query variable uses.
const DATASOURCE_TYPE: &str = "prometheus";

/// Variable types that hold no query to parse.
const QUERYLESS_VARIABLE_TYPES: [&str; 5] =
    ["datasource", "custom", "constant", "interval", "textbox"];

/// Grafana's interval variables, which it fills with a duration.
const INTERVAL_VARIABLES: [&str; 3] = ["__rate_interval", "__interval", "__range"];

/// What an interval variable becomes for parsing: a duration, valid inside a range `[…]`.
const INTERVAL_STAND_IN: &str = "5m";

/// What any other variable becomes for parsing: a regex matching anything, valid inside the
/// quotes of a label matcher (`=` and `=~` alike).
const VALUE_STAND_IN: &str = ".*";

/// The provisioning file format version Grafana reads.
const PROVISIONING_API_VERSION: u32 = 1;

/// `matcherType` values of a Loki derived field: a regex over the line, or a label (or structured
/// metadata) by name. Absent means `regex`.
const DERIVED_FIELD_MATCHERS: [&str; 2] = ["regex", "label"];

/// A PromQL expression and where it was written.
#[derive(Debug, Clone)]
pub struct Expr {
    /// `config/grafana/dashboards/blueprint-slo.json: panel 7 "Burn rate" target A`, or
    /// `…: variable "path" query`.
    pub source: String,
    /// The expression with Grafana's variables replaced, ready for a PromQL parser.
    pub promql: String,
}

/// Checks the dashboards and the provisioning files under `root`; returns every dashboard
/// expression, ready to parse. Fails listing every problem found, each naming its file and panel.
pub fn check(root: &Path) -> Result<Vec<Expr>> {
    let dir = root.join(DASHBOARDS_DIR);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut exprs = Vec::new();
    let mut problems = Vec::new();
    if files.is_empty() {
        problems.push(format!("{DASHBOARDS_DIR}: no dashboards (*.json)"));
    }
    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    let mut panels = 0;
    for path in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let file = format!("{DASHBOARDS_DIR}/{name}");
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let dashboard: Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(err) => {
                problems.push(format!("{file}: not valid JSON: {err}"));
                continue;
            }
        };
        if let Some(uid) = dashboard.get("uid").and_then(Value::as_str)
            && let Some(other) = uids.insert(uid.to_owned(), file.clone())
        {
            problems.push(format!("{file}: uid \"{uid}\" is also the uid of {other}"));
        }
        let found = check_dashboard(&file, &stem, &dashboard);
        panels += found.panels;
        exprs.extend(found.exprs);
        problems.extend(found.problems);
    }
    let (datasources, datasource_problems) = read_and_check(root, DATASOURCES, check_datasources)?;
    let (providers, provider_problems) =
        read_and_check(root, DASHBOARD_PROVIDERS, check_providers)?;
    problems.extend(datasource_problems);
    problems.extend(provider_problems);
    if !problems.is_empty() {
        bail!(
            "{} problem(s) in config/grafana:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    println!(
        "grafana: {} dashboards, {panels} panels, {} expressions; {datasources} data sources, \
         {providers} dashboard provider(s): structure ok",
        files.len(),
        exprs.len()
    );
    Ok(exprs)
}

/// Reads `root/file` and runs `check` on it: `(items counted, problems)`.
fn read_and_check(
    root: &Path,
    file: &str,
    check: fn(&str, &str) -> (usize, Vec<String>),
) -> Result<(usize, Vec<String>)> {
    let path = root.join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(check(file, &text))
}

/// What checking one dashboard found.
#[derive(Debug, Default)]
struct Findings {
    /// Panels seen, rows included.
    panels: usize,
    exprs: Vec<Expr>,
    problems: Vec<String>,
}

/// Checks one parsed dashboard; `file` names it in messages, `stem` is its file name without
/// `.json` (which the uid must equal).
fn check_dashboard(file: &str, stem: &str, dashboard: &Value) -> Findings {
    let mut check = DashboardCheck {
        file,
        variables: BTreeSet::new(),
        panel_ids: BTreeMap::new(),
        found: Findings::default(),
    };
    check.top_level(stem, dashboard);
    check.templating(dashboard);
    match dashboard.get("panels").and_then(Value::as_array) {
        Some(panels) => check.panels(panels, "panels"),
        None => check.problem("no `panels` array"),
    }
    check.found
}

/// The state of one dashboard's check: what is defined so far, and what was found.
struct DashboardCheck<'a> {
    file: &'a str,
    /// Names of the templating variables.
    variables: BTreeSet<String>,
    /// Panel id → the label of the panel that has it.
    panel_ids: BTreeMap<i64, String>,
    found: Findings,
}

impl DashboardCheck<'_> {
    fn problem(&mut self, what: impl Display) {
        self.found.problems.push(format!("{}: {what}", self.file));
    }

    fn top_level(&mut self, stem: &str, d: &Value) {
        match d.get("uid").and_then(Value::as_str) {
            None | Some("") => {
                self.problem(format!("no `uid`; it must be the file name, \"{stem}\""));
            }
            Some(uid) if uid != stem => {
                self.problem(format!(
                    "uid \"{uid}\" differs from the file name \"{stem}\""
                ));
            }
            Some(uid) if uid.chars().count() > MAX_UID_LEN => {
                self.problem(format!(
                    "uid \"{uid}\" is longer than {MAX_UID_LEN} characters"
                ));
            }
            Some(_) => {}
        }
        if !d.get("id").is_none_or(Value::is_null) {
            self.problem("`id` must be null: Grafana assigns it when it loads the file");
        }
        match d.get("schemaVersion").and_then(Value::as_u64) {
            Some(v) if v >= MIN_SCHEMA_VERSION => {}
            other => self.problem(format!(
                "schemaVersion is {}, expected at least {MIN_SCHEMA_VERSION}",
                show(other)
            )),
        }
        if d.get("editable") != Some(&Value::Bool(false)) {
            self.problem("`editable` must be false: the file, not the UI, is the source of truth");
        }
        if d.get("title")
            .and_then(Value::as_str)
            .is_none_or(|t| t.trim().is_empty())
        {
            self.problem("no `title`");
        }
        let tagged = d
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(|tags| tags.iter().any(|t| t == TAG));
        if !tagged {
            self.problem(format!("`tags` must contain \"{TAG}\""));
        }
        if d.get("version").and_then(Value::as_u64) != Some(DASHBOARD_VERSION) {
            self.problem(format!("`version` must be {DASHBOARD_VERSION}"));
        }
        if d.pointer("/time/from").and_then(Value::as_str) != Some(TIME_FROM) {
            self.problem(format!("`time.from` must be \"{TIME_FROM}\""));
        }
        if d.get("refresh").and_then(Value::as_str) != Some(REFRESH) {
            self.problem(format!("`refresh` must be \"{REFRESH}\""));
        }
    }

    fn templating(&mut self, d: &Value) {
        let Some(list) = d.pointer("/templating/list").and_then(Value::as_array) else {
            self.problem("no `templating.list`");
            return;
        };
        for var in list {
            match var.get("name").and_then(Value::as_str) {
                Some(name) if !name.is_empty() => {
                    if !self.variables.insert(name.to_owned()) {
                        self.problem(format!("variable \"{name}\" is defined twice"));
                    }
                }
                _ => self.problem(format!("a variable without a name: {var}")),
            }
        }
        let datasource = list
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(DATASOURCE_VARIABLE));
        let well_formed = datasource.is_some_and(|v| {
            v.get("type").and_then(Value::as_str) == Some("datasource")
                && v.get("query").and_then(Value::as_str) == Some(DATASOURCE_TYPE)
        });
        if !well_formed {
            self.problem(format!(
                "needs a variable \"{DATASOURCE_VARIABLE}\" of type datasource with query \
                 \"{DATASOURCE_TYPE}\"; panels refer to it as ${{{DATASOURCE_VARIABLE}}}"
            ));
        }
        for var in list {
            self.variable(var);
        }
    }

    fn variable(&mut self, var: &Value) {
        let name = var.get("name").and_then(Value::as_str).unwrap_or("?");
        let kind = var.get("type").and_then(Value::as_str).unwrap_or("");
        if QUERYLESS_VARIABLE_TYPES.contains(&kind) {
            return;
        }
        let label = format!("variable \"{name}\"");
        if kind != "query" {
            self.problem(format!(
                "{label} has type \"{kind}\"; only query variables (label_values) and the types {} \
                 are supported by this check",
                QUERYLESS_VARIABLE_TYPES.join(", ")
            ));
            return;
        }
        if var.get("datasource") != Some(&datasource_ref()) {
            self.problem(format!(
                "{label}: datasource is {}, expected {}",
                show(var.get("datasource")),
                datasource_ref()
            ));
        }
        let query = var.get("query");
        let text = query
            .and_then(Value::as_str)
            .or_else(|| query.and_then(|q| q.get("query")).and_then(Value::as_str));
        let Some(text) = text else {
            self.problem(format!(
                "{label}: no query (a string, or an object with `query`)"
            ));
            return;
        };
        match variable_query(text) {
            VariableQuery::LabelValues(selector) => self.expr(&format!("{label} query"), selector),
            VariableQuery::LabelOnly => {}
            VariableQuery::Other => self.problem(format!(
                "{label}: query `{text}` is not label_values(<selector>, <label>) or \
                 label_values(<label>), so this check cannot parse it"
            )),
        }
    }

    fn panels(&mut self, panels: &[Value], path: &str) {
        for (index, panel) in panels.iter().enumerate() {
            self.found.panels += 1;
            let label = panel_label(panel, &format!("{path}[{index}]"));
            self.panel(panel, &label);
            if let Some(nested) = panel.get("panels") {
                match nested.as_array() {
                    Some(nested) => self.panels(nested, &format!("{path}[{index}].panels")),
                    None => self.problem(format!("{label}: `panels` is not an array")),
                }
            }
        }
    }

    fn panel(&mut self, panel: &Value, label: &str) {
        match panel.get("id").and_then(Value::as_i64) {
            Some(id) => {
                if let Some(first) = self.panel_ids.insert(id, label.to_owned()) {
                    self.problem(format!("{label}: panel id {id} is also the id of {first}"));
                }
            }
            None => self.problem(format!("{label}: no integer `id`")),
        }
        if let Some(repeat) = panel.get("repeat").and_then(Value::as_str)
            && !self.variables.contains(repeat)
        {
            self.problem(format!(
                "{label}: repeats over \"{repeat}\", which is not a variable"
            ));
        }
        let kind = panel.get("type").and_then(Value::as_str);
        if kind.is_none() {
            self.problem(format!("{label}: no `type`"));
        }
        let is_row = kind == Some("row");
        let grid = panel.get("gridPos");
        if grid.is_some() || !is_row {
            for problem in grid_problems(grid) {
                self.problem(format!("{label}: {problem}"));
            }
        }
        if !is_row {
            self.targets(panel, label);
        }
    }

    fn targets(&mut self, panel: &Value, label: &str) {
        if panel.get("datasource") != Some(&datasource_ref()) {
            self.problem(format!(
                "{label}: datasource is {}, expected {}",
                show(panel.get("datasource")),
                datasource_ref()
            ));
        }
        let targets = match panel.get("targets").and_then(Value::as_array) {
            Some(targets) if !targets.is_empty() => targets,
            _ => {
                self.problem(format!("{label}: no `targets`"));
                return;
            }
        };
        let mut ref_ids = BTreeSet::new();
        for (index, target) in targets.iter().enumerate() {
            let ref_id = target.get("refId").and_then(Value::as_str).unwrap_or("");
            let target_label = if ref_id.is_empty() {
                self.problem(format!("{label}: target {index} has no `refId`"));
                format!("{label} target {index}")
            } else {
                if !ref_ids.insert(ref_id) {
                    self.problem(format!("{label}: refId {ref_id} is used twice"));
                }
                format!("{label} target {ref_id}")
            };
            if target.get("datasource") != Some(&datasource_ref()) {
                self.problem(format!(
                    "{target_label}: datasource is {}, expected {}",
                    show(target.get("datasource")),
                    datasource_ref()
                ));
            }
            match target.get("expr").and_then(Value::as_str) {
                Some(expr) if !expr.trim().is_empty() => self.expr(&target_label, expr),
                _ => self.problem(format!("{target_label}: no `expr`")),
            }
        }
    }

    /// Records an expression, substituted, and reports variables it uses that are not defined.
    fn expr(&mut self, label: &str, raw: &str) {
        let (promql, names) = substitute(raw);
        for name in names {
            if !name.starts_with("__") && !self.variables.contains(&name) {
                self.problem(format!(
                    "{label}: uses ${name}, which is not a variable here"
                ));
            }
        }
        self.found.exprs.push(Expr {
            source: format!("{}: {label}", self.file),
            promql,
        });
    }
}

/// `{"type":"prometheus","uid":"${datasource}"}`: the reference every panel and target uses.
fn datasource_ref() -> Value {
    json!({"type": DATASOURCE_TYPE, "uid": format!("${{{DATASOURCE_VARIABLE}}}")})
}

/// `panel 7 "Burn rate"`, or `panel at panels[3] "…"` when it has no integer id.
fn panel_label(panel: &Value, path: &str) -> String {
    let title = panel.get("title").and_then(Value::as_str).unwrap_or("");
    match panel.get("id").and_then(Value::as_i64) {
        Some(id) => format!("panel {id} \"{title}\""),
        None => format!("panel at {path} \"{title}\""),
    }
}

/// A JSON value for a message (`(none)` when absent).
fn show<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}

/// What is wrong with a `gridPos`: each of `h`, `w`, `x`, `y` a non-negative integer, `h` and `w`
/// at least 1, and the panel inside the 24 columns.
fn grid_problems(grid: Option<&Value>) -> Vec<String> {
    let Some(grid) = grid else {
        return vec!["no `gridPos`".to_owned()];
    };
    let field = |key: &str| grid.get(key).and_then(Value::as_u64);
    let (Some(h), Some(w), Some(x), Some(_y)) = (field("h"), field("w"), field("x"), field("y"))
    else {
        return vec![format!(
            "gridPos {grid} needs non-negative integers h, w, x and y"
        )];
    };
    let mut problems = Vec::new();
    if h == 0 || w == 0 {
        problems.push(format!("gridPos {grid} has no area"));
    }
    if x + w > GRID_COLUMNS {
        problems.push(format!(
            "gridPos x + w = {} exceeds the {GRID_COLUMNS}-column grid",
            x + w
        ));
    }
    problems
}

/// Replaces Grafana's template variables in `text` with stand-ins a PromQL parser accepts, and
/// returns the text with the names of the variables it used (in order, repeated as written).
///
/// `$__rate_interval`, `$__interval`, `$__range` and their `${…}` forms become `5m`; every other
/// `$name`, `${name}`, `${name.field}` and `${name:format}` becomes `.*`. A name is made of ASCII
/// letters, digits and `_`, as in Grafana. A `$` that starts no variable (the end-of-line anchor in
/// a regex matcher such as `path=~"/api$"`) is kept.
pub fn substitute(text: &str) -> (String, Vec<String>) {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let stand_in = |name: &str| {
        if INTERVAL_VARIABLES.contains(&name) {
            INTERVAL_STAND_IN
        } else {
            VALUE_STAND_IN
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(inner) = after.strip_prefix('{')
            && let Some(end) = inner.find('}')
        {
            let body = &inner[..end];
            let name_len = body.find(|c| !is_name_char(c)).unwrap_or(body.len());
            let (name, tail) = body.split_at(name_len);
            if !name.is_empty() && (tail.is_empty() || tail.starts_with([':', '.'])) {
                out.push_str(stand_in(name));
                names.push(name.to_owned());
                rest = &inner[end + 1..];
                continue;
            }
        }
        let name_len = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
        if name_len == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        let name = &after[..name_len];
        out.push_str(stand_in(name));
        names.push(name.to_owned());
        rest = &after[name_len..];
    }
    out.push_str(rest);
    (out, names)
}

/// What a variable query is, for this check.
#[derive(Debug, PartialEq, Eq)]
enum VariableQuery<'a> {
    /// `label_values(<selector>, <label>)`: the selector is an expression to parse.
    LabelValues(&'a str),
    /// `label_values(<label>)`: no expression.
    LabelOnly,
    /// Anything else (`query_result(…)`, `metrics(…)`, …): not understood here.
    Other,
}

/// Classifies a variable query (see [`VariableQuery`]).
fn variable_query(query: &str) -> VariableQuery<'_> {
    let Some(inner) = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .map(str::trim)
    else {
        return VariableQuery::Other;
    };
    // The label is last and holds no comma, so the last comma separates it from the selector
    // (whose matchers may hold commas of their own).
    if let Some((selector, label)) = inner.rsplit_once(',')
        && is_label_name(label.trim())
        && !selector.trim().is_empty()
    {
        return VariableQuery::LabelValues(selector.trim());
    }
    if is_label_name(inner) {
        VariableQuery::LabelOnly
    } else {
        VariableQuery::Other
    }
}

/// A Prometheus label name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_label_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `datasources.yaml`. Every key Grafana's provisioning accepts that this repository uses is
/// listed; an unknown (misspelt) key fails the parse instead of being ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DatasourcesFile {
    api_version: u32,
    datasources: Vec<Datasource>,
}

/// One provisioned data source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Datasource {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    uid: Option<String>,
    access: Option<String>,
    url: Option<String>,
    org_id: Option<u32>,
    is_default: Option<bool>,
    editable: Option<bool>,
    /// Plugin-specific; the keys this check relies on are checked by hand.
    json_data: Option<serde_yaml::Value>,
    /// Secrets: only references to the environment (`$NAME`), never a committed value.
    secure_json_data: Option<BTreeMap<String, String>>,
}

/// The problems of a provisioning file's head: its `apiVersion`, and an empty list of `what`.
fn provisioning_header(file: &str, api_version: u32, entries: usize, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if api_version != PROVISIONING_API_VERSION {
        problems.push(format!(
            "{file}: apiVersion is {api_version}, expected {PROVISIONING_API_VERSION}"
        ));
    }
    if entries == 0 {
        problems.push(format!("{file}: no {what}"));
    }
    problems
}

/// Checks `datasources.yaml` (`file` names it in messages): `(data sources, problems)`.
fn check_datasources(file: &str, text: &str) -> (usize, Vec<String>) {
    let parsed: DatasourcesFile = match serde_yaml::from_str(text) {
        Ok(parsed) => parsed,
        Err(err) => return (0, vec![format!("{file}: {err}")]),
    };
    let mut problems = provisioning_header(
        file,
        parsed.api_version,
        parsed.datasources.len(),
        "datasources",
    );
    let mut names = BTreeSet::new();
    let mut uids = BTreeSet::new();
    let mut defaults: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for ds in &parsed.datasources {
        let label = format!("{file}: datasource \"{}\"", ds.name);
        if ds.name.trim().is_empty() || !names.insert(ds.name.as_str()) {
            problems.push(format!("{label}: names must be non-empty and unique"));
        }
        match ds.uid.as_deref() {
            Some(uid) if !uid.is_empty() && uid.chars().count() <= MAX_UID_LEN => {
                if !uids.insert(uid) {
                    problems.push(format!("{label}: uid \"{uid}\" is used twice"));
                }
            }
            other => problems.push(format!(
                "{label}: needs a uid of 1 to {MAX_UID_LEN} characters (links and dashboards \
                 refer to data sources by uid), found {}",
                show(other)
            )),
        }
        if ds.is_default == Some(true) {
            defaults
                .entry(ds.org_id.unwrap_or(1))
                .or_default()
                .push(&ds.name);
        }
    }
    for (org, names) in &defaults {
        if names.len() > 1 {
            problems.push(format!(
                "{file}: org {org} has {} default data sources ({}); Grafana allows one",
                names.len(),
                names.join(", ")
            ));
        }
    }
    for ds in &parsed.datasources {
        datasource_problems(file, ds, &uids, &mut problems);
    }
    (parsed.datasources.len(), problems)
}

/// The checks of one data source that need the set of provisioned uids.
fn datasource_problems(
    file: &str,
    ds: &Datasource,
    uids: &BTreeSet<&str>,
    problems: &mut Vec<String>,
) {
    let label = format!("{file}: datasource \"{}\"", ds.name);
    if ds.kind.trim().is_empty() {
        problems.push(format!("{label}: no type"));
    }
    if ds.url.as_deref().is_none_or(|u| u.trim().is_empty()) {
        problems.push(format!("{label}: no url"));
    }
    if let Some(access) = ds.access.as_deref()
        && access != "proxy"
        && access != "direct"
    {
        problems.push(format!(
            "{label}: access is \"{access}\", expected proxy or direct"
        ));
    }
    if ds.editable != Some(false) {
        problems.push(format!(
            "{label}: set `editable: false`; provisioned data sources change in this file"
        ));
    }
    for (key, value) in ds.secure_json_data.iter().flatten() {
        if !is_env_reference(value) {
            problems.push(format!(
                "{label}: secureJsonData.{key} must reference the environment ($NAME), not hold \
                 the secret"
            ));
        }
    }
    let empty = serde_yaml::Value::Null;
    let json_data = ds.json_data.as_ref().unwrap_or(&empty);
    let mut refs = Vec::new();
    walk_yaml(json_data, "jsonData", &mut |path, key, value| {
        if key == Some("datasourceUid") {
            refs.push((path.to_owned(), value.as_str().map(str::to_owned)));
        }
        if let Some(text) = value.as_str()
            && let Some(at) = env_expansion(text)
        {
            problems.push(format!(
                "{label}: {path} = '{text}': Grafana expands `{}…` from its environment when it \
                 loads the file; write $$ for a literal $",
                &text[at..(at + 2).min(text.len())]
            ));
        }
    });
    for (path, uid) in refs {
        match uid {
            Some(uid) if uids.contains(uid.as_str()) => {}
            other => problems.push(format!(
                "{label}: {path} is {}, not the uid of a provisioned data source ({})",
                show(other),
                uids.iter().copied().collect::<Vec<_>>().join(", ")
            )),
        }
    }
    problems.extend(
        link_problems(&ds.kind, json_data)
            .into_iter()
            .map(|p| format!("{label}: {p}")),
    );
}

/// The keys the links between the data sources rely on, per plugin type.
fn link_problems(kind: &str, json_data: &serde_yaml::Value) -> Vec<String> {
    let text = |v: &serde_yaml::Value, key: &str| {
        v.get(key)
            .and_then(serde_yaml::Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    };
    let list = |key: &str| -> Result<Vec<serde_yaml::Value>, String> {
        match json_data.get(key).and_then(serde_yaml::Value::as_sequence) {
            Some(items) if !items.is_empty() => Ok(items.clone()),
            _ => Err(format!("jsonData.{key} must be a non-empty list")),
        }
    };
    let mut problems = Vec::new();
    match kind {
        "prometheus" => match list("exemplarTraceIdDestinations") {
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    if text(item, "name").is_none()
                        || (text(item, "datasourceUid").is_none() && text(item, "url").is_none())
                    {
                        problems.push(format!(
                            "jsonData.exemplarTraceIdDestinations[{i}] needs `name` (the \
                             exemplar label) and `datasourceUid` or `url`"
                        ));
                    }
                }
            }
            Err(p) => problems.push(p),
        },
        "loki" => match list("derivedFields") {
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    problems.extend(derived_field_problems(i, item, &text));
                }
            }
            Err(p) => problems.push(p),
        },
        "jaeger" | "tempo" | "zipkin" => {
            let links = json_data.get("tracesToLogsV2");
            match links {
                Some(links) if text(links, "datasourceUid").is_some() => {
                    let custom = links
                        .get("customQuery")
                        .and_then(serde_yaml::Value::as_bool);
                    if custom == Some(true) && text(links, "query").is_none() {
                        problems.push(
                            "jsonData.tracesToLogsV2: customQuery is true but `query` is empty"
                                .to_owned(),
                        );
                    }
                }
                _ => problems.push("jsonData.tracesToLogsV2.datasourceUid is missing".to_owned()),
            }
        }
        _ => {}
    }
    problems
}

/// A Loki derived field: `name`, a `matcherType` of regex or label, a `matcherRegex` (a label
/// name for the label matcher), and a `datasourceUid` or `url` to link to.
fn derived_field_problems(
    index: usize,
    item: &serde_yaml::Value,
    text: &dyn Fn(&serde_yaml::Value, &str) -> Option<String>,
) -> Vec<String> {
    let at = format!("jsonData.derivedFields[{index}]");
    let mut problems = Vec::new();
    if text(item, "name").is_none() {
        problems.push(format!("{at} has no `name`"));
    }
    let matcher = text(item, "matcherType").unwrap_or_else(|| "regex".to_owned());
    if !DERIVED_FIELD_MATCHERS.contains(&matcher.as_str()) {
        problems.push(format!(
            "{at}.matcherType is \"{matcher}\", expected {}",
            DERIVED_FIELD_MATCHERS.join(" or ")
        ));
    }
    match text(item, "matcherRegex") {
        None => problems.push(format!("{at} has no `matcherRegex`")),
        Some(name) if matcher == "label" && !is_label_name(&name) => problems.push(format!(
            "{at}.matcherRegex is \"{name}\": with matcherType label it is the name of a label \
             or structured metadata field"
        )),
        Some(_) => {}
    }
    if text(item, "datasourceUid").is_none() && text(item, "url").is_none() {
        problems.push(format!("{at} needs `datasourceUid` or `url`"));
    }
    problems
}

/// Calls `visit(path, key, value)` for every value under `value` (depth first), with the key it
/// has in its parent mapping (`None` in a sequence or at the top).
fn walk_yaml(
    value: &serde_yaml::Value,
    path: &str,
    visit: &mut dyn FnMut(&str, Option<&str>, &serde_yaml::Value),
) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            for (key, child) in map {
                let key = key.as_str().unwrap_or("?");
                let child_path = format!("{path}.{key}");
                visit(&child_path, Some(key), child);
                walk_yaml(child, &child_path, visit);
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for (i, child) in items.iter().enumerate() {
                let child_path = format!("{path}[{i}]");
                visit(&child_path, None, child);
                walk_yaml(child, &child_path, visit);
            }
        }
        _ => {}
    }
}

/// Where `text` has a `$` that Grafana's provisioning would expand from the environment (`$NAME`
/// or `${NAME}`); `$$` is an escaped, literal `$`.
fn env_expansion(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            match bytes.get(i + 1) {
                Some(b'$') => i += 2,
                Some(c) if *c == b'{' || c.is_ascii_alphabetic() || *c == b'_' => return Some(i),
                _ => i += 1,
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Whether `text` is exactly a reference to an environment variable: `$NAME` or `${NAME}`.
fn is_env_reference(text: &str) -> bool {
    let name = text
        .strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .or_else(|| text.strip_prefix('$'));
    name.is_some_and(is_label_name)
}

/// `dashboards.yaml`: the dashboard providers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProvidersFile {
    api_version: u32,
    providers: Vec<Provider>,
}

/// One dashboard provider. Every key of Grafana's file provider is listed so that a misspelt one
/// fails; not every one needs a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(
    dead_code,
    reason = "keys are listed to be accepted; only some need a check"
)]
struct Provider {
    name: String,
    org_id: Option<u32>,
    #[serde(rename = "type")]
    kind: Option<String>,
    folder: Option<String>,
    folder_uid: Option<String>,
    disable_deletion: Option<bool>,
    allow_ui_updates: Option<bool>,
    update_interval_seconds: Option<u32>,
    options: ProviderOptions,
}

/// A file provider's `options`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(
    dead_code,
    reason = "keys are listed to be accepted; only some need a check"
)]
struct ProviderOptions {
    path: Option<String>,
    folders_from_files_structure: Option<bool>,
}

/// Checks `dashboards.yaml` (`file` names it in messages): `(providers, problems)`.
fn check_providers(file: &str, text: &str) -> (usize, Vec<String>) {
    let parsed: ProvidersFile = match serde_yaml::from_str(text) {
        Ok(parsed) => parsed,
        Err(err) => return (0, vec![format!("{file}: {err}")]),
    };
    let mut problems = provisioning_header(
        file,
        parsed.api_version,
        parsed.providers.len(),
        "providers",
    );
    let mut names = BTreeSet::new();
    for provider in &parsed.providers {
        let label = format!("{file}: provider \"{}\"", provider.name);
        if provider.name.trim().is_empty() || !names.insert(provider.name.as_str()) {
            problems.push(format!("{label}: names must be non-empty and unique"));
        }
        if provider.kind.as_deref().is_some_and(|k| k != "file") {
            problems.push(format!("{label}: type must be file"));
        }
        if provider.allow_ui_updates == Some(true) {
            problems.push(format!(
                "{label}: allowUiUpdates must be false; the JSON files are the source of truth"
            ));
        }
        match provider.options.path.as_deref() {
            Some(path) if path.starts_with('/') => {}
            other => problems.push(format!(
                "{label}: options.path must be the absolute directory the dashboards are \
                 mounted at, found {}",
                show(other)
            )),
        }
    }
    (parsed.providers.len(), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems as one indented list, for test messages.
    fn listing(problems: &[String]) -> String {
        problems
            .iter()
            .fold(String::new(), |text, p| text + "\n  " + p)
    }

    #[test]
    fn variables_are_replaced_by_parseable_stand_ins() {
        let (text, names) = substitute(
            r#"rate(x{job="$job", path=~"${path:regex}", a="${b}"}[$__rate_interval]) + y[${__range}] + z[$__interval]"#,
        );
        assert_eq!(
            text,
            r#"rate(x{job=".*", path=~".*", a=".*"}[5m]) + y[5m] + z[5m]"#
        );
        assert_eq!(
            names,
            [
                "job",
                "path",
                "b",
                "__rate_interval",
                "__range",
                "__interval"
            ]
        );
        // A `$` that starts no variable is kept; a longer built-in is another variable.
        assert_eq!(
            substitute(r#"x{p=~"/a$"} $__interval_ms"#).0,
            r#"x{p=~"/a$"} .*"#
        );
        assert_eq!(substitute("${__value.raw} ${ x}").0, ".* ${ x}");
        assert_eq!(substitute("$").0, "$");
    }

    #[test]
    fn label_values_queries_yield_their_selector() {
        assert_eq!(
            variable_query(r#"label_values(m{a="1", b="$b"}, path)"#),
            VariableQuery::LabelValues(r#"m{a="1", b="$b"}"#)
        );
        assert_eq!(
            variable_query("label_values(job)"),
            VariableQuery::LabelOnly
        );
        assert_eq!(variable_query("query_result(up)"), VariableQuery::Other);
        assert_eq!(
            variable_query("label_values(m, 1bad)"),
            VariableQuery::Other
        );
    }

    /// A dashboard that passes, with `panels` as its panels.
    fn dashboard(panels: &Value) -> Value {
        json!({
            "uid": "d", "id": null, "title": "D", "schemaVersion": 39, "editable": false,
            "tags": ["sre-blueprint"], "version": 1, "time": {"from": "now-6h", "to": "now"},
            "refresh": "30s",
            "templating": {"list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "job", "type": "query", "datasource": datasource_ref(),
                 "query": {"query": "label_values(up{x=\"1\"}, job)"}}
            ]},
            "panels": panels,
        })
    }

    fn stat(id: i64, title: &str) -> Value {
        json!({
            "id": id, "type": "stat", "title": title, "datasource": datasource_ref(),
            "gridPos": {"h": 4, "w": 6, "x": 0, "y": 0},
            "targets": [{"refId": "A", "datasource": datasource_ref(), "expr": "up{job=\"$job\"}"}],
        })
    }

    #[test]
    fn a_well_formed_dashboard_yields_its_expressions() {
        let found = check_dashboard("d.json", "d", &dashboard(&json!([stat(1, "Up")])));
        assert!(found.problems.is_empty(), "{}", listing(&found.problems));
        let sources: Vec<_> = found.exprs.iter().map(|e| e.source.as_str()).collect();
        assert_eq!(
            sources,
            [
                "d.json: variable \"job\" query",
                "d.json: panel 1 \"Up\" target A"
            ]
        );
        assert_eq!(found.exprs[0].promql, r#"up{x="1"}"#);
        assert_eq!(found.exprs[1].promql, r#"up{job=".*"}"#);
    }

    #[test]
    fn a_duplicate_panel_id_is_reported_with_both_panels() {
        let row = json!({"id": 9, "type": "row", "title": "R", "collapsed": true,
                         "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0},
                         "panels": [stat(1, "Nested")]});
        let found = check_dashboard("d.json", "d", &dashboard(&json!([stat(1, "Top"), row])));
        assert_eq!(
            found.problems,
            ["d.json: panel 1 \"Nested\": panel id 1 is also the id of panel 1 \"Top\""]
        );
    }

    #[test]
    fn a_wrong_datasource_is_reported_on_the_panel_and_target() {
        let mut panel = stat(7, "Burn rate");
        panel["datasource"] = json!({"type": "prometheus", "uid": "prometheus"});
        panel["targets"][0]["datasource"] = Value::Null;
        let found = check_dashboard("d.json", "d", &dashboard(&json!([panel])));
        assert_eq!(found.problems.len(), 2, "{}", listing(&found.problems));
        assert!(
            found.problems[0].starts_with(
                "d.json: panel 7 \"Burn rate\": datasource is {\"type\":\"prometheus\",\"uid\":\"prometheus\"}"
            ),
            "{}",
            found.problems[0]
        );
        assert!(
            found.problems[1].starts_with("d.json: panel 7 \"Burn rate\" target A: datasource"),
            "{}",
            found.problems[1]
        );
    }

    #[test]
    fn a_missing_uid_and_model_fields_are_reported_with_the_file() {
        let mut d = dashboard(&json!([stat(1, "Up")]));
        let model = d.as_object_mut().expect("an object");
        model.remove("uid");
        model.insert("editable".into(), json!(true));
        model.insert("id".into(), json!(3));
        let found = check_dashboard("x.json", "x", &d);
        assert_eq!(
            found.problems,
            [
                "x.json: no `uid`; it must be the file name, \"x\"",
                "x.json: `id` must be null: Grafana assigns it when it loads the file",
                "x.json: `editable` must be false: the file, not the UI, is the source of truth",
            ]
        );
    }

    #[test]
    fn grid_overflow_missing_targets_and_unknown_variables_are_reported() {
        let mut wide = stat(1, "Wide");
        wide["gridPos"] = json!({"h": 4, "w": 12, "x": 18, "y": 0});
        let mut empty = stat(2, "Empty");
        empty["targets"] = json!([]);
        let mut typo = stat(3, "Typo");
        typo["targets"][0]["expr"] = json!("up{job=\"$jbo\"}");
        let found = check_dashboard("d.json", "d", &dashboard(&json!([wide, empty, typo])));
        assert_eq!(
            found.problems,
            [
                "d.json: panel 1 \"Wide\": gridPos x + w = 30 exceeds the 24-column grid",
                "d.json: panel 2 \"Empty\": no `targets`",
                "d.json: panel 3 \"Typo\" target A: uses $jbo, which is not a variable here",
            ]
        );
    }

    #[test]
    fn unparseable_variable_queries_are_reported() {
        let mut d = dashboard(&json!([stat(1, "Up")]));
        d["templating"]["list"][1]["query"] = json!("query_result(up)");
        let found = check_dashboard("d.json", "d", &d);
        assert_eq!(found.problems.len(), 1, "{}", listing(&found.problems));
        assert!(
            found.problems[0].starts_with("d.json: variable \"job\": query `query_result(up)`"),
            "{}",
            found.problems[0]
        );
    }

    #[test]
    fn the_committed_dashboards_pass_and_their_expressions_parse() {
        let exprs = check(crate::root()).expect("the committed Grafana config passes");
        assert!(exprs.len() > 30, "only {} expressions", exprs.len());
        for expr in &exprs {
            if let Err(err) = promql_parser::parser::parse(&expr.promql) {
                panic!("{}: {err}\n{}", expr.source, expr.promql);
            }
        }
    }

    const DATASOURCES_OK: &str = r#"
apiVersion: 1
datasources:
  - {name: P, type: prometheus, uid: p, url: "http://p", editable: false, isDefault: true,
     jsonData: {exemplarTraceIdDestinations: [{name: trace_id, datasourceUid: j}]}}
  - {name: J, type: jaeger, uid: j, url: "http://j", editable: false,
     jsonData: {tracesToLogsV2: {datasourceUid: l, customQuery: true,
                query: '{a=~".+"} | trace_id="$${__trace.traceId}"'}}}
  - {name: L, type: loki, uid: l, url: "http://l", editable: false,
     jsonData: {derivedFields: [{name: T, matcherType: label, matcherRegex: trace_id,
                                 datasourceUid: j, url: "$${__value.raw}"}]}}
"#;

    #[test]
    fn linked_datasources_pass() {
        let (count, problems) = check_datasources("ds.yaml", DATASOURCES_OK);
        assert_eq!(count, 3);
        assert!(problems.is_empty(), "{}", listing(&problems));
    }

    #[test]
    fn broken_datasource_links_are_reported_with_their_path() {
        let text = DATASOURCES_OK
            .replace("datasourceUid: j}]}}", "datasourceUid: tempo}]}}")
            .replace("$${__value.raw}", "${__value.raw}")
            .replace(
                "matcherRegex: trace_id",
                "matcherRegex: '\"trace_id\":\"(\\w+)\"'",
            );
        let (_, problems) = check_datasources("ds.yaml", &text);
        assert_eq!(problems.len(), 3, "{}", listing(&problems));
        assert!(problems[0].contains(
            "datasource \"P\": jsonData.exemplarTraceIdDestinations[0].datasourceUid is tempo, \
             not the uid of a provisioned data source (j, l, p)"
        ));
        assert!(problems[1].contains(
            "datasource \"L\": jsonData.derivedFields[0].url = '${__value.raw}': Grafana expands"
        ));
        assert!(problems[2].contains("jsonData.derivedFields[0].matcherRegex is"));
    }

    #[test]
    fn unknown_provisioning_keys_fail_the_parse() {
        let (_, problems) = check_datasources("ds.yaml", &DATASOURCES_OK.replace("url:", "URL:"));
        assert_eq!(problems.len(), 1, "{}", listing(&problems));
        assert!(
            problems[0].contains("unknown field `URL`"),
            "{}",
            problems[0]
        );
        let providers = "apiVersion: 1\nproviders:\n  - {name: a, options: {pth: /d}}\n";
        let (_, problems) = check_providers("p.yaml", providers);
        assert!(
            problems[0].contains("unknown field `pth`"),
            "{}",
            problems[0]
        );
        let relative = "apiVersion: 1\nproviders:\n  - {name: a, options: {path: d}}\n";
        let (_, problems) = check_providers("p.yaml", relative);
        assert!(
            problems[0].contains("options.path must be the absolute"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn the_committed_loki_link_reads_trace_id_from_structured_metadata() {
        // The collector sends the message as the Loki line and trace_id as structured metadata
        // (config/otel-collector/config.yaml), so the links must not search the line for it.
        let text = std::fs::read_to_string(crate::root().join(DATASOURCES)).expect("reads");
        let parsed: DatasourcesFile = serde_yaml::from_str(&text).expect("parses");
        let json_data = |uid: &str| {
            parsed
                .datasources
                .iter()
                .find(|d| d.uid.as_deref() == Some(uid))
                .and_then(|d| d.json_data.clone())
                .expect("the data source has jsonData")
        };
        let field = &json_data("loki")["derivedFields"][0];
        assert_eq!(field["matcherType"].as_str(), Some("label"));
        assert_eq!(field["matcherRegex"].as_str(), Some("trace_id"));
        assert_eq!(field["datasourceUid"].as_str(), Some("jaeger"));
        assert_eq!(
            json_data("jaeger")["tracesToLogsV2"]["query"].as_str(),
            Some(r#"{service_name=~".+"} | trace_id="$${__trace.traceId}""#)
        );
    }

    #[test]
    fn env_references_and_escapes_are_told_apart() {
        assert_eq!(env_expansion("$${__value.raw} and $$x"), None);
        assert_eq!(env_expansion("a ${B}"), Some(2));
        assert_eq!(env_expansion("$HOME"), Some(0));
        assert_eq!(env_expansion("costs 5$"), None);
        assert!(is_env_reference("$GF_TOKEN") && is_env_reference("${GF_TOKEN}"));
        assert!(!is_env_reference("s3cret"));
    }
}
