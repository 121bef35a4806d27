package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/controller/reach"
)

// probeTimeout bounds each live probe.
const probeTimeout = 1500 * time.Millisecond

// Check evaluates the topology's expect: section on the model and, with
// live, also by real probes between the namespaces of the applied topology
// (addresses as recorded on the bridge's ports).
func Check(ctx context.Context, o Options, t *config.Topology, live bool) ([]*reach.Cell, error) {
	if !live {
		return reach.New(t).Check(), nil
	}
	o = o.withDefaults()
	db, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ports, err := listPorts(ctx, db, t.Bridge)
	if err != nil {
		return nil, fmt.Errorf("bridge %s (apply the file before check --live): %w", t.Bridge, err)
	}
	keepAddresses(t, ports)
	cells := reach.New(t).Check()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range cells {
		wg.Add(1)
		go func(c *reach.Cell) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ok, err := probe(t.Bridge, c)
			c.Live = &ok
			if err != nil {
				c.LiveErr = err.Error()
			}
		}(c)
	}
	wg.Wait()
	return cells, nil
}

// probe sends the cell's packet for real: a TCP connect, a UDP echo, a ping.
func probe(bridge string, c *reach.Cell) (bool, error) {
	src := host.NamespaceName(bridge, c.From)
	if !host.NamespaceExists(src) {
		return false, fmt.Errorf("no namespace %s (apply first)", src)
	}
	switch c.Proto {
	case config.ProtoTCP:
		return host.ProbeTCP(src, c.Dst, c.Port, probeTimeout)
	case config.ProtoUDP:
		return host.ProbeUDP(src, host.NamespaceName(bridge, c.To), c.Dst, c.Port, probeTimeout)
	}
	for i := 0; i < 2; i++ { // one retry: a first ping may race a neighbour entry
		if ok, err := host.ProbeICMP(src, c.Dst, probeTimeout); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}
