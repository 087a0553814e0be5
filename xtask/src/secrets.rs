//! Secrets as code: the SOPS-encrypted Secrets under `flux/secrets/` and a secret scanner over the
//! repository (docs/adr/0003-secrets.md).
//!
//! What `check` proves, with the real `sops` (age keys) and no cluster:
//!
//! - every Secret file under `flux/secrets/<env>/` is encrypted: no plaintext value under `data`
//!   or `stringData`, each value an `ENC[AES256_GCM,…]`, a MAC present, `encrypted_regex` as in
//!   `/.sops.yaml`;
//! - each file is encrypted to exactly the age recipients of its `/.sops.yaml` creation rule, the
//!   test-only key among them for dev and never for staging or production;
//! - dev decrypts with the test-only key (`tests/sops/test-only.agekey`), and each decrypted Secret
//!   has the expected name, namespace and keys with usable values;
//! - staging and production do NOT decrypt with it (`sops decrypt` must fail);
//! - no file of the repository (tracked, or new and not ignored) holds a private key, an age
//!   secret key, a cloud or chat token, or a plaintext value in a Kubernetes Secret: gitleaks-style
//!   rules, implemented here because gitleaks is not among the modules the Go proxy serves this
//!   project; each rule fires on a planted sample in the unit tests. Findings that are meant to be
//!   there are listed, with the reason, in [`ALLOWED`]; an entry that no longer matches fails too.
//!
//! Whether Flux's kustomize-controller decrypts the files in a cluster (the `flux-system/sops-age`
//! Secret, the Kustomization's `decryption` block) needs a cluster and is not checked here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail, ensure};
use regex::Regex;
use serde::Deserialize as _;
use serde_yaml::Value;

use crate::tools::Tools;
use crate::{proc, root};

/// The encrypted Secrets, one directory per environment.
const SECRETS_DIR: &str = "flux/secrets";
/// The SOPS creation rules (recipients per path, encrypted keys).
const SOPS_CONFIG: &str = ".sops.yaml";
/// The test-only age identity: protects dev's throwaway values only.
const TEST_KEY: &str = "tests/sops/test-only.agekey";
/// The environments; only dev is encrypted to the test key.
const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "production"];
/// What sops must encrypt: exactly the Secret payload (names, namespaces, keys stay reviewable).
const ENCRYPTED_REGEX: &str = "^(data|stringData)$";
/// The prefix of a value sops encrypted (AES-256 in GCM mode).
const ENC_PREFIX: &str = "ENC[AES256_GCM,";

/// Smallest accepted length of a generated password or signing key, in characters. 32 is the
/// api's floor for the JWT key in bytes (`MIN_JWT_SECRET_BYTES`); the generated values are 64 hex
/// characters (`openssl rand -hex 32`, 256 bits).
const MIN_SECRET_CHARS: usize = 32;

/// A Secret every environment must have: which file, which Secret, which keys.
struct Expected {
    file: &'static str,
    name: &'static str,
    /// `None`: the environment's application namespace `blueprint-<env>`.
    namespace: Option<&'static str>,
    /// The keys of its `stringData` and how each value is checked once decrypted.
    keys: &'static [(&'static str, ValueKind)],
}

#[derive(Clone, Copy)]
enum ValueKind {
    /// At least [`MIN_SECRET_CHARS`] URL-safe characters: it goes into `redis://:<password>@…`.
    UrlSafe,
    /// An AWS shared-credentials file with a non-empty key id and secret (velero-plugin-for-aws).
    AwsCredentials,
    /// A PagerDuty routing key: 32 hexadecimal characters.
    RoutingKey,
    /// An `https://` URL (a chat webhook).
    HttpsUrl,
}

