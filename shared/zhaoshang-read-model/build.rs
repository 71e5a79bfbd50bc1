// Rebuild when a migration changes, so that `MIGRATOR` embeds the new one.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
