//! Records the compiler version for `/api/info`'s `runtime` field.

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "rustc unknown".to_owned(), |v| v.trim().to_owned());
    println!("cargo:rustc-env=BLUEPRINT_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=BLUEPRINT_REVISION");
}