const EXPECTED: [Expected; 4] = [
    Expected {
        file: "blueprint-redis.yaml",
        name: "blueprint-redis",
        namespace: None,
        keys: &[("password", ValueKind::UrlSafe)],
    },
    Expected {
        file: "blueprint-api.yaml",
        name: "blueprint-api",
        namespace: None,
        keys: &[("jwt-secret", ValueKind::UrlSafe)],
    },
    Expected {
        file: "velero-credentials.yaml",
        name: "velero-credentials",
        namespace: Some("velero"),
        keys: &[("cloud", ValueKind::AwsCredentials)],
    },
    Expected {
        file: "alertmanager-receivers.yaml",
        name: "alertmanager-receivers",
        namespace: Some("monitoring"),
        keys: &[
            ("pagerduty-platform", ValueKind::RoutingKey),
            ("pagerduty-api", ValueKind::RoutingKey),
            ("pagerduty-jobs", ValueKind::RoutingKey),
            ("slack-webhook", ValueKind::HttpsUrl),
        ],
    },
];

/// `cargo xtask validate --only gitops`: the encrypted Secrets and the secret scan.
pub fn check(tools: &Tools) -> Result<Vec<String>> {
    check_with(&tools.go.sops)
}

/// [`check`] with the given `sops` binary.
fn check_with(sops: &Path) -> Result<Vec<String>> {
    let root = root();
    let rules = creation_rules(&root.join(SOPS_CONFIG))?;
    let test_recipient = public_key(&root.join(TEST_KEY))?;
    let mut lines = Vec::new();
    let mut files = 0;
    for env in ENVIRONMENTS {
        let dir = Path::new(SECRETS_DIR).join(env);
        let present = secret_files(&root.join(&dir))?;
        let wanted: BTreeSet<_> = EXPECTED.iter().map(|e| e.file.to_owned()).collect();
        ensure!(
            present == wanted,
            "{}: expected exactly the Secret files {wanted:?}, found {present:?}",
            dir.display()
        );
        for expected in &EXPECTED {
            let rel = dir.join(expected.file);
            let recipients = rules.recipients_for(&rel)?;
            let must_decrypt = env == "dev";
            ensure!(
                recipients.contains(&test_recipient) == must_decrypt,
                "{SOPS_CONFIG}: the rule for {} {} the test-only key {test_recipient}",
                rel.display(),
                if must_decrypt {
                    "must include"
                } else {
                    "must not include"
                }
            );
            let encrypted = read_yaml(&root.join(&rel))?;
            check_encrypted(&encrypted, &recipients)
                .with_context(|| format!("{} is not encrypted as required", rel.display()))?;
            check_shape(&encrypted, expected, env)
                .with_context(|| format!("{}: unexpected Secret", rel.display()))?;
            let decrypted = decrypt(sops, root, &rel)?;
            match (must_decrypt, decrypted) {
                (true, Some(plain)) => check_values(&plain, expected, env)
                    .with_context(|| format!("{} (decrypted)", rel.display()))?,
                (true, None) => bail!(
                    "{}: the test-only key {TEST_KEY} does not decrypt it (see the output above)",
                    rel.display()
                ),
                (false, Some(_)) => bail!(
                    "{}: the test-only key {TEST_KEY} DECRYPTS it: {env} must be encrypted only to \
                     its cluster's key; rotate every value in it and re-encrypt",
                    rel.display()
                ),
                (false, None) => {}
            }
            files += 1;
        }
    }
    lines.push(format!(
        "secrets: {files} Secret files encrypted (sops, age) to their {SOPS_CONFIG} recipients; \
         dev decrypted with the test-only key and its values checked; staging and production \
         refused by it"
    ));
    lines.push(scan_repository(root)?);
    Ok(lines)
}

/// The files of an environment's directory except `kustomization.yaml` (so that a stray file, of
/// any name, is reported rather than ignored).
fn secret_files(dir: &Path) -> Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name != "kustomization.yaml" {
            files.insert(name);
        }
    }
    Ok(files)
}

