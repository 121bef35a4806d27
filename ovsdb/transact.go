package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// transact sends ops as one write transaction (nothing at all when ops is
// empty) and returns once the monitor has brought its effect into the cache,
// so the next read sees it. Like ovs-vsctl, it increments
// Open_vSwitch.next_cfg in the same transaction: ovs-vswitchd copies it to
// cur_cfg once it has applied the change, which is what WaitOfport waits
// for. Reading next_cfg back in the same transaction also tells when the
// cache is up to date.
func (c *Client) transact(ctx context.Context, ops ...ovsdb.Operation) error {
	if len(ops) == 0 {
		return nil
	}
	root, err := c.root(ctx)
	if err != nil {
		return err
	}
	ovs := &vswitchd.OpenvSwitch{UUID: root}
	bump, err := c.cli.Where(ovs).Mutate(ovs, model.Mutation{
		Field: &ovs.NextCfg, Mutator: ovsdb.MutateOperationAdd, Value: 1})
	if err != nil {
		return fmt.Errorf("build next_cfg increment: %w", err)
	}
	all := append(slices.Clone(ops), bump...)
	all = append(all, ovsdb.Operation{
		Op:      ovsdb.OperationSelect,
		Table:   vswitchd.OpenvSwitchTable,
		Where:   []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: root})},
		Columns: []string{"next_cfg"},
	})
	res, err := c.send(ctx, all)
	if err != nil {
		return err
	}
	cfg, err := nextCfg(res[len(all)-1])
	if err != nil {
		return err
	}
	storeMax(&c.lastCfg, cfg)
	err = c.waitUntil(ctx, func() (bool, error) {
		r, err := c.rootRow(ctx)
		return err == nil && int64(r.NextCfg) >= cfg, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the cache to see next_cfg %d: %w", cfg, err)
	}
	return nil
}

// send sends one write transaction, counts it, and checks the result of
// every operation; all failures are joined into the returned error.
func (c *Client) send(ctx context.Context, ops []ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	c.writes.Add(1)
	res, err := c.cli.Transact(ctx, ops...)
	if err != nil {
		return nil, fmt.Errorf("ovsdb transact: %w", err)
	}
	opErrs, err := ovsdb.CheckOperationResults(res, ops)
	if err == nil && len(opErrs) == 0 {
		return res, nil
	}
	errs := make([]error, 0, len(opErrs)+1)
	for _, e := range opErrs {
		if op := e.Operation(); op != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", op.Op, op.Table, e))
		} else {
			errs = append(errs, e)
		}
	}
	if err != nil && len(opErrs) == 0 {
		// The commit itself failed (RFC 7047: one extra result).
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("ovsdb transact: %w", errors.Join(errs...))
}

// nextCfg reads next_cfg from the result of the trailing select.
func nextCfg(r ovsdb.OperationResult) (int64, error) {
	if len(r.Rows) != 1 {
		return 0, fmt.Errorf("select next_cfg: got %d rows", len(r.Rows))
	}
	switch v := r.Rows[0]["next_cfg"].(type) {
	case float64:
		return int64(v), nil
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	default:
		return 0, fmt.Errorf("select next_cfg: unexpected %T", v)
	}
}

// storeMax sets v to n unless it already holds more.
func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
