#!/bin/sh
# Installs a device release beside the running one and switches over only when the new one
# reports ready; a failed start rolls back to the previous release.
#
#   update.sh locker-device-<version>.tar.gz [--prefix /opt/locker-device] [--service locker-device]
#             [--settle 10] [--keep 3] [--no-restart] [--config /etc/locker/device.json] [--no-backup]
#
# Layout under the prefix: releases/<version>/ (main.js, bringup.js, chunks/, package.json,
# lockfile, node_modules) and `current`, a symlink to the running release; the systemd unit
# runs /usr/bin/node … <prefix>/current/main.js. The service is Type=notify, so `systemctl
# restart` returns only once the new process sent READY=1 (relays off, store open) or
# failed; the settle period then checks that it stays up. --no-restart installs and switches
# `current` without touching the service: the first install (install.sh), where no service
# runs yet and its config may not exist.
#
# Before switching, the running release's backup.js copies the database the config names to
# <its directory>/pre-update-<running version>.db (verified; the newest two are kept): a new
# release that migrates the schema and then fails leaves a database the previous release
# refuses (DB_MIGRATION), and that copy is the way back. A failed backup aborts the update
# before anything changed. Releases older than backup.js, no config or no database yet: no
# backup, said so. --no-backup skips it (an image built under install.sh --root, whose
# config names the board's paths, not the build host's). SYSTEMCTL, NPM and NODE may name
# stand-ins (tests); LOCKER_CONFIG the config, as for the device itself.
set -eu
# An SSH session that drops (SIGHUP, then a terminal every write to which fails) must not
# end the script between switching `current` and restarting, settling or rolling back: the
# locker would be left on a release nobody checked. HUP is ignored (so by systemctl and
# sleep too), and from the switch on, messages go through say/warn, which never fail.
trap '' HUP
say() { { printf '%s\n' "$*"; } 2>/dev/null || true; }
warn() { { printf '%s\n' "$*" >&3; } 3>&2 2>/dev/null || true; }

usage() { echo "usage: $0 TARBALL [--prefix DIR] [--service NAME] [--settle SECONDS] [--keep N] [--no-restart] [--config FILE] [--no-backup]" >&2; exit 2; }
[ $# -ge 1 ] || usage
tarball=$1; shift
prefix=/opt/locker-device
service=locker-device
settle=10
keep=3
restart=1
config=${LOCKER_CONFIG:-/etc/locker/device.json}
backups=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --service) service=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --no-restart) restart=0; shift ;;
    --config) config=$2; shift 2 ;;
    --no-backup) backups=0; shift ;;
    *) usage ;;
  esac
done
systemctl=${SYSTEMCTL:-systemctl}
npm=${NPM:-npm}
node=${NODE:-node}
case "$config" in /*) ;; *) config="$(pwd)/$config" ;; esac
[ -f "$tarball" ] || { echo "update: no such release file: $tarball" >&2; exit 2; }

mkdir -p "$prefix/releases"
incoming=$(mktemp -d "$prefix/.incoming.XXXXXX")
trap 'rm -rf "$incoming"' EXIT
# Owned by whoever installs (root on a board), not by the uid that built the tarball.
tar -xzf "$tarball" -C "$incoming" --no-same-owner
set -- "$incoming"/locker-device-*
[ $# -eq 1 ] && [ -f "$1/VERSION" ] && [ -f "$1/main.js" ] || { echo "update: $tarball is not a device release" >&2; exit 2; }
unpacked=$1
version=$(cat "$unpacked/VERSION")
case "$version" in *[!A-Za-z0-9._+-]*|'') echo "update: invalid version '$version'" >&2; exit 2 ;; esac

# The running release as releases/<name>, however `current` was linked by hand (absolute,
# trailing slash): compared as written, the running release would not be recognised, and
# `rm -rf "$target"` below would delete it under the running locker.
previous=$(readlink "$prefix/current" 2>/dev/null || true)
if [ -n "$previous" ]; then
  name=$(printf '%s' "$previous" | sed 's:/*$::; s:.*/::')
  if [ -n "$name" ] && [ "$prefix/releases/$name" -ef "$prefix/current" ]; then previous="releases/$name"; fi
