#!/bin/sh
# Creates or updates a Mosquitto password file from "username password" lines on stdin:
#   printf 'locker-0001 %s\n' "$(openssl rand -base64 24)" | sync/mosquitto/make-passwd.sh /etc/mosquitto/locker-passwd
# Usernames are locker ids (lowercase, digits, dashes) or "backend". Passwords are hashed
# by mosquitto_passwd (PBKDF2-SHA512); the clear text never touches the file.
set -eu
file="$1"
[ -f "$file" ] || { : > "$file"; chmod 600 "$file"; }
while read -r user pass; do
  [ -n "$user" ] || continue
  case "$user" in
    backend|[a-z0-9]*) ;;
    *) echo "invalid username: $user" >&2; exit 1 ;;
  esac
  mosquitto_passwd -b "$file" "$user" "$pass"
done
