package flows

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Cookie layout (64 bits):
//
//	63..56  marker: 0xA5 on every flow vpcctl installs; it never reads or deletes others
//	55..48  category: which kind of config object the flow came from
//	47..0   hash of the flow's canonical text (table, priority, match, actions),
//	        with the number of every table it names (see newSet)
//
// Because the cookie identifies the flow's whole content, reconcile only needs
// the installed cookies: a flow whose cookie is not desired is deleted by
// cookie, a desired cookie that is not installed is added, and an unchanged
// topology sends nothing.
const (
	CookieMarker     uint64 = 0xA5 << 56
	CookieMarkerMask uint64 = 0xFF << 56
	cookieCatShift          = 48
	cookieHashMask   uint64 = 1<<48 - 1
)

// Category says which kind of config object a flow implements.
type Category uint8

const (
	CatPipeline      Category = iota + 1 // table-miss and other fixed flows
	CatInstance                          // an instance's port: classifier, port security, ARP, delivery
	CatSubnet                            // a subnet and its router address
	CatVPC                               // VPC-wide flows
	CatSecurityGroup                     // a security group rule
	CatNACL                              // a network ACL rule
	CatRoute                             // a route of a route table (or the implicit local route)
	CatExternal                          // the external network and its hosts
	CatGateway                           // a NAT gateway or an elastic IP
	CatFlowLog                           // flow-log counting and learning flows
)

var categoryNames = map[Category]string{
	CatPipeline:      "pipeline",
	CatInstance:      "instance",
	CatSubnet:        "subnet",
	CatVPC:           "vpc",
	CatSecurityGroup: "security-group",
	CatNACL:          "network-acl",
	CatRoute:         "route",
	CatExternal:      "external",
	CatGateway:       "gateway",
	CatFlowLog:       "flow-log",
}

func (c Category) String() string {
	if n, ok := categoryNames[c]; ok {
		return n
	}
	return fmt.Sprintf("category-%d", uint8(c))
}

// CookieCategory extracts the category of a vpcctl cookie.
func CookieCategory(cookie uint64) Category { return Category(cookie >> cookieCatShift) }

// IsOurs says whether a cookie carries vpcctl's marker.
func IsOurs(cookie uint64) bool { return cookie&CookieMarkerMask == CookieMarker }

func makeCookie(cat Category, text []byte) uint64 {
	sum := sha256.Sum256(text)
	h := binary.BigEndian.Uint64(sum[:8]) & cookieHashMask
	return CookieMarker | uint64(cat)<<cookieCatShift | h
}
