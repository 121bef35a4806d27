// Package ovsdb configures Open vSwitch through its database (OVSDB) with
// libovsdb: the integration bridge, its ports and interfaces, its named flow
// tables and its controller. It is what vpcctl uses instead of ovs-vsctl.
//
// A Client keeps a monitor on the tables it needs, so every read comes from
// the local cache. Every Ensure* function compares the desired state with
// that cache and sends no transaction when they already match: an unchanged
// apply makes no OVSDB write (see Client.Writes).
//
// vpcctl only touches rows it created. They carry the external_ids key
// OwnerKey=OwnerValue; a bridge or port without it makes the functions
// return an error wrapping ErrNotOwned.
package ovsdb
