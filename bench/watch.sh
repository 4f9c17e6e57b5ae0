#!/usr/bin/env bash
# rcptsync watch benchmark; see bench/README.md ("watch").
#
# Usage: bench/watch.sh [N]            (default: 100000 recipients)
#        CHANGES=20 IDLE=600 SOAK=1800 bench/watch.sh 100000
#        DIRECTORY=samba bench/watch.sh 100000
#
# Loads the same synthetic directory as bench/run.sh into a throwaway slapd (syncprov), or with
# DIRECTORY=samba into a Samba AD DC (bench/samba.sh), starts `rcptsync watch` on it, and
# measures:
#   - latency: CHANGES new mailboxes, one every 3 s; for each, the time from ldapadd's return
#     to the address being in the map on disk, in the spool of a gateway on loopback (sshd
#     with receive as its forced command, as contrib/authorized_keys sets it up), and accepted
#     (250) by that gateway's smtpd: a private Postfix whose relay_recipient_maps is the cdb
#     map `rcptsync apply` installs, run as soon as the spool changes as
#     rcptsync-apply.path does: median and worst;
#   - idle cost: IDLE seconds with no change; watch's CPU time and the directory server's (each
#     as a share of one core; for Samba all its processes, its own housekeeping included), and
#     watch's RSS at the start and the end;
#   - soak: SOAK seconds with a change every 3 s (an add, then the delete of the one before);
#     watch's RSS every 30 s (first, last, peak) and its CPU share.
# Prints a table and writes it to bench/results/watch[-samba]-N-TIMESTAMP.txt.

set -euo pipefail

# The directory, slapd and helpers of bench/run.sh (it runs nothing when sourced).
# shellcheck source=bench/run.sh
source "$(dirname "${BASH_SOURCE[0]}")/run.sh"

DIRECTORY=${DIRECTORY:-slapd}
case "$DIRECTORY" in
slapd)
    DIRECTORY_NAME="slapd with syncprov"
    directory_cpu() { cpu_of "$SLAPD_PID"; }
    stop_samba() { :; }
    ;;
samba)
    DIRECTORY_NAME="Samba $(samba -V 2>/dev/null | sed 's/^Version //') AD DC"
    # shellcheck source=bench/samba.sh
    source "$BENCH_DIR/samba.sh"
    ;;
*) die "DIRECTORY must be slapd or samba, not '$DIRECTORY'" ;;
esac

PATH="$PATH:/usr/sbin"
CHANGES=${CHANGES:-20}
IDLE=${IDLE:-600}
SOAK=${SOAK:-1800}
WATCH_PID=""

stop_watch() {
    if [[ -n "$WATCH_PID" ]]; then
        kill "$WATCH_PID" 2>/dev/null || true
        wait "$WATCH_PID" 2>/dev/null || true
        WATCH_PID=""
    fi
}
trap 'stop_watch; stop_postfix; stop_samba; [[ -n "$SSHD_PID" ]] && kill "$SSHD_PID"; cleanup' EXIT

# "MEDIAN WORST" of the numbers given.
summary() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        print m, a[NR] }'
}

# A process's resident memory now, in KiB.
rss_of() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Adds mailbox user `watch$1` as the rootdn (bench/samba.sh has its own for Samba).
[[ "$DIRECTORY" == samba ]] || add_mailbox() {
    ldapadd -x -H "$LDAP_URL" -D "CN=admin,$BASE_DN" -w "$ROOT_PW" >/dev/null <<EOF
dn: CN=watch$1,OU=Staff,$BASE_DN
objectClass: user
objectClass: exchangeRecipient
cn: watch$1
sn: watch$1
objectCategory: person
mailNickname: watch$1
homeMDB: CN=DB01
userAccountControl: 512
proxyAddresses: SMTP:watch$1@example.com
EOF
}

[[ "$DIRECTORY" == samba ]] || delete_mailbox() {
    ldapdelete -x -H "$LDAP_URL" -D "CN=admin,$BASE_DN" -w "$ROOT_PW" "CN=watch$1,OU=Staff,$BASE_DN"
}

# Whether `watch$1` is in file $2 (the map, or the spool's payload).
mapped() {
    grep -q "^watch$1@example.com " "$2"
}

# Waits up to 60 s for `watch$1` to be in file $3; prints the seconds since $2.
wait_mapped() {
    local i=$1 start=$2 file=${3:-$WORK/out/relay_recipients}
    for _ in $(seq 6000); do
        if mapped "$i" "$file"; then
            calc "$(date +%s.%N) - $start"
            return
        fi
        sleep 0.01
    done
    die "watch$i did not reach the map within 60 s (see $WORK/watch.log)"
}

