//! The image tag scheme, implemented once: CI names images with it, Flux's image policies select
//! them by it, and `gitops::check` proves the two agree.
//!
//! A build of branch `B` at commit `S`, at UTC time `T`, of workspace version `V` is tagged
//!
//! ```text
//! {branch}-{version}-{sha}-{timestamp}      develop-0.1.0-1a2b3c4-20261126T120000Z
//! ```
//!
//! - `branch`: lowercased, every character outside `[a-z0-9._]` becomes `-`, runs of `-` collapse,
//!   and leading/trailing `-`/`.` are trimmed (a tag must start with `[A-Za-z0-9_]`); it is cut
//!   short so the whole tag fits the OCI limit of 128 characters;
//! - `version`: `[workspace.package] version` of the root Cargo.toml (semver, `+build` dropped:
//!   `+` is not allowed in a tag; a pre-release may not contain `-`, the parts' separator);
//! - `sha`: the first 7 hex digits of the commit, lowercased;
//! - `timestamp`: `YYYYMMDDTHHMMSSZ` in UTC. Fixed width and most significant field first, so
//!   tags of one branch sort by time as text; Flux extracts its digits (`YYYYMMDDHHMMSS`, 14
//!   digits) and orders them numerically (as a float64, exact below 2^53 ≈ 9.0e15).
//!
//! Releases (production) are plain semver tags, `0.1.0`; [`next`] computes the next one for a
//! promotion.

use std::path::Path;

use anyhow::{Context as _, Result, bail, ensure};
use semver::Version;
use time::OffsetDateTime;

/// The longest tag the OCI distribution spec allows (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
pub const MAX_TAG_LEN: usize = 128;

/// Hex digits of the commit kept in a tag: 7, as `git rev-parse --short` gives for small repos.
pub const SHA_LEN: usize = 7;

/// The fixed branches whose builds are deployed: dev follows `develop`, staging follows `main`.
pub const DEV_BRANCH: &str = "develop";
pub const STAGING_BRANCH: &str = "main";

/// Which part of a version a promotion raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    Major,
    Minor,
    Patch,
}

/// A branch name made safe for a tag, without the length cut (see [`build_tag`]).
pub fn sanitize_branch(branch: &str) -> Result<String> {
    let mut out = String::with_capacity(branch.len());
    for c in branch.trim().chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            c
        } else {
            '-'
        };
        // Runs of separators collapse, so `feature//x` and `feature/-x` read alike.
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches(|c| c == '-' || c == '.');
    ensure!(
        !trimmed.is_empty(),
        "branch `{branch}` has no character usable in an image tag"
    );
    Ok(trimmed.to_owned())
}

/// The first [`SHA_LEN`] hex digits of a commit id (short or full), lowercased.
pub fn short_sha(sha: &str) -> Result<String> {
    let sha = sha.trim();
    ensure!(
        sha.len() >= SHA_LEN && sha.chars().all(|c| c.is_ascii_hexdigit()),
        "`{sha}` is not a commit id: expected at least {SHA_LEN} hex digits"
    );
    Ok(sha[..SHA_LEN].to_ascii_lowercase())
}

