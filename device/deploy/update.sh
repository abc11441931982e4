#!/bin/sh
# Installs a device release beside the running one and switches over only when the new one
# reports ready and stays up; a failed start rolls back to the previous release.
#
#   update.sh locker-device-<version>.tar.gz [--prefix /opt/locker-device] [--service locker-device]
#             [--settle 10] [--keep 3] [--no-restart] [--config /etc/locker/device.json] [--no-backup]
#             [--unit locker-device.service [--unit-dir /etc/systemd/system]]
#
# Layout under the prefix: releases/<version>/ (main.js, bringup.js, chunks/, package.json,
# lockfile, node_modules) and `current`, a symlink to the running release; the systemd unit
# runs /usr/bin/node … <prefix>/current/main.js. The service is Type=notify, so `systemctl
# restart` returns only once the new process sent READY=1 (relays off, store open) or
# failed; the settle period (--settle, or LOCKER_SETTLE, a whole number of seconds) then
# checks that it stays up: active at its end and not restarted by systemd meanwhile
# (NRestarts), since under Restart=always a crash loop is active and activating by turns.
# --no-restart installs and switches `current` without touching the service: the first
# install (install.sh), where no service runs yet and its config may not exist.
#
# Before switching, the running release's backup.js copies the database the config names to
# <its directory>/pre-update-<running version>.db (verified; the newest two are kept): a new
# release that migrates the schema and then fails leaves a database the previous release
# refuses (DB_MIGRATION), and that copy is the way back. A running release older than
# backup.js: the new release's backup.js takes it (it reads older schemas). A failed backup
# aborts the update before anything changed. Neither release has backup.js, no config or no
# database yet: no backup, said so. --no-backup skips it (an image built under install.sh
# --root, whose config names the board's paths, not the build host's). SYSTEMCTL, NPM and
# NODE may name stand-ins (tests); LOCKER_CONFIG the config, as for the device itself.
#
# --unit FILE (install.sh passes the release's unit) puts FILE in place as
# <unit-dir>/<service>.service and runs `systemctl daemon-reload` right after the switch,
# before the restart: the new release is started and settle-checked under its own unit, and
# a rollback puts the previous unit back (and reloads) before it restarts the previous
# release. Without it the unit is left as it is.
#
# What a rollback needs is made before the switch, while the card has room: a link back to
# the previous release and a copy of its unit. Going back is then a rename each, which needs
# no new blocks: a card that fills up while the new release runs cannot block the way back.
# Should even that fail (a card remounted read-only), it says where the board stands and
# prints the commands that finish the rollback by hand.
#
# Interrupts once `current` is switched (see help below): Ctrl-C or SIGTERM before the new
# release passed its check rolls back; during a rollback or the final steps they are ignored.
set -eu
# An SSH session that drops (SIGHUP, then a terminal every write to which fails) must not
# end the script between switching `current` and restarting, settling or rolling back: the
# locker would be left on a release nobody checked. HUP is ignored (so by systemctl and
# sleep too), and from the switch on, messages go through say/warn, which never fail.
trap '' HUP
say() { { printf '%s\n' "$*"; } 2>/dev/null || true; }
warn() { { printf '%s\n' "$*" >&3; } 3>&2 2>/dev/null || true; }

