# The two commands of the README. Each installs what is missing first, then does its job.
#   make run   build the UI and the app, start a demo server, open the desktop window
#   make test  every check and test: fmt, clippy, svelte-check, Vitest, Rust, end-to-end
# And for a library's server:
#   make dist  the Debian packages (release builds): the server's in target/debian/, the
#              desktop app's in target/release/bundle/deb/
.PHONY: run test setup dist
run:
	@bash scripts/run.sh
test:
	@bash scripts/test.sh
setup:
	@bash scripts/setup.sh --test
dist:
	@bash scripts/dist.sh
