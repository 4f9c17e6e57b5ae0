#!/usr/bin/env bash
# rcptsync benchmark harness; see bench/README.md.
#
# Usage: bench/run.sh [N ...]        (default: 100000; e.g. bench/run.sh 100000 1000000)
#        RUNS=3 bench/run.sh 100000  (repetitions per measurement; default 5)
#
# For each N: generates an AD-like directory of N mailbox users (bench/gen.py), loads it into a
# throwaway slapd on loopback with slapadd, and measures, RUNS times each:
#   - ldapsearch with paging vs `rcptsync extract` over LDAP (full run, then a no-change run);
#   - the incremental case: after a full read, a round of 20 recipient changes plus 500
#     unrelated writes, then `rcptsync extract` reading only the changes (and a round of the
#     500 unrelated writes alone, which leaves the map as it is); wall time, the client's RSS
#     and slapd's CPU time, each as a ratio of the full read's;
#   - building an N-key map: postmap cdb/lmdb/hash vs `rcptsync apply` (native cdb, and with
#     postmap for cdb, lmdb and hash), then apply of the map already installed;
#   - `rcptsync receive` of the map as push sends it;
# and with several N a scaling table (each figure per million keys).
# then prints a table and writes it to bench/results/bench-N-TIMESTAMP.txt.
#
# Everything runs as root on 127.0.0.1 in a temp dir; slapd and the temp dir are removed on
# exit, also after an error or Ctrl-C. Nothing is installed; missing tools are named.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
RUNS=${RUNS:-5}
RCPTSYNC="$REPO/target/release/rcptsync"
RESULTS_DIR="$BENCH_DIR/results"

# The same directory layout as tests/it/fixture/slapd.rs.
BASE_DN="DC=example,DC=com"
SVC_DN="CN=svc-rcptsync,OU=Service,$BASE_DN"
SVC_PW="bench-secret" # a throwaway server on loopback; not a real credential
ROOT_PW="bench-admin-secret"

# rcptsync's DEFAULT_FILTER (src/source/ldap.rs) and the attributes it asks for
# (src/source/mod.rs), so that ldapsearch does the same search rcptsync does.
FILTER='(&(mailNickname=*)(|(&(objectCategory=person)(objectClass=user)(!(homeMDB=*))(!(msExchHomeServerName=*)))(&(objectCategory=person)(objectClass=user)(|(homeMDB=*)(msExchHomeServerName=*)))(&(objectCategory=person)(objectClass=contact))(objectCategory=group)(objectCategory=publicFolder)(objectClass=msExchDynamicDistributionList)))'
ATTRS=(proxyAddresses mail msExchRequireAuthToSendTo)

# slapd, slapadd, postmap and postconf live in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"

TMP_ROOT=""  # all temp files of this run; removed on exit
SLAPD_PID="" # the slapd we started, if any

# --- helpers -----------------------------------------------------------------------------

log() {
    echo "bench: $*" >&2
}

die() {
    echo "bench: error: $*" >&2
    exit 1
}

# Stops the slapd we started (by its pid) and waits for it, so that its database files are
# closed before the temp dir is removed.
stop_slapd() {
    if [[ -n "$SLAPD_PID" ]]; then
        kill "$SLAPD_PID" 2>/dev/null || true
        wait "$SLAPD_PID" 2>/dev/null || true
        SLAPD_PID=""
    fi
}

cleanup() {
    stop_slapd
    if [[ -n "$TMP_ROOT" && -d "$TMP_ROOT" ]]; then
        rm -rf "$TMP_ROOT"
    fi
}

trap cleanup EXIT
# Ctrl-C / kill: exit (which runs the EXIT trap) instead of continuing with the next step.
trap 'exit 130' INT
trap 'exit 143' TERM

usage() {
    echo "usage: bench/run.sh [N ...]   (default 100000; env RUNS, default 5)" >&2
    exit 2
}

