package ovsproc

import (
	"fmt"
	"strings"
)

// String is a one-line summary for people (`vpcctl ovs up|down`).
func (s Status) String() string {
	var parts []string
	switch {
	case s.AlreadyRunning:
		parts = append(parts, "already running")
	case len(s.Started) > 0:
		parts = append(parts, "started "+strings.Join(s.Started, ", "))
	}
	if len(s.Stopped) > 0 {
		parts = append(parts, "stopped "+strings.Join(s.Stopped, ", "))
	}
	if len(s.NotOurs) > 0 {
		parts = append(parts, "left running (not started by vpcctl): "+strings.Join(s.NotOurs, ", "))
	}
	for _, d := range []struct {
		name string
		pid  int
	}{{ovsdbServer, s.OVSDBPid}, {ovsVswitchd, s.VswitchdPid}} {
		if d.pid != 0 {
			parts = append(parts, fmt.Sprintf("%s pid %d", d.name, d.pid))
		}
	}
	if s.OVSDBPid != 0 || s.VswitchdPid != 0 {
		parts = append(parts, "db "+s.DBEndpoint)
		if !s.UserspaceTSO {
			parts = append(parts, "WARNING: other_config:userspace-tso-enable is not true (TCP through veth ports may fail with the userspace datapath)")
		}
	}
	if len(parts) == 0 {
		return "not running"
	}
	return strings.Join(parts, "; ")
}