fn read_yaml(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `/.sops.yaml`'s creation rules, in order (sops uses the first whose `path_regex` matches).
struct CreationRules(Vec<(Regex, BTreeSet<String>, String)>);

fn creation_rules(path: &Path) -> Result<CreationRules> {
    let config = read_yaml(path)?;
    let mut rules = Vec::new();
    for rule in config["creation_rules"]
        .as_sequence()
        .with_context(|| format!("{}: no creation_rules list", path.display()))?
    {
        let regex = rule["path_regex"]
            .as_str()
            .with_context(|| format!("{}: a rule without path_regex", path.display()))?;
        let age = rule["age"].as_str().with_context(|| {
            format!(
                "{}: the rule for {regex} has no age recipients",
                path.display()
            )
        })?;
        let recipients = age
            .split(',')
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        let encrypted_regex = rule["encrypted_regex"].as_str().unwrap_or_default();
        ensure!(
            encrypted_regex == ENCRYPTED_REGEX,
            "{}: the rule for {regex} has encrypted_regex {encrypted_regex:?}, expected \
             {ENCRYPTED_REGEX:?}",
            path.display()
        );
        let compiled = Regex::new(regex)
            .with_context(|| format!("{}: path_regex {regex:?}", path.display()))?;
        rules.push((compiled, recipients, regex.to_owned()));
    }
    Ok(CreationRules(rules))
}

impl CreationRules {
    /// The recipients of the first rule matching `rel` (a path relative to the root).
    fn recipients_for(&self, rel: &Path) -> Result<BTreeSet<String>> {
        let rel = rel.to_string_lossy();
        self.0
            .iter()
            .find(|(regex, _, _)| regex.is_match(&rel))
            .map(|(_, recipients, _)| recipients.clone())
            .with_context(|| format!("{SOPS_CONFIG}: no creation rule matches {rel}"))
    }
}

/// The `# public key: age1…` line age-keygen writes into an identity file.
fn public_key(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .map(|k| k.trim().to_owned())
        .with_context(|| format!("{}: no `# public key:` line", path.display()))
}

/// The sops metadata and the payload of an encrypted file, without decrypting it.
fn check_encrypted(doc: &Value, recipients: &BTreeSet<String>) -> Result<()> {
    let sops = doc
        .get("sops")
        .context("no `sops` metadata: the file is plaintext")?;
    let mac = sops["mac"].as_str().unwrap_or_default();
    ensure!(mac.starts_with(ENC_PREFIX), "no MAC in its sops metadata");
    ensure!(
        sops["encrypted_regex"].as_str() == Some(ENCRYPTED_REGEX),
        "sops.encrypted_regex is not {ENCRYPTED_REGEX:?}"
    );
    for other in ["kms", "gcp_kms", "azure_kv", "hc_vault", "pgp"] {
        ensure!(
            sops[other].as_sequence().is_none_or(Vec::is_empty),
            "encrypted to {other} keys as well; only age recipients are expected"
        );
    }
    let actual: BTreeSet<String> = sops["age"]
        .as_sequence()
        .context("no age recipients in its sops metadata")?
        .iter()
        .filter_map(|entry| entry["recipient"].as_str().map(str::to_owned))
        .collect();
    ensure!(
        &actual == recipients,
        "encrypted to {actual:?}, but {SOPS_CONFIG} says {recipients:?} (run `sops updatekeys`)"
    );
    let mut values = 0;
    for field in ["data", "stringData"] {
        if let Some(map) = doc.get(field).and_then(Value::as_mapping) {
            for (key, value) in map {
                let text = value.as_str().unwrap_or_default();
                ensure!(
                    text.starts_with(ENC_PREFIX),
                    "{field}.{} is not encrypted",
                    key.as_str().unwrap_or("?")
                );
                values += 1;
            }
        }
    }
    ensure!(values > 0, "no values under data or stringData");
    Ok(())
}

/// Name, namespace and keys: plaintext in the encrypted file too.
fn check_shape(doc: &Value, expected: &Expected, env: &str) -> Result<()> {
    ensure!(
        doc["apiVersion"].as_str() == Some("v1") && doc["kind"].as_str() == Some("Secret"),
        "not a v1 Secret"
    );
    let namespace = expected
        .namespace
        .map_or_else(|| format!("blueprint-{env}"), str::to_owned);
    ensure!(
        doc["metadata"]["name"].as_str() == Some(expected.name),
        "metadata.name must be {}",
        expected.name
    );
    ensure!(
        doc["metadata"]["namespace"].as_str() == Some(namespace.as_str()),
        "metadata.namespace must be {namespace}"
    );
    ensure!(doc.get("data").is_none(), "values go under stringData");
    let keys: BTreeSet<&str> = doc["stringData"]
        .as_mapping()
        .context("no stringData")?
        .keys()
        .filter_map(Value::as_str)
        .collect();
    let wanted: BTreeSet<&str> = expected.keys.iter().map(|(k, _)| *k).collect();
    ensure!(
        keys == wanted,
        "stringData keys {keys:?}, expected {wanted:?}"
    );
    Ok(())
}

/// The decrypted values. Errors name the key, never the value.
fn check_values(doc: &Value, expected: &Expected, env: &str) -> Result<()> {
    check_shape(doc, expected, env)?;
    ensure!(
        doc.get("sops").is_none(),
        "sops metadata left after decryption"
    );
    for (key, kind) in expected.keys {
        let value = doc["stringData"][*key]
            .as_str()
            .with_context(|| format!("stringData.{key} is not a string"))?;
        match kind {
            ValueKind::UrlSafe => ensure!(
                value.len() >= MIN_SECRET_CHARS && value.bytes().all(url_safe),
                "stringData.{key} must be at least {MIN_SECRET_CHARS} URL-safe characters \
                 (`openssl rand -hex 32`)"
            ),
            ValueKind::AwsCredentials => {
                for field in ["aws_access_key_id", "aws_secret_access_key"] {
                    let ok = value.lines().any(|line| {
                        line.split_once('=')
                            .is_some_and(|(k, v)| k.trim() == field && !v.trim().is_empty())
                    });
                    ensure!(ok, "stringData.{key} has no non-empty {field}");
                }
            }
            ValueKind::RoutingKey => ensure!(
                value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()),
                "stringData.{key} must be a PagerDuty routing key (32 hexadecimal characters)"
            ),
            ValueKind::HttpsUrl => ensure!(
                value.strip_prefix("https://").is_some_and(|rest| {
                    !rest.is_empty() && !rest.bytes().any(|b| b.is_ascii_whitespace())
                }),
                "stringData.{key} must be an https:// URL"
            ),
        }
    }
    Ok(())
}

