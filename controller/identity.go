package controller

import (
	"crypto/sha256"
	"hash/fnv"
	"net"
	"sort"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/flows"
)

// vpcIDs gives every VPC a stable 16-bit id (its register value and conntrack
// zone). The id comes from a hash of the name so that adding or removing a VPC
// does not renumber the others (which would rewrite all their flows); a
// collision is resolved by probing, in name order, so the result is deterministic.
func vpcIDs(names []string) map[string]uint16 {
	return hashIDs(names, map[uint16]bool{})
}

// subnetIDs gives every subnet of a VPC its register value (RegSrcSubnet,
// RegDstSubnet), hashed from its name so that adding, removing or reordering
// subnets leaves the others' flows alone. Ids stay below SubnetOutside.
func subnetIDs(v *config.VPC) map[string]uint16 {
	names := make([]string, len(v.Subnets))
	for i, s := range v.Subnets {
		names[i] = s.Name
	}
	return hashIDs(names, map[uint16]bool{})
}

// extraIDs gives each key an id of the same space that no VPC (ids) and no
// other key uses: the external network's segment, the VPCs' NAT zones and
// the peerings' zones.
func extraIDs(ids map[string]uint16, keys []string) map[string]uint16 {
	used := make(map[uint16]bool, len(ids)+len(keys))
	for _, id := range ids {
		used[id] = true
	}
	return hashIDs(keys, used)
}

// natGatewayIDs gives every NAT gateway ("vpc/name") its RegGateway value,
// hashed like the VPC ids so that adding or removing one NAT gateway leaves
// the others' flows alone; values below GatewayNATBase mean something else.
func natGatewayIDs(keys []string) map[string]uint16 {
	used := map[uint16]bool{}
	for id := uint16(0); id < flows.GatewayNATBase; id++ {
		used[id] = true
	}
	return hashIDs(keys, used)
}

// hashIDs hashes each key to an id in 1..0xfff0 (the rest is kept for later
// use), probing past ids in used, in key order so the result is deterministic.
func hashIDs(keys []string, used map[uint16]bool) map[string]uint16 {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	ids := make(map[string]uint16, len(keys))
	const space = 0xfff0
	for _, k := range sorted {
		h := fnv.New32a()
		h.Write([]byte(k))
		id := uint16(h.Sum32()%space) + 1
		for used[id] {
			id = id%space + 1
		}
		used[id] = true
		ids[k] = id
	}
	return ids
}

// externalMAC answers for the external gateway and every public IP.
func externalMAC() net.HardwareAddr { return gatewayMAC("external/gateway") }

// routerMAC is the MAC of a VPC's router (every subnet's .1): locally
// administered, stable, and different per VPC so captures tell them apart.
func routerMAC(vpc string) net.HardwareAddr { return gatewayMAC("router/" + vpc) }

// gatewayMAC is 0a: + 5 bytes of sha256(seed): locally administered, and
// apart from the instances' 02: MACs.
func gatewayMAC(seed string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(seed))
	return net.HardwareAddr{0x0a, sum[0], sum[1], sum[2], sum[3], sum[4]}
}
