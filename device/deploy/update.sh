#!/bin/sh
# Installs a device release beside the running one and switches over only when the new one
# reports ready; a failed start rolls back to the previous release.
#
#   update.sh locker-device-<version>.tar.gz [--prefix /opt/locker-device] [--service locker-device]
#             [--settle 10] [--keep 3] [--no-restart]
#
# Layout under the prefix: releases/<version>/ (main.js, bringup.js, chunks/, package.json,
# lockfile, node_modules) and `current`, a symlink to the running release; the systemd unit
# runs /usr/bin/node … <prefix>/current/main.js. The service is Type=notify, so `systemctl
# restart` returns only once the new process sent READY=1 (relays off, store open) or
# failed; the settle period then checks that it stays up. --no-restart installs and switches
# `current` without touching the service: the first install (install.sh), where no service
# runs yet and its config may not exist. SYSTEMCTL and NPM may name stand-ins (tests).
set -eu

usage() { echo "usage: $0 TARBALL [--prefix DIR] [--service NAME] [--settle SECONDS] [--keep N] [--no-restart]" >&2; exit 2; }
[ $# -ge 1 ] || usage
tarball=$1; shift
prefix=/opt/locker-device
service=locker-device
settle=10
keep=3
restart=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --service) service=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --no-restart) restart=0; shift ;;
    *) usage ;;
  esac
done
systemctl=${SYSTEMCTL:-systemctl}
npm=${NPM:-npm}
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

previous=$(readlink "$prefix/current" 2>/dev/null || true)
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

switch_to "releases/$version"
if [ "$restart" -eq 0 ]; then
  echo "update: installed $version${previous:+ (was ${previous#releases/})}; the service was not restarted"
  prune
  exit 0
fi
ok=0
if "$systemctl" restart "$service"; then
  sleep "$settle"
  "$systemctl" is-active --quiet "$service" && ok=1
fi
if [ $ok -eq 1 ]; then
  echo "update: now running $version${previous:+ (was ${previous#releases/})}"
  prune
  exit 0
fi

echo "update: $version did not become ready; rolling back" >&2
if [ -n "$previous" ]; then
  switch_to "$previous"
  "$systemctl" restart "$service" || echo "update: the previous release ${previous#releases/} did not restart either" >&2
else
  rm -f "$prefix/current"
fi
rm -rf "$target"
exit 1
