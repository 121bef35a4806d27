package config

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// PinAddresses rewrites a topology file so that every instance says the
// address t gives it (an `ip:` added where the file has none): read again
// anywhere, the file means the same network, whatever the allocator would
// now choose. Comments and the rest of the file are kept. raw must be the
// file t was parsed from.
func PinAddresses(raw []byte, t *Topology) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 {
		return nil, fmt.Errorf("not one YAML document")
	}
	vpcs := mapValue(deref(doc.Content[0]), "vpcs")
	if vpcs == nil {
		return raw, nil
	}
	for _, vn := range deref(vpcs).Content {
		vn = deref(vn)
		name := mapValue(vn, "name")
		insts := mapValue(vn, "instances")
		if name == nil || insts == nil {
			continue
		}
		v := t.VPC(deref(name).Value)
		if v == nil {
			return nil, fmt.Errorf("vpc %q is not in the topology", deref(name).Value)
		}
		for _, in := range deref(insts).Content {
			in = deref(in)
			n := mapValue(in, "name")
			if n == nil || mapValue(in, "ip") != nil {
				continue
			}
			i := v.Instance(deref(n).Value)
			if i == nil || !i.Addr.IsValid() {
				return nil, fmt.Errorf("instance %s/%s has no address", v.Name, deref(n).Value)
			}
			in.Content = append(in.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "ip"},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: i.Addr.String()})
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// mapValue is the value of key in mapping node m; nil when absent.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := deref(m.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
