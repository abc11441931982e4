#!/usr/bin/env bash
# Installs the locker device on Raspberry Pi OS / Debian: the `locker` user (in the gpio and
# dialout groups only), the data directory (0700), the config in /etc/locker, a release in
# /opt/locker-device/releases/<version> with `current` linking it, and the systemd unit.
# Idempotent: a second run changes nothing, and an existing config or pepper is never
# overwritten (the operator may have edited it).
#
#   install.sh [--root DIR] [--release TARBALL] [--config FILE] [--pepper FILE] [--no-apt]
#
# --release installs through update.sh (beside this script), the same path as an update: on
# a board whose service is started (active, or activating: starting, or crash-looping under
# Restart=) it switches only once the new release reports ready and stays up for the settle
# period (LOCKER_SETTLE, a whole number of seconds, 10), rolls back otherwise and exits 1;
# there the unit goes in through update.sh too, in place and reloaded before the restart (the
# new release is checked under its own unit; a rollback puts the previous unit back). Else
# (inactive, failed) it installs and links `current` without starting anything, and writes
# the unit after. Either way update.sh first backs up the database, if there is one (not
# under --root).
# --root DIR installs into DIR instead of / (users via useradd --prefix, which does not
# chroot; no apt-get, no systemctl unless SYSTEMCTL names one): how the test and image
# builds use it. NPM and SYSTEMCTL may name stand-ins for update.sh's `npm ci` and for
# systemctl (tests).
set -euo pipefail

ROOT=/
RELEASE=""
CONFIG=""
PEPPER=""
APT=1
USER_NAME=locker
DATA_DIR=/var/lib/locker
CONFIG_DIR=/etc/locker
APP_DIR=/opt/locker-device
UNIT_NAME=locker-device.service
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

USAGE="usage: install.sh [--root DIR] [--release TARBALL] [--config FILE] [--pepper FILE] [--no-apt]"
usage() { echo "$USAGE" >&2; exit 2; }
# --help answers 0 on stdout, like every operator command (scripts/cli-help.test.ts): the
# usage line, then the header above (its comment lines up to `set`, less the synopsis).
help() {
  echo "$USAGE"
  echo
  sed -n '2,/^set /{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | sed '/^  install\.sh \[/{N;d}'
  exit 0
}
# Looked for first, so that --help is never taken for the value of --config or --root.
for arg in "$@"; do case "$arg" in -h|--help) help ;; esac; done
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --release) RELEASE="${2:?--release needs a release tarball}"; shift 2 ;;
    --app) echo "install.sh: --app is gone: pass the release tarball with --release (docs/hardware.md)" >&2; exit 2 ;;
    --config) CONFIG="${2:?--config needs a file}"; shift 2 ;;
    --pepper) PEPPER="${2:?--pepper needs a file}"; shift 2 ;;
    --no-apt) APT=0; shift ;;
    *) echo "install.sh: unknown argument $1" >&2; usage ;;
  esac
done
# Checked here too, before anything is created: update.sh would refuse it only after.
case "${LOCKER_SETTLE-10}" in ''|*[!0-9]*) echo "install.sh: LOCKER_SETTLE needs a whole number of seconds, 0 or more, not '$LOCKER_SETTLE'" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "install.sh: must run as root (it creates a user and chowns files)" >&2; exit 1; }
ROOT="$(cd "$ROOT" && pwd)"
R="${ROOT%/}"
PREFIX=()
[ "$ROOT" = / ] || PREFIX=(--prefix "$ROOT")

changes=0
changed() { echo "changed: $*"; changes=$((changes + 1)); }

# --- packages (the real system only) ---------------------------------------------------
if [ "$ROOT" = / ] && [ "$APT" -eq 1 ]; then
  need=()
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  # The sd_notify relay (decision 0026): without it systemd never sees READY.
  command -v socat >/dev/null 2>&1 || need+=(socat)
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
    changed "packages ${need[*]}"
  fi
fi

# --- groups and user ---------------------------------------------------------------------
has_group() { grep -q "^$1:" "$R/etc/group"; }
for group in gpio dialout; do
  if ! has_group "$group"; then
    groupadd "${PREFIX[@]}" --system "$group"
    changed "group $group"
  fi
