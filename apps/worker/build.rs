//! Rebuild when the revision given at build time changes (`blueprint_build_info{revision}`).

fn main() {
    println!("cargo:rerun-if-env-changed=BLUEPRINT_REVISION");
}
