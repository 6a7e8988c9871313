//! The README's commands as a new user meets them: the first, long build of `make run` shows
//! cargo's progress instead of one silent line for several minutes.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
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
