// Package host plumbs instances on the local machine with netlink and
// network namespaces: one named namespace per instance or external host
// (vpcctl.<bridge>.<name>), its link to the OVS bridge (a veth pair, or an
// OVS internal port moved in), its address, default route and workload.
//
// Nothing here shells out to ip(8) or the OVS tools: everything goes through
// netlink sockets, setns(2) on a locked OS thread, and /proc.
//
// Every Ensure* function is idempotent and reports whether it changed
// anything, so that a second apply can prove it did nothing.
package host

// Measured behaviour this package is built around (OVS 3.1, userspace
// datapath, kernel 6.18):
//
//   - An OVS internal port is a persistent tap. Moved into a namespace it
//     keeps forwarding (ovs-vswitchd holds its fd; its by-name ioctls just
//     fail and are logged), even renamed. vpcctl keeps the name anyway: with
//     the kernel datapath a rename shows up in the datapath port list.
//   - When ovs-vswitchd restarts, the old tap stays in the namespace without
//     carrier and a fresh one appears in the host namespace:
//     EnsureInternalPortInNamespace deletes the old one and moves the new one.
//   - Deleting a namespace destroys a tap inside it, and the OVS port stays
//     broken ("File descriptor in bad state"): DeleteNamespace hands internal
//     ports back to the host namespace first.
//   - A veth deleted and re-created under the same name is not picked up
//     again by the userspace datapath, and OVSDB shows no error. The port
//     must be deleted and added again in two separate OVSDB transactions
//     (one transaction doing both changes nothing). EnsureVethReport says
//     when that is needed.
//   - An OVS interface whose type changes in place (veth to internal, same
//     name) is re-opened by ovs-vswitchd, which cannot make the internal
//     port's tap while a device of that name exists: the interface fails
//     with "could not open network device ... (Invalid argument)" and the
//     port stays broken. DeleteFormerVeths removes the old host end first.
//     The other way, the former internal port's tap (in the namespace, or
//     in the host after an ovs-vswitchd restart) is deleted before the veth
//     is made (EnsureVeths).
