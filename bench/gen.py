#!/usr/bin/env python3
"""Writes an AD-like LDIF of N Exchange mailbox users to stdout, for bench/run.sh.

Usage: bench/gen.py N [BASE_DN]        the LDIF
       bench/gen.py --samba FROM TO BASE_DN
                                       users FROM..TO-1 as a Samba AD DC takes them
       bench/gen.py --address I ...    the primary address of user I (lower case, as in the
                                       map), for run.sh's spot checks
       bench/gen.py --changes N ROUND [BASE_DN]
                                       ldapmodify input for one round of the incremental case:
                                       20 recipient changes (an alias added to 20 users) and
                                       500 unrelated writes (telephoneNumber of 500 other
                                       users), picked from the N users by ROUND

Only the recipients are written (CN=...,OU=Staff,BASE_DN); run.sh writes the suffix, the OUs
and the service account before them. The output is deterministic: every value is derived from
the entry's index, so two runs with the same N produce the same file (and the same map).

Each user i has 3 to 5 proxyAddresses, like a mailbox in Exchange:
  SMTP:First.Last{i}@example.com         primary address (always)
  smtp:flast{i}@example.com              an alias (always)
  X500:/o=ExchangeLabs/.../cn=...        legacy DN (always; not a mail address)
  SIP:first.last{i}@example.com          Skype/Teams address (every 2nd user; not mail)
  smtp:first.last{i}@eu.corp.example.com second alias in a subdomain (every 3rd user)
So the map gets 2 keys per user plus one for every 3rd user: 2*N + ceil(N/3) keys.
"""

import hashlib
import sys

FIRST = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas",
    "Karin", "Lukas", "Marie", "Noah", "Olga", "Paul", "Rosa", "Simon", "Tina", "Uwe",
    "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Ahmed", "Chloe", "Dmitri", "Elif", "Jose",
    "Mei", "Priya",
]
LAST = [
    "Schmidt", "Mueller", "Meyer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch",
    "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krueger",
    "Hartmann", "Lange", "Werner", "Krause", "Lehmann", "Koehler", "Martin", "Garcia",
    "Smith", "Jones", "Nguyen", "Kowalski", "Rossi", "Dubois", "Yilmaz", "Tanaka",
    "Oconnor", "Silva", "Novak", "Larsen", "Jansen", "Popescu", "Horvat", "Berg",
]


def names(i: int) -> tuple[str, str, str]:
    """User i's first name, last name and mailNickname (First.Last{i})."""
    first = FIRST[i % len(FIRST)]
    # A different stride for the last name, so first/last combinations vary.
    last = LAST[(i // len(FIRST) + i) % len(LAST)]
    return first, last, f"{first}.{last}{i}"


def entry(i: int, base_dn: str, samba: bool = False) -> str:
    """The LDIF record of user i (ends with a blank line). For Samba (`samba`), as an AD DC
    takes it: no auxiliary class (the Exchange attributes are allowed on mailRecipient by the
    schema extension bench/samba.sh adds), a sAMAccountName, and no objectCategory (the DC
    sets it)."""
    first, last, nick = names(i)
    primary = f"{nick}@example.com"
    proxies = [
        f"SMTP:{primary}",
        f"smtp:{first[0].lower()}{last.lower()}{i}@example.com",
        # Exchange's legacyExchangeDN form, with a 32-hex-digit id like Exchange Online writes
        # (derived from i, so the output stays deterministic).
        "X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)"
        f"/cn=Recipients/cn={hashlib.md5(str(i).encode()).hexdigest()}-{nick.lower()}",
    ]
    if i % 2 == 0:
        proxies.append(f"SIP:{nick.lower()}@example.com")
    if i % 3 == 0:
        proxies.append(f"smtp:{nick.lower()}@eu.corp.example.com")
    cn = f"{first} {last}{i}"
    lines = [f"dn: CN={cn},OU=Staff,{base_dn}", "objectClass: user"]
    lines += [f"sAMAccountName: u{i}"] if samba else ["objectClass: exchangeRecipient"]
    lines += [
        f"cn: {cn}",
        f"sn: {last}",
        f"givenName: {first}",
        f"displayName: {first} {last}",
        f"mailNickname: {nick}",
        f"mail: {primary}",
        f"homeMDB: CN=DB{i % 8 + 1:02d},CN=Databases,CN=Exchange Administrative Group,"
        f"CN=Administrative Groups,CN=Example Org,CN=Microsoft Exchange,CN=Services,"
        f"CN=Configuration,{base_dn}",
        "userAccountControl: 512",
    ]
    if not samba:
        lines.insert(lines.index(f"mailNickname: {nick}"), "objectCategory: person")
    lines += [f"proxyAddresses: {p}" for p in proxies]
    return "\n".join(lines) + "\n\n"


def dn(i: int, base_dn: str) -> str:
    """User i's DN."""
    first, last, _ = names(i)
    return f"CN={first} {last}{i},OU=Staff,{base_dn}"


def changes(n: int, round_: int, base_dn: str) -> str:
    """One round of the incremental case: 20 recipients get a new alias, 500 other users a new
    telephoneNumber (an attribute no recipient rule reads), every user at most once."""
    step = max(n // 520, 1)
    picked = [(round_ * 7919 + k * step) % n for k in range(520)]
    out = []
    for k, i in enumerate(picked):
        if k < 20:
            change = f"add: proxyAddresses\nproxyAddresses: smtp:r{round_}.u{i}@example.com"
        else:
            change = f"replace: telephoneNumber\ntelephoneNumber: +49 30 {round_:04d}{k:04d}"
        out.append(f"dn: {dn(i, base_dn)}\nchangetype: modify\n{change}\n-\n\n")
    return "".join(out)


def main() -> int:
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--changes":
        base_dn = sys.argv[4] if len(sys.argv) == 5 else "DC=example,DC=com"
        sys.stdout.write(changes(int(sys.argv[2]), int(sys.argv[3]), base_dn))
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "--samba":
        first, end = int(sys.argv[2]), int(sys.argv[3])
        sys.stdout.write("".join(entry(i, sys.argv[4], samba=True) for i in range(first, end)))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "--address":
        for arg in sys.argv[2:]:
            print(f"{names(int(arg))[2].lower()}@example.com")
        return 0
    if len(sys.argv) not in (2, 3) or not sys.argv[1].isdigit():
        print("usage: gen.py N [BASE_DN]", file=sys.stderr)
        return 2
    n = int(sys.argv[1])
    base_dn = sys.argv[2] if len(sys.argv) == 3 else "DC=example,DC=com"
    out = sys.stdout
    # Buffered chunks: one write per entry is the slow part for a million entries.
    chunk = []
    for i in range(n):
        chunk.append(entry(i, base_dn))
        if len(chunk) == 10000:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
