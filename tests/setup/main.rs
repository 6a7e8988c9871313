//! The README's two commands as a new user meets them: `make run` and `make test` build into
//! the one folder CI builds into (so a machine that ran one does not compile everything again
//! for the other), and the first, long build shows cargo's progress instead of a silent line.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The build folder the scripts use when nobody chose one, for a user whose home is `home`.
fn default_target_dir(home: &Path) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg("source scripts/lib.sh && printf %s \"$CARGO_TARGET_DIR\"")
        .current_dir(workspace())
        .env_remove("CARGO_TARGET_DIR")
        .env("HOME", home)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("a path")
}

#[test]
fn make_run_and_make_test_build_outside_the_checkout_in_one_shared_folder() {
    let home = Path::new("/home/ada");
    assert_eq!(
        default_target_dir(home),
        "/home/ada/.cache/shelfmark/target"
    );
    let ci = std::fs::read_to_string(workspace().join(".ci/run")).expect(".ci/run");
    assert!(
        !ci.contains("CARGO_TARGET_DIR="),
        "CI must build where the scripts build, not in a folder of its own"
    );
}

#[test]
fn make_run_shows_the_progress_of_its_build() {
    let run = std::fs::read_to_string(workspace().join("scripts/run.sh")).expect("run.sh");
    let builds: Vec<&str> = run
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cargo build"))
        .collect();
    assert!(!builds.is_empty(), "make run builds the app");
    for line in builds {
        assert!(!line.contains("--quiet"), "a silent build: {line}");
    }
}