done
if ! grep -q "^$USER_NAME:" "$R/etc/passwd"; then
  useradd "${PREFIX[@]}" --system --user-group --no-create-home --home-dir "$DATA_DIR" \
    --shell /usr/sbin/nologin --comment "Parcel locker device" --groups gpio,dialout "$USER_NAME"
  changed "user $USER_NAME"
fi
# Supplementary groups: exactly gpio and dialout (a user once added to sudo is taken out).
current="$(awk -F: -v u="$USER_NAME" '{ n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) print $1 }' "$R/etc/group" | sort | paste -sd, -)"
if [ "$current" != "dialout,gpio" ]; then
  usermod "${PREFIX[@]}" -G gpio,dialout "$USER_NAME"
  changed "groups of $USER_NAME ($current -> dialout,gpio)"
fi
uid="$(awk -F: -v u="$USER_NAME" '$1 == u { print $3 }' "$R/etc/passwd")"
gid="$(awk -F: -v u="$USER_NAME" '$1 == u { print $4 }' "$R/etc/passwd")"

# --- files -------------------------------------------------------------------------------
# ensure_dir PATH MODE OWNER:GROUP (numeric)
ensure_dir() {
  local path="$R$1"
  if [ ! -d "$path" ]; then mkdir -p "$path"; changed "directory $1"; fi
  if [ "$(stat -c %a "$path")" != "${2#0}" ]; then chmod "$2" "$path"; changed "mode $2 on $1"; fi
  if [ "$(stat -c %u:%g "$path")" != "$3" ]; then chown "$3" "$path"; changed "owner of $1"; fi
}
# ensure_file SOURCE DEST MODE OWNER:GROUP replace|keep
ensure_file() {
  local dest="$R$2"
  if [ ! -e "$dest" ]; then
    install -m "$3" "$1" "$dest"; changed "file $2"
  elif [ "$5" = replace ] && ! cmp -s "$1" "$dest"; then
    install -m "$3" "$1" "$dest"; changed "file $2 (updated)"
  fi
  if [ "$(stat -c %a "$dest")" != "${3#0}" ]; then chmod "$3" "$dest"; changed "mode $3 on $2"; fi
  if [ "$(stat -c %u:%g "$dest")" != "$4" ]; then chown "$4" "$dest"; changed "owner of $2"; fi
}

ensure_dir "$DATA_DIR" 0700 "$uid:$gid"
ensure_dir "$CONFIG_DIR" 0750 "0:$gid"
if [ -n "$CONFIG" ]; then
  ensure_file "$CONFIG" "$CONFIG_DIR/device.json" 0640 "0:$gid" keep
elif [ ! -e "$R$CONFIG_DIR/device.json" ]; then
  echo "note: no $CONFIG_DIR/device.json yet; write it (docs/operations.md) before starting the service"
fi
if [ -n "$PEPPER" ]; then
  # The code pepper: readable by the device user only (docs/security.md).
  ensure_file "$PEPPER" "$CONFIG_DIR/code-pepper" 0400 "$uid:$gid" keep
