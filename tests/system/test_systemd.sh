#!/bin/bash
# calcd as Debian users run it: the package test_package.sh built (built
# here if it did not run), installed with dpkg under a real systemd (PID 1
# of private PID, mount, network, UTS, IPC and cgroup namespaces), then
# driven through systemctl, journalctl, calcctl and a python3-thrift
# client: start and serve on 9090, the STATUS line, the sandbox, reloads
# good and bad, the upgrade restart, the watchdog, draining on stop, socket
# activation, remove and purge.
#
# The host is left as it was: /etc, /usr and /var are overlays on a tmpfs
# inside the namespace, so dpkg, the maintainer scripts and systemd write
# nothing to the host's disks even if the test dies halfway; the units
# sysinit.target would pull in (udev, sysctl, swap, fstab mounts, timers'
# stamps...) are masked, as they act on the machine; systemd's cgroups live
# in a child of this test's own cgroup (a delegated scope when the host runs
# systemd) and are removed with it.  At the end the namespaces are killed
# and the test checks that nothing of theirs runs any more.
#
# Root only; skips (77) without unshare, nsenter, systemd or overlayfs.
set -euo pipefail

# CI runs the whole suite once and then again in other builds (distcheck,
# --without-systemd, sanitizers); those set CALCD_SUITE=quick, and the
# heavy suites (test_systemd) run only in the first.
if [ "${CALCD_SUITE:-full}" = quick ]; then
	echo "test_systemd: skipped: CALCD_SUITE=quick (it runs in the full make check)"
	exit 77
fi

# --- inside the namespaces: prepare them, then become systemd --------------

# ns_init WORK ID: run by unshare as PID 1 of the new PID namespace.
ns_init() {
	local work=$1 id=$2 d rel sub unit
	# systemd's runtime directory, private; the host's work directory in it.
	mount -t tmpfs -o mode=0755,nosuid,nodev calcd-systest /run
	mkdir /run/calcd-systest /run/overlay
	mount --bind "$work" /run/calcd-systest
	# dpkg, the maintainer scripts and systemd write into tmpfs overlays.
	for d in /etc /usr /var /opt /bin /sbin /lib /lib32 /lib64 /libx32; do
		if [ ! -d "$d" ] || [ -L "$d" ]; then continue; fi
		mkdir -p "/run/overlay$d/upper" "/run/overlay$d/work"
		mount -t overlay -o "lowerdir=$d,upperdir=/run/overlay$d/upper,workdir=/run/overlay$d/work" \
			calcd-systest "$d"
	done
	# systemd empties /tmp when it boots: not the host's.
	mount -t tmpfs -o mode=1777,nosuid,nodev calcd-systest /tmp
	# A machine id of its own: no first boot (which would preset every
	# unit), no journal shared with the host.
	tr -d '-' </proc/sys/kernel/random/uuid >/etc/machine-id
	# A cgroup namespace rooted at a new child of this process's cgroup v2
	# (cgroup v1 hierarchies, if the host has any, stay out of sight).
	umount -R /sys/fs/cgroup 2>/dev/null || true
	mkdir /run/cgroup2
	mount -t cgroup2 calcd-systest /run/cgroup2
	rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
	sub="${rel%/}/calcd-systest.$id"
	mkdir "/run/cgroup2$sub"
	echo $$ >"/run/cgroup2$sub/cgroup.procs"
	echo "$sub" >/run/calcd-systest/cgroup
	umount /run/cgroup2
	rmdir /run/cgroup2
	# Boot into a target with the journal only; calcd.service's
	# sysinit.target pulls in nothing that acts on the machine.
	mkdir -p /run/systemd/system /run/systemd/journald.conf.d
	cat >/run/systemd/system/calcd-systest.target <<-'EOF'
		[Unit]
		Description=calcd system test: the journal only
		Wants=systemd-journald.socket systemd-journald-dev-log.socket systemd-journald.service
	EOF
	printf '[Journal]\nStorage=volatile\n' >/run/systemd/journald.conf.d/calcd-systest.conf
	for unit in local-fs.target swap.target /etc/systemd/system/sysinit.target.wants/* \
		/lib/systemd/system/sysinit.target.wants/* /usr/lib/systemd/system/sysinit.target.wants/*; do
		unit=${unit##*/}
		case $unit in systemd-journald.service | '*') continue ;; esac
		ln -sf /dev/null "/etc/systemd/system/$unit"
	done
	# Debian's own behaviour inside: a policy-rc.d (Docker images have
	# one that forbids everything) would keep the postinst from starting calcd.
	rm -f /usr/sbin/policy-rc.d
	# No man-db index rebuild at each dpkg run: slow, and nothing to do with calcd.
	rm -f /var/lib/man-db/auto-update
	# In the new cgroup namespace, a cgroup2 of its own at /sys/fs/cgroup
	# before systemd starts: systemd keeps the layout it finds mounted, so
	# it neither mounts the host's cgroup v1 hierarchies nor uses their roots.
	exec unshare --cgroup -- sh -c 'mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup &&
		exec env -i container=calcd-systest PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
			/lib/systemd/systemd --system --unit=calcd-systest.target'
}

