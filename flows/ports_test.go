package flows

import "testing"

func TestPortMasksCoverExactly(t *testing.T) {
	for _, r := range [][2]uint16{{80, 80}, {8000, 8100}, {1024, 65535}, {1, 65535}, {0, 65535}, {5432, 5433}, {65535, 65535}} {
		masks := portMasks(r[0], r[1])
		for p := 0; p <= 65535; p++ {
			in := false
			for _, m := range masks {
				if uint16(p)&m.Mask == m.Value {
					in = true
				}
			}
			if want := p >= int(r[0]) && p <= int(r[1]); in != want {
				t.Fatalf("range %v: port %d covered=%v", r, p, in)
			}
		}
	}
	if n := len(portMasks(8000, 8100)); n > 8 {
		t.Errorf("8000-8100 takes %d masks", n)
	}
}