/// `YYYYMMDDTHHMMSSZ` for a UTC instant (given in seconds since the Unix epoch).
pub fn timestamp(epoch_seconds: i64) -> Result<String> {
    let at = OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .with_context(|| format!("{epoch_seconds} s is outside the representable dates"))?;
    ensure!(
        (0..=9999).contains(&at.year()),
        "year {} does not fit the 4-digit timestamp",
        at.year()
    );
    Ok(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

/// A version for a tag: semver, build metadata dropped (`+` is not allowed in a tag).
pub fn tag_version(version: &str) -> Result<Version> {
    let mut parsed =
        Version::parse(version.trim()).with_context(|| format!("`{version}` is not semver"))?;
    parsed.build = semver::BuildMetadata::EMPTY;
    // `-` separates the tag's parts; inside the pre-release (`1.0.0-rc-1`) it would let a branch
    // such as `develop-1.0.0-rc` pass for `develop` in the image policies' patterns.
    ensure!(
        !parsed.pre.as_str().contains('-'),
        "version {parsed}: its pre-release `{}` contains `-`, the tag's separator: use `.` \
         (`rc.1`)",
        parsed.pre
    );
    Ok(parsed)
}

/// `{branch}-{version}-{sha}-{timestamp}`, the branch cut short so the tag fits [`MAX_TAG_LEN`].
pub fn build_tag(branch: &str, version: &str, sha: &str, epoch_seconds: i64) -> Result<String> {
    let version = tag_version(version)?;
    let suffix = format!(
        "-{version}-{}-{}",
        short_sha(sha)?,
        timestamp(epoch_seconds)?
    );
    let room = MAX_TAG_LEN
        .checked_sub(suffix.len())
        .filter(|&room| room > 0)
        .with_context(|| format!("version {version} leaves no room for a branch in a tag"))?;
    let branch = sanitize_branch(branch)?;
    // Sanitised branches are ASCII, so cutting at a byte index is cutting at a character.
    let cut = branch[..branch.len().min(room)].trim_end_matches(['-', '.']);
    let tag = format!("{cut}{suffix}");
    ensure!(is_valid_tag(&tag), "internal: `{tag}` is not a valid tag");
    Ok(tag)
}

/// The OCI distribution spec's tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    tag.len() <= MAX_TAG_LEN
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The release after `version` at `level`. A pre-release promotes to its own release when that
/// is already the level's next step (`1.2.0-rc.1` → patch, minor: `1.2.0`; major: `2.0.0`), as
/// npm and cargo-release do; build metadata is dropped; an overflowing part is an error.
pub fn next(version: &Version, level: Level) -> Result<Version> {
    let pre = !version.pre.is_empty();
    let bump = |part: u64, name: &str| {
        part.checked_add(1).with_context(|| {
            format!("the {name} part of {version} cannot be raised: it is u64::MAX")
        })
    };
    let (major, minor, patch) = match level {
        Level::Major if pre && version.minor == 0 && version.patch == 0 => (version.major, 0, 0),
        Level::Major => (bump(version.major, "major")?, 0, 0),
        Level::Minor if pre && version.patch == 0 => (version.major, version.minor, 0),
        Level::Minor => (version.major, bump(version.minor, "minor")?, 0),
        Level::Patch if pre => (version.major, version.minor, version.patch),
        Level::Patch => (version.major, version.minor, bump(version.patch, "patch")?),
    };
    Ok(Version::new(major, minor, patch))
}

/// `[workspace.package] version` of a workspace manifest.
pub fn workspace_version(manifest: &Path) -> Result<Version> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "version"
        {
            let value = value.trim().trim_matches('"');
            return tag_version(value).with_context(|| format!("in {}", manifest.display()));
        }
    }
    bail!(
        "{} has no version under [workspace.package]",
        manifest.display()
    )
}

/// What `cargo xtask tag` prints.
#[derive(Debug, Clone)]
pub enum Request {
    /// A build's tag. Missing parts come from the environment: the branch from
    /// `GITHUB_REF_NAME` or git, the commit from `GITHUB_SHA` or git, the time from
    /// `SOURCE_DATE_EPOCH` or the clock.
    Build {
        branch: Option<String>,
        sha: Option<String>,
        epoch_seconds: Option<i64>,
    },
    /// The release after `from` (default: the workspace version) at `level`.
    Next { level: Level, from: Option<String> },
}

/// `cargo xtask tag`: prints one tag on stdout, nothing else, for scripts to capture.
pub fn command(request: &Request) -> Result<()> {
    let manifest = crate::root().join("Cargo.toml");
    let tag = match request {
        Request::Build {
            branch,
            sha,
            epoch_seconds,
        } => {
            let branch = match branch {
                Some(b) => b.clone(),
                None => env_or_git("GITHUB_REF_NAME", &["rev-parse", "--abbrev-ref", "HEAD"])?,
            };
            let sha = match sha {
                Some(s) => s.clone(),
                None => env_or_git("GITHUB_SHA", &["rev-parse", "HEAD"])?,
            };
            let epoch = match epoch_seconds {
                Some(e) => *e,
                None => match std::env::var("SOURCE_DATE_EPOCH") {
                    Ok(text) if !text.is_empty() => text
                        .trim()
                        .parse()
                        .with_context(|| format!("SOURCE_DATE_EPOCH=`{text}` is not seconds"))?,
                    _ => OffsetDateTime::now_utc().unix_timestamp(),
                },
            };
            let version = workspace_version(&manifest)?;
            build_tag(&branch, &version.to_string(), &sha, epoch)?
        }
        Request::Next { level, from } => {
            let from = match from {
                Some(v) => tag_version(v)?,
                None => workspace_version(&manifest)?,
            };
            next(&from, *level)?.to_string()
        }
    };
    println!("{tag}");
    Ok(())
}

