# A Samba AD DC as the directory of bench/watch.sh (DIRECTORY=samba); sourced by it after
# bench/run.sh, whose slapd functions the ones here replace. See bench/README.md ("watch").
#
# The DC holds the same N users as the slapd benchmark (bench/gen.py --samba), in the same
# base (realm EXAMPLE.COM, DC=example,DC=com), with the Exchange attributes the recipient
# filter reads added to the schema, as tests/it/fixture/samba.rs adds them. rcptsync binds as
# a plain domain user that may list Deleted Objects, as the README tells admins to set it up.
#
# Loading 100,000 users takes about 5 minutes (ldb's batch_mode, see samba_template). The
# loaded directory is kept, once per N and Samba version, under target/bench-samba/
# (override: SAMBA_CACHE), and each run copies it.

SAMBA_CACHE=${SAMBA_CACHE:-$REPO/target/bench-samba}
SAMBA_ADMIN_PW="Bench-Adm1n!" # a throwaway DC on loopback; not a real credential
SAMBA_SVC="svc-rcptsync"
SAMBA_SVC_PW="Bench-Svc-5ecret!"
SAMBA_SCHEMA="CN=Schema,CN=Configuration,$BASE_DN"
SAMBA_ORG="CN=Example Org,CN=Microsoft Exchange,CN=Services,CN=Configuration,$BASE_DN"
SAMBA_MDB="CN=DB01,CN=Databases,CN=Exchange Administrative Group,CN=Administrative Groups,$SAMBA_ORG"
SAMBA_PGID=""

check_samba_tools() {
    local tool missing=()
    for tool in samba samba-tool ldbadd ldbmodify ldbsearch openssl; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]} > 0)); then
        log "missing: ${missing[*]}"
        die "install with: apt-get install -y samba samba-ad-provision samba-dsdb-modules ldb-tools openssl"
    fi
}

# The Exchange attributes the default recipient filter and rcptsync's search name, and
# mailRecipient allowing them (two commits: Samba uses a schema object only once the change
# that made it is committed).
extend_samba_schema() {
    local sam=$1 dir=$2 cn name oid syntax om
    : >"$dir/attributes.ldif"
    while read -r cn name oid syntax om; do
        cat >>"$dir/attributes.ldif" <<EOF
dn: CN=$cn,$SAMBA_SCHEMA
changetype: add
objectClass: top
objectClass: attributeSchema
cn: $cn
lDAPDisplayName: $name
attributeID: $oid
attributeSyntax: $syntax
oMSyntax: $om
isSingleValued: TRUE
searchFlags: 0
EOF
        # The OM object class of DN-syntax attributes (1.3.12.2.1011.28.0.714).
        [[ "$syntax" == 2.5.5.1 ]] && echo "oMObjectClass:: KwwCh3McAIVK" >>"$dir/attributes.ldif"
        echo >>"$dir/attributes.ldif"
    done <<'EOF'
ms-Exch-Mail-Nickname mailNickname 1.2.840.113556.1.2.447 2.5.5.12 64
ms-Exch-Home-MDB homeMDB 1.2.840.113556.1.2.244 2.5.5.1 127
ms-Exch-Home-Server-Name msExchHomeServerName 1.2.840.113556.1.4.7000.102.47 2.5.5.12 64
ms-Exch-RequireAuthToSendTo msExchRequireAuthToSendTo 1.2.840.113556.1.4.5062 2.5.5.8 1
EOF
    cat >"$dir/mail-recipient.ldif" <<EOF
dn: CN=Mail-Recipient,$SAMBA_SCHEMA
changetype: modify
add: mayContain
mayContain: mailNickname
mayContain: homeMDB
mayContain: msExchHomeServerName
mayContain: msExchRequireAuthToSendTo
EOF
    local file
    for file in attributes mail-recipient; do
        ldbmodify -H "$sam" "$dir/$file.ldif" --option="dsdb:schema update allowed=true" \
            >/dev/null || die "extending Samba's schema ($file) failed"
    done
}

# Lets the service account list Deleted Objects and read what is in it (as `dsacls
# "CN=Deleted Objects,..." /G USER:LCRP` does on AD), then leaves a tombstone there, so that
# rcptsync reads deletions incrementally (tests/it/fixture/samba.rs grants it the same way).
grant_list_deleted() {
    local sam=$1 dir=$2 sid sd dacl sacl container="CN=Deleted Objects,$BASE_DN"
    sid=$(ldbsearch -H "$sam" "(sAMAccountName=$SAMBA_SVC)" objectSid | sed -n 's/^objectSid: //p')
    [[ -n "$sid" ]] || die "no objectSid for $SAMBA_SVC"
    sd=$(ldbsearch -H "$sam" --controls=show_deleted:1 -s base -b "$container" \
        nTSecurityDescriptor | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n //g' |
        sed -n 's/^nTSecurityDescriptor: //p')
    [[ -n "$sd" ]] || die "no security descriptor on $container"
    if [[ "$sd" == *S:* ]]; then
        dacl=${sd%%S:*} sacl="S:${sd#*S:}"
    else
        dacl=$sd sacl=""
    fi
    printf 'dn: %s\nchangetype: modify\nreplace: nTSecurityDescriptor\nnTSecurityDescriptor: %s(A;;LCRP;;;%s)%s\n' \
        "$container" "$dacl" "$sid" "$sacl" >"$dir/grant.ldif"
    ldbmodify -H "$sam" --controls=show_deleted:1 "$dir/grant.ldif" >/dev/null ||
        die "granting $SAMBA_SVC the right to list Deleted Objects failed"
    samba-tool user create tombstone "$SAMBA_SVC_PW" -H "$sam" >/dev/null
    samba-tool user delete tombstone -H "$sam" >/dev/null
}

