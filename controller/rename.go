package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// removeRenamed destroys the bridges that vpcctl made for the same topology
// file under another name: when the file's `bridge:` changes, the old bridge,
// its ports, veths, namespaces and workloads go, as everything else that the
// file no longer has. Bridges of other files are left alone.
func removeRenamed(ctx context.Context, o Options, db *ovsdb.Client, bridge, file string) error {
	if file == "" {
		return nil
	}
	brs, err := db.ListBridges(ctx)
	if err != nil {
		return err
	}
	for _, b := range brs {
		if b.Name == bridge || b.ExternalIDs[keyFile] != file {
			continue
		}
		lock, err := lockBridge(ctx, o, b.Name)
		if err != nil {
			return err
		}
		var errs []error
		nss, err := host.ListNamespaces(b.Name)
		errs = append(errs, err)
		errs = append(errs, removeNamespaces(nss))
		errs = append(errs, destroyBridge(ctx, db, b.Name))
		lock.unlock()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("removing bridge %s (the file's previous bridge): %w", b.Name, err)
		}
		o.Log.Info("removed the file's previous bridge", "bridge", b.Name, "now", bridge)
	}
	return nil
}
