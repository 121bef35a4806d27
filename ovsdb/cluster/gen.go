package cluster

//go:generate go run github.com/ovn-org/libovsdb/cmd/modelgen -p model -o model vpcctl.ovsschema