/// RFC 3986 unreserved characters: safe in a URL's userinfo without escaping.
fn url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `sops decrypt` with only the test-only key: `Some(document)` if it decrypts, `None` if sops
/// refuses. Other key sources sops would consult (environment, `~/.config/sops/age/keys.txt`)
/// are cut off, so success can come from the test key alone.
fn decrypt(sops: &Path, root: &Path, rel: &Path) -> Result<Option<Value>> {
    let empty_config = tempfile::tempdir().context("creating a temporary directory")?;
    let mut cmd = Command::new(sops);
    cmd.current_dir(root)
        .env("SOPS_AGE_KEY_FILE", root.join(TEST_KEY))
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
        .env("XDG_CONFIG_HOME", empty_config.path())
        .env("HOME", empty_config.path())
        .args(["decrypt", "--input-type", "yaml", "--output-type", "yaml"])
        .arg(rel);
    let out = proc::output(&mut cmd)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A refusal is the expected answer for staging and production; anything else (a damaged
        // file, a MAC mismatch) is an error whichever the environment.
        ensure!(
            stderr.contains("no master key was able to decrypt the file")
                || stderr.contains("Error getting data key"),
            "`sops decrypt {}` failed for another reason than a missing key: {}",
            rel.display(),
            stderr.trim()
        );
        return Ok(None);
    }
    let text = String::from_utf8(out.stdout)
        .with_context(|| format!("sops decrypt {}: output is not UTF-8", rel.display()))?;
    serde_yaml::from_str(&text)
        .map(Some)
        .with_context(|| format!("parsing the decrypted {}", rel.display()))
}

// ---------------------------------------------------------------------------------------------
// The secret scanner.

/// One pattern rule, named like gitleaks' rules of the same purpose.
struct Rule {
    id: &'static str,
    pattern: &'static str,
}