# sshd on loopback whose key runs `rcptsync receive --spool $WORK/gateway/spool`, and the
# [[gateway]] table for it, appended to the extract config. Sets SSHD_PID.
SSHD_PID=""
start_gateway() {
    local dir="$WORK/gateway" port
    mkdir -p "$dir/spool" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C bench -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -C bench -f "$dir/client_key"
    printf 'restrict,command="%s receive --spool %s" %s\n' "$RCPTSYNC" "$dir/spool" \
        "$(cat "$dir/client_key.pub")" >"$dir/authorized_keys"
    port=$(free_port)
    cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin forced-commands-only
EOF
    printf '[127.0.0.1]:%s %s\n' "$port" "$(cat "$dir/host_key.pub")" >"$dir/known_hosts"
    "$(command -v sshd)" -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
    SSHD_PID=$!
    cat >>"$WORK/extract.toml" <<EOF

[[gateway]]
name = "bench"
host = "127.0.0.1"
port = $port
user = "root"
identity_file = "$dir/client_key"
known_hosts = "$dir/known_hosts"
EOF
    sleep 1
}

# A private Postfix for the gateway: smtpd on loopback, relay_recipient_maps the cdb map that
# `rcptsync apply` installs from the spool, and a loop that runs apply whenever receive
# replaced the spool file (a new inode), as rcptsync-apply.path does. Sets POSTFIX_PORT.
POSTFIX_DIR="" APPLY_PID="" POSTFIX_PORT=""
start_postfix() {
    local d="$WORK/gateway/postfix"
    mkdir -p "$d/etc" "$d/maps" "$d/queue" "$d/data"
    # Postfix's daemons run as postfix and must reach the queue and the map.
    chmod 755 "$TMP_ROOT" "$WORK" "$WORK/gateway" "$d" "$d/maps"
    chown postfix "$d/data"
    POSTFIX_PORT=$(free_port)
    printf '%s\n' "compatibility_level = 3.6" "queue_directory = $d/queue" \
        "data_directory = $d/data" "maillog_file = $d/maillog" "maillog_file_prefixes = $d" \
        "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" "myhostname = mx.bench.test" \
        "mydestination =" "local_recipient_maps =" "relay_domains = example.com" \
        "relay_recipient_maps = cdb:$d/maps/relay_recipients" \
        "smtpd_relay_restrictions = reject_unauth_destination" "smtpd_error_sleep_time = 0" \
        "smtpd_soft_error_limit = 100000" "smtpd_hard_error_limit = 100000" >"$d/etc/main.cf"
    printf '%s\n' "127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd" \
        "pickup unix n - n 60 1 pickup" "cleanup unix n - n - 0 cleanup" \
        "qmgr unix n - n 300 1 qmgr" "rewrite unix - - n - - trivial-rewrite" \
        "bounce unix - - n - 0 bounce" "defer unix - - n - 0 bounce" \
        "trace unix - - n - 0 bounce" "verify unix - - n - 1 verify" \
        "proxymap unix - - n - - proxymap" "smtp unix - - n - - smtp" \
        "relay unix - - n - - smtp" "error unix - - n - - error" \
        "retry unix - - n - - error" "discard unix - - n - - discard" \
        "anvil unix - - n - 1 anvil" "scache unix - - n - 1 scache" \
        "postlog unix-dgram n - n - 1 postlogd" >"$d/etc/master.cf"
    printf '%s\n' "[install]" "spool = \"$WORK/gateway/spool\"" \
        "map = \"cdb:$d/maps/relay_recipients\"" "postfix_config_dir = \"$d/etc\"" \
        >"$WORK/gateway.toml"
    postfix -c "$d/etc" start >/dev/null 2>&1 || die "postfix did not start (see $d/maillog)"
    POSTFIX_DIR=$d
    (
        last=""
        while :; do
            now=$(stat -c %i "$WORK/gateway/spool/relay_recipients" 2>/dev/null || true)
            if [[ -n "$now" && "$now" != "$last" ]]; then
                last=$now
                "$RCPTSYNC" apply -c "$WORK/gateway.toml" >>"$d/apply.log" 2>&1 || true
            fi
            sleep 0.05
        done
    ) &
    APPLY_PID=$!
}

stop_postfix() {
    if [[ -n "$APPLY_PID" ]]; then
        kill "$APPLY_PID" 2>/dev/null || true
    fi
    if [[ -n "$POSTFIX_DIR" ]]; then
        postfix -c "$POSTFIX_DIR/etc" abort >/dev/null 2>&1 || true
    fi
    APPLY_PID="" POSTFIX_DIR=""
}

# The Python that waits for the gateway's smtpd to answer RCPT TO:<ADDRESS> with 250 (argv:
# PORT ADDRESS START), polling every 20 ms for 60 s; prints the seconds since START.
ACCEPTED_PY='
import smtplib, sys, time
port, rcpt, start = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
deadline = time.time() + 60
while time.time() < deadline:
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
    smtp.ehlo("bench.test")
    smtp.mail("")
    code, _ = smtp.rcpt(rcpt)
    smtp.quit()
    if code == 250:
        print(f"{time.time() - start:.3f}")
        sys.exit(0)
    time.sleep(0.02)
sys.exit(1)
'

# Waits up to 60 s for the gateway's smtpd to accept `watch$1`; prints the seconds since $2.
wait_accepted() {
    python3 -c "$ACCEPTED_PY" "$POSTFIX_PORT" "watch$1@example.com" "$2" ||
        die "watch$1 was not accepted by the gateway's smtpd within 60 s (see $POSTFIX_DIR/apply.log)"
}