# Prints the path of the loaded DC for N users, building it first if it is not cached:
# provision, schema, containers, the service account, then the users 10,000 to an ldbadd.
samba_template() {
    local n=$1 version path build sam from to start
    version=$(samba -V | sed "s/^Version //" | tr -c "A-Za-z0-9.\n" "-")
    path="$SAMBA_CACHE/dc-$n-$version"
    if [[ -d "$path" ]]; then
        echo "$path"
        return
    fi
    mkdir -p "$SAMBA_CACHE"
    build=$(mktemp -d "$SAMBA_CACHE/.build.XXXXXX")
    log "N=$n: provisioning a Samba AD DC (cached in $path once loaded)"
    samba-tool domain provision --realm=EXAMPLE.COM --domain=EXAMPLE --server-role=dc \
        --host-name=dc1 --option="interfaces=lo" --option="bind interfaces only=yes" \
        --dns-backend=NONE --backend-store=mdb --adminpass="$SAMBA_ADMIN_PW" \
        --targetdir="$build/ad" >"$build/provision.log" 2>&1 ||
        die "samba-tool domain provision failed (see $build/provision.log)"
    sam="$build/ad/private/sam.ldb"
    extend_samba_schema "$sam" "$build"
    {
        printf 'dn: OU=Staff,%s\nobjectClass: organizationalUnit\n\n' "$BASE_DN"
        local dn
        for dn in "CN=Microsoft Exchange,CN=Services,CN=Configuration,$BASE_DN" "$SAMBA_ORG" \
            "CN=Administrative Groups,$SAMBA_ORG" \
            "CN=Exchange Administrative Group,CN=Administrative Groups,$SAMBA_ORG" \
            "CN=Databases,CN=Exchange Administrative Group,CN=Administrative Groups,$SAMBA_ORG"; do
            printf 'dn: %s\nobjectClass: container\n\n' "$dn"
        done
        for dn in 1 2 3 4 5 6 7 8; do
            printf 'dn: %s\nobjectClass: container\n\n' "${SAMBA_MDB/DB01/DB0$dn}"
        done
    } >"$build/containers.ldif"
    ldbadd -H "$sam" "$build/containers.ldif" >/dev/null || die "adding the containers failed"
    samba-tool user create "$SAMBA_SVC" "$SAMBA_SVC_PW" -H "$sam" >/dev/null ||
        die "creating $SAMBA_SVC failed"
    grant_list_deleted "$sam" "$build"
    start=$(date +%s)
    for ((from = 0; from < n; from += 10000)); do
        to=$((from + 10000 < n ? from + 10000 : n))
        python3 "$BENCH_DIR/gen.py" --samba "$from" "$to" "$BASE_DN" >"$build/users.ldif"
        # batch_mode: ldb does not copy its index cache at the end of every add (which costs
        # more the more entries there are); a failed add aborts the whole batch instead.
        ldbadd -o batch_mode:1 -H "$sam" "$build/users.ldif" >/dev/null ||
            die "ldbadd of users $from..$to failed"
        log "N=$n: $to users in Samba after $(($(date +%s) - start)) s"
    done
    rm -f "$build/users.ldif"
    # smb.conf names the dir it was provisioned in; each copy's start_directory rewrites it.
    echo "$build/ad" >"$build/ad/provisioned-in"
    mv "$build/ad" "$path"
    rm -rf "$build"
    echo "$path"
}

