package ovsdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// get reads one row from the cache by UUID or by name index and maps
// libovsdb's not-found to ErrNotFound.
func (c *Client) get(ctx context.Context, m model.Model, what string) error {
	err := c.cli.Get(ctx, m)
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (c *Client) bridge(ctx context.Context, name string) (*vswitchd.Bridge, error) {
	br := &vswitchd.Bridge{Name: name}
	return br, c.get(ctx, br, fmt.Sprintf("bridge %q", name))
}

// ownedBridge returns the bridge if it exists and vpcctl created it.
func (c *Client) ownedBridge(ctx context.Context, name string) (*vswitchd.Bridge, error) {
	br, err := c.bridge(ctx, name)
	if err != nil {
		return nil, err
	}
	if !owned(br.ExternalIDs) {
		return nil, fmt.Errorf("bridge %q: %w", name, ErrNotOwned)
	}
	return br, nil
}

func (c *Client) port(ctx context.Context, name string) (*vswitchd.Port, error) {
	p := &vswitchd.Port{Name: name}
	return p, c.get(ctx, p, fmt.Sprintf("port %q", name))
}

func (c *Client) portByUUID(ctx context.Context, uuid string) (*vswitchd.Port, error) {
	p := &vswitchd.Port{UUID: uuid}
	return p, c.get(ctx, p, "port "+uuid)
}

func (c *Client) iface(ctx context.Context, name string) (*vswitchd.Interface, error) {
	i := &vswitchd.Interface{Name: name}
	return i, c.get(ctx, i, fmt.Sprintf("interface %q", name))
}

func (c *Client) ifaceByUUID(ctx context.Context, uuid string) (*vswitchd.Interface, error) {
	i := &vswitchd.Interface{UUID: uuid}
	return i, c.get(ctx, i, "interface "+uuid)
}

// bridgeOfPort returns the name of the bridge whose ports hold portUUID, or "".
func (c *Client) bridgeOfPort(ctx context.Context, portUUID string) string {
	var brs []vswitchd.Bridge
	if err := c.cli.List(ctx, &brs); err != nil {
		return ""
	}
	for _, b := range brs {
		for _, p := range b.Ports {
			if p == portUUID {
				return b.Name
			}
		}
	}
	return ""
}
