# .ci/lib.sh: what the .ci/ scripts share; each sources it first thing
# (". "$(dirname "${BASH_SOURCE[0]}")/lib.sh"), under set -euo pipefail.
#
#   need PACKAGE...       apt-get install those not installed yet (as root)
#   ci_init NAME          a check called NAME: sets top (the work tree),
#                         build (its own directory: $CALCD_CI_BUILD/NAME, by
#                         default under $TMPDIR, one per work tree) and start
#   ci_copy_source        the work tree's sources to $build/src, autoreconf'd
#                         there: a check never touches the work tree or an
#                         in-tree build, nor another check's build
#   ci_configure ARG...   a fresh $build/obj, entered, configured out of tree
#   ci_quietly LOG CMD... run CMD niced with its output in LOG; on failure
#                         show LOG and exit 1
#   ci_finish STATUS [WHAT]  "NAME: Ns, status STATUS (WHAT)", exit STATUS

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

need() { # PACKAGE...: install those not installed yet
	local p missing=()
	for p; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ci_init() { # NAME
	ci_name=$1
	local base=${CALCD_CI_BUILD:-${TMPDIR:-/tmp}/calcd-ci-$(printf '%s' "$top" | md5sum | cut -c1-8)}
	build=$base/$ci_name
	start=$(date +%s)
	mkdir -p "$build"
}

# DEST: the work tree's sources: tracked files, and untracked ones git does
# not ignore, except built programs (ELF files, e.g. an in-tree build's
# src/calcctl), which a VPATH build would take for up to date.
ci_copy_tree() {
	rm -rf "$1"
	mkdir -p "$1"
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$top" && {
			git ls-files -z --cached
			git ls-files -z --others --exclude-standard |
				while IFS= read -r -d '' f; do
					if [ "$(head -c 4 -- "$f" | od -An -tx1 | tr -d ' \n')" != 7f454c46 ]; then
						printf '%s\0' "$f"
					fi
				done
		} | while IFS= read -r -d '' f; do
			if [ -e "$f" ]; then printf '%s\0' "$f"; fi   # not if deleted
		done | tar --null --no-recursion -T - -cf -) | tar -C "$1" -xf -
	else
		tar -C "$top" --exclude-vcs --exclude-vcs-ignores -cf - . | tar -C "$1" -xf -
	fi
}

ci_copy_source() {
	ci_copy_tree "$build/src"
	(cd "$build/src" && autoreconf -fi >/dev/null 2>&1) ||
		(cd "$build/src" && autoreconf -fi)   # again, loudly, to show why
}

ci_configure() { # CONFIGURE-ARG...
	rm -rf "$build/obj"
	mkdir -p "$build/obj"
	cd "$build/obj"
	"$build/src/configure" -q "$@"
}

ci_quietly() { # LOG COMMAND...
	local log=$1
	shift
	nice "$@" >"$log" 2>&1 || { cat "$log"; echo "$ci_name: failed: $*" >&2; exit 1; }
}

ci_finish() { # STATUS [WHAT]
	echo "$ci_name: $(( $(date +%s) - start ))s, status $1${2:+ ($2)}"
	exit "$1"
}
