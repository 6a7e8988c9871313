//! The README's commands as a new user meets them: the first, long build of `make run` shows
//! cargo's progress instead of one silent line for several minutes, and `make run` after
//! `make test` reuses that build.

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

/// The packages of a script's `cargo build` lines, in order.
fn built_packages(script: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("scripts").join(script)).expect("script");
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cargo build"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .windows(2)
                .filter(|w| w[0] == "-p")
                .map(|w| w[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Cargo unifies features over the packages of one invocation: were `make run` to build
/// another set than `make test`, some dependencies would build twice, and `make run` after
/// `make test` would compile again.
#[test]
fn make_run_builds_the_same_packages_as_make_test() {
    let run = built_packages("run.sh");
    let test = built_packages("test.sh");
    assert!(!run.is_empty(), "make run builds the app");
    assert_eq!(run, test);
}