if [ "${1:-}" = --ns-init ]; then
	ns_init "$2" "$3"
	exit 1
fi

# --- the host side ----------------------------------------------------------

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || skip "not root: the test boots systemd in namespaces of its own"
for tool in unshare nsenter dpkg; do
	command -v "$tool" >/dev/null || skip "no $tool"
done
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd: install the Debian package systemd"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
	skip "no overlayfs: the namespace needs it to keep the host's /etc, /usr and /var untouched"
for var in CALCD_BUILDDIR CALCD_IDL; do
	[ -n "${!var:-}" ] || die "$var is not set (run through 'make check')"
done
: "${PYTHON3:=/usr/bin/python3}"
: "${THRIFT:=thrift}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The package: $CALCD_DEB, else the one test_package.sh built (make check
# runs it first), else build it here the same way.
if [ -z "${CALCD_DEB:-}" ]; then
	for CALCD_DEB in "$CALCD_BUILDDIR"/tests/system/work/deb/calcd_*.deb; do :; done
	if [ ! -f "$CALCD_DEB" ]; then
		command -v dpkg-buildpackage >/dev/null ||
			skip "no package to install, and no dpkg-buildpackage to build one: not a Debian system"
		echo "# no package from test_package.sh: building it (build_deb.sh)"
		CALCD_DEB=$(bash "$here/build_deb.sh" "$CALCD_BUILDDIR" "$CALCD_BUILDDIR/tests/system/work/deb")
	fi