/// A non-empty environment variable, else `git <args>` in the repository.
fn env_or_git(var: &str, args: &[&str]) -> Result<String> {
    if let Ok(value) = std::env::var(var)
        && !value.is_empty()
    {
        return Ok(value);
    }
    // Not through `proc::output`, which echoes the command: stdout carries only the tag.
    let out = std::process::Command::new("git")
        .current_dir(crate::root())
        .args(args)
        .output()
        .with_context(|| format!("could not start `git {}`", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "git {} failed (and {var} is unset): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "1A2B3C4D5E6F708192a3b4c5d6e7f8091a2b3c4d";
    /// 2026-11-26T12:00:00Z.
    const NOON: i64 = 1_795_694_400;

    #[test]
    fn a_build_tag_has_the_four_parts() {
        assert_eq!(
            build_tag("develop", "0.1.0", SHA, NOON).expect("valid"),
            "develop-0.1.0-1a2b3c4-20261126T120000Z"
        );
    }

    #[test]
    fn slashes_and_odd_characters_in_branch_names_become_dashes() {
        assert_eq!(
            sanitize_branch("Feature/JIRA-12//Add Thing").expect("valid"),
            "feature-jira-12-add-thing"
        );
        assert_eq!(
            sanitize_branch("-/release/1.2./").expect("valid"),
            "release-1.2"
        );
        assert_eq!(
            sanitize_branch("Dependabot/Cargo/Über_x").expect("valid"),
            "dependabot-cargo-ber_x",
            "non-ASCII letters are no tag characters"
        );
        assert!(sanitize_branch("///").is_err());
        assert!(sanitize_branch("").is_err());
    }

    #[test]
    fn a_long_branch_is_cut_so_the_tag_fits_128_characters() {
        let branch = format!("feature/{}", "x".repeat(300));
        let tag = build_tag(&branch, "0.1.0", SHA, NOON).expect("valid");
        assert_eq!(tag.len(), MAX_TAG_LEN);
        assert!(is_valid_tag(&tag));
        assert!(tag.ends_with("-0.1.0-1a2b3c4-20261126T120000Z"), "{tag}");
        // A cut that lands on a separator does not leave `--`.
        let dashed = format!("{}-{}", "a".repeat(97), "b".repeat(40));
        let tag = build_tag(&dashed, "0.1.0", SHA, NOON).expect("valid");
        assert!(!tag.contains("--"), "{tag}");
        assert!(is_valid_tag(&tag));
    }

    #[test]
    fn the_sha_is_validated_and_shortened() {
        assert_eq!(short_sha(SHA).expect("valid"), "1a2b3c4");
        assert_eq!(short_sha("abcdef0").expect("valid"), "abcdef0");
        assert!(short_sha("abcdef").is_err(), "too short");
        assert!(short_sha("abcdefg1234").is_err(), "not hex");
    }

    #[test]
    fn timestamps_order_as_text_and_as_numbers_across_days_and_years() {
        let instants = [
            1_798_761_599, // 2026-12-31T23:59:59Z
            1_798_761_600, // 2027-01-01T00:00:00Z
            1_798_761_601,
            1_798_848_000, // 2027-01-02T00:00:00Z
            4_102_444_800, // 2100-01-01T00:00:00Z
        ];
        let stamps: Vec<String> = instants
            .iter()
            .map(|&s| timestamp(s).expect("valid"))
            .collect();
        assert_eq!(stamps[0], "20261231T235959Z");
        assert_eq!(stamps[1], "20270101T000000Z");
        let mut sorted = stamps.clone();
        sorted.sort();
        assert_eq!(sorted, stamps, "text order is time order");
        let numbers: Vec<u64> = stamps
            .iter()
            .map(|s| s.replace(['T', 'Z'], "").parse().expect("valid"))
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        assert!(timestamp(-62_167_219_201).is_err(), "year -1");
    }

    #[test]
    fn build_metadata_is_dropped_and_pre_releases_kept_in_build_tags() {
        assert_eq!(
            build_tag("main", "1.0.0-rc.1+linux", SHA, NOON).expect("valid"),
            "main-1.0.0-rc.1-1a2b3c4-20261126T120000Z"
        );
        assert!(build_tag("main", "1.0", SHA, NOON).is_err());
        assert!(
            build_tag("main", "1.0.0-rc-1", SHA, NOON).is_err(),
            "`-` in a pre-release"
        );
    }

    #[test]
    fn promotion_raises_one_part_and_drops_pre_releases() {
        let v = |s: &str| Version::parse(s).expect("valid");
        assert_eq!(next(&v("0.1.0"), Level::Patch).expect("valid"), v("0.1.1"));
        assert_eq!(next(&v("0.1.7"), Level::Minor).expect("valid"), v("0.2.0"));
        assert_eq!(next(&v("0.9.3"), Level::Major).expect("valid"), v("1.0.0"));
        assert_eq!(
            next(&v("1.2.0-rc.1"), Level::Patch).expect("valid"),
            v("1.2.0")
        );
        assert_eq!(
            next(&v("1.2.0-rc.1"), Level::Minor).expect("valid"),
            v("1.2.0")
        );
        assert_eq!(
            next(&v("1.2.3-rc.1"), Level::Minor).expect("valid"),
            v("1.3.0")
        );
        assert_eq!(
            next(&v("2.0.0-beta"), Level::Major).expect("valid"),
            v("2.0.0")
        );
        assert_eq!(
            next(&v("1.2.3+build.5"), Level::Patch).expect("valid"),
            v("1.2.4")
        );
    }

    #[test]
    fn promotion_overflow_is_an_error() {
        let max = u64::MAX;
        for (text, level) in [
            (format!("{max}.0.0"), Level::Major),
            (format!("0.{max}.0"), Level::Minor),
            (format!("0.0.{max}"), Level::Patch),
        ] {
            let err = next(&Version::parse(&text).expect("valid"), level).expect_err("an error");
            assert!(err.to_string().contains("u64::MAX"), "{err}");
        }
    }

    #[test]
    fn the_workspace_version_is_read_from_the_root_manifest() {
        let version = workspace_version(&crate::root().join("Cargo.toml")).expect("valid");
        assert_eq!(version.to_string(), env!("CARGO_PKG_VERSION"));
        let dir = tempfile::tempdir().expect("valid");
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[package]\nversion = \"9.9.9\"\n[workspace.package]\nversion = \"1.2.3\"\n",
        )
        .expect("valid");
        assert_eq!(
            workspace_version(&manifest).expect("valid"),
            Version::new(1, 2, 3)
        );
        std::fs::write(&manifest, "[package]\nversion = \"9.9.9\"\n").expect("valid");
        assert!(workspace_version(&manifest).is_err());
    }

    #[test]
    fn the_command_takes_explicit_parts_and_falls_back_to_git() {
        command(&Request::Build {
            branch: Some("feature/x".into()),
            sha: Some(SHA.into()),
            epoch_seconds: Some(NOON),
        })
        .expect("a tag from explicit parts");
        command(&Request::Next {
            level: Level::Minor,
            from: Some("0.1.0".into()),
        })
        .expect("the next release");
        assert!(
            command(&Request::Next {
                level: Level::Minor,
                from: Some("one".into()),
            })
            .is_err()
        );
        // An unset variable falls back to git, run in the repository.
        let head = env_or_git("XTASK_TEST_VARIABLE_NEVER_SET", &["rev-parse", "HEAD"])
            .expect("git rev-parse HEAD");
        short_sha(&head).expect("a commit id");
    }

    #[test]
    fn the_tag_grammar_is_the_oci_one() {
        assert!(is_valid_tag("0.1.0"));
        assert!(is_valid_tag("_x"));
        assert!(!is_valid_tag(".x"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag("a+b"));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(!is_valid_tag(""));
    }
}
