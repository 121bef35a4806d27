package cluster

import _ "embed" // the schema travels in the binary

// DatabaseName is the name of vpcctl's clustered database.
const DatabaseName = "VPCctl"

// Schema is the VPCctl database schema (vpcctl.ovsschema), embedded so that
// `vpcctl cluster up` can create the cluster's databases on a host that has
// only the binary.
//
//go:embed vpcctl.ovsschema
var Schema string
