#!/bin/sh
# Runs as root inside the throwaway root of tests/deb_test.ts (packages in /pkgs): install over
# the old Go service's package, serve as the unit would, upgrade, remove, purge.
set -eu
step() { echo "== $*"; }
fail() {
  echo "FAILED: $*"
  exit 1
}
mode() { stat -c '%a %U:%G' "$1"; }

step "the old Go service's package, its config edited on this server"
dpkg -i /pkgs/old.deb >/dev/null
echo "# edited on this server" >>/etc/dhis2gw/dhis2gw.yml
cp /etc/dhis2gw/dhis2gw.yml /root/edited.yml

step "upgrade to this dhis2gw (dpkg asks about the edited conffile; keeping it is the default)"
dpkg -i --force-confold /pkgs/new.deb
cmp /etc/dhis2gw/dhis2gw.yml /root/edited.yml || fail "the edited config was replaced"
[ -f /etc/dhis2gw/dhis2gw.yml.dpkg-dist ] && echo "the new sample is beside it: dhis2gw.yml.dpkg-dist"
getent passwd dhis2gw >/dev/null || fail "no user dhis2gw"
[ "$(mode /var/lib/dhis2gw)" = "750 dhis2gw:dhis2gw" ] || fail "/var/lib/dhis2gw: $(mode /var/lib/dhis2gw)"
[ "$(mode /etc/default/dhis2gw)" = "640 root:dhis2gw" ] || fail "/etc/default/dhis2gw: $(mode /etc/default/dhis2gw)"
[ -L /etc/systemd/system/multi-user.target.wants/dhis2gw.service ] || fail "the service is not enabled"
echo "user dhis2gw; /var/lib/dhis2gw $(mode /var/lib/dhis2gw); /etc/default/dhis2gw $(mode /etc/default/dhis2gw); enabled"

step "systemd-analyze verify (the installed unit, its binary and manual present)"
out=$(systemd-analyze verify /lib/systemd/system/dhis2gw.service 2>&1) || fail "$out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
echo "clean"

step "config check on the old service's config: its unused keys are notes"
dhis2gw config check >/root/check.txt 2>&1 || { cat /root/check.txt; fail "config check"; }
grep "^# note:" /root/check.txt

step "serve as the unit does: user dhis2gw, EnvironmentFile, WorkingDirectory, read-only root (ProtectSystem=strict) but StateDirectory, private /tmp, no new privileges; SIGTERM to the main process only (KillMode=mixed)"
mount --bind /var/lib/dhis2gw /var/lib/dhis2gw
mount -o remount,bind,ro /
mount -t tmpfs -o mode=1777 t /tmp
setpriv --reuid=dhis2gw --regid=dhis2gw --init-groups --no-new-privs --inh-caps=-all \
  sh -c 'set -a; . /etc/default/dhis2gw; set +a; cd /var/lib/dhis2gw; exec /usr/bin/dhis2gw serve --config /etc/dhis2gw/dhis2gw.yml' \
  >/tmp/serve.log 2>&1 &
pid=$!
i=0
until DENO_DIR=/tmp/probe /usr/lib/dhis2gw/deno eval -q \
  'const r = await fetch("http://127.0.0.1:19491/ready").catch(() => null); Deno.exit(r?.status === 200 ? 0 : 1)' 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat /tmp/serve.log; fail "serve exited"; }
  i=$((i + 1))
  [ "$i" -lt 240 ] || { cat /tmp/serve.log; fail "/ready did not answer 200"; }
  sleep 0.5
done
[ "$(ps -o user= -p "$pid")" = dhis2gw ] || fail "the gateway runs as $(ps -o user= -p "$pid")"
pg=$(head -1 /var/lib/dhis2gw/dhis2gw-data/postgres/postmaster.pid)
[ "$(ps -o user= -p "$pg")" = dhis2gw ] || fail "PostgreSQL runs as $(ps -o user= -p "$pg")"
echo "ready; the gateway and its PostgreSQL run as dhis2gw"
kill -TERM "$pid"
if wait "$pid"; then rc=0; else rc=$?; fi
[ "$rc" = 0 ] || { cat /tmp/serve.log; fail "exit $rc after SIGTERM"; }
[ ! -e /var/lib/dhis2gw/dhis2gw-data/postgres/postmaster.pid ] || fail "PostgreSQL left running"
grep -c '"msg":"config key ignored"' /tmp/serve.log | sed 's/^/old keys noted in the log: /'
echo "exit 0 after SIGTERM, PostgreSQL stopped"
umount /tmp
mount -o remount,bind,rw /
umount /var/lib/dhis2gw

step "purge, fresh install, edit the config, upgrade: the edit is kept without a question"
dpkg --purge dhis2gw >/dev/null
[ ! -e /var/lib/dhis2gw ] || fail "purge left /var/lib/dhis2gw"
dpkg -i /pkgs/new.deb >/dev/null
grep -q '^  data_dir: "/var/lib/dhis2gw"$' /etc/dhis2gw/dhis2gw.yml || fail "the sample's data_dir"
sed -i 's/^  port: 9090$/  port: 19492/' /etc/dhis2gw/dhis2gw.yml
cp /etc/dhis2gw/dhis2gw.yml /root/edited2.yml
# Root may write Deno's code caches beside the package; prerm removes them.
dhis2gw version
dpkg -i /pkgs/next.deb </dev/null >/dev/null
cmp /etc/dhis2gw/dhis2gw.yml /root/edited2.yml || fail "the upgrade replaced the edited config"
[ ! -e /etc/dhis2gw/dhis2gw.yml.dpkg-dist ] || fail "a question was needed"
dpkg-query -W -f='${Version}\n' dhis2gw

step "remove keeps the data and the config; purge removes them"
touch /var/lib/dhis2gw/marker
dpkg -r dhis2gw >/dev/null
[ -e /var/lib/dhis2gw/marker ] || fail "remove deleted the data"
[ -e /etc/dhis2gw/dhis2gw.yml ] || fail "remove deleted the config"
[ ! -e /usr/lib/dhis2gw ] || fail "remove left $(find /usr/lib/dhis2gw | head -3)"
dpkg --purge dhis2gw >/dev/null
for p in /var/lib/dhis2gw /etc/default/dhis2gw /etc/dhis2gw; do
  [ ! -e "$p" ] || fail "purge left $p"
done
echo "ALL STEPS PASSED"
