package controller

import "testing"

// An ofproto/trace of lab 02 (web1 -> db1 tcp/5432): two passes through
// conntrack, delivered to OpenFlow port 3.
const traceDelivered = `Flow: tcp,in_port=1,vlan_tci=0x0000,dl_src=02:b7:3b:89:f9:91,dl_dst=0a:f1:46:31:42:9c,nw_src=10.0.1.10,nw_dst=10.0.2.10,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=40000,tp_dst=5432,tcp_flags=0

bridge("trx1")
--------------
 0. in_port=1, priority 200, cookie 0xa5023287dd873708
    load:0x65ca->NXM_NX_REG0[0..15]
    goto_table:1
 7. ip, priority 100, cookie 0xa5010a51175101e5
    ct(table=8,zone=NXM_NX_REG7[0..15])
    drop
     -> A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table 8.

Final flow: tcp,reg0=0x65ca,in_port=1
Megaflow: recirc_id=0,eth,tcp,in_port=1
Datapath actions: ct(zone=26058),recirc(0x7)

===============================================================================
recirc(0x7) - resume conntrack with ct_state=new|trk
===============================================================================

bridge("trx1")
--------------
    thaw
        Resuming from table 8
12. conj_id=439847965, priority 200, cookie 0xa505c2e820730d95
    goto_table:13
16. priority 100, cookie 0xa5018df9a2185fca
    output:NXM_NX_REG2[0..15]
     -> output port is 3

Final flow: recirc_id=0x7,eth,tcp
Megaflow: recirc_id=0x7,ct_state=+new-rel-rpl-inv+trk,eth,tcp,in_port=1,nw_src=10.0.1.10,nw_frag=no,tp_dst=5432
Datapath actions: ct(commit,zone=26058),13
`

const traceNAT = `bridge("br")
--------------
 0. in_port=3, priority 200, cookie 0xa508aaaa
    goto_table:1
14. ip,reg0=0x645/0xffff,reg5=0x7134/0xffff, priority 200, cookie 0xa509bbbb
    ct(commit,table=15,zone=4112,nat(src=203.0.113.10))
    drop

Datapath actions: ct(commit,zone=4112,nat(src=203.0.113.10)),recirc(0x9)
`

const traceDropped = `bridge("br")
--------------
 0. No match.
    drop

Final flow: unchanged
Datapath actions: drop
`

func TestParseOfprotoTrace(t *testing.T) {
	d := parseOfprotoTrace(traceDelivered)
	if len(d.Steps) != 4 || d.Drop || d.OutPort != 3 || d.NAT != -1 {
		t.Fatalf("delivered: %+v", d)
	}
	if s := d.Steps[2]; s.Table != 12 || s.Priority != 200 || s.Cookie != 0xa505c2e820730d95 || s.Match != "conj_id=439847965" {
		t.Errorf("step 2: %+v", s)
	}
	if s := d.Steps[1]; len(s.Actions) != 2 || s.Actions[0] != "ct(table=8,zone=NXM_NX_REG7[0..15])" {
		t.Errorf("step 1 actions: %q", s.Actions)
	}
	n := parseOfprotoTrace(traceNAT)
	if n.NAT != 1 || n.Steps[1].Table != 14 {
		t.Errorf("nat: %+v", n)
	}
	x := parseOfprotoTrace(traceDropped)
	if !x.Drop || len(x.Steps) != 0 || x.OutPort != 0 {
		t.Errorf("dropped: %+v", x)
	}
}