USAGE="usage: update.sh TARBALL [--prefix DIR] [--service NAME] [--settle SECONDS] [--keep N] [--no-restart] [--config FILE] [--no-backup] [--unit FILE [--unit-dir DIR]]"
usage() { echo "$USAGE" >&2; exit 2; }
help() {
  cat <<EOF
$USAGE

Installs the release TARBALL beside the running one under --prefix (/opt/locker-device),
backs up the database (pre-update-<old>.db beside it; --no-backup skips it), switches
'current' to the new release, restarts the service (--service, locker-device) and checks it
stays up for --settle seconds (a whole number: 10, or LOCKER_SETTLE): active at the end and
not restarted by systemd meanwhile. If it fails to start or crash-loops, 'current' goes
back to the previous release, which is restarted (no previous release: the service is
stopped), and the exit status is 1. --no-restart switches without touching the service (a
first install). --keep N releases are kept (3). --unit FILE (install.sh uses it) puts the
unit FILE in place in --unit-dir (/etc/systemd/system) and reloads systemd before the
restart; a rollback puts the previous unit back. If the rollback cannot switch 'current'
back (a full or read-only card), it says so and prints the commands that finish it by hand.

Interrupts: before the switch, Ctrl-C or SIGTERM stops the update with nothing switched.
After the switch and until the new release passed its check, Ctrl-C (SIGINT) or SIGTERM
means "roll back now": 'current' goes back to the previous release at once (a board shut
down meanwhile boots the known good one), that release is restarted, exit 130 / 143; the
last line says whether the rollback succeeded (the previous release up and settled) or
not (then with the command to recover by hand). During the rollback and the final steps
further interrupts are ignored, so the locker is never left half-updated. A hangup
(SIGHUP, a dropped SSH session) is always ignored: the update finishes on its own. One
update runs at a time per --prefix: a second one waits for the first, then runs.
Details: docs/hardware.md "Updating and rolling back".
EOF
  exit 0
}
for arg in "$@"; do case "$arg" in -h|--help) help ;; esac; done
[ $# -ge 1 ] || usage
tarball=$1; shift
prefix=/opt/locker-device
service=locker-device
settle=${LOCKER_SETTLE:-10}
keep=3
restart=1
config=${LOCKER_CONFIG:-/etc/locker/device.json}
backups=1
unit=""
unit_dir=/etc/systemd/system
while [ $# -gt 0 ]; do
  # An option given last without its value: the usage line, not the shell's "parameter not set".
  case "$1" in --prefix|--service|--settle|--keep|--config|--unit|--unit-dir) [ $# -ge 2 ] || { echo "update: $1 needs a value" >&2; usage; } ;; esac
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --service) service=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --no-restart) restart=0; shift ;;
    --config) config=$2; shift 2 ;;
    --no-backup) backups=0; shift ;;
    --unit) unit=$2; shift 2 ;;
    --unit-dir) unit_dir=$2; shift 2 ;;
    *) usage ;;
  esac
done
# A whole number: `sleep .` (or 1.5 under a sleep that takes no fractions) would fail, and
# the settle check would silently shrink to nothing.
case "$settle" in ''|*[!0-9]*) echo "update: --settle (or LOCKER_SETTLE) needs a whole number of seconds, 0 or more, not '$settle'" >&2; exit 2 ;; esac
# Checked now: the pruning that uses it runs only after the new release is up, and failing
# there would report a working update as failed.
case "$keep" in ''|*[!0-9]*) echo "update: --keep needs a whole number of releases, not '$keep'" >&2; exit 2 ;; esac
if [ -n "$unit" ]; then
  [ "$restart" -eq 1 ] || { echo "update: --unit goes with a restart; with --no-restart, put the unit in place yourself (install.sh does)" >&2; exit 2; }
  [ -f "$unit" ] || { echo "update: no such unit file: $unit" >&2; exit 2; }
  [ -d "$unit_dir" ] || { echo "update: no such unit directory: $unit_dir" >&2; exit 2; }
