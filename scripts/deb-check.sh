#!/usr/bin/env bash
# The server's Debian package, checked the way an admin uses it: build the .deb
# (scripts/dist.sh --check), install it with apt-get, verify the installed systemd unit with
# `systemd-analyze verify`, start the service (through systemd when it runs this machine, else
# the unit's ExecStart by hand as the unit's user), wait for GET /readyz, add a first user with
# `shelfmark-server user add` and sign in as them, stop the server, purge the package.
# The server listens on a free loopback port of its own (SHELFMARK_LISTEN=127.0.0.1:0 over the
# config file), so a server already on 8080 does not matter. Run again on the same machine, it
# does the same; it refuses to touch a shelfmark-server it did not install itself.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  say "the .deb check needs Debian (apt-get, dpkg): skipped"
  exit 0
fi

pkg=shelfmark-server
state_dir=/var/lib/shelfmark
# Present while the check has the package installed; a run that died halfway leaves it, and the
# next run cleans up after it.
marker=/var/tmp/shelfmark-deb-check.installed
dropin_dir=/run/systemd/system/$pkg.service.d
installed() { dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed\|config-files"; }
purge() {
  if installed; then apt_get purge "$pkg"; fi
  as_root rm -rf "$state_dir" "$dropin_dir"
  if [ -d /run/systemd/system ]; then as_root systemctl daemon-reload; fi
  as_root rm -f "$marker"
}
if [ -e "$marker" ]; then
  say "cleaning up after an earlier .deb check that did not finish"
  # The marker holds the pid of the server that check started by hand, if any.
  old_pid="$(cat "$marker")"
  if [ -n "$old_pid" ] && as_root cat "/proc/$old_pid/cmdline" 2>/dev/null | tr '\0' ' ' |
    grep -q "/usr/bin/$pkg "; then
    as_root kill "$old_pid"
    while [ -e "/proc/$old_pid" ]; do sleep 0.2; done
  fi
  purge
elif installed || [ -e "$state_dir" ]; then
  die "$pkg (or $state_dir) is on this machine and was not installed by this check, which \
would purge it: run the check on another machine"
fi

deb="$(bash scripts/dist.sh --check server)"

if ! command -v systemd-analyze >/dev/null; then
  say "installing Debian packages: systemd (for systemd-analyze)"
  apt_get update
  apt_get install --no-install-recommends systemd
fi

work="$(mktemp -d)"
pid=""
finish() {
  local rc=$?
  if [ -n "$pid" ] && [ -e "/proc/$pid" ]; then as_root kill "$pid" 2>/dev/null || true; fi
  if [ -e "$marker" ]; then purge; fi
  if [ "$rc" != 0 ] && [ -s "$work/stderr" ]; then
    printf 'the server said:\n' >&2
    tail -n 30 "$work/stderr" >&2
  fi
  rm -rf "$work"
}
trap finish EXIT

systemd_runs=false
[ -d /run/systemd/system ] && systemd_runs=true
as_root touch "$marker"
if $systemd_runs; then
  # Before the install, so the service the postinst starts already listens on its own port.
  as_root mkdir -p "$dropin_dir"
  printf '[Service]\nEnvironment=SHELFMARK_LISTEN=127.0.0.1:0\n' |
    as_root tee "$dropin_dir/deb-check.conf" >/dev/null
fi
since="$(date '+%Y-%m-%d %H:%M:%S')"
say "installing $(basename "$deb")"
apt_get install "$deb"

unit="$(dpkg -L "$pkg" | grep "/systemd/system/$pkg.service$" | head -n 1)"
[ -n "$unit" ] || die "the package installs no $pkg.service"
examples=(/usr/share/doc/$pkg/examples/shelfmark-backup.{service,timer})
say "systemd-analyze verify $unit and the backup timer's example"
verify="$(systemd-analyze verify "$unit" "${examples[@]}" 2>&1)" || die "systemd-analyze verify failed:
$verify"
[ -z "$verify" ] || die "systemd-analyze verify has remarks on the unit:
$verify"
conf="$(dpkg-query -W -f='${Conffiles}' "$pkg")"
grep -q " /etc/shelfmark/server.toml " <<<"$conf" || die "/etc/shelfmark/server.toml is not a conffile"
id shelfmark >/dev/null || die "the package made no shelfmark user"

# What the unit runs, as whom, where.
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
exec_start="$(unit_value ExecStart)"
user="$(unit_value User)"
read -r -a command <<<"$exec_start"
[ -x "${command[0]}" ] || die "ExecStart runs ${command[0]}, which is not installed"
# The listen address is the only setting overridden (environment beats the file): a free port.
extra_env=(SHELFMARK_LISTEN=127.0.0.1:0)
# As the unit's user, in its state folder, with those settings (sudo first unless root).
root=()
[ "$(id -u)" = 0 ] || root=(sudo)
as_user() {
  "${root[@]}" setpriv --reuid="$user" --regid="$user" --init-groups -- \
    env -C "$state_dir" "${extra_env[@]}" "$@"
}

if $systemd_runs; then
  say "starting $pkg with systemd"
  as_root systemctl start "$pkg"
  pid="$(systemctl show -p MainPID --value "$pkg")"
  address_line() { journalctl -u "$pkg" --since "$since" -o cat 2>/dev/null | grep -m 1 'listening on http://'; }
else
  say "no systemd on this machine: running the unit's ExecStart as $user"
  # Exec'd all the way down: the pid is the server's (or sudo's, which passes a SIGTERM on).
  (exec "${root[@]}" setpriv --reuid="$user" --regid="$user" --init-groups -- \
    env -C "$state_dir" "${extra_env[@]}" "${command[@]}" >"$work/stdout" 2>"$work/stderr") &
  pid=$!
  echo "$pid" | as_root tee "$marker" >/dev/null
  address_line() { grep -m 1 'listening on http://' "$work/stdout"; }
fi

deadline=$((SECONDS + 60))
until line="$(address_line)"; do
  [ -n "$pid" ] && [ "$pid" != 0 ] && [ -e "/proc/$pid" ] || die "the server stopped before it listened"
  [ $SECONDS -lt $deadline ] || die "the server did not listen within 60 s"
  sleep 0.2
done
base="${line##*listening on }"
say "listening on $base"

status() { curl -s -o /dev/null -w '%{http_code}' "$base$1" || true; }
deadline=$((SECONDS + 30))
until [ "$(status /readyz)" = 200 ]; do
  [ $SECONDS -lt $deadline ] || die "GET /readyz did not answer 200 within 30 s"
  sleep 0.2
done
say "GET /readyz: 200"

say "adding a first user with shelfmark-server user add, and signing in as them"
password="deb-check-$RANDOM$RANDOM"
printf '%s\n' "$password" | as_user "${command[@]}" user add deb-check --role manager
answer="$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
  -d "{\"username\":\"deb-check\",\"password\":\"$password\"}" "$base/v1/sessions")"
[ "$answer" = 201 ] || die "signing in as the new user answered $answer, not 201"

say "stopping the server"
if $systemd_runs; then
  as_root systemctl stop "$pkg"
else
  as_root kill "$pid"
  deadline=$((SECONDS + 45))
  while [ -e "/proc/$pid" ]; do
    [ $SECONDS -lt $deadline ] || die "the server did not stop within 45 s of SIGTERM"
    sleep 0.2
  done
  wait "$pid" || die "the server exited with status $? on SIGTERM"
fi
pid=""
say "purging the package"
purge
say "the .deb installs, its unit verifies, the service answers and takes a first user"