/// Patterns of credentials that must never be committed (gitleaks v8's default rules, condensed).
const RULES: [Rule; 7] = [
    Rule {
        id: "private-key",
        pattern: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
    },
    Rule {
        // Bech32: the data part uses 32 letters and digits, 58 of them for a 32-byte key.
        id: "age-secret-key",
        pattern: r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
    },
    Rule {
        id: "aws-access-key-id",
        pattern: r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
    },
    Rule {
        id: "github-token",
        pattern: r"\b(?:gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82})\b",
    },
    Rule {
        id: "slack-token",
        pattern: r"\bxox[abposr]-(?:[0-9]+-)?[0-9A-Za-z-]{10,}",
    },
    Rule {
        id: "slack-webhook",
        pattern: r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/]{43,}",
    },
    Rule {
        id: "jwt",
        pattern: r"\beyJ[0-9A-Za-z_-]{10,}\.eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}",
    },
];

/// Findings accepted on purpose: (path, rule, why). Each must still match something, so the list
/// cannot outlive what it excuses.
const ALLOWED: [(&str, &str, &str); 1] = [(
    TEST_KEY,
    "age-secret-key",
    "the test-only key, public by design: it protects only dev's throwaway values",
)];

/// Shannon entropy (bits per character) above which a Secret's `data` value counts as a real
/// credential: random base64 reaches about 5.2 for 44 characters, English words about 3.5 to 4.
const ENTROPY_BITS: f64 = 4.0;
/// Values shorter than this (characters) are not judged by entropy (too little to measure).
const ENTROPY_MIN_CHARS: usize = 16;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    path: String,
    line: usize,
    rule: &'static str,
}