fi
ensure_dir /etc/systemd/system 0755 "0:0"
unit_was_current=0
restarted=""
cmp -s "$HERE/$UNIT_NAME" "$R/etc/systemd/system/$UNIT_NAME" && unit_was_current=1
if [ -n "$RELEASE" ]; then
  [ -f "$RELEASE" ] || { echo "install.sh: no such release tarball: $RELEASE" >&2; exit 1; }
  ensure_dir "$APP_DIR" 0755 "0:0"
  before="$(readlink "$R$APP_DIR/current" 2>/dev/null || true)"
  # Whether systemd has the service started. `is-active` is not it: a service crash-looping
  # under Restart=always is `activating (auto-restart)` most of the time, and taking it for
  # stopped would switch `current` unchecked, for systemd to start seconds later.
  SYSTEMCTL="${SYSTEMCTL:-}"
  if [ -z "$SYSTEMCTL" ] && [ "$ROOT" = / ] && command -v systemctl >/dev/null 2>&1; then SYSTEMCTL=systemctl; fi
  state=""
  if [ -n "$SYSTEMCTL" ]; then
    state="$("$SYSTEMCTL" show -p ActiveState,SubState,NRestarts "$UNIT_NAME" 2>/dev/null || true)"
  fi
  active="$(sed -n 's/^ActiveState=//p' <<<"$state")"
  args=(--prefix "$R$APP_DIR")
  # The config under --root names the board's database path, not one in this tree.
  [ "$ROOT" = / ] || args+=(--no-backup)
  case "$active" in
    active|activating|reloading|refreshing)
      if [ "$active" != active ]; then
        echo "note: $UNIT_NAME is $active ($(sed -n 's/^SubState=//p' <<<"$state"), restarted $(sed -n 's/^NRestarts=//p' <<<"$state") times by systemd): the release goes in through a restart and a settle check"
      fi
      # A started locker: switch only once the new release is ready and stays up, roll back
      # if it does not. Its unit goes in with it, before the restart: a new ExecStart or
      # environment is what gets checked, and a rollback goes back to the previous unit.
      args+=(--service "${UNIT_NAME%.service}" --unit "$HERE/$UNIT_NAME" --unit-dir "$R/etc/systemd/system") ;;
    *) args+=(--no-restart) ;;
  esac
  if ! SYSTEMCTL="${SYSTEMCTL:-systemctl}" sh "$HERE/update.sh" "$RELEASE" "${args[@]}"; then
    echo "install.sh: the release was not installed: update.sh failed (above); $APP_DIR/current is $(readlink "$R$APP_DIR/current" 2>/dev/null || echo 'not linked'); see journalctl -u $UNIT_NAME" >&2
    exit 1
  fi
  after="$(readlink "$R$APP_DIR/current" 2>/dev/null || true)"
  [ "$before" = "$after" ] || changed "release $APP_DIR/$after"
  # update.sh restarted the service on the new release and checked it: everything changed
  # above is in effect, and "start with: systemctl restart" would only restart it unchecked.
  case "$active" in active|activating|reloading|refreshing) [ "$before" = "$after" ] || restarted="$after" ;; esac
  if [ "$unit_was_current" -eq 0 ] && cmp -s "$HERE/$UNIT_NAME" "$R/etc/systemd/system/$UNIT_NAME"; then
    changed "file /etc/systemd/system/$UNIT_NAME (updated before the restart)"
  fi
  # An earlier install.sh put the app flat into $APP_DIR: the unit no longer runs it.
  if [ -f "$R$APP_DIR/main.js" ] && [ -n "$after" ]; then
    find "$R$APP_DIR" -mindepth 1 -maxdepth 1 ! -name releases ! -name current -exec rm -rf {} +
    changed "removed the flat app of an earlier install from $APP_DIR"
  fi
elif [ ! -e "$R$APP_DIR/current" ]; then
  echo "note: no release installed yet; run again with --release locker-device-<version>.tar.gz"
fi
unit_changes=$changes
ensure_file "$HERE/$UNIT_NAME" "/etc/systemd/system/$UNIT_NAME" 0644 "0:0" replace
# A unit changed after that restart applies only at the next one.
[ "$changes" -eq "$unit_changes" ] || restarted=""
wants="/etc/systemd/system/multi-user.target.wants"
ensure_dir "$wants" 0755 "0:0"
if [ "$(readlink "$R$wants/$UNIT_NAME" 2>/dev/null)" != "/etc/systemd/system/$UNIT_NAME" ]; then
  ln -sfn "/etc/systemd/system/$UNIT_NAME" "$R$wants/$UNIT_NAME"
  changed "enabled $UNIT_NAME"
fi

if [ "$ROOT" = / ] && [ "$changes" -gt 0 ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
fi
if [ "$changes" -eq 0 ]; then
  echo "nothing to change"
elif [ -n "$restarted" ]; then
  echo "$changes change(s); $UNIT_NAME already restarted on $restarted by update.sh (above), nothing to start"
else
  echo "$changes change(s); start with: systemctl restart $UNIT_NAME"
fi