fi
systemctl=${SYSTEMCTL:-systemctl}
npm=${NPM:-npm}
node=${NODE:-node}
case "$config" in /*) ;; *) config="$(pwd)/$config" ;; esac
# backup.js runs from the prefix (below): a relative one would no longer name it there.
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
[ -f "$tarball" ] || { echo "update: no such release file: $tarball" >&2; exit 2; }

# The unit, beside it the one it replaces (hidden names: systemd loads neither).
unit_path="$unit_dir/$service.service"
unit_kept="$unit_dir/.$service.service.pre-update"
unit_next="$unit_dir/.$service.service.next"
# replace: the previous unit is in $unit_kept; add: there was none; empty: the unit stays.
unit_change=""
# Set when a rollback could not finish: the kept unit is then named in the printed commands.
keep_unit=0
# One update at a time per prefix. A second one (a fleet tool retrying after its SSH session
# dropped, while the first, which ignores the hangup, goes on) would otherwise interleave:
# see the new release already linked and report success while the first may still roll it
# back, or delete and unpack releases/<version> under it. The second waits, then sees where
# the first left the board. The lock is on the prefix directory itself (no file left behind)
# and goes with the process, however it ends.
mkdir -p "$prefix"
exec 9<"$prefix"
if ! flock -n 9; then
  echo "update: another update is running under $prefix; waiting for it to finish"
  flock 9
fi
# Left by a run killed outright or cut off by a power loss (none runs now: the lock): each
# holds a whole unpacked release, node_modules and all, on a card that may be small.
rm -rf "$prefix"/.incoming.* "$prefix/current.next"
mkdir -p "$prefix/releases"
incoming=$(mktemp -d "$prefix/.incoming.XXXXXX")
cleanup() {
  rm -rf "$incoming"
  [ -z "$unit_change" ] || rm -f "$unit_next"
  [ "$unit_change" != replace ] || [ "$keep_unit" -eq 1 ] || rm -f "$unit_kept"
}
trap cleanup EXIT
# Until `current` is switched, an interrupt just stops the update: the running release is
# untouched; what was unpacked or built for the new one goes (an exit, so EXIT cleans up).
target=""
stopped() {
  trap '' INT TERM
  warn "update: interrupted before switching; nothing changed"
  [ -z "$target" ] || rm -rf "$target"
  exit "$1"
}
trap 'stopped 130' INT
trap 'stopped 143' TERM
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

# A new link under a temporary name, renamed over `current`: atomic, never a moment without.
switch_to() {
  ln -sfn "$1" "$prefix/current.next" && mv -T "$prefix/current.next" "$prefix/current"
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
# the switch, so the copy misses as little as possible. A running release older than
# backup.js has none: the new release's takes the copy then (it reads every older schema and
# refuses only a newer one), or the first update to a release with backup.js would be the one
# update without a way back.
backup=""
abort() {
  echo "update: $1; update aborted, nothing changed (still running ${previous#releases/})" >&2
  rm -rf "$target"
  exit 1
}
if [ "$backups" -eq 1 ] && [ -n "$previous" ]; then
  was=${previous#releases/}
  case "$previous" in /*) tool="$previous/backup.js" ;; *) tool="$prefix/$previous/backup.js" ;; esac
  if [ ! -f "$tool" ] && [ -f "$target/backup.js" ]; then
    echo "update: $was has no backup.js (it predates the automatic backup); $version's backup.js takes the backup"
    tool="$target/backup.js"
  fi
  if [ ! -f "$tool" ]; then
    echo "update: warning: neither $was nor $version has backup.js; no database backup taken" >&2
  elif [ ! -f "$config" ]; then
    echo "update: no $config; no database backup taken"
  else
    # From the unit's WorkingDirectory (the prefix), as the service resolves a relative dbPath.
    db=$(cd "$prefix" && "$node" "$tool" --config "$config" --print-db-path) || abort "could not read dbPath from $config"
    # backup.js prints it resolved, but the -e check, the pruning and the printed restore
    # command run here, not in the prefix: a relative one would miss the database and skip
    # the backup as if there were none.
    case "$db" in /*) ;; *) db="$prefix/$db" ;; esac
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

# One word for a POSIX shell, whatever the path holds: inside single quotes only ' itself is
# special, written '\'' (the x keeps trailing newlines from the command substitution).
quote() {
  quoted=$(printf '%sx' "$1" | sed "s/'/'\\\\''/g")
  printf "'%s'" "${quoted%x}"
}

# `systemctl show` KEY=VALUE lines: the value of KEY.
value() { printf '%s\n' "$2" | sed -n "s/^$1=//p"; }

# Restarts the service and watches it for the settle period: 0 if it is active at its end
# and systemd did not restart it meanwhile; 1 if the restart itself failed (no READY=1);
# 2 if it did not stay up, with `seen` saying what systemd showed. Under Restart= a crash
# loop is active and activating by turns: one look at ActiveState may well catch it active,
# but NRestarts (reset by the manual restart, so read right after it) counts every automatic
# restart. Both waits run in the background so that an interrupt (trapped) ends them at once.
seen=""
waiting=""
# The service's state, asked up to three times a second apart: `systemctl show` fails when
# D-Bus is slow to answer on a busy board, and an empty answer reads as "not active": a
# release that is up would be rolled back.
state() {
  for try in 1 2 3; do
    "$systemctl" show -p ActiveState,SubState,NRestarts "$service" 2>/dev/null && return 0
    [ "$try" -eq 3 ] || sleep 1
  done
  return 1
}
starts() {
  "$systemctl" restart "$service" &
  waiting=$!
  if ! wait $!; then waiting=""; return 1; fi
  waiting=""
  first=$(state || true)
  sleep "$settle" &
  waiting=$!
  wait $! || true
  waiting=""
  last=$(state) || { seen="systemctl show $service failed 3 times"; return 2; }
  seen="ActiveState=$(value ActiveState "$last") SubState=$(value SubState "$last"), NRestarts $(value NRestarts "$first") -> $(value NRestarts "$last") over ${settle} s"
  [ "$(value ActiveState "$last")" = active ] && [ "$(value NRestarts "$last")" = "$(value NRestarts "$first")" ] || return 2
}

# The commands that put the previous unit back and reload systemd ("" if the unit stays).
unit_back_cmd() {
  case "$unit_change" in
    replace) printf '%s' "mv -f $(quote "$unit_kept") $(quote "$unit_path") && $systemctl daemon-reload" ;;
    add) printf '%s' "rm -f $(quote "$unit_path") && $systemctl daemon-reload" ;;
  esac
}
# Puts the previous unit back (a rename) and reloads systemd: 1 if the file could not be put
# back, 2 if systemd could not reload.
unit_back() {
  case "$unit_change" in
    replace) mv -f "$unit_kept" "$unit_path" || return 1 ;;
    add) rm -f "$unit_path" || return 1 ;;
    *) return 0 ;;
  esac
  "$systemctl" daemon-reload || return 2
}

# The command that restores the database copied before the update, for a previous release
# that refuses what the new one left. Not automatic: it drops whatever the new release
# recorded while it ran (openings, codes).
restore_hint() {
  [ -n "$backup" ] || return 0
  warn "update: if ${previous#releases/}'s log says DB_MIGRATION ($version changed the schema), restore the copy taken before the update (records written since are lost):"
  warn "  $systemctl stop $service && rm -f $(quote "$db-wal") $(quote "$db-shm") $(quote "$db.clean") && cp -p $(quote "$backup") $(quote "$db") && $systemctl start $service"
}

# `current` could not be switched back: where the board stands, and the commands that finish
# the rollback by hand. The failed release stays (`current` links it), the kept unit too.
why=""
stuck() {
  keep_unit=1
  now=$(state) || now=""
  if [ -n "$now" ]; then now="systemd shows it ActiveState=$(value ActiveState "$now") SubState=$(value SubState "$now")"; else now="systemctl show $service failed"; fi
  warn "update: ROLLBACK INCOMPLETE: $prefix/current could not be switched back to ${previous#releases/} (the error above: a full or read-only SD card?)"
  warn "update: the board now: current still links releases/$version, which $why${unit_change:+, under its own unit}; $now"
  warn "update: to finish the rollback by hand (free some space, or remount the card read-write, first):"
  ub=$(unit_back_cmd)
  warn "  ln -sfn $(quote "$previous") $(quote "$prefix/current")${ub:+ && $ub} && $systemctl restart $service"
  restore_hint
  exit "$1"
}

# Back to the previous release (none: unlink `current` and stop the service) under its own
# unit, restarted and checked like the new one, and the printed way out if the previous
# release refuses what the new one left. $1: the exit status; $2: the interrupt that asked
# for the rollback, if one did (its last line then says how the rollback went).
rollback() {
  if [ -n "$previous" ]; then
    # The link made before the switch, renamed over `current`; failing that, a new one the
    # same way (it can only fail too, but says why).
    if ! mv -T "$incoming/current.rollback" "$prefix/current" && ! switch_to "$previous"; then
      stuck "$1"
    fi
    unit_rc=0
    unit_back || unit_rc=$?
    if [ "$unit_rc" -eq 1 ]; then
      keep_unit=1
      warn "update: the unit ${previous#releases/} ran under could not be put back (above): it restarts under $version's; by hand: $(unit_back_cmd) && $systemctl restart $service"
    elif [ "$unit_rc" -eq 2 ]; then
      warn "update: systemctl daemon-reload failed (above): ${previous#releases/} may restart under $version's unit; by hand: $systemctl daemon-reload && $systemctl restart $service"
    fi
    rc=0
    starts || rc=$?
    if [ "$rc" -eq 0 ]; then
      say "update: back on ${previous#releases/}"
      [ -z "$backup" ] || warn "update: the database as it was before the update is kept in $backup"
      [ -z "${2:-}" ] || warn "update: the rollback after $2 succeeded: ${previous#releases/} is up and settled ($settle s), $version removed"
    else
      if [ "$rc" -eq 1 ]; then
        warn "update: the previous release ${previous#releases/} did not restart either"
      else
        warn "update: the previous release ${previous#releases/} did not stay up either ($seen)"
      fi
      [ -z "${2:-}" ] || warn "update: the rollback after $2 failed: current is back on ${previous#releases/}, but it is not up (journalctl -u $service)"
      if [ -n "$backup" ]; then
        restore_hint
      elif [ -n "${2:-}" ]; then
        warn "update: no database backup was taken before the update, so there is none to restore"
      fi
    fi
  else
    # Nothing known good: stopped, or systemd would restart the failed release (then a
    # missing main.js) forever under Restart=always.
    rm -f "$prefix/current" || warn "update: could not unlink $prefix/current (above): by hand: rm -f $(quote "$prefix/current")"
    unit_back || { keep_unit=1; warn "update: the previous unit could not be put back (above): by hand: $(unit_back_cmd)"; }
    if "$systemctl" stop "$service"; then
      warn "update: no previous release to go back to: $service stopped"
    else
      warn "update: no previous release to go back to, and $service did not stop: systemctl stop $service"
    fi
  fi
  rm -rf "$target"
  exit "$1"
}

# From the switch until the new release passed its check, an interrupt means "roll back
# now": what an operator pressing Ctrl-C wants, and for SIGTERM (a shutdown, a kill) the
# board then boots the previous release, not one nobody checked. Once the outcome is
# decided, interrupts are ignored (and so by systemctl and sleep): a rollback stopped
# halfway would leave the locker half-updated.
interrupted() {
  trap '' INT TERM
  # These traps are armed a moment before the switch, and an interrupt in that moment runs
  # once the `ln` or `mv` under way finishes: whether `current` moved is read, not assumed.
  # Not moved: a rollback would only restart the release that never stopped running.
  if [ "$(readlink "$prefix/current" 2>/dev/null || true)" != "releases/$version" ]; then
    rm -f "$prefix/current.next"
    stopped "$2"
  fi
  # The wait the interrupt cut short, if any, goes too: a settle sleep left running would
  # hold stdout open (an ssh session, a pipe) after a rollback that may not wait at all, and
  # a `systemctl restart` client would report on a restart the rollback's own now replaces
  # (systemd merges the two: the job goes on without its first client).
  [ -z "$waiting" ] || kill "$waiting" 2>/dev/null || true
  warn "update: interrupted ($1) before $version passed its check; rolling back"
  why="was interrupted ($1) before its check"
  rollback "$2" "$1"
}

# What a rollback needs, made while nothing is switched (see the header): the link back to
# the previous release, and, when the unit changes, the previous unit kept and the new one
# waiting beside it under a hidden name.
if [ "$restart" -eq 1 ]; then
  [ -z "$previous" ] || ln -s "$previous" "$incoming/current.rollback" || abort "could not prepare the link back to ${previous#releases/}"
  if [ -n "$unit" ] && ! cmp -s "$unit" "$unit_path"; then
    if [ -e "$unit_path" ]; then
      unit_change=replace
      cp -p "$unit_path" "$unit_kept" || abort "could not keep a copy of $unit_path"
    else
      unit_change=add
    fi
    { cp "$unit" "$unit_next" && chmod 0644 "$unit_next"; } || abort "could not copy $unit to $unit_dir"
  fi
  trap 'interrupted SIGINT 130' INT
  trap 'interrupted SIGTERM 143' TERM
else
  trap '' INT TERM
fi
if ! switch_to "releases/$version"; then
  trap '' INT TERM
  rm -f "$prefix/current.next"
  abort "could not link $prefix/current to releases/$version (above)"
fi
if [ "$restart" -eq 0 ]; then
  say "update: installed $version${previous:+ (was ${previous#releases/})}; the service was not restarted"
  prune
  exit 0
fi
# The new release's unit, in place and loaded before its restart: started under the old one,
# a changed ExecStart or environment would only apply at some later restart, never checked.
if [ -n "$unit_change" ] && ! { mv -f "$unit_next" "$unit_path" && "$systemctl" daemon-reload; }; then
  trap '' INT TERM
  warn "update: could not put $version's unit in place as $unit_path and reload systemd (above); rolling back"
  why="could not be started under its own unit"
  rollback 1
fi
rc=0
starts || rc=$?
trap '' INT TERM
if [ "$rc" -eq 0 ]; then
  say "update: now running $version${previous:+ (was ${previous#releases/})}"
  prune
  exit 0
fi
if [ "$rc" -eq 1 ]; then
  warn "update: $version did not become ready; rolling back"
  why="did not become ready"
else
  warn "update: $version did not stay up ($seen): a crash loop; rolling back"
  why="did not stay up ($seen)"
fi
rollback 1