/// Scans every file git knows of (tracked, plus new files not ignored) and fails on any finding
/// that is not in [`ALLOWED`].
fn scan_repository(root: &Path) -> Result<String> {
    let out = proc::output(Command::new("git").current_dir(root).args([
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ]))?;
    ensure!(
        out.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let paths: BTreeSet<PathBuf> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .collect();
    let scanner = Scanner::new()?;
    let mut findings = Vec::new();
    let mut text_files = 0;
    for rel in &paths {
        let path = root.join(rel);
        // Deleted but still in the index, or binary (images): nothing to read as text.
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        text_files += 1;
        findings.extend(scanner.scan(&rel.to_string_lossy(), &text));
    }
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for finding in findings {
        match ALLOWED
            .iter()
            .position(|(p, r, _)| *p == finding.path && *r == finding.rule)
        {
            Some(i) => {
                used.insert(i);
            }
            None => problems.push(format!(
                "{}:{}: {}",
                finding.path, finding.line, finding.rule
            )),
        }
    }
    for (i, (path, rule, _)) in ALLOWED.iter().enumerate() {
        if !used.contains(&i) {
            problems.push(format!(
                "{path}: allowed finding `{rule}` no longer occurs: remove it from ALLOWED in \
                 xtask/src/secrets.rs"
            ));
        }
    }
    ensure!(
        problems.is_empty(),
        "the secret scan found credentials (remove them, rotate them, and rewrite history if \
         pushed; or allow-list a deliberate fake in xtask/src/secrets.rs):\n  {}",
        problems.join("\n  ")
    );
    Ok(format!(
        "secrets: scanned {text_files} files ({} rules + Secret payloads), {} allowed finding(s)",
        RULES.len(),
        used.len()
    ))
}

struct Scanner {
    rules: Vec<(&'static str, Regex)>,
}

impl Scanner {
    fn new() -> Result<Self> {
        let rules = RULES
            .iter()
            .map(|r| Ok((r.id, Regex::new(r.pattern).context(r.id)?)))
            .collect::<Result<_>>()?;
        Ok(Self { rules })
    }

    fn scan(&self, path: &str, text: &str) -> Vec<Finding> {
        let mut findings = BTreeSet::new();
        for (number, line) in text.lines().enumerate() {
            for (id, regex) in &self.rules {
                if regex.is_match(line) {
                    findings.insert(Finding {
                        path: path.to_owned(),
                        line: number + 1,
                        rule: id,
                    });
                }
            }
        }
        let yaml = Path::new(path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if yaml {
            for (line, rule) in secret_payloads(text) {
                findings.insert(Finding {
                    path: path.to_owned(),
                    line,
                    rule,
                });
            }
        }
        findings.into_iter().collect()
    }
}

/// Plaintext values in Kubernetes Secrets of a YAML file: any non-empty `stringData` value, and
/// `data` values whose entropy says "random" (a base64 credential). sops-encrypted values are
/// fine. A file that is not YAML (templates) is skipped: the pattern rules still read it.
fn secret_payloads(text: &str) -> Vec<(usize, &'static str)> {
    let mut findings = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let Ok(doc) = Value::deserialize(document) else {
            return findings;
        };
        if doc["kind"].as_str() != Some("Secret") {
            continue;
        }
        for (field, rule) in [
            ("stringData", "secret-plaintext-stringdata"),
            ("data", "secret-high-entropy-data"),
        ] {
            let Some(map) = doc.get(field).and_then(Value::as_mapping) else {
                continue;
            };
            for (key, value) in map {
                let value = value.as_str().unwrap_or_default();
                let flagged = !value.is_empty()
                    && !value.starts_with(ENC_PREFIX)
                    && (field == "stringData"
                        || (value.chars().count() >= ENTROPY_MIN_CHARS
                            && entropy(value) >= ENTROPY_BITS));
                if flagged {
                    let key = key.as_str().unwrap_or_default();
                    findings.push((line_of(text, key, value), rule));
                }
            }
        }
    }
    findings
}

/// The 1-based line where `key: value` appears, for the report (1 if not found verbatim).
fn line_of(text: &str, key: &str, value: &str) -> usize {
    let first = value.lines().next().unwrap_or_default();
    text.lines()
        .position(|l| l.contains(key) && l.contains(first))
        .or_else(|| text.lines().position(|l| l.trim_start().starts_with(key)))
        .map_or(1, |i| i + 1)
}

/// Shannon entropy of the characters of `s`, in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The planted samples are assembled at run time, so that this source file itself holds no
    /// string the scanner would flag.
    fn planted(rule: &str) -> String {
        let j = |parts: &[&str]| parts.concat();
        match rule {
            "private-key" => j(&["-----BEGIN OPENSSH ", "PRIVATE KEY-----"]),
            "age-secret-key" => j(&["AGE-SECRET-", "KEY-1", &"QPZRY9X8GF".repeat(5), "2TVDW0S3"]),
            "aws-access-key-id" => j(&["aws_access_key_id = ", "AKIA", "IOSFODNN7EXAMPLE"]),
            "github-token" => j(&["token: gh", "p_", &"a1B2c3D4e5".repeat(3), "F6g7H8"]),
            "slack-token" => j(&["xox", "b-", "1234567890-", "abcdefghijKLMNOP"]),
            "slack-webhook" => j(&[
                "https://hooks.slack.com/",
                "services/",
                &"T0000000/B0000000/XXXXXXXXXXXXXXXXXXXX".repeat(2),
            ]),
            "jwt" => j(&[
                "ey",
                "JhbGciOiJIUzI1NiJ9.",
                "ey",
                "JzdWIiOiIxMjM0NTY3ODkwIn0.",
                "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            ]),
            other => panic!("no sample for {other}"),
        }
    }

    #[test]
    fn every_pattern_rule_fires_on_its_planted_sample_and_only_there() {
        let scanner = Scanner::new().expect("rules compile");
        for rule in &RULES {
            let sample = planted(rule.id);
            let found = scanner.scan("fixture.txt", &format!("first line\n{sample}\n"));
            assert_eq!(
                found,
                vec![Finding {
                    path: "fixture.txt".into(),
                    line: 2,
                    rule: rule.id
                }],
                "{}",
                rule.id
            );
        }
    }

    #[test]
    fn ordinary_text_and_placeholders_do_not_fire() {
        let scanner = Scanner::new().expect("rules compile");
        let text = "password: ${REDIS_PASSWORD}\nAKIA is the prefix of AWS key ids\n\
                    -----BEGIN CERTIFICATE-----\nage1zmlaq50kv8q8mpkcx99cu24mak2zd47hgvjn5q886pkmsts643fs3yrzn9\n";
        assert_eq!(scanner.scan("notes.md", text), vec![]);
    }

    #[test]
    fn plaintext_stringdata_in_a_secret_is_found() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\ndata:\n  password: not-a-secret-here\n---\n\
                    apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  password: hunter2\n";
        let found = secret_payloads(yaml);
        assert_eq!(found, vec![(11, "secret-plaintext-stringdata")]);
    }

    #[test]
    fn random_secret_data_is_found_and_encrypted_or_low_entropy_data_is_not() {
        let random = "apiVersion: v1\nkind: Secret\ndata:\n  token: \
                      c2VjcmV0LXZhbHVlLXdpdGgtcmFuZG9tLVg5cVo3dEsyTTFwTDRy\n";
        assert_eq!(
            secret_payloads(random),
            vec![(4, "secret-high-entropy-data")]
        );
        let encrypted =
            "kind: Secret\nstringData:\n  password: ENC[AES256_GCM,data:abc,iv:x,tag:y,type:str]\n";
        assert_eq!(secret_payloads(encrypted), vec![]);
        let low = "kind: Secret\ndata:\n  flag: dHJ1ZQ==\n  repeated: YWFhYWFhYWFhYWFhYWFhYWFh\n";
        assert_eq!(secret_payloads(low), vec![]);
    }

    #[test]
    fn entropy_separates_random_from_repetitive() {
        assert!(entropy("aaaaaaaaaaaaaaaa") < 0.01);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        assert!(entropy("9ea5e4296f0985dfb6447bcfb0fea4e6f9a9f1f2") > 3.5);
    }

    fn sample(env: &str, value: &str) -> Value {
        serde_yaml::from_str(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: blueprint-redis\n  namespace: \
             blueprint-{env}\nstringData:\n  password: {value}\n"
        ))
        .expect("yaml")
    }

    #[test]
    fn decrypted_values_must_be_long_and_url_safe() {
        let good = "9ea5e4296f0985dfb6447bcfb0fea4e6f9a9f1f2fa0458843ed2b1b897bbdb10";
        check_values(&sample("dev", good), &EXPECTED[0], "dev").expect("valid");
        let short = check_values(&sample("dev", "abc"), &EXPECTED[0], "dev");
        assert!(short.is_err());
        let unsafe_chars = format!("{good}@/");
        assert!(check_values(&sample("dev", &unsafe_chars), &EXPECTED[0], "dev").is_err());
        let wrong_namespace = check_values(&sample("staging", good), &EXPECTED[0], "dev")
            .expect_err("wrong namespace")
            .to_string();
        assert!(
            wrong_namespace.contains("blueprint-dev"),
            "{wrong_namespace}"
        );
    }

    #[test]
    fn plaintext_or_wrongly_encrypted_files_are_rejected() {
        let recipients: BTreeSet<String> = ["age1a".to_owned()].into();
        let plain = sample("dev", "x");
        assert!(
            check_encrypted(&plain, &recipients)
                .expect_err("plaintext")
                .to_string()
                .contains("plaintext")
        );
        let mut doc: Value = serde_yaml::from_str(
            "stringData:\n  password: ENC[AES256_GCM,data:a]\nsops:\n  mac: ENC[AES256_GCM,m]\n  \
             encrypted_regex: ^(data|stringData)$\n  age:\n    - recipient: age1a\n",
        )
        .expect("yaml");
        check_encrypted(&doc, &recipients).expect("encrypted to the rule's recipient");
        let other: BTreeSet<String> = ["age1b".to_owned()].into();
        assert!(check_encrypted(&doc, &other).is_err());
        doc["stringData"]["extra"] = Value::from("plain");
        let err = check_encrypted(&doc, &recipients)
            .expect_err("one plaintext value")
            .to_string();
        assert!(err.contains("stringData.extra is not encrypted"), "{err}");
    }

    #[test]
    fn the_committed_rules_give_dev_the_test_key_and_no_one_else() {
        let rules = creation_rules(&root().join(SOPS_CONFIG)).expect(".sops.yaml");
        let test = public_key(&root().join(TEST_KEY)).expect("test key");
        for env in ENVIRONMENTS {
            let r = rules
                .recipients_for(&Path::new(SECRETS_DIR).join(env).join("x.yaml"))
                .expect("a rule");
            assert_eq!(r.contains(&test), env == "dev", "{env}");
        }
        assert!(rules.recipients_for(Path::new("elsewhere/x.yaml")).is_err());
    }
}