main_watch() {
    local n=${1:-100000}
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$n'"
    check_tools
    log "building rcptsync (cargo build --release)"
    (cd "$REPO" && cargo build --release) || die "cargo build --release failed"
    TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/rcptsync-bench.XXXXXX")
    WORK="$TMP_ROOT/n$n"
    mkdir -p "$WORK/out"
    start_directory "$n"
    write_extract_config
    start_gateway
    start_postfix
    local spool="$WORK/gateway/spool/relay_recipients"

    log "N=$n: starting watch"
    "$RCPTSYNC" -v watch -c "$WORK/extract.toml" >"$WORK/watch.out" 2>"$WORK/watch.log" &
    WATCH_PID=$!
    for _ in $(seq 6000); do
        [[ -s "$spool" ]] && break
        kill -0 "$WATCH_PID" || die "watch exited: $(cat "$WORK/watch.log")"
        sleep 0.1
    done
    sleep 5 # the first runs and the follow search settle

    log "N=$n: latency of $CHANGES new mailboxes, one every 3 s"
    local i start latencies=() spooled=() accepted=()
    for i in $(seq "$CHANGES"); do
        add_mailbox "$i"
        start=$(date +%s.%N)
        latencies+=("$(wait_mapped "$i" "$start")")
        spooled+=("$(wait_mapped "$i" "$start" "$spool")")
        accepted+=("$(wait_accepted "$i" "$start")")
        sleep 3
    done
    local median worst spool_median spool_worst smtpd_median smtpd_worst
    read -r median worst < <(summary "${latencies[@]}")
    read -r spool_median spool_worst < <(summary "${spooled[@]}")
    read -r smtpd_median smtpd_worst < <(summary "${accepted[@]}")

    log "N=$n: $IDLE s idle"
    local w0 s0 r0 w1 s1 r1
    w0=$(cpu_of "$WATCH_PID") s0=$(directory_cpu) r0=$(rss_of "$WATCH_PID")
    sleep "$IDLE"
    w1=$(cpu_of "$WATCH_PID") s1=$(directory_cpu) r1=$(rss_of "$WATCH_PID")
    local idle_watch idle_directory
    idle_watch=$(calc "100 * ($w1 - $w0) / $IDLE")
    idle_directory=$(calc "100 * ($s1 - $s0) / $IDLE")

    log "N=$n: $SOAK s soak, a change every 3 s"
    local soak_start rss_first rss_last rss_peak=0 rss next_sample c0 changes=0
    soak_start=$(date +%s)
    c0=$(cpu_of "$WATCH_PID")
    rss_first=$(rss_of "$WATCH_PID")
    next_sample=$((soak_start + 30))
    i=1000
    while (($(date +%s) < soak_start + SOAK)); do
        i=$((i + 1))
        add_mailbox "$i"
        if ((i > 1001)); then
            delete_mailbox "$((i - 1))"
        fi
        changes=$((changes + 1))
        kill -0 "$WATCH_PID" || die "watch exited during the soak: $(tail "$WORK/watch.log")"
        if (($(date +%s) >= next_sample)); then
            rss=$(rss_of "$WATCH_PID")
            ((rss > rss_peak)) && rss_peak=$rss
            next_sample=$((next_sample + 30))
        fi
        sleep 3
    done
    wait_mapped "$i" "$(date +%s.%N)" >/dev/null
    rss_last=$(rss_of "$WATCH_PID")
    ((rss_last > rss_peak)) && rss_peak=$rss_last
    local soak_cpu
    soak_cpu=$(calc "100 * ($(cpu_of "$WATCH_PID") - $c0) / $SOAK")
    stop_watch

    mkdir -p "$RESULTS_DIR"
    local result tag=""
    if [[ "$DIRECTORY" == samba ]]; then
        tag="-samba"
    fi
    result="$RESULTS_DIR/watch$tag-$n-$(date +%Y%m%d-%H%M%S).txt"
    {
        echo "rcptsync watch, N=$n recipients, $DIRECTORY_NAME on loopback ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
        echo
        printf 'latency, ldapadd to the map on disk (%d changes): median %.2f s, worst %.2f s\n' \
            "$CHANGES" "$median" "$worst"
        printf 'latency, ldapadd to the gateway spool over ssh: median %.2f s, worst %.2f s\n' \
            "$spool_median" "$spool_worst"
        printf 'latency, ldapadd to a 250 from the gateway smtpd (after apply): median %.2f s, worst %.2f s\n' \
            "$smtpd_median" "$smtpd_worst"
        printf 'idle %d s: watch CPU %.3f%% of a core, %s CPU %.3f%% of a core, watch RSS %d -> %d KiB\n' \
            "$IDLE" "$idle_watch" "$DIRECTORY" "$idle_directory" "$r0" "$r1"
        printf 'soak %d s, %d changes: watch RSS first %d, last %d, peak %d KiB; CPU %.2f%% of a core\n' \
            "$SOAK" "$changes" "$rss_first" "$rss_last" "$rss_peak" "$soak_cpu"
    } | tee "$result"
    log "written to $result"
}

main_watch "$@"
