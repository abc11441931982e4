#!/bin/sh
# Creates or updates a Mosquitto password file from "username password" lines on stdin:
#   printf 'locker-0001 %s\n' "$(openssl rand -base64 24)" | sync/mosquitto/make-passwd.sh /etc/mosquitto/locker-passwd
# Usernames are locker ids or "backend": 1-64 characters of [A-Za-z0-9._-]. Anything else
# is refused — above all '/', '+' and '#': the ACL substitutes the username into topic
# patterns (%u), so such a name would widen a locker's access to other lockers' topics.
# Every line is checked before the file is touched: one bad line changes nothing.
# Passwords are hashed by mosquitto_passwd (PBKDF2-SHA512); the clear text never touches the file.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 PASSWORD_FILE < 'username password' lines" >&2; exit 2; }
file="$1"
input=$(mktemp)
trap 'rm -f "$input"' EXIT
cat > "$input"
line=0
while IFS= read -r entry || [ -n "$entry" ]; do
  line=$((line + 1))
  user=${entry%%[ 	]*}
  [ -n "$entry" ] || continue
  case "$user" in
    ''|*[!A-Za-z0-9._-]*)
      echo "make-passwd: line $line: invalid username '$user': use only A-Z a-z 0-9 . _ - (no '/', '+', '#' or spaces); nothing was written" >&2
      exit 1 ;;
  esac
  if [ ${#user} -gt 64 ]; then
    echo "make-passwd: line $line: username longer than 64 characters; nothing was written" >&2
    exit 1
  fi
  pass=${entry#"$user"}
  pass=${pass#[ 	]}
  if [ -z "$pass" ] || [ "$pass" = "$entry" ]; then
    echo "make-passwd: line $line: no password for '$user'; nothing was written" >&2
    exit 1
  fi
done < "$input"
[ -f "$file" ] || { : > "$file"; chmod 600 "$file"; }
while IFS= read -r entry || [ -n "$entry" ]; do
  [ -n "$entry" ] || continue
  user=${entry%%[ 	]*}
  pass=${entry#"$user"}
  pass=${pass#[ 	]}
  mosquitto_passwd -b "$file" "$user" "$pass"
done < "$input"
