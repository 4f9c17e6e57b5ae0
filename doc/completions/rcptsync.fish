# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rcptsync_global_optspecs
    string join \n c/config= q/quiet v/verbose h/help V/version
end

function __fish_rcptsync_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rcptsync_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rcptsync_using_subcommand
    set -l cmd (__fish_rcptsync_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rcptsync -n "__fish_rcptsync_needs_command" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_needs_command" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -s V -l version -d 'Print version'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "extract" -d 'Read the sources, apply the recipient rules, write the map and print what changed'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "push" -d 'Send the current map to every `[[gateway]]` over ssh, in parallel, only if it changed'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "sync" -d 'Extract, then push (only when the extract succeeded, or held removals back)'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "watch" -d 'Keep the map and every gateway in step with the directory, as a service'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "receive" -d 'On the gateway, as the SSH forced command: read one map from stdin into the spool'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "apply" -d 'On the gateway, as root: validate the spooled map, build it, swap it in, reload if needed'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "verify" -d 'Probe the gateway over SMTP: unknown addresses must be refused, canaries accepted'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "check" -d 'Check the config as every command would take it, and every file it names'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "doctor" -d 'Check the gateway\'s Postfix settings against the relay-gateway checklist'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "prune" -d 'Remove proxyAddresses in excluded domains from the directory (dry run unless --apply)'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "status" -d 'Show the state of the map, its sources and gateways, or of a gateway\'s installed map'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "review" -d 'Show the change a removal guard holds back: its ID, since when, which guard, the removals by domain and by source, and a sample of the addresses (all with -v)'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "approve" -d 'Let exactly the held change ID through: the next sync removes those addresses and pushes the approval, which the gateways honour once'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "import-ini" -d 'Convert the legacy Perl script\'s relay_recipients.ini to rcptsync TOML (on stdout, or -o FILE)'
complete -c rcptsync -n "__fish_rcptsync_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand extract" -l dump-entries -d 'Also write every entry the directory sources returned, as LDIF, to this new file (mode 0600; it holds addresses): a `kind = "ldif"` source that reproduces the run, for a bug report or a test case. Implies --full' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand extract" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand extract" -l dry-run -d 'Show what would change, change nothing'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand extract" -l force -d 'Override a safety guard (logged loudly); use only for an intended mass change'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand extract" -l full -d 'Read every source in full: even when it reports no change since the last full run, and where it could read only the changes (this rebuilds the store beside the map)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand extract" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand extract" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand extract" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand push" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand push" -l dry-run -d 'Say where the map would go, push nothing'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand push" -l resend -d 'Push even to a gateway that already acknowledged this map (after it lost its spool, or to test the path); with --dry-run, say so'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand push" -l force -d 'The old spelling of --resend, kept for one release (with a warning)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand push" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand push" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -l dump-entries -d 'Also write every entry the directory sources returned, as LDIF, to this new file (mode 0600; it holds addresses): a `kind = "ldif"` source that reproduces the run, for a bug report or a test case. Implies --full' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -l dry-run -d 'Show what would change, change nothing'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -l force -d 'Override a safety guard (logged loudly); use only for an intended mass change'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -l full -d 'Read every source in full: even when it reports no change since the last full run, and where it could read only the changes (this rebuilds the store beside the map)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -l resend -d 'Push even to a gateway that already acknowledged this map'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand watch" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand watch" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand watch" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand receive" -l spool -d 'The spool directory (apply\'s `[install].spool`)' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand receive" -l max-bytes -d 'Refuse maps larger than this many bytes' -r
complete -c rcptsync -n "__fish_rcptsync_using_subcommand receive" -l timeout -d 'Give up on a sender that has not delivered a complete map within this time' -r
complete -c rcptsync -n "__fish_rcptsync_using_subcommand receive" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand receive" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand receive" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand receive" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -l from -d 'Apply this map file (a plain map, or a payload as receive stores it) instead of the spooled one; it gets the same checks' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -l dry-run -d 'Show what would change, change nothing'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -l force -d 'Override a safety guard (logged loudly); use only for an intended mass change'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -l rollback -d 'Swap the installed map with the previous one (PATH.prev); run again to undo'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -l freshness -d 'Leave the spooled map alone: only take a confirmation that the installed map is current, and switch unknown recipients between 550 and 450 by how long ago it was ([install].stale_after; rcptsync-apply.timer runs this)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand verify" -l smtp -d 'The SMTP server to probe; port 25 unless one is given (`[IPv6]:PORT` for IPv6)' -r
complete -c rcptsync -n "__fish_rcptsync_using_subcommand verify" -l ca-file -d 'CA certificates to verify the gateway\'s STARTTLS certificate with [default: the system trust store]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand verify" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand verify" -l starttls -d 'Upgrade the session with STARTTLS first (the certificate is verified)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand verify" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand verify" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand check" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand check" -l connect -d 'Also connect: bind to each source and read one entry (and see that the server pages searches and offers the change feed), and open an ssh session to each gateway\'s receive without sending a map. Exit 1 when one fails'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand check" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand check" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand doctor" -l config-dir -d 'Postfix\'s configuration directory [default: the config\'s install.postfix_config_dir, else /etc/postfix]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand doctor" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand doctor" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand doctor" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand prune" -l undo -d 'Where to write the undo LDIF [default: rcptsync-prune-undo-TIME.ldif]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand prune" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand prune" -l apply -d 'Really change the directory (without it: list what would be removed)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand prune" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand prune" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand status" -l warning -d 'With --plugin: WARNING when the map was last found current (on a gateway: confirmed) longer ago than this' -r
complete -c rcptsync -n "__fish_rcptsync_using_subcommand status" -l critical -d 'With --plugin: CRITICAL when longer ago than this' -r
complete -c rcptsync -n "__fish_rcptsync_using_subcommand status" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand status" -l json -d 'Print JSON (for scripts and monitoring) instead of text'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand status" -l plugin -d 'Report as a monitoring plugin: one line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (a usage or config error too)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand status" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand status" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand review" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand review" -l json -d 'Print JSON (for scripts) instead of text'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand review" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand review" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand review" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand approve" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand approve" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand approve" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand approve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand import-ini" -l password-file -d 'Where to write the bind password' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand import-ini" -s o -l output -d 'Write the TOML to this file instead of stdout (refused if it exists, unless --overwrite)' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand import-ini" -s c -l config -d 'The configuration file [default: /etc/rcptsync/rcptsync.toml]' -r -F
complete -c rcptsync -n "__fish_rcptsync_using_subcommand import-ini" -l overwrite -d 'Replace an existing -o FILE (the password file is never overwritten)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand import-ini" -l force -d 'The old spelling of --overwrite, kept for one release (with a warning)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand import-ini" -s q -l quiet -d 'Print only errors'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand import-ini" -s v -l verbose -d 'Say more: a summary even when nothing changed (-v), details of every decision (-vv)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand import-ini" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "extract" -d 'Read the sources, apply the recipient rules, write the map and print what changed'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "push" -d 'Send the current map to every `[[gateway]]` over ssh, in parallel, only if it changed'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "sync" -d 'Extract, then push (only when the extract succeeded, or held removals back)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "watch" -d 'Keep the map and every gateway in step with the directory, as a service'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "receive" -d 'On the gateway, as the SSH forced command: read one map from stdin into the spool'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "apply" -d 'On the gateway, as root: validate the spooled map, build it, swap it in, reload if needed'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "verify" -d 'Probe the gateway over SMTP: unknown addresses must be refused, canaries accepted'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "check" -d 'Check the config as every command would take it, and every file it names'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "doctor" -d 'Check the gateway\'s Postfix settings against the relay-gateway checklist'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "prune" -d 'Remove proxyAddresses in excluded domains from the directory (dry run unless --apply)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "status" -d 'Show the state of the map, its sources and gateways, or of a gateway\'s installed map'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "review" -d 'Show the change a removal guard holds back: its ID, since when, which guard, the removals by domain and by source, and a sample of the addresses (all with -v)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "approve" -d 'Let exactly the held change ID through: the next sync removes those addresses and pushes the approval, which the gateways honour once'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "import-ini" -d 'Convert the legacy Perl script\'s relay_recipients.ini to rcptsync TOML (on stdout, or -o FILE)'
complete -c rcptsync -n "__fish_rcptsync_using_subcommand help; and not __fish_seen_subcommand_from extract push sync watch receive apply verify check doctor prune status review approve import-ini help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