fi
[ -f "$CALCD_DEB" ] || die "no package $CALCD_DEB"
self="$here/$(basename "${BASH_SOURCE[0]}")"
deb=/run/calcd-systest/${CALCD_DEB##*/}

work=$(mktemp -d "${TMPDIR:-/tmp}/calcd-systest.XXXXXX")
unshare_pid='' ns_pid='' ns_pidns='' ok='' cgroup_left=''
host_dpkg_before=$(dpkg-query -W -f='${db:Status-Abbrev}' calcd 2>/dev/null || echo none)
host_conf_before=$(ls -l /etc/calcd.conf 2>/dev/null || echo none)

# Kill the namespaces (everything in them dies with their PID 1), remove
# the cgroup they used and the work directory.
teardown() {
	local i sub
	if [ -n "$unshare_pid" ]; then
		kill -KILL "$unshare_pid" 2>/dev/null || true
		[ -z "$ns_pid" ] || kill -KILL "$ns_pid" 2>/dev/null || true
		wait "$unshare_pid" 2>/dev/null || true
		unshare_pid=''
	fi
	if [ -f "$work/cgroup" ]; then
		sub=$(cat "$work/cgroup")
		mkdir -p "$work/cgroup2"
		cgroup_left=$sub
		for ((i = 0; i < 50; i++)); do
			if unshare --mount sh -c 'mount -t cgroup2 calcd-systest "$1" &&
				{ [ ! -d "$1$2" ] || find "$1$2" -depth -type d -exec rmdir {} + 2>/dev/null; }
				[ ! -d "$1$2" ]' sh "$work/cgroup2" "$sub"; then
				cgroup_left=''
				break
			fi
			sleep 0.1
		done
		[ -z "$cgroup_left" ] || echo "could not remove the cgroup $cgroup_left" >&2
		rm -f "$work/cgroup"
	fi
	rm -rf "$work"
}

on_exit() {
	local rc=$?
	set +e
	if [ -z "$ok" ] && [ -n "$ns_pid" ] && kill -0 "$ns_pid" 2>/dev/null; then
		echo "----- what the namespace's systemd says, for the failure above"
		nsx systemctl --no-pager status calcd.service calcd.socket 2>&1 | tail -n 40
		nsx journalctl --no-pager -n 60 -u calcd.service -u calcd.socket 2>&1
		echo "----- its console"
		tail -n 30 "$work/console.log"
	fi
	teardown
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 1' INT TERM HUP

# nsx COMMAND...: run COMMAND in every namespace of the test's systemd.
nsx() {
	nsenter -t "$ns_pid" -a --wd=/ -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 DEBIAN_FRONTEND=noninteractive "$@"
}

# client MODE HOST PORT: the python3-thrift client, in the test's network.
client() {
	nsenter -t "$ns_pid" --net -- "$PYTHON3" "$here/systest_client.py" "$work/gen-py" "$@"
}

step() { printf '\n## %s  [%ss]\n' "$*" "$SECONDS"; }

# show COMMAND...: run COMMAND in the namespaces, print it, its output and
# its exit status; return that status.
show() {
	local out rc=0
	out=$(nsx "$@" 2>&1 </dev/null) || rc=$?
	echo "\$ $*"
	[ -z "$out" ] || sed 's/^/    /' <<<"$out"
	echo "    => exit $rc"
	return "$rc"
}

sc() { show systemctl --no-pager "$@"; }
prop() { nsx systemctl show -p "$2" --value "$1"; }
# grep reads it all (not -q): a grep that quits at its match leaves journalctl
# to die of SIGPIPE, which pipefail counts as a failure.
journal_has() { nsx journalctl --no-pager -o cat -u calcd.service | grep -F -- "$1" >/dev/null; }
journal_count() { nsx journalctl --no-pager -o cat -u calcd.service | grep -cF -- "$1" || true; }
expect() { # WHAT GOT WANT
	[ "$2" = "$3" ] || die "$1 is '$2', not '$3'"
	echo "ok $1 = $3"
}

# poll SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds, for at
# most SECONDS; fail if it never does.
poll() {
	local seconds=$1 i
	shift
	for ((i = 0; i < seconds * 5; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# wait_for WHAT SECONDS COMMAND...: poll, and fail the test if it times out.
wait_for() {
	local what=$1 seconds=$2
	shift 2
	poll "$seconds" "$@" || die "$what: not within ${seconds}s"
}

state_is() { [ "$(prop "$1" ActiveState)" = "$2" ]; }

# --- boot ---------------------------------------------------------------------

step "boot systemd as PID 1 of new PID, mount, network, UTS, IPC and cgroup namespaces"
mkdir -p "$work/gen-py"
"$THRIFT" --gen py -out "$work/gen-py" "$CALCD_IDL"
cp "$CALCD_DEB" "$work/"
runner=()
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then
	# The host runs systemd: let it delegate a scope to the test's systemd.
	runner=(systemd-run --quiet --scope --collect -p Delegate=yes --unit="calcd-systest-$$")
fi
"${runner[@]}" unshare --pid --fork --kill-child --mount --mount-proc --net --uts --ipc \
	-- "$self" --ns-init "$work" "$$" >"$work/console.log" 2>&1 </dev/null &
unshare_pid=$!
booted() {
	if [ -z "$ns_pid" ]; then
		ns_pid=$(pgrep -P "$unshare_pid" | head -n 1) || true
		[ -n "$ns_pid" ] || return 1
	fi
	case $(nsx systemctl is-system-running 2>/dev/null) in running | degraded) ;; *) return 1 ;; esac
}
unshare_alive() { kill -0 "$unshare_pid" 2>/dev/null; }
booted_or_gone() { booted || ! unshare_alive; }
if ! poll 60 booted_or_gone || ! booted; then
	cat "$work/console.log"
	if ! unshare_alive && grep -q 'Operation not permitted' "$work/console.log"; then
		skip "this machine does not let root make the namespaces the test needs"
	fi
	die "systemd did not boot in the namespaces"
fi
ns_pidns=$(readlink "/proc/$ns_pid/ns/pid")
sc is-system-running
[ ! -e /usr/sbin/policy-rc.d ] ||
	echo "(the host's /usr/sbin/policy-rc.d, which may forbid starting services, is left out of the namespace)"

# --- install --------------------------------------------------------------------

step "dpkg -i: the postinst enables and starts calcd.service, leaves calcd.socket disabled"
show dpkg -i "$deb"
expect "calcd.service enabled" "$(nsx systemctl is-enabled calcd.service || true)" enabled
expect "calcd.service after install" "$(prop calcd.service ActiveState)" active
expect "calcd.socket enabled" "$(nsx systemctl is-enabled calcd.socket || true)" disabled
show test -f /etc/calcd.conf

step "systemctl start calcd serves 5+3 and 10-4 on 9090"
sc stop calcd
client refused 127.0.0.1 9090
sc start calcd
sc is-active calcd
client calc 127.0.0.1 9090
client calc ::1 9090
expect "calcctl add 5 3" "$(nsx calcctl add 5 3)" 8
expect "calcctl subtract 10 4" "$(nsx calcctl subtract 10 4)" 6

step "systemctl status shows calcd's STATUS line"
status=$(sc status calcd) || die "systemctl status calcd failed"
echo "$status"
grep -qE 'Status: "Serving on [^;]*:9090[^;]*; [0-9]+ connections?; [0-9]+ requests served[;"]' <<<"$status" ||
	die "no STATUS line from calcd in systemctl status"
echo "ok STATUS line"

step "the unit's hardening lets calcd run: dynamic user, no privileges, its own namespaces"
pid=$(prop calcd MainPID)
proc=$(nsx cat "/proc/$pid/status")
grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' <<<"$proc"
uid=$(awk '/^Uid:/ { print $2 }' <<<"$proc")
[ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] || die "calcd runs as uid $uid, not a dynamic user"
expect "CapEff" "$(awk '/^CapEff:/ { print $2 }' <<<"$proc")" 0000000000000000
expect "NoNewPrivs" "$(awk '/^NoNewPrivs:/ { print $2 }' <<<"$proc")" 1
expect "Seccomp (filter)" "$(awk '/^Seccomp:/ { print $2 }' <<<"$proc")" 2
[ "$(nsx readlink "/proc/$pid/ns/mnt")" != "$(nsx readlink /proc/1/ns/mnt)" ] ||
	die "calcd shares systemd's mount namespace (no sandbox)"
[ "$(nsx readlink "/proc/$pid/ns/user")" != "$(nsx readlink /proc/1/ns/user)" ] ||
	die "calcd shares systemd's user namespace (PrivateUsers=yes did not apply)"
echo "ok calcd has mount and user namespaces of its own"
expect "User" "$(prop calcd User)" calcd

# --- reloads --------------------------------------------------------------------

step "systemctl reload calcd applies an edited /etc/calcd.conf: a new listen address"
nsx cp /etc/calcd.conf /run/calcd-systest/calcd.conf.orig
nsx sed -i 's/^listen = \*:9090$/listen = 127.0.0.1:9191/' /etc/calcd.conf
show grep -n '^listen' /etc/calcd.conf
reloads=$(journal_count "configuration reloaded")
sc reload calcd
reloaded() { [ "$(journal_count "configuration reloaded")" -gt "$reloads" ]; }
wait_for "'configuration reloaded' in the journal" 20 reloaded
client calc 127.0.0.1 9191
client refused 127.0.0.1 9090
expect "MainPID after the reload" "$(prop calcd MainPID)" "$pid"

step "a broken edit: the old configuration keeps serving, the error is in journalctl -u calcd"
nsx sh -c 'echo "listn = 127.0.0.1:9292" >>/etc/calcd.conf'
line=$(nsx wc -l </dev/null /etc/calcd.conf | awk '{ print $1 }')
sc reload calcd
wait_for "the error in the journal" 20 journal_has "/etc/calcd.conf:$line: unknown key 'listn'"
wait_for "'reload failed' in the journal" 20 journal_has "reload failed: the configuration in force stays"
show journalctl --no-pager -o cat -u calcd.service -n 4
client calc 127.0.0.1 9191
expect "calcd.service after a broken reload" "$(prop calcd ActiveState)" active
expect "MainPID after a broken reload" "$(prop calcd MainPID)" "$pid"

step "the shipped configuration back, reloaded: 9090 again"
nsx cp /run/calcd-systest/calcd.conf.orig /etc/calcd.conf
reloads=$(journal_count "configuration reloaded")
sc reload calcd
wait_for "'configuration reloaded' in the journal" 20 reloaded
client calc 127.0.0.1 9090

# --- upgrade ----------------------------------------------------------------------

step "dpkg -i again (the upgrade path): the postinst restarts calcd"
show dpkg -i "$deb"
expect "calcd.service after the upgrade" "$(prop calcd ActiveState)" active
[ "$(prop calcd MainPID)" != "$pid" ] || die "calcd was not restarted (MainPID $pid)"
echo "ok restarted: MainPID $pid -> $(prop calcd MainPID)"
client calc 127.0.0.1 9090

# --- watchdog ---------------------------------------------------------------------

step "the watchdog restarts a calcd whose loop is stuck (WatchdogSec=3s in a drop-in)"
nsx mkdir -p /run/systemd/system/calcd.service.d
# LimitCORE=0: the SIGABRT the watchdog sends must leave no core file for
# the host's core_pattern.
nsx sh -c 'printf "[Service]\nWatchdogSec=3s\nLimitCORE=0\n" >/run/systemd/system/calcd.service.d/watchdog.conf'
sc daemon-reload
sc restart calcd
expect "WatchdogUSec" "$(prop calcd WatchdogUSec)" 3s
pid=$(prop calcd MainPID)
restarts=$(prop calcd NRestarts)
sc kill --kill-whom=main --signal=SIGSTOP calcd
show grep '^State:' "/proc/$pid/status"
restarted() { [ "$(prop calcd NRestarts)" -gt "$restarts" ] && state_is calcd active; }
wait_for "a restart by the watchdog" 60 restarted
show journalctl --no-pager -o cat -u calcd.service -g 'Watchdog timeout|SIGABRT|Scheduled restart'
poll 10 journal_has "Watchdog timeout" || die "no 'Watchdog timeout' in the journal"
[ "$(prop calcd MainPID)" != "$pid" ] || die "the same calcd ($pid) is still the main process"
echo "ok restarted by the watchdog: MainPID $pid -> $(prop calcd MainPID), NRestarts $(prop calcd NRestarts)"
client calc 127.0.0.1 9090
nsx rm -r /run/systemd/system/calcd.service.d
sc daemon-reload
sc restart calcd
expect "WatchdogUSec (shipped)" "$(prop calcd WatchdogUSec)" 30s

# --- stop ---------------------------------------------------------------------------

step "systemctl stop calcd answers a call in flight, then stops within TimeoutStopSec"
expect "TimeoutStopUSec" "$(prop calcd TimeoutStopUSec)" 30s
coproc DRAIN { client drain 127.0.0.1 9090 2>&1; }
drain_pid=$DRAIN_PID
# Copies: bash closes the coprocess's own descriptors when it exits.
exec {drain_out}<&"${DRAIN[0]}" {drain_in}>&"${DRAIN[1]}"
read -r -t 15 -u "$drain_out" said || die "the client sent nothing"
expect "client" "$said" half-sent
sc stop --no-block calcd
wait_for "calcd.service deactivating" 10 state_is calcd deactivating
echo "ok calcd.service is deactivating with half a call in"
echo go >&"$drain_in"
read -r -t 15 -u "$drain_out" said || die "no answer to the call in flight"
echo "$said"
expect "the answer across the stop" "$said" "5 + 3 (sent across the stop) = 8"
wait "$drain_pid" || die "the draining client failed"
exec {drain_out}<&- {drain_in}>&-
wait_for "calcd.service inactive" 40 state_is calcd inactive
expect "Result" "$(prop calcd Result)" success
expect "ExecMainStatus" "$(prop calcd ExecMainStatus)" 0
poll 10 journal_has "received SIGTERM, shutting down" || die "no 'received SIGTERM' in the journal within 10 s"
! journal_has "shutdown_timeout is over" || die "calcd waited for shutdown_timeout to end a connection"
sc status calcd || true

# --- socket activation ------------------------------------------------------------------

step "socket activation: calcd.socket starts calcd at the first call, which it answers"
sc start calcd.socket
expect "calcd.service before the first call" "$(prop calcd ActiveState)" inactive
client calc 127.0.0.1 9090
expect "calcd.service after the first call" "$(prop calcd ActiveState)" active
expect "TriggeredBy" "$(prop calcd TriggeredBy)" calcd.socket
sc status calcd.socket
sc stop calcd.socket calcd.service

# --- remove and purge ----------------------------------------------------------------------

step "dpkg --remove stops calcd and keeps /etc/calcd.conf; dpkg --purge removes it"
sc start calcd
show dpkg --remove calcd
expect "calcd.service after remove" "$(prop calcd ActiveState)" inactive
client refused 127.0.0.1 9090
nsx test ! -e /usr/sbin/calcd || die "/usr/sbin/calcd is still there after remove"
show test -f /etc/calcd.conf
show dpkg --purge calcd
nsx test ! -e /etc/calcd.conf || die "/etc/calcd.conf is still there after purge"
nsx test ! -e /etc/systemd/system/multi-user.target.wants/calcd.service ||
	die "calcd.service is still enabled after purge"
expect "dpkg status after purge" "$(nsx dpkg-query -W -f='${db:Status-Abbrev}' calcd 2>/dev/null || echo none)" none
echo "ok purged"

# --- the host as it was ------------------------------------------------------------------

step "the host as it was: namespaces ended, nothing of theirs running, no calcd installed"
ok=yes
teardown_pidns=$ns_pidns
teardown
# SIGKILL to the namespace's PID 1 kills the rest, but the kernel tears them
# down asynchronously: on a loaded machine one can linger for a moment.
left_in_ns() {
	local p
	for p in /proc/[0-9]*; do
		if [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$teardown_pidns" ]; then
			echo "${p#/proc/}"
			return 0
		fi
	done
	return 1
}
for ((i = 0; i < 100; i++)); do
	left=$(left_in_ns) || break
	sleep 0.1
done
[ -z "$(left_in_ns)" ] || die "process $(left_in_ns) still runs in the test's PID namespace 10 s after its end"
echo "ok no process left in $teardown_pidns"
[ -z "$cgroup_left" ] || die "the cgroup $cgroup_left is still there"
echo "ok the test's cgroup is gone"
expect "calcd on the host (dpkg)" "$(dpkg-query -W -f='${db:Status-Abbrev}' calcd 2>/dev/null || echo none)" \
	"$host_dpkg_before"
expect "/etc/calcd.conf on the host" "$(ls -l /etc/calcd.conf 2>/dev/null || echo none)" "$host_conf_before"
echo "PASS"