# Replaces run.sh's start_directory: a copy of the loaded DC for N users under $WORK, with an
# LDAPS certificate for localhost from a throwaway CA, started as `samba -i` in its own
# process group (stop_samba kills the group). Sets LDAP_URL and SAMBA_CA.
start_directory() {
    local n=$1 template dest="$WORK/samba" conf
    check_samba_tools
    template=$(samba_template "$n")
    mkdir -p "$dest"
    cp -a "$template" "$dest/ad"
    mkdir -p "$dest/ad/run" "$dest/ad/cache"
    (
        cd "$dest"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout ca.key \
            -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout tls.key -out tls.csr \
            2>/dev/null
        # libldap checks "localhost" against the host's own name (tests/it/fixture/samba.rs).
        printf 'subjectAltName=DNS:localhost,DNS:%s,DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
            "$(hostname)" "$(python3 -c 'import socket; print(socket.getfqdn())')" >ext.cnf
        openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2 \
            -extfile ext.cnf -out tls.pem 2>/dev/null
        chmod 600 tls.key
    ) || die "making the DC's certificate failed"
    SAMBA_CA="$dest/ca.pem"
    conf="$dest/ad/etc/smb.conf"
    sed -i "s#$(cat "$template/provisioned-in")#$dest/ad#g" "$conf"
    # Only the directory services run, every runtime path inside $dest (as the test fixture).
    python3 - "$conf" "$dest" <<'PYEOF'
import sys
conf, dest = sys.argv[1], sys.argv[2]
ad = f"{dest}/ad"
extra = {
    "server services": "rpc, ldap, cldap, kdc, drepl, kcc",
    "rpc server dynamic port range": "21000-21999",
    "tls enabled": "yes",
    "tls keyfile": f"{dest}/tls.key",
    "tls certfile": f"{dest}/tls.pem",
    "tls cafile": f"{dest}/ca.pem",
    "pid directory": f"{ad}/run",
    "ncalrpc dir": f"{ad}/run/ncalrpc",
    "winbindd socket directory": f"{ad}/run/winbindd",
    "ntp signd socket directory": f"{ad}/run/ntp_signd",
    "log file": f"{ad}/log.%m",
}
out = []
for line in open(conf):
    key = line.split("=", 1)[0].strip().lower() if "=" in line else None
    if key in extra:
        continue
    out.append(line)
    if line.strip().lower() == "[global]":
        out += [f"\t{k} = {v}\n" for k, v in extra.items()]
open(conf, "w").write("".join(out))
PYEOF
    LDAP_URL="ldaps://localhost:636"
    setsid samba -s "$conf" -i -d 1 </dev/null >"$dest/samba.log" 2>&1 &
    SAMBA_PGID=$!
    local tries=0
    until LDAPTLS_CACERT=$SAMBA_CA ldapsearch -x -H "$LDAP_URL" -b "" -s base -LLL namingContexts \
        >/dev/null 2>&1; do
        kill -0 "$SAMBA_PGID" 2>/dev/null || die "samba exited at startup (see $dest/samba.log)"
        tries=$((tries + 1))
        ((tries > 600)) && die "samba did not answer on $LDAP_URL within 60 s (see $dest/samba.log)"
        sleep 0.1
    done
    log "N=$n: Samba answers on $LDAP_URL"
}

stop_samba() {
    if [[ -n "$SAMBA_PGID" ]]; then
        kill -KILL -- "-$SAMBA_PGID" 2>/dev/null || true
        wait "$SAMBA_PGID" 2>/dev/null || true
        SAMBA_PGID=""
    fi
}

# The CPU time (user + system) of every process of the DC so far, in seconds.
directory_cpu() {
    local pid total=0
    for pid in $(pgrep -g "$SAMBA_PGID"); do
        total=$(calc "$total + $(cpu_of "$pid" 2>/dev/null || echo 0)")
    done
    echo "$total"
}

# Replaces run.sh's: the LDAPS source as the plain domain user, over the whole domain.
write_extract_config() {
    (
        umask 077
        printf '%s\n' "$SAMBA_SVC_PW" >"$WORK/svc.pw"
    )
    cat >"$WORK/extract.toml" <<EOF
# rcptsync watch on a Samba AD DC for the benchmark (default filter and page size).
[[source]]
name = "bench-samba"
kind = "ldap"
servers = ["$LDAP_URL"]
ca_file = "$SAMBA_CA"
base_dn = "$BASE_DN"
bind_dn = "CN=$SAMBA_SVC,CN=Users,$BASE_DN"
bind_password_file = "$WORK/svc.pw"
EOF
    extract_config_rest >>"$WORK/extract.toml"
}

# Replace watch.sh's: new mailbox user `watch$1`, and its deletion, as the administrator.
add_mailbox() {
    LDAPTLS_CACERT=$SAMBA_CA ldapadd -x -H "$LDAP_URL" -D "Administrator@example.com" \
        -w "$SAMBA_ADMIN_PW" >/dev/null <<EOF
dn: CN=watch$1,OU=Staff,$BASE_DN
objectClass: user
sAMAccountName: watch$1
mailNickname: watch$1
homeMDB: $SAMBA_MDB
userAccountControl: 512
proxyAddresses: SMTP:watch$1@example.com
EOF
}

delete_mailbox() {
    LDAPTLS_CACERT=$SAMBA_CA ldapdelete -x -H "$LDAP_URL" -D "Administrator@example.com" \
        -w "$SAMBA_ADMIN_PW" "CN=watch$1,OU=Staff,$BASE_DN"
}
