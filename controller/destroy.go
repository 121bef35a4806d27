package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// Destroy removes everything vpcctl made for one bridge: workloads,
// namespaces, veths, ports, the bridge and with it its flows. What vpcctl did
// not create is left alone (a bridge without vpcctl's marker is refused).
func Destroy(ctx context.Context, o Options, bridge string) error {
	o = o.withDefaults()
	lock, err := lockBridge(ctx, o, bridge)
	if err != nil {
		return err
	}
	defer lock.unlock()
	return destroy(ctx, o, bridge, func(*ovsdb.Client) ([]string, error) { return []string{bridge}, nil })
}

// DestroyTopology is Destroy of a topology's bridge; across hosts, the
// namespaces of the instances of other hosts are not this host's (on one
// machine that simulates several hosts they share the names).
func DestroyTopology(ctx context.Context, o Options, t *config.Topology) error {
	if err := setLocalHost(t, o.Host); err != nil {
		return err
	}
	o.remoteNS = remoteNamespaces(t)
	return Destroy(ctx, o, t.Bridge)
}

// DestroyAll removes every vpcctl bridge and namespace on this host.
func DestroyAll(ctx context.Context, o Options) error {
	return destroy(ctx, o, "", func(db *ovsdb.Client) ([]string, error) {
		bridges, err := db.ListBridges(ctx)
		names := make([]string, len(bridges))
		for i, b := range bridges {
			names[i] = b.Name
		}
		return names, err
	})
}

// destroy removes the namespaces of a bridge ("" = all bridges), then the
// bridges that pick returns. Namespaces go even when OVS does not answer.
func destroy(ctx context.Context, o Options, nsBridge string, pick func(*ovsdb.Client) ([]string, error)) error {
	o = o.withDefaults()
	var errs []error
	nss, err := host.ListNamespaces(nsBridge)
	errs = append(errs, err)
	nss = slices.DeleteFunc(nss, func(ns string) bool { return o.remoteNS[ns] })
	errs = append(errs, removeNamespaces(nss))
	db, err := connect(ctx, o)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer db.Close()
	bridges, err := pick(db)
	errs = append(errs, err)
	for _, b := range bridges {
		errs = append(errs, destroyBridge(ctx, db, b))
	}
	return errors.Join(errs...)
}

func destroyBridge(ctx context.Context, db *ovsdb.Client, bridge string) error {
	ports, err := db.ListPorts(ctx, bridge)
	if errors.Is(err, ovsdb.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ports = withTrunkRecords(ports)
	var errs []error
	errs = append(errs, db.DeleteBridge(ctx, bridge))
	// Return only once ovs-vswitchd has let go of the ports' devices.
	errs = append(errs, db.WaitApplied(ctx))
	for _, p := range ports {
		errs = append(errs, deleteHostEnd(p))
	}
	errs = append(errs, host.DeleteTrunkDevices(bridge))
	errs = append(errs, host.RemoveBridgeState(bridge))
	return errors.Join(errs...)
}

// deleteHostEnd removes what a port left in the host namespace once its OVS
// port is gone: a veth's host end, or the tap a crashed ovs-vswitchd left of
// an internal port (normally gone with its OVS port).
func deleteHostEnd(p ovsdb.PortInfo) error {
	switch p.Type {
	case "", attachTrunk:
		return host.DeleteVeth(p.Name)
	case "internal":
		return host.DeleteLeftoverTap(p.Name)
	}
	return nil
}

// connect opens OVSDB with an error that tells the user what to do.
func connect(ctx context.Context, o Options) (*ovsdb.Client, error) {
	db, err := ovsdb.Connect(ctx, o.OVSDB)
	if err != nil {
		return nil, fmt.Errorf("OVSDB at %s does not answer (is OVS running? try `vpcctl ovs up`): %w", o.OVSDB, err)
	}
	return db, nil
}
