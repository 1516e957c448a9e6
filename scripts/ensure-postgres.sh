#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries that tests/fixtures/postgres.py runs
# (initdb, pg_ctl under /usr/lib/postgresql/<version>/bin) are installed, and that
# the `postgres` OS user exists (initdb refuses root, so root runs it as that user).
# Debian/Ubuntu only. Idempotent: does nothing but check when already set up.
set -euo pipefail

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    as_root=()
fi

need_root() {
    if [[ $(id -u) -ne 0 && ${#as_root[@]} -eq 0 ]]; then
        echo "ensure-postgres: $1 needs root, and sudo is not available" >&2
        exit 1
    fi
}

actions=()

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure-postgres: no PostgreSQL server under /usr/lib/postgresql and no apt-get;" \
            "install the PostgreSQL server package by hand" >&2
        exit 1
    fi
    need_root "installing PostgreSQL"

    # Forbid service starts during the install: the tests run their own server,
    # and without systemd (containers) a start attempt can only fail. An existing
    # policy is respected and left alone.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        "${as_root[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        trap '"${as_root[@]}" rm -f "$policy"' EXIT
    fi

    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || {
        echo "ensure-postgres: installed the postgresql package but found no initdb" >&2
        exit 1
    }
    actions+=("installed the postgresql package")
fi

if ! getent passwd postgres >/dev/null; then
    need_root "creating the postgres OS user"
    "${as_root[@]}" useradd --system --user-group --home-dir /var/lib/postgresql \
        --shell /bin/bash --comment "PostgreSQL administrator" postgres
    actions+=("created the postgres OS user")
fi

versions=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | cut -d/ -f5 | sort -V | paste -sd, -)
if [[ ${#actions[@]} -eq 0 ]]; then
    echo "ensure-postgres: PostgreSQL server already installed (version ${versions}); nothing to do"
else
    joined=$(printf '%s; ' "${actions[@]}")
    echo "ensure-postgres: ${joined%; } (server versions: ${versions})"
fi
