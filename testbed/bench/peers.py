#!/usr/bin/python3
"""ovsdbapp peers of the ovn-vpcd northbound benchmarks (benches/nb.rs).

    /usr/bin/python3 testbed/bench/peers.py FIGURE NB_REMOTE

FIGURE is insert_10k_routes or small_txn_1k. NB_REMOTE is e.g. unix:/tmp/x/nb.sock: give each
figure a fresh, empty NB. Run with Debian's /usr/bin/python3 (python3-ovsdbapp); one figure per
process, because ovsdbapp keeps one connection per API class per process.

Prints `name: value unit` lines on stdout, like the Rust side.

insert_10k_routes path: NOT lr_route_add (its per-command checks scan the router's routes, so
10,000 of them in one transaction are quadratic: ~500 s). Instead, inside ONE ovsdbapp
transaction: db_create(Logical_Router, name=r0), 10,000 db_create(Logical_Router_Static_Route,
ip_prefix, nexthop), and one db_set(Logical_Router, <that router>, static_routes=[the 10,000
route commands]). That is the same single OVSDB transaction the Rust client sends.

small_txn_1k path: 1,000 sequential ls_add(name).execute(check_error=True) on one connection
(ovsdbapp's API is synchronous: each call waits for its commit).
"""

import sys
import time

from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.ovn_northbound import impl_idl

ROUTES = 10000
SMALL_TXNS = 1000
NEXTHOP = "192.168.255.1"


def connect(remote, tables):
    # Only the tables the figure needs, as the Rust client monitors only those.
    idl = connection.OvsdbIdl.from_server(remote, "OVN_Northbound", helper_tables=tables)
    conn = connection.Connection(idl, timeout=180)
    return impl_idl.OvnNbApiIdlImpl(conn)


def figure(name, key, value, unit):
    print(f"{name} {key}: {value:.3f} {unit}", flush=True)


def insert_10k_routes(remote):
    api = connect(remote, ["Logical_Router", "Logical_Router_Static_Route"])
    t0 = time.monotonic()
    with api.transaction(check_error=True) as txn:
        router = txn.add(api.db_create("Logical_Router", name="r0"))
        routes = [
            txn.add(api.db_create("Logical_Router_Static_Route",
                                  ip_prefix=f"10.{i // 256}.{i % 256}.0/24", nexthop=NEXTHOP))
            for i in range(ROUTES)
        ]
        txn.add(api.db_set("Logical_Router", router, ("static_routes", routes)))
    elapsed = time.monotonic() - t0
    # Check through the IDL (the bench script checks again with ovn-nbctl).
    lr = api.lookup("Logical_Router", "r0")
    n_routes = len(api.tables["Logical_Router_Static_Route"].rows)
    if len(lr.static_routes) != ROUTES or n_routes != ROUTES:
        sys.exit(f"insert_10k_routes: router has {len(lr.static_routes)} routes, table {n_routes}")
    figure("insert_10k_routes", "ovsdbapp_seconds", elapsed, "s")


def small_txn_1k(remote):
    api = connect(remote, ["Logical_Switch"])
    t0 = time.monotonic()
    for i in range(SMALL_TXNS):
        api.ls_add(f"ls{i}").execute(check_error=True)
    elapsed = time.monotonic() - t0
    n = len(api.tables["Logical_Switch"].rows)
    if n != SMALL_TXNS:
        sys.exit(f"small_txn_1k: {n} switches, expected {SMALL_TXNS}")
    figure("small_txn_1k", "ovsdbapp_seconds", elapsed, "s")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("insert_10k_routes", "small_txn_1k"):
        sys.exit(__doc__)
    {"insert_10k_routes": insert_10k_routes, "small_txn_1k": small_txn_1k}[sys.argv[1]](sys.argv[2])
    # The IDL thread is a daemon thread: exiting here closes the connection.


if __name__ == "__main__":
    main()