fi
if [ "$previous" = "releases/$version" ]; then
  echo "update: $version is already the running release"
  exit 0
fi

target="$prefix/releases/$version"
rm -rf "$target"
# Native modules (better-sqlite3, serialport, onoff's epoll) are built here, for this board.
(cd "$unpacked" && "$npm" ci --omit=dev --no-audit --no-fund)
# Readable by the service user, writable by nobody else (mktemp made the parent 0700).
chmod -R u+rwX,go+rX,go-w "$unpacked"
mv "$unpacked" "$target"

switch_to() {
  ln -sfn "$1" "$prefix/current.next"
  mv -T "$prefix/current.next" "$prefix/current"
}

# Keep --keep releases for a manual rollback: the new one, the one it replaced (the last
# known good, however old: after a manual rollback to an old release, the newest others are
# the ones that failed), then the newest of the rest.
prune() {
  was=${previous#releases/}
  others=$((keep - 1))
  [ -n "$was" ] && others=$((others - 1))
  [ "$others" -lt 0 ] && others=0
  ls -1t "$prefix/releases" | grep -vx -e "$version" -e "${was:-$version}" | tail -n +"$((others + 1))" | while read -r old; do rm -rf "$prefix/releases/$old"; done
}

# The running release copies its own database (its schema, its config loader) right before
# the switch, so the copy misses as little as possible.
backup=""
abort() {
  echo "update: $1; update aborted, nothing changed (still running ${previous#releases/})" >&2
  rm -rf "$target"
  exit 1
}
if [ "$backups" -eq 1 ] && [ -n "$previous" ]; then
  was=${previous#releases/}
  case "$previous" in /*) tool="$previous/backup.js" ;; *) tool="$prefix/$previous/backup.js" ;; esac
  if [ ! -f "$tool" ]; then
    echo "update: $was has no backup.js (it predates the automatic backup); no database backup taken"
  elif [ ! -f "$config" ]; then
    echo "update: no $config; no database backup taken"
  else
    # From the unit's WorkingDirectory (the prefix), as the service resolves a relative dbPath.
    db=$(cd "$prefix" && "$node" "$tool" --config "$config" --print-db-path) || abort "could not read dbPath from $config"
    if [ ! -e "$db" ]; then
      echo "update: no database at $db yet; no backup needed"
    else
      data=$(dirname "$db")
      backup="$data/pre-update-$was.db"
      (cd "$prefix" && "$node" "$tool" --config "$config" --out "$backup") || abort "the database backup failed (above; --no-backup skips it)"
      ls -1t "$data" | grep -x 'pre-update-.*\.db' | tail -n +3 | while read -r old; do rm -f "$data/$old"; done
    fi
  fi
fi

switch_to "releases/$version"
if [ "$restart" -eq 0 ]; then
  say "update: installed $version${previous:+ (was ${previous#releases/})}; the service was not restarted"
  prune
  exit 0
fi
ok=0
if "$systemctl" restart "$service"; then
  sleep "$settle"
  "$systemctl" is-active --quiet "$service" && ok=1
fi
if [ $ok -eq 1 ]; then
  say "update: now running $version${previous:+ (was ${previous#releases/})}"
  prune
  exit 0
fi

warn "update: $version did not become ready; rolling back"
if [ -n "$previous" ]; then
  switch_to "$previous"
  if "$systemctl" restart "$service"; then
    [ -z "$backup" ] || warn "update: the database as it was before the update is kept in $backup"
  else
    warn "update: the previous release ${previous#releases/} did not restart either"
    # Not automatic: it drops whatever the new release recorded while it ran (openings, codes).
    [ -z "$backup" ] || {
      warn "update: if its log says DB_MIGRATION ($version changed the schema), restore the copy taken before the update (records written since are lost):"
      warn "  $systemctl stop $service && rm -f '$db-wal' '$db-shm' '$db.clean' && cp -p '$backup' '$db' && $systemctl start $service"
    }
  fi
else
  rm -f "$prefix/current"
fi
rm -rf "$target"
exit 1