# Names every missing tool and the Debian package that has it, then stops.
check_tools() {
    local missing=() packages=()
    local pair tool package
    for pair in slapd:slapd slapadd:slapd ldapsearch:ldap-utils postmap:postfix \
        postconf:postfix python3:python3 cargo:cargo; do
        tool=${pair%%:*}
        package=${pair##*:}
        if ! command -v "$tool" >/dev/null 2>&1; then
            missing+=("$tool")
            packages+=("$package")
        fi
    done
    # GNU time, not the shell keyword: it reports the peak RSS.
    if [[ ! -x /usr/bin/time ]] || ! /usr/bin/time -f '%M' true >/dev/null 2>&1; then
        missing+=("/usr/bin/time (GNU time)")
        packages+=("time")
    fi
    if [[ -x /usr/sbin/slapd && ! -e /usr/lib/ldap/back_mdb.so && ! -e /usr/lib/ldap/back_mdb.la ]]; then
        missing+=("slapd's back_mdb module in /usr/lib/ldap")
        packages+=("slapd")
    fi
    if ((${#missing[@]} > 0)); then
        log "missing: ${missing[*]}"
        log "install with: apt-get install -y $(printf '%s\n' "${packages[@]}" | sort -u | paste -sd ' ')"
        log "(everything the benchmark needs: apt-get install -y slapd ldap-utils postfix postfix-cdb postfix-lmdb time)"
        exit 1
    fi
}

# postmap's cdb and lmdb support are separate packages; postconf -m lists the map types
# Postfix can use (it needs a config dir, so this runs after make_postfix_conf).
check_map_types() {
    local confdir=$1 types type
    types=$(postconf -c "$confdir" -m)
    for type in cdb lmdb hash; do
        if ! grep -qx "$type" <<<"$types"; then
            log "postmap has no $type support"
            log "install with: apt-get install -y postfix-$type (or: apt-get install -y slapd ldap-utils postfix postfix-cdb postfix-lmdb time)"
            exit 1
        fi
    done
}

# A free TCP port on 127.0.0.1 (the kernel picks one; slapd binds it right after).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Floating-point arithmetic for the table.
calc() {
    awk "BEGIN { printf \"%s\", $* }"
}

# Runs "$@" once under GNU time and appends "WALL_SECONDS PEAK_RSS_KIB" to the file $1.
# stdout goes to /dev/null (the ldapsearch LDIF, extract's diff), stderr to $WORK/last.err,
# which is shown if the command fails. The peak RSS covers the command and the children it
# waited for (apply's postmap/postconf), but not slapd.
timed() {
    local samples=$1
    shift
    local timing="$WORK/last.time"
    if ! /usr/bin/time -f '%e %M' -o "$timing" -- "$@" >/dev/null 2>"$WORK/last.err"; then
        log "command failed: $*"
        cat "$timing" "$WORK/last.err" >&2 || true
        die "a measured command failed (see above)"
    fi
    # The format line is the last one; GNU time may write a status line before it.
    tail -n 1 "$timing" >>"$samples"
}

# Prints "MEDIAN MIN MAX MAX_RSS_KIB" of a samples file written by timed().
stats() {
    sort -n -k1,1 "$1" | awk '
        { wall[NR] = $1; if ($2 > rss) rss = $2 }
        END {
            if (NR % 2) median = wall[(NR + 1) / 2]
            else median = (wall[NR / 2] + wall[NR / 2 + 1]) / 2
            printf "%s %s %s %s\n", median, wall[1], wall[NR], rss
        }'
}

# --- the directory -------------------------------------------------------------------------

# slapd.conf as in tests/it/fixture/slapd.rs: the AD/Exchange schema, AD's page-size limits
# (an unpaged search stops at 1000 entries, pages are capped at 1000, a paged search may
# return everything), and a database big enough for a million entries.
write_slapd_conf() {
    local dir=$1
    cat >"$dir/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $REPO/tests/it/fixture/ad.schema
pidfile $dir/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
sizelimit size.soft=1000 size.hard=1000 size.pr=1000 size.prtotal=unlimited
database mdb
maxsize 8589934592
suffix "$BASE_DN"
rootdn "CN=admin,$BASE_DN"
rootpw $ROOT_PW
directory $dir/db
index objectClass eq
index entryUUID,entryCSN eq
access to attrs=userPassword by anonymous auth by * none
access to * by * read
# The suffix's contextCSN, as replicated OpenLDAP servers keep it: rcptsync's change mark;
# and the Content Synchronization operation, with a session log, that incremental reads use.
overlay syncprov
syncprov-sessionlog 100000
EOF
}

# The suffix, the OUs and the service account. Both ldapsearch and rcptsync bind as the
# service account: the rootdn would bypass the size limits.
write_base_ldif() {
    cat <<EOF
dn: $BASE_DN
objectClass: domain
dc: example

dn: OU=Service,$BASE_DN
objectClass: organizationalUnit
ou: Service

dn: $SVC_DN
objectClass: inetOrgPerson
cn: svc-rcptsync
sn: service
userPassword: $SVC_PW

dn: OU=Staff,$BASE_DN
objectClass: organizationalUnit
ou: Staff

EOF
}

# Generates and loads the directory of N users, starts slapd and waits until it answers.
# Sets PORT, LDAP_URL, SLAPD_PID, GEN_SECONDS and LOAD_SECONDS.
start_directory() {
    local n=$1 dir="$WORK/slapd" start
    mkdir -p "$dir/db"
    write_slapd_conf "$dir"

    log "N=$n: generating the LDIF"
    start=$(date +%s.%N)
    {
        write_base_ldif
        python3 "$BENCH_DIR/gen.py" "$n" "$BASE_DN"
    } >"$dir/data.ldif"
    GEN_SECONDS=$(calc "$(date +%s.%N) - $start")

    log "N=$n: loading it with slapadd"
    start=$(date +%s.%N)
    if ! slapadd -q -f "$dir/slapd.conf" -l "$dir/data.ldif" >"$dir/slapadd.log" 2>&1; then
        cat "$dir/slapadd.log" >&2
        die "slapadd failed"
    fi
    LOAD_SECONDS=$(calc "$(date +%s.%N) - $start")
    rm -f "$dir/data.ldif" # up to a GB for 1M users; slapd has it now

    PORT=$(free_port)
    LDAP_URL="ldap://127.0.0.1:$PORT"
    # -d 0 keeps slapd in the foreground, so $! is slapd itself and the trap can stop it.
    slapd -d 0 -h "$LDAP_URL/" -f "$dir/slapd.conf" >"$dir/slapd.log" 2>&1 &
    SLAPD_PID=$!

    local tries=0
    until ldapsearch -x -H "$LDAP_URL" -b "" -s base -LLL namingContexts >/dev/null 2>&1; do
        if ! kill -0 "$SLAPD_PID" 2>/dev/null; then
            SLAPD_PID=""
            cat "$dir/slapd.log" >&2
            die "slapd exited at startup"
        fi
        tries=$((tries + 1))
        if ((tries > 200)); then
            cat "$dir/slapd.log" >&2
            die "slapd did not answer on $LDAP_URL within 20 s"
        fi
        sleep 0.1
    done
    log "N=$n: slapd answers on $LDAP_URL"
}

# --- 1. extract vs ldapsearch ----------------------------------------------------------------

write_extract_config() {
    # bind_password_file must not be readable by group or others, or rcptsync refuses it.
    (
        umask 077
        printf '%s\n' "$SVC_PW" >"$WORK/svc.pw"
    )
    cat >"$WORK/extract.toml" <<EOF
# rcptsync extract over LDAP for the benchmark (default filter and page size).
[[source]]
name = "bench-ldap"
kind = "ldap"
servers = ["$LDAP_URL"]
base_dn = "$BASE_DN"
bind_dn = "$SVC_DN"
bind_password_file = "$WORK/svc.pw"
# The throwaway slapd has no TLS and is compared with a plain \`ldapsearch -x\`: a cleartext
# bind on loopback, allowed for this lab only (every run warns about it).
insecure_cleartext_bind = true
EOF
    extract_config_rest >>"$WORK/extract.toml"
}

# The config after the [[source]]: the same for every directory.
extract_config_rest() {
    cat <<EOF

[recipients]
domains = ["example.com", "*.corp.example.com"]

[output]
path = "$WORK/out/relay_recipients"

# Permissive: every full run starts from an empty output dir, and a benchmark must not be
# stopped by a guard.
[safety]
min_recipients = 1
max_removed = 1000000000
max_removed_percent = 100
EOF
}

ldapsearch_cmd=()
set_ldapsearch_cmd() {
    ldapsearch_cmd=(ldapsearch -x -H "$LDAP_URL" -D "$SVC_DN" -w "$SVC_PW" -b "$BASE_DN"
        -E pr=1000/noprompt -LLL "$FILTER" "${ATTRS[@]}")
}

# A process's CPU time so far (user + system), in seconds, from /proc.
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# slapd's.
slapd_cpu() {
    cpu_of "$SLAPD_PID"
}

# Empties the output dir: the map, its lock and any state file rcptsync keeps beside it, so
# that the next extract is a full one that writes the whole map.
clear_extract_output() {
    rm -rf "$WORK/out"
    mkdir -p "$WORK/out"
}

bench_extract() {
    local n=$1 run
    write_extract_config
    set_ldapsearch_cmd

    # One untimed search first, so that every timed run finds slapd's database in the page
    # cache (slapadd just wrote it; the first reader would otherwise pay for that alone).
    # It also checks that the paged search returns every user, not 1000 (the size limit).
    local entries
    if ! "${ldapsearch_cmd[@]}" >"$WORK/warmup.ldif" 2>"$WORK/last.err"; then
        cat "$WORK/last.err" >&2
        die "the first ldapsearch failed"
    fi
    entries=$(grep -c '^dn: ' "$WORK/warmup.ldif") || true
    rm -f "$WORK/warmup.ldif"
    if ((entries != n)); then
        die "ldapsearch returned $entries entries, expected $n"
    fi

    # ldapsearch and the full extract alternate, so that both see the same machine state
    # (other load, CPU frequency) rather than one getting the first RUNS and one the next.
    log "N=$n: ldapsearch vs rcptsync extract (full), $RUNS runs each"
    local before after
    for ((run = 1; run <= RUNS; run++)); do
        before=$(slapd_cpu)
        timed "$WORK/ldapsearch.samples" "${ldapsearch_cmd[@]}"
        after=$(slapd_cpu)
        echo "$(calc "$after - $before") 0" >>"$WORK/slapd-cpu.samples"
        clear_extract_output
        before=$(slapd_cpu)
        timed "$WORK/extract-full.samples" "$RCPTSYNC" extract -c "$WORK/extract.toml"
        after=$(slapd_cpu)
        echo "$(calc "$after - $before") 0" >>"$WORK/slapd-cpu-full.samples"
    done
    # slapd serves a paged search one page after the other, on one thread: its CPU time for
    # the search is a floor under any client's wall time.
    local floor
    read -r floor _ < <(stats "$WORK/slapd-cpu.samples")
    NOTES+=("slapd CPU time per full search (median, during ldapsearch): $floor s; no client of one paged search can take less")

    MAP="$WORK/out/relay_recipients"
    KEYS=$(wc -l <"$MAP")
    local expected=$((2 * n + (n + 2) / 3))
    if ((KEYS != expected)); then
        die "the map has $KEYS lines, expected $expected (2 per user plus one for every 3rd)"
    fi
    # Keep a copy: the map build benchmarks read it, and nothing may change it meanwhile.
    cp "$MAP" "$WORK/map.txt"

    # The map from the last full run is in place: this is the run cron does every time the
    # directory did not change.
    log "N=$n: rcptsync extract (no change), $RUNS runs"
    local before
    before=$(stat -c %i.%Y.%s "$MAP")
    for ((run = 1; run <= RUNS; run++)); do
        timed "$WORK/extract-nochange.samples" "$RCPTSYNC" extract -c "$WORK/extract.toml"
    done
    # The same, searching anyway (what every run costs without a change mark).
    log "N=$n: rcptsync extract --full (no change), $RUNS runs"
    for ((run = 1; run <= RUNS; run++)); do
        timed "$WORK/extract-nochange-full.samples" "$RCPTSYNC" extract --full -c "$WORK/extract.toml"
    done
    if [[ $(stat -c %i.%Y.%s "$MAP") != "$before" ]] || ! cmp -s "$MAP" "$WORK/map.txt"; then
        NOTES+=("note: the no-change extract rewrote the map")
    fi

    # slapd's own memory is not in the table (GNU time sees only the client).
    local hwm
    hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$SLAPD_PID/status" 2>/dev/null || echo "?")
    NOTES+=("slapd peak RSS (VmHWM) after all searches: $hwm MiB")
}

# --- 1b. incremental reads -----------------------------------------------------------------

# Applies round ROUND of changes (bench/gen.py --changes), untimed, as the directory's admin;
# with a second argument, only the 500 unrelated writes.
apply_round() {
    local n=$1 round=$2 unrelated_only=${3:-}
    python3 "$BENCH_DIR/gen.py" --changes "$n" "$round" "$BASE_DN" >"$WORK/round.ldif"
    if [[ -n "$unrelated_only" ]]; then
        # Drop the first 20 records (the recipient changes).
        awk 'BEGIN { RS = ""; ORS = "\n\n" } NR > 20' "$WORK/round.ldif" >"$WORK/round.tmp"
        mv "$WORK/round.tmp" "$WORK/round.ldif"
    fi
    if ! ldapmodify -x -H "$LDAP_URL" -D "CN=admin,$BASE_DN" -w "$ROOT_PW" \
        -f "$WORK/round.ldif" >/dev/null 2>"$WORK/last.err"; then
        cat "$WORK/last.err" >&2
        die "ldapmodify of round $round failed"
    fi
}

# After the full reads above (the last one built the store), RUNS rounds of changes, each
# followed by an incremental extract; then RUNS rounds of unrelated writes only.
bench_incremental() {
    local n=$1 run before after
    log "N=$n: incremental extract after 20 recipient changes + 500 unrelated writes, $RUNS runs"
    for ((run = 1; run <= RUNS; run++)); do
        apply_round "$n" "$run"
        before=$(slapd_cpu)
        timed "$WORK/extract-incremental.samples" "$RCPTSYNC" -v extract -c "$WORK/extract.toml"
        after=$(slapd_cpu)
        echo "$(calc "$after - $before") 0" >>"$WORK/slapd-cpu-incremental.samples"
        if ! grep -q "incremental (syncrepl): 520 changed object(s) read" "$WORK/last.err"; then
            cat "$WORK/last.err" >&2
            die "the run after round $run did not read the 520 changes incrementally"
        fi
    done
    log "N=$n: incremental extract after 500 unrelated writes (the map stays), $RUNS runs"
    for ((run = 1; run <= RUNS; run++)); do
        apply_round "$n" $((RUNS + run)) unrelated
        before=$(slapd_cpu)
        timed "$WORK/extract-unrelated.samples" "$RCPTSYNC" -v extract -c "$WORK/extract.toml"
        after=$(slapd_cpu)
        echo "$(calc "$after - $before") 0" >>"$WORK/slapd-cpu-unrelated.samples"
    done
    local full incremental unrelated
    read -r full _ < <(stats "$WORK/slapd-cpu-full.samples")
    read -r incremental _ < <(stats "$WORK/slapd-cpu-incremental.samples")
    read -r unrelated _ < <(stats "$WORK/slapd-cpu-unrelated.samples")
    NOTES+=("slapd CPU time (median): full extract $full s, incremental extract $incremental s ($(calc "sprintf(\"%.1f\", 100 * $incremental / ($full > 0 ? $full : 1))")% of the full read's), unrelated writes only $unrelated s")
    local wall_full wall_inc rss_full rss_inc
    read -r wall_full _ _ rss_full < <(stats "$WORK/extract-full.samples")
    read -r wall_inc _ _ rss_inc < <(stats "$WORK/extract-incremental.samples")
    NOTES+=("incremental extract vs full: wall $(calc "sprintf(\"%.1f\", 100 * $wall_inc / $wall_full)")%, client peak RSS $(calc "sprintf(\"%.1f\", 100 * $rss_inc / $rss_full)")%")
    # The store must have kept the map a full read gives.
    cp "$WORK/out/relay_recipients" "$WORK/incremental.txt"
    clear_extract_output
    "$RCPTSYNC" extract -c "$WORK/extract.toml" >/dev/null 2>&1 || die "the checking full read failed"
    cmp -s "$WORK/out/relay_recipients" "$WORK/incremental.txt" ||
        die "the incrementally kept map differs from a full read's"
    NOTES+=("the incrementally kept map equals a full read's, byte for byte: yes")
}

# --- 2. map build -----------------------------------------------------------------------------

# A minimal Postfix config dir: postmap and postconf need a main.cf; Postfix does not run.
# relay_domains covers example.com and eu.corp.example.com, so apply has nothing to warn about.
make_postfix_conf() {
    CONFDIR="$WORK/postfix"
    mkdir -p "$CONFDIR"
    cat >"$CONFDIR/main.cf" <<EOF
compatibility_level = 3.6
relay_domains = example.com, .corp.example.com
EOF
    # postconf warns about a missing master.cf; an empty one is enough.
    : >"$CONFDIR/master.cf"
}

# The file postmap builds for TYPE:PATH.
indexed_file() {
    local type=$1 path=$2
    case "$type" in
        cdb) echo "$path.cdb" ;;
        lmdb) echo "$path.lmdb" ;;
        hash) echo "$path.db" ;;
        *) die "unknown map type $type" ;;
    esac
}

# postmap -q for a few keys that must be there (first, middle and last user, an alias in the
# subdomain) and one that must not. Fails loudly on a wrong answer.
spot_check() {
    local spec=$1 n=$2 key found rc
    local keys
    mapfile -t keys < <(python3 "$BENCH_DIR/gen.py" --address 0 $((n / 2)) $((n - 1)))
    keys+=("${keys[0]%@example.com}@eu.corp.example.com") # user 0 has the second alias
    for key in "${keys[@]}"; do
        rc=0
        found=$(postmap -c "$CONFDIR" -q "$key" "$spec") || rc=$?
        if ((rc != 0)) || [[ "$found" != "OK" ]]; then
            die "spot check of $spec: $key returned '$found' (exit $rc), expected OK"
        fi
    done
    key="no.such.user@example.com"
    rc=0
    found=$(postmap -c "$CONFDIR" -q "$key" "$spec") || rc=$?
    if ((rc != 1)); then
        die "spot check of $spec: absent $key returned '$found' (exit $rc), expected not found (exit 1)"
    fi
}

# Raw postmap TYPE: on a copy of the map, rebuilding the indexed file from scratch each run.
prepare_postmap() {
    local type=$1
    mkdir -p "$WORK/postmap-$type"
    cp "$WORK/map.txt" "$WORK/postmap-$type/relay_recipients"
}

run_postmap() {
    local type=$1
    local text="$WORK/postmap-$type/relay_recipients" indexed
    indexed=$(indexed_file "$type" "$text")
    rm -f "$indexed" "$indexed-lock"
    timed "$WORK/postmap-$type.samples" postmap -c "$CONFDIR" "$type:$text"
}

# rcptsync apply --from the extracted map into TYPE:DIR/maps/relay_recipients (cdb with the
# native writer or postmap, lmdb and hash with postmap). apply also hashes the input,
# validates every line, checks relay_domains (postconf), probes the new map with postmap -q and
# keeps a .prev copy, so it is more than a build.
prepare_apply() {
    local type=$1 writer=$2
    local dir="$WORK/gateway-$type-$writer"
    mkdir -p "$dir/maps" "$dir/spool"
    chmod 0755 "$dir/spool"
    cat >"$dir/gateway.toml" <<EOF
[install]
map = "$type:$dir/maps/relay_recipients"
postfix_config_dir = "$CONFDIR"
spool = "$dir/spool"
cdb_writer = "$writer"

[safety]
min_recipients = 1
max_removed = 1000000000
max_removed_percent = 100
EOF
}

run_apply() {
    local type=$1 writer=$2
    local dir="$WORK/gateway-$type-$writer"
    # Remove the installed map (text, indexed, .prev*, .sha256, lock) so each apply builds.
    rm -rf "$dir/maps"
    mkdir -p "$dir/maps"
    timed "$WORK/apply-$type-$writer.samples" \
        "$RCPTSYNC" apply --from "$WORK/map.txt" -c "$dir/gateway.toml"
}

check_apply() {
    local n=$1 type=$2 writer=$3
    local dir="$WORK/gateway-$type-$writer"
    if ! cmp -s "$dir/maps/relay_recipients" "$WORK/map.txt"; then
        die "apply ($type, $writer) installed a text map that differs from the extracted one"
    fi
    spot_check "$type:$dir/maps/relay_recipients" "$n"
}

# Each run builds every map once, bare postmap next to the apply it is compared with, so that
# both see the same machine state (a slow spell of the VM, the page cache, writeback) rather
# than one getting the first RUNS runs and the other the next. Then, with the native cdb map
# installed, applies it again: the run the apply.path unit makes after every push that
# changed nothing.
bench_builds() {
    local n=$1 run type
    for type in cdb lmdb hash; do
        prepare_postmap "$type"
    done
    prepare_apply cdb native
    for type in cdb lmdb hash; do
        prepare_apply "$type" postmap
    done
    log "N=$n: postmap cdb/lmdb/hash and rcptsync apply, side by side, $RUNS runs each"
    for ((run = 1; run <= RUNS; run++)); do
        run_postmap lmdb
        run_apply lmdb postmap
        run_apply cdb native
        run_postmap cdb
        run_apply cdb postmap
        run_postmap hash
        run_apply hash postmap
    done
    for type in cdb lmdb hash; do
        spot_check "$type:$WORK/postmap-$type/relay_recipients" "$n"
        check_apply "$n" "$type" postmap
    done
    check_apply "$n" cdb native
    log "N=$n: rcptsync apply of the installed map, $RUNS runs"
    for ((run = 1; run <= RUNS; run++)); do
        timed "$WORK/apply-unchanged.samples" \
            "$RCPTSYNC" apply --from "$WORK/map.txt" -c "$WORK/gateway-cdb-native/gateway.toml"
    done
}

# rcptsync receive of the map as push sends it (header, then the text), into a spool: the
# gateway's forced command. Its memory must not grow with the map.
bench_receive() {
    local n=$1 run
    local spool="$WORK/receive-spool"
    mkdir -p "$spool"
    python3 - "$WORK/map.txt" "$WORK/payload" <<'PY'
import hashlib, sys
body = open(sys.argv[1], "rb").read()
count = sum(1 for l in body.split(b"\n") if l.strip() and not l.strip().startswith(b"#"))
header = (f"rcptsync-map 1\ncount: {count}\nlength: {len(body)}\n"
          f"sha256: {hashlib.sha256(body).hexdigest()}\nsource: bench\n"
          "time: 2026-01-01T00:00:00Z\n\n").encode()
open(sys.argv[2], "wb").write(header + body)
PY
    log "N=$n: rcptsync receive, $RUNS runs"
    for ((run = 1; run <= RUNS; run++)); do
        timed "$WORK/receive.samples" \
            sh -c 'exec "$0" receive --spool "$1" <"$2"' "$RCPTSYNC" "$spool" "$WORK/payload"
    done
    if ! cmp -s "$spool/relay_recipients" "$WORK/payload"; then
        die "receive stored something other than the payload"
    fi
}

# --- the table ---------------------------------------------------------------------------

row() {
    local label=$1 samples=$2 ratio_to=${3:-} ratio_name=${4:-}
    local median min max rss ratio=""
    read -r median min max rss < <(stats "$samples")
    if [[ -n "$ratio_to" ]]; then
        local ref
        read -r ref _ < <(stats "$ratio_to")
        if [[ $(calc "($ref > 0)") == 1 ]]; then
            ratio="$(calc "sprintf(\"%.2f\", $median / $ref)") × $ratio_name"
        else
            ratio="n/a (reference under 0.01 s)"
        fi
    fi
    local line
    line=$(printf '%-36s %9.2f %13s %14.1f   %s' "$label" "$median" \
        "$(calc "sprintf(\"%.2f-%.2f\", $min, $max)")" "$(calc "$rss / 1024")" "$ratio")
    # No trailing blanks on rows without a ratio.
    echo "${line%"${line##*[! ]}"}"
}

print_table() {
    local n=$1 cores cpu commit
    cores=$(nproc)
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "unknown")
    local s="$WORK"
    echo "rcptsync bench  N=$n recipients ($KEYS keys)  runs=$RUNS  $cores cores  $(date '+%Y-%m-%d %H:%M %Z')"
    printf '%-36s %9s %13s %14s   %s\n' "what" "median s" "min-max s" "peak RSS MiB" "ratio"
    row "ldapsearch (pr=1000)" "$s/ldapsearch.samples"
    row "rcptsync extract (full)" "$s/extract-full.samples" "$s/ldapsearch.samples" "ldapsearch"
    row "rcptsync extract (no change)" "$s/extract-nochange.samples" "$s/ldapsearch.samples" "ldapsearch"
    row "rcptsync extract --full (no change)" "$s/extract-nochange-full.samples" "$s/ldapsearch.samples" "ldapsearch"
    row "extract incremental (20+500 changes)" "$s/extract-incremental.samples" "$s/extract-full.samples" "full extract"
    row "extract incremental (500 unrelated)" "$s/extract-unrelated.samples" "$s/extract-full.samples" "full extract"
    row "postmap cdb" "$s/postmap-cdb.samples"
    row "postmap lmdb" "$s/postmap-lmdb.samples"
    row "postmap hash" "$s/postmap-hash.samples"
    row "rcptsync apply (native cdb)" "$s/apply-cdb-native.samples" "$s/postmap-lmdb.samples" "postmap lmdb"
    row "rcptsync apply (postmap cdb)" "$s/apply-cdb-postmap.samples" "$s/postmap-cdb.samples" "postmap cdb"
    row "rcptsync apply (lmdb)" "$s/apply-lmdb-postmap.samples" "$s/postmap-lmdb.samples" "postmap lmdb"
    row "rcptsync apply (hash)" "$s/apply-hash-postmap.samples" "$s/postmap-hash.samples" "postmap hash"
    row "rcptsync apply (installed)" "$s/apply-unchanged.samples"
    row "rcptsync receive" "$s/receive.samples"
    echo
    echo "setup: LDIF generation $(calc "sprintf(\"%.1f\", $GEN_SECONDS)") s, slapadd $(calc "sprintf(\"%.1f\", $LOAD_SECONDS)") s (not measured above)"
    local note
    for note in "${NOTES[@]}"; do
        echo "$note"
    done
    echo "peak RSS of apply with postmap (cdb/lmdb/hash) is the larger of apply's and postmap's own (GNU time); apply's own is the native-cdb row's less its cdb tables (8 bytes a key)"
    echo "cpu: $cpu; rcptsync at commit $commit (plus any uncommitted changes); slapd and the client share the cores"
}

# One line of the scaling table: per N, the median seconds and peak RSS of the main figures,
# and the seconds per million keys (which stays flat when a figure grows linearly).
scaling_row() {
    local n=$1 s="$WORK" what median rss
    local line
    line=$(printf '%9s %9s' "$n" "$KEYS")
    for what in extract-full apply-cdb-native apply-lmdb-postmap receive; do
        read -r median _ _ rss < <(stats "$s/$what.samples")
        line+=$(printf ' %8.2f %6.1f %6.2f' "$median" "$(calc "$rss / 1024")" \
            "$(calc "$median * 1000000 / $KEYS")")
    done
    echo "$line"
}

print_scaling() {
    [[ -s "$TMP_ROOT/scaling" ]] || return 0
    echo "rcptsync bench scaling  runs=$RUNS  $(date '+%Y-%m-%d %H:%M %Z')"
    echo "(each figure: median s, peak RSS MiB, s per million keys)"
    printf '%9s %9s %22s %22s %22s %22s\n' "N" "keys" "extract (full)" "apply (native cdb)" \
        "apply (lmdb)" "receive"
    cat "$TMP_ROOT/scaling"
}

# --- main ------------------------------------------------------------------------------------

bench_one() {
    local n=$1
    WORK="$TMP_ROOT/n$n"
    mkdir -p "$WORK"
    NOTES=()

    make_postfix_conf
    check_map_types "$CONFDIR"
    start_directory "$n"
    bench_extract "$n"
    bench_incremental "$n"
    stop_slapd # the map build needs no directory; give its cores back

    bench_builds "$n"
    bench_receive "$n"

    # The README says the native writer is byte-identical to postmap's cdb.
    if cmp -s "$WORK/gateway-cdb-native/maps/relay_recipients.cdb" "$WORK/postmap-cdb/relay_recipients.cdb"; then
        NOTES+=("native cdb file is byte-identical to postmap's: yes")
    else
        NOTES+=("native cdb file is byte-identical to postmap's: NO (both pass the spot checks)")
    fi

    mkdir -p "$RESULTS_DIR"
    local result
    result="$RESULTS_DIR/bench-$n-$(date +%Y%m%d-%H%M%S).txt"
    print_table "$n" | tee "$result"
    log "N=$n: table written to $result"
    echo
    scaling_row "$n" >>"$TMP_ROOT/scaling"

    rm -rf "$WORK" # up to a few GB for 1M users; the next N starts fresh
}

main() {
    local sizes=("$@")
    if ((${#sizes[@]} == 0)); then
        sizes=(100000)
    fi
    local n
    for n in "${sizes[@]}"; do
        if [[ ! "$n" =~ ^[1-9][0-9]*$ ]]; then
            usage
        fi
    done
    if [[ ! "$RUNS" =~ ^[1-9][0-9]*$ ]]; then
        die "RUNS must be a positive number, not '$RUNS'"
    fi
    if ((${EUID:-$(id -u)} != 0)); then
        log "warning: not root; the benchmark is meant to run as root (apply installs as root)"
    fi

    check_tools
    log "building rcptsync (cargo build --release)"
    (cd "$REPO" && cargo build --release) || die "cargo build --release failed"
    [[ -x "$RCPTSYNC" ]] || die "$RCPTSYNC was not built"

    TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/rcptsync-bench.XXXXXX")
    for n in "${sizes[@]}"; do
        bench_one "$n"
    done
    if ((${#sizes[@]} > 1)); then
        local result
        result="$RESULTS_DIR/scaling-$(date +%Y%m%d-%H%M%S).txt"
        print_scaling | tee "$result"
        log "scaling table written to $result"
    fi
}

# Sourced by bench/watch.sh for its helpers: then it runs nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
