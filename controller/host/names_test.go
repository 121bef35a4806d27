package host

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"testing"
)

func TestNames(t *testing.T) {
	if got := NamespaceName("br-vpc", "web1"); got != "vpcctl.br-vpc.web1" {
		t.Errorf("NamespaceName = %q", got)
	}
	if b, n, ok := ParseNamespaceName("vpcctl.br-vpc.web1"); !ok || b != "br-vpc" || n != "web1" {
		t.Errorf("ParseNamespaceName = %q %q %v", b, n, ok)
	}
	for _, bad := range []string{"web1", "vpcctl.br", "vpcctl..web1", "vpcctl.br.", "vpcctl.a.b.c", "cni-1234", "vpcctlx.a.b"} {
		if _, _, ok := ParseNamespaceName(bad); ok {
			t.Errorf("ParseNamespaceName(%q) accepted", bad)
		}
	}

	sum := sha256.Sum256([]byte("br-vpc/web1"))
	if got, want := HostVethName("br-vpc", "web1"), "v"+hex.EncodeToString(sum[:])[:10]; got != want {
		t.Errorf("HostVethName = %q, want %q", got, want)
	}
	if !regexp.MustCompile(`^v[0-9a-f]{10}$`).MatchString(HostVethName("a-very-long-bridge-name", "a-very-long-instance-name-123456")) {
		t.Error("HostVethName shape")
	}
	if HostVethName("br1", "web1") == HostVethName("br2", "web1") {
		t.Error("HostVethName ignores the bridge")
	}

	mac := InstanceMAC("prod", "web1")
	sum = sha256.Sum256([]byte("prod/web1"))
	if len(mac) != 6 || mac[0] != 0x02 || hex.EncodeToString(mac[1:]) != hex.EncodeToString(sum[:5]) {
		t.Errorf("InstanceMAC = %s", mac)
	}
	if InstanceMAC("prod", "web1").String() == InstanceMAC("shared", "web1").String() {
		t.Error("InstanceMAC ignores the VPC")
	}
}
