package controller

import "testing"

// A flow-log drop flow hands the packet to the controller: for trace, a drop.
func TestToControllerOnly(t *testing.T) {
	for s, want := range map[string]bool{
		"userspace(pid=0,controller(reason=1,dont_send=0,continuation=0,recirc_id=3,rule_cookie=0xa505,controller_id=0,max_len=128))": true,
		"meter(0),userspace(pid=0,controller(reason=1,max_len=128))":                                                                  true,
		"sample(sample=100.0%,actions(meter(0),userspace(pid=0,controller(reason=1,dont_send=1,max_len=128))))":                       true,
		"sample(sample=100.0%,actions(meter(0),3))":                                                                                   false,
		"meter(0)": false,
		"3":        false,
		"ct(commit,zone=7),userspace(pid=0,controller(reason=1)),3": false,
		"": false,
	} {
		if got := toControllerOnly(s); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}
