package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// Destroy removes everything vpcctl made for one bridge: workloads,
// namespaces, veths, ports, the bridge and with it its flows. What vpcctl did
// not create is left alone (a bridge without vpcctl's marker is refused).
func Destroy(ctx context.Context, o Options, bridge string) error {
	o = o.withDefaults()
	var errs []error
	nss, err := host.ListNamespaces(bridge)
	errs = append(errs, err)
	for _, ns := range nss {
		errs = append(errs, removeNamespace(ns))
	}
	db, err := ovsdb.Connect(ctx, o.OVSDB)
	if err != nil {
		// Without OVS there is no bridge to remove, but the namespaces are gone.
		errs = append(errs, fmt.Errorf("OVSDB at %s: %w", o.OVSDB, err))
		return errors.Join(errs...)
	}
	defer db.Close()
	errs = append(errs, destroyBridge(ctx, db, bridge))
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
	var errs []error
	errs = append(errs, db.DeleteBridge(ctx, bridge))
	// Return only once ovs-vswitchd has let go of the ports' devices.
	errs = append(errs, db.WaitApplied(ctx))
	for _, p := range ports {
		if p.Type == "" { // internal ports vanish with their OVS port
			errs = append(errs, host.DeleteVeth(p.Name))
		}
	}
	errs = append(errs, host.RemoveBridgeState(bridge))
	return errors.Join(errs...)
}

// DestroyAll removes every vpcctl bridge and namespace on this host.
func DestroyAll(ctx context.Context, o Options) error {
	o = o.withDefaults()
	var errs []error
	nss, err := host.ListNamespaces("")
	errs = append(errs, err)
	for _, ns := range nss {
		errs = append(errs, removeNamespace(ns))
	}
	db, err := ovsdb.Connect(ctx, o.OVSDB)
	if err != nil {
		errs = append(errs, fmt.Errorf("OVSDB at %s: %w", o.OVSDB, err))
		return errors.Join(errs...)
	}
	defer db.Close()
	bridges, err := db.ListBridges(ctx)
	errs = append(errs, err)
	for _, b := range bridges {
		errs = append(errs, destroyBridge(ctx, db, b.Name))
	}
	return errors.Join(errs...)
}
