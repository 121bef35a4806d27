package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// FlowFilter narrows `vpcctl flows`.
type FlowFilter struct {
	Bridge, VPC, Instance string
}

// FlowRow is one installed flow with the config object behind it.
type FlowRow struct {
	Bridge  string `json:"bridge"`
	Cookie  uint64 `json:"cookie"`
	Table   string `json:"table"`
	Flow    string `json:"flow"`
	Owner   string `json:"owner"`
	Packets uint64 `json:"n_packets"`
	Bytes   uint64 `json:"n_bytes"`
}

// GetFlows reads the installed vpcctl flows and annotates each by recompiling
// the topology file recorded on the bridge: a flow's cookie names its exact
// content, so the match is exact (a flow the file no longer produces is shown
// as stale).
func GetFlows(ctx context.Context, o Options, f FlowFilter) ([]FlowRow, error) {
	o = o.withDefaults()
	db, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	bridges, err := db.ListBridges(ctx)
	if err != nil {
		return nil, err
	}
	var rows []FlowRow
	for _, b := range bridges {
		if f.Bridge != "" && b.Name != f.Bridge {
			continue
		}
		topo, set, err := compiledFromFile(ctx, db, b)
		if err != nil {
			o.Log.Warn("cannot annotate flows", "bridge", b.Name, "err", err)
		}
		var owners []string
		if f.Instance != "" && topo != nil {
			owners = instanceOwners(topo, f)
		}
		conn, err := ofconn.Dial(ctx, o.mgmtTarget(b.Name))
		if err != nil {
			return nil, fmt.Errorf("OpenFlow connection to %s: %w", b.Name, err)
		}
		stats, err := conn.DumpFlows(ctx, ofconn.FlowFilter{TableID: ofconn.TableAll, Cookie: flows.CookieMarker, CookieMask: flows.CookieMarkerMask})
		conn.Close()
		if err != nil {
			return nil, err
		}
		for _, st := range stats {
			r := FlowRow{Bridge: b.Name, Cookie: st.Cookie, Packets: st.Packets, Bytes: st.Bytes, Table: tableName(st.TableID)}
			var fl *flows.Flow
			if set != nil {
				fl = set.Lookup(st.Cookie)
			}
			if fl != nil {
				r.Flow, r.Owner = fl.String(), fl.Owner
				if r.Owner == "" {
					r.Owner = "pipeline"
				}
			} else {
				r.Flow = fmt.Sprintf("table=%s, priority=%d (not produced by the recorded file: stale)", r.Table, st.Priority)
				r.Owner = flows.CookieCategory(st.Cookie).String() + "?"
			}
			if !matchesFilter(r.Owner, f, owners) {
				continue
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// matchesFilter says whether a flow of these owners (comma-separated) is
// shown. With --instance, owners lists the config paths that decide for the
// instance (see instanceOwners); without a topology it is empty and only
// the instance's own flows match.
func matchesFilter(owner string, f FlowFilter, owners []string) bool {
	if f.VPC != "" && !strings.HasPrefix(owner, "vpcs["+f.VPC+"]") {
		return false
	}
	if f.Instance == "" {
		return true
	}
	if strings.Contains(owner, ".instances["+f.Instance+"]") {
		return true
	}
	for _, own := range strings.Split(owner, ", ") {
		for _, o := range owners {
			if own == o || strings.HasPrefix(own, o+".") {
				return true
			}
		}
	}
	return false
}

// instanceOwners are the config paths whose flows decide for the instance
// f.Instance (in f.VPC, or in any VPC that has one of that name): its security
// groups' rules, its subnet's network ACL and its subnet's route table.
func instanceOwners(t *config.Topology, f FlowFilter) []string {
	var owners []string
	for _, v := range t.VPCs {
		if f.VPC != "" && v.Name != f.VPC {
			continue
		}
		for _, in := range v.Instances {
			if in.Name != f.Instance {
				continue
			}
			for _, g := range in.SecurityGroups {
				if sg := v.SecurityGroup(g); sg != nil {
					owners = append(owners, sg.Pos.Path())
				}
			}
			for _, s := range v.Subnets {
				if s.Name != in.Subnet {
					continue
				}
				if s.ACL != nil {
					owners = append(owners, s.ACL.Pos.Path())
				}
				if s.Table != nil {
					owners = append(owners, s.Table.Pos.Path())
				}
			}
		}
	}
	return owners
}

func tableName(id uint8) string {
	if t := flows.TableByID(id); t != nil {
		return t.Name
	}
	return fmt.Sprint(id)
}

// compiledFromFile recompiles the topology recorded on a bridge with the
// bridge's current port numbers.
func compiledFromFile(ctx context.Context, db *ovsdb.Client, b ovsdb.BridgeInfo) (*config.Topology, *flows.Set, error) {
	file := b.ExternalIDs[keyFile]
	if file == "" {
		return nil, nil, fmt.Errorf("bridge records no topology file")
	}
	t, err := loadRecorded(b)
	if err != nil {
		return nil, nil, err
	}
	ports, err := listPorts(ctx, db, b.Name)
	if err != nil {
		return nil, nil, err
	}
	ofports := map[string]int{}
	for _, p := range ports {
		ofports[p.Name] = p.Ofport
	}
	keepAddresses(t, ports)
	set, err := flows.Compile(flowTopology(t, attachments(t, ports), ofports))
	return t, set, err
}

// loadRecorded loads the topology file a bridge records, as the host the
// bridge records (across hosts: which instances are local).
func loadRecorded(b ovsdb.BridgeInfo) (*config.Topology, error) {
	file := b.ExternalIDs[keyFile]
	t, _, err := config.Load(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := setLocalHost(t, b.ExternalIDs[keyHost]); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return t, nil
}

// fileHash is the hex SHA-256 of a file's content.
func fileHash(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// fileChanged says whether the file a bridge records differs from the one
// last applied to it: what trace, flows and status read of the file then is
// not what runs.
func fileChanged(b ovsdb.BridgeInfo) bool {
	want := b.ExternalIDs[keyFileHash]
	if want == "" {
		return false // applied by a vpcctl that did not record it
	}
	h, err := fileHash(b.ExternalIDs[keyFile])
	return err == nil && h != want
}

// CheckHost checks what `apply` will need, without changing anything: root,
// an OVSDB that answers, and the datapath the file asks for.
func CheckHost(ctx context.Context, o Options, t *config.Topology) error {
	o = o.withDefaults()
	if !isRoot() {
		return fmt.Errorf("vpcctl needs root (namespaces, veths, OVS)")
	}
	if _, err := datapathType(t.Datapath); err != nil {
		return err
	}
	db, err := connect(ctx, o)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ListBridges(ctx)
	return err
}
