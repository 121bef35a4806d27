package controller

import (
	"context"
	"errors"
	"sort"
	"strconv"

	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// Status is what vpcctl runs on this host, read from OVSDB and the kernel.
type Status struct {
	Bridges []BridgeStatus `json:"bridges"`
}

// BridgeStatus is one vpcctl bridge.
type BridgeStatus struct {
	Name      string           `json:"name"`
	File      string           `json:"file,omitempty"`
	Datapath  string           `json:"datapath"`
	Instances []InstanceStatus `json:"instances"`
	// Topology is every object of the file recorded on the bridge; nil
	// when that file cannot be read (FileError says why).
	Topology  *TopologyStatus `json:"topology,omitempty"`
	FileError string          `json:"file_error,omitempty"`
	// FileChanged: the file differs from the one last applied (the objects
	// shown are the file's).
	FileChanged bool `json:"file_changed,omitempty"`
	// Host is which of the topology's hosts this bridge is ("" without hosts).
	Host string `json:"host,omitempty"`
}

// InstanceStatus is one attached instance.
type InstanceStatus struct {
	Name      string `json:"name"`
	VPC       string `json:"vpc"` // "" on the external network
	Subnet    string `json:"subnet"`
	IP        string `json:"ip"`
	MAC       string `json:"mac"`
	Attach    string `json:"attach"`
	Namespace string `json:"namespace"` // "" for the external gateway's port in the host namespace
	Port      string `json:"port"`
	Ofport    int    `json:"ofport"`
	VLAN      int    `json:"vlan,omitempty"` // attach: trunk: its tag on the trunk port (Ofport)
	State     string `json:"state"`          // up | no-namespace | port-error: ... | remote
	Host      string `json:"host,omitempty"` // across hosts: the host it runs on
	Workload  string `json:"workload,omitempty"`
}

// GetStatus lists vpcctl's bridges and instances.
func GetStatus(ctx context.Context, o Options) (*Status, error) {
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
	st := &Status{Bridges: []BridgeStatus{}}
	for _, b := range bridges {
		bs := BridgeStatus{Name: b.Name, File: b.ExternalIDs[keyFile], Datapath: b.DatapathType, Instances: []InstanceStatus{}}
		ports, err := listPorts(ctx, db, b.Name)
		if errors.Is(err, ovsdb.ErrNotFound) {
			continue // removed since it was listed (another vpcctl's destroy)
		}
		if err != nil {
			return nil, err
		}
		trunkOfport := 0
		for _, p := range ports {
			if p.ExternalIDs[keyAttach] == attachTrunkPort {
				trunkOfport = p.Ofport
			}
		}
		for _, p := range ports {
			id := p.ExternalIDs
			if id[keyAttach] == attachTrunkPort || id[keyAttach] == attachTunnel {
				continue // the trunk instances' shared port, the tunnel: not instances
			}
			is := InstanceStatus{
				Name: id[keyInstance], VPC: id[keyVPC], Subnet: id[keySubnet], IP: id[keyIP], MAC: id[keyMAC],
				Attach: id[keyAttach], Port: p.Name, Ofport: p.Ofport,
				Namespace: host.NamespaceName(b.Name, id[keyInstance]),
			}
			if p.Type == attachTrunk {
				is.Ofport, is.VLAN = trunkOfport, recordedVLAN(p)
			}
			if is.Attach == "host" {
				is.Namespace = "" // external.attach: host: the port is in the host namespace
			}
			is.State = "up"
			switch {
			case p.Error != "":
				is.State = "port-error: " + p.Error
			case is.Namespace != "" && !host.NamespaceExists(is.Namespace):
				is.State = "no-namespace"
			}
			if pid, cmd, ok := host.WorkloadInfo(b.Name, is.Name); ok {
				is.Workload = "pid " + strconv.Itoa(pid) + ": " + cmd
			}
			bs.Instances = append(bs.Instances, is)
		}
		sort.Slice(bs.Instances, func(i, j int) bool {
			a, b := bs.Instances[i], bs.Instances[j]
			if a.VPC != b.VPC {
				return a.VPC < b.VPC
			}
			return a.Name < b.Name
		})
		bs.FileChanged = fileChanged(b)
		if bs.File != "" {
			if t, err := loadRecorded(b); err != nil {
				bs.FileError = err.Error()
			} else {
				keepAddresses(t, ports)
				bs.Topology = topologyStatus(t)
				bs.Host = t.Local
				for i := range bs.Instances {
					if len(t.Hosts) > 0 && bs.Instances[i].VPC != "" {
						bs.Instances[i].Host = t.Local
					}
				}
				bs.Instances = append(bs.Instances, remoteStatus(t)...)
			}
		}
		st.Bridges = append(st.Bridges, bs)
	}
	return st, nil
}
