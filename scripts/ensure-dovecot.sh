#!/usr/bin/env bash
# Make sure the dovecot IMAP server that tests/fixtures/dovecot.py runs is installed
# (/usr/sbin/dovecot from dovecot-imapd). Debian/Ubuntu only. Idempotent. The
# package's own service is not used: the fixture starts a private server per test.
set -euo pipefail

# openssl makes the fixture's self-signed certificate for the IMAP-over-TLS tests.
if [[ -x /usr/sbin/dovecot && -x /usr/lib/dovecot/imap ]] && command -v openssl >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-dovecot: no /usr/sbin/dovecot and no apt-get; install dovecot-imapd by hand" >&2
    exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "ensure-dovecot: installing dovecot-imapd needs root, and sudo is not available" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends dovecot-imapd openssl >/dev/null
echo "ensure-dovecot: installed dovecot-imapd"
