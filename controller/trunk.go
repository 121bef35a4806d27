package controller

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/controller/host/tctag"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// Trunk instances (attach: trunk) are no OVS ports: one trunk port per
// bridge carries them all, each tagged with its VLAN id (package tctag).
// Their records, which a veth instance keeps on its own port, live on the
// trunk port: one external id per instance, keyTrunkRecord + host end name,
// whose value holds the same keys URL-encoded (without "vpcctl-").
const (
	attachTrunk     = config.AttachTrunk
	attachTrunkPort = "trunk-port"
	keyTrunkRecord  = "vpcctl-trunk:"
	keyVLAN         = "vpcctl-vlan"
	trunkAttachName = "/trunk"
)

// trunkRecords are the trunk instances recorded on the bridge's trunk port,
// as the ports they stand for: named by their host end, of type "trunk",
// numbered flows.TrunkPort(vlan).
func trunkRecords(existing []ovsdb.PortInfo) []ovsdb.PortInfo {
	var out []ovsdb.PortInfo
	for _, p := range existing {
		if p.ExternalIDs[keyAttach] != attachTrunkPort {
			continue
		}
		for k, v := range p.ExternalIDs {
			name, ok := strings.CutPrefix(k, keyTrunkRecord)
			if !ok {
				continue
			}
			vals, err := url.ParseQuery(v)
			if err != nil {
				continue
			}
			ids := make(map[string]string, len(vals))
			for key := range vals {
				ids["vpcctl-"+key] = vals.Get(key)
			}
			vid, err := strconv.ParseUint(ids[keyVLAN], 10, 16)
			if err != nil || vid == 0 || vid > 4094 {
				continue
			}
			out = append(out, ovsdb.PortInfo{Name: name, Type: attachTrunk, Ofport: int(flows.TrunkPort(uint16(vid))), ExternalIDs: ids})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// listPorts is db.ListPorts with the trunk instances' records added.
func listPorts(ctx context.Context, db *ovsdb.Client, bridge string) ([]ovsdb.PortInfo, error) {
	ports, err := db.ListPorts(ctx, bridge)
	return withTrunkRecords(ports), err
}

// recordedVLAN is the VLAN id of a trunk record (trunkRecords).
func recordedVLAN(p ovsdb.PortInfo) int { return p.Ofport &^ int(flows.TrunkPort(0)) }

// withTrunkRecords is existing with the trunk instances' records added.
func withTrunkRecords(existing []ovsdb.PortInfo) []ovsdb.PortInfo {
	recs := trunkRecords(existing)
	if len(recs) == 0 {
		return existing
	}
	return append(append(make([]ovsdb.PortInfo, 0, len(existing)+len(recs)), existing...), recs...)
}

// trunkRecord encodes an instance's external ids for the trunk port.
func trunkRecord(ids map[string]string) string {
	vals := url.Values{}
	for k, v := range ids {
		vals.Set(strings.TrimPrefix(k, "vpcctl-"), v)
	}
	return vals.Encode()
}

// assignVLANs gives every trunk attachment its VLAN id: the one recorded,
// else one derived from its VPC and name (the next free one on a clash,
// new instances taken in name order), so that ids never depend on the
// file's order and never move once given.
func assignVLANs(atts []*attachment, existing []ovsdb.PortInfo) []*attachment {
	rec := map[string]uint16{}
	for _, p := range existing {
		if p.Type == attachTrunk && p.Ofport > 0 {
			rec[p.Name] = uint16(recordedVLAN(p))
		}
	}
	used := map[uint16]bool{}
	var trunks, fresh []*attachment
	for _, a := range atts {
		if a.Attach != attachTrunk {
			continue
		}
		trunks = append(trunks, a)
		if vid, ok := rec[a.Port]; ok && !used[vid] {
			a.VLAN, used[vid] = vid, true
		} else {
			fresh = append(fresh, a)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].VPC+"/"+fresh[i].Name < fresh[j].VPC+"/"+fresh[j].Name })
	for _, a := range fresh {
		sum := sha256.Sum256([]byte(a.VPC + "/" + a.Name))
		vid := uint16(binary.BigEndian.Uint32(sum[:4])%4094) + 1
		for used[vid] {
			vid = vid%4094 + 1
		}
		a.VLAN, used[vid] = vid, true
	}
	return trunks
}

// trunkPortAttachment is the bridge's trunk port, holding the records of trunks.
func trunkPortAttachment(bridge string, trunks []*attachment) *attachment {
	ovsEnd, _ := host.TrunkNames(bridge)
	return &attachment{Name: trunkAttachName, Port: ovsEnd, Attach: attachTrunkPort, trunks: trunks}
}

// isPort: the attachment is an OVS port of its own (trunk instances are not).
func (a *attachment) isPort() bool { return a.Attach != attachTrunk }

// maxTrunkInstances is how many VLAN ids one trunk has.
const maxTrunkInstances = 4094

// plumbTrunk readies the trunk port's device (an OVS internal port:
// ovs-vswitchd must have made it) and its program, the trunk instances'
// namespaces and veths, and tags each host end with its VLAN id; map
// entries of host ends no longer on the trunk go.
func plumbTrunk(ctx context.Context, bridge string, snap *host.HostLinks, trunkPort *attachment, insts []*attachment, workers int, o Options) (int, error) {
	verify := o.Verify
	if len(insts) > maxTrunkInstances {
		return 0, fmt.Errorf("%d trunk instances on bridge %s: one trunk holds at most %d", len(insts), bridge, maxTrunkInstances)
	}
	changes := 0
	index, changed, err := host.EnsureTrunkDevice(trunkPort.Port)
	if err != nil {
		return changes, fmt.Errorf("trunk of %s: %w", bridge, err)
	}
	if changed {
		changes++
	}
	tr, loaded, err := tctag.Ensure(index)
	if err != nil {
		return changes, fmt.Errorf("trunk of %s: %w", bridge, err)
	}
	defer tr.Close()
	if loaded {
		changes++
	}
	specs := make([]host.VethSpec, len(insts))
	for i, a := range insts {
		specs[i] = a.vethSpec()
		specs[i].Recorded = !verify && a.recorded != "" && a.recorded == specs[i].Digest()
	}
	reps, created, errs := host.EnsureVethsFrom(snap, specs, workers, nil)
	for i, rep := range reps {
		if created[i] {
			changes++
		}
		if rep.Changed {
			changes++
		}
	}
	if err := instanceErrors(insts, errs); err != nil {
		return changes, err
	}
	keep := make(map[int]uint16, len(insts))
	for i, a := range insts {
		idx, err := snap.Index(a.Port), error(nil)
		fresh := idx == 0 || created[i] || reps[i].Recreated
		if fresh {
			idx, err = host.LinkIndex(a.Port)
		}
		if err == nil {
			var c bool
			c, err = tr.Plug(idx, a.VLAN, specs[i].Recorded && !fresh && !reps[i].Changed && !o.verifyTrunk)
			if c {
				changes++
			}
		}
		if err != nil {
			errs[i] = err
			continue
		}
		keep[idx] = a.VLAN
	}
	if err := instanceErrors(insts, errs); err != nil {
		return changes, err
	}
	n, err := tr.Prune(keep)
	return changes + n, err
}

// trunkDrift says which trunk instances of the applied topology have lost
// their tag (tc filter or map entry), or their host end: "" when none.
// One netlink dump per instance: the daemon's periodic check only.
func trunkDrift(ctx context.Context, db *ovsdb.Client, t *config.Topology) string {
	existing, err := listPorts(ctx, db, t.Bridge)
	if err != nil {
		return ""
	}
	var insts []*attachment
	for _, a := range attachments(t, existing) {
		if a.Attach == attachTrunk {
			insts = append(insts, a)
		}
	}
	if len(insts) == 0 {
		return ""
	}
	port, _ := host.TrunkNames(t.Bridge)
	index, err := host.LinkIndex(port)
	if err != nil {
		return "trunk: " + err.Error()
	}
	tr, err := tctag.Open(index)
	if err != nil || tr == nil {
		return fmt.Sprintf("trunk %s carries no program", port)
	}
	defer tr.Close()
	var lost []string
	for _, a := range insts {
		if idx, err := host.LinkIndex(a.Port); err != nil || !tr.Attached(idx, a.VLAN) {
			lost = append(lost, a.Name)
		}
	}
	if len(lost) > 0 {
		return fmt.Sprintf("trunk instances %v lost their tag or host end", lost)
	}
	return ""
}

// untagFormerTrunks takes the trunk's tc filter off the host ends of
// instances that went from trunk to veth: the program would drop what they
// send (the userspace datapath reads its ports before tc ingress, a kernel
// datapath would not).
func untagFormerTrunks(atts []*attachment) error {
	for _, a := range atts {
		if !a.wasTrunk {
			continue
		}
		idx, err := host.LinkIndex(a.Port)
		if err == nil {
			err = tctag.Unplug(idx)
		}
		if err != nil {
			return fmt.Errorf("instance %s: %w", a.Name, err)
		}
	}
	return nil
}
