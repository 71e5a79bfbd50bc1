//! Installs the console's third-party browser assets (Apache ECharts) from the
//! npm registry into `OUT_DIR`, exactly as `console/package-lock.json` pins
//! them, so that the crate can embed them and nothing of them is committed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let console = manifest_dir.join("console");
    for file in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", console.join(file).display());
        std::fs::copy(console.join(file), out_dir.join(file))
            .unwrap_or_else(|error| panic!("cannot copy console/{file} into OUT_DIR: {error}"));
    }
    let installed = out_dir.join("node_modules/echarts/dist/echarts.min.js");
    if !up_to_date(&out_dir, &installed) {
        npm_ci(&out_dir);
    }
    assert!(installed.is_file(), "npm ci did not install {}", installed.display());
}

/// Whether the last `npm ci` here installed the lock file now in `OUT_DIR`.
fn up_to_date(out_dir: &Path, installed: &Path) -> bool {
    let stamp = out_dir.join("node_modules/.zhaoshang-lock");
    let lock = std::fs::read(out_dir.join("package-lock.json")).unwrap_or_default();
    installed.is_file() && std::fs::read(stamp).is_ok_and(|previous| previous == lock)
}

fn npm_ci(out_dir: &Path) {
    let result = Command::new("npm")
        .args(["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(out_dir)
        .status();
    match result {
        Ok(status) if status.success() => {
            let lock = std::fs::read(out_dir.join("package-lock.json")).expect("the lock file was just copied");
            std::fs::write(out_dir.join("node_modules/.zhaoshang-lock"), lock).expect("write the install stamp");
        }
        Ok(status) => panic!(
            "`npm ci` failed ({status}) installing the console's Apache ECharts from \
             services/zhaoshang-query/console/package-lock.json: the npm registry must be reachable \
             (or its packages cached in ~/.npm)"
        ),
        Err(error) => panic!(
            "cannot run `npm` ({error}): building zhaoshang-query needs Node.js and npm to install \
             the console's Apache ECharts; install them, e.g. `apt-get install -y nodejs npm`"
        ),
    }
}
